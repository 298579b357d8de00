//! Coalescing of timeline reports: the Flixor player posts its position 3–4 times a second, PMS
//! wants one report per state change and otherwise about one every 10 s (protocol §6.1).
//!
//! Rules, per key (one browser session, one server, one item):
//! - the first report, every change of state (`playing` → `paused` …) and every `stopped` is sent
//!   at once — a state change is never dropped or delayed;
//! - a report with the same state as the last one sent, within the interval, is held as *pending*
//!   (replacing an older pending one) and the caller is told to schedule one flush at the end of
//!   the interval, which sends the newest pending position; so the last position always reaches
//!   PMS, at most one interval late;
//! - nothing here ever fails because of the rate: holding a report is a success.
//!
//! The state is a small map behind a mutex held only for bookkeeping, never across an `.await`.
//! Slots that have been quiet for a while are swept so the map stays bounded.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A playback state as PMS knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlayState {
    /// Playing.
    Playing,
    /// Paused.
    Paused,
    /// Buffering.
    Buffering,
    /// Stopped (the player left).
    Stopped,
}

impl PlayState {
    /// Parses PMS's name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "playing" => PlayState::Playing,
            "paused" => PlayState::Paused,
            "buffering" => PlayState::Buffering,
            "stopped" => PlayState::Stopped,
            _ => return None,
        })
    }

    /// PMS's name.
    pub fn as_str(self) -> &'static str {
        match self {
            PlayState::Playing => "playing",
            PlayState::Paused => "paused",
            PlayState::Buffering => "buffering",
            PlayState::Stopped => "stopped",
        }
    }
}

/// One position report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The item.
    pub rating_key: String,
    /// Position in ms.
    pub time: u64,
    /// Duration in ms.
    pub duration: u64,
    /// State.
    pub state: PlayState,
}

/// What the caller must do with a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Offer {
    /// Send it now.
    Send,
    /// Held; when `flush_after` is set, schedule one [`Coalescer::take_due`] after that long.
    Held {
        /// Delay of the flush to schedule, if none is scheduled yet.
        flush_after: Option<Duration>,
    },
}

#[derive(Debug)]
struct Slot {
    last_state: PlayState,
    last_sent: Instant,
    pending: Option<Report>,
    flush_scheduled: bool,
}

/// Coalesces reports per key.
#[derive(Debug)]
pub struct Coalescer<K> {
    slots: Mutex<HashMap<K, Slot>>,
}

impl<K> Default for Coalescer<K> {
    fn default() -> Self {
        Coalescer {
            slots: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Hash + Eq + Clone> Coalescer<K> {
    /// An empty coalescer.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Slot>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Decides what to do with `report` for `key` at `now`, with at most one same-state report
    /// sent per `interval`.
    pub fn offer(&self, key: &K, report: Report, interval: Duration, now: Instant) -> Offer {
        let mut slots = self.lock();
        if slots.len() > 1024 {
            let quiet = interval.saturating_mul(6).max(Duration::from_secs(60));
            slots.retain(|_, s| {
                s.pending.is_some() || now.saturating_duration_since(s.last_sent) < quiet
            });
        }
        let send_now = match slots.get(key) {
            None => true,
            Some(slot) => {
                report.state != slot.last_state
                    || report.state == PlayState::Stopped
                    || now.saturating_duration_since(slot.last_sent) >= interval
            }
        };
        if send_now {
            let slot = slots.entry(key.clone()).or_insert(Slot {
                last_state: report.state,
                last_sent: now,
                pending: None,
                flush_scheduled: false,
            });
            slot.last_state = report.state;
            slot.last_sent = now;
            // The newer report supersedes whatever was held.
            slot.pending = None;
            return Offer::Send;
        }
        let Some(slot) = slots.get_mut(key) else {
            return Offer::Send;
        };
        slot.pending = Some(report);
        if slot.flush_scheduled {
            Offer::Held { flush_after: None }
        } else {
            slot.flush_scheduled = true;
            let due = slot.last_sent + interval;
            Offer::Held {
                flush_after: Some(due.saturating_duration_since(now)),
            }
        }
    }

    /// The scheduled flush: the pending report to send now, if any is still pending (a state
    /// change sent in between supersedes it).
    pub fn take_due(&self, key: &K, now: Instant) -> Option<Report> {
        let mut slots = self.lock();
        let slot = slots.get_mut(key)?;
        slot.flush_scheduled = false;
        let report = slot.pending.take()?;
        slot.last_state = report.state;
        slot.last_sent = now;
        Some(report)
    }

    /// Number of keys tracked (tests).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(time: u64, state: PlayState) -> Report {
        Report {
            rating_key: "101".into(),
            time,
            duration: 10_000,
            state,
        }
    }

    #[test]
    fn state_changes_go_out_at_once_and_positions_are_held() {
        let c = Coalescer::new();
        let t0 = Instant::now();
        let iv = Duration::from_secs(10);
        let k = 1u8;
        assert_eq!(c.offer(&k, r(0, PlayState::Playing), iv, t0), Offer::Send);
        let t1 = t0 + Duration::from_millis(250);
        assert_eq!(
            c.offer(&k, r(250, PlayState::Playing), iv, t1),
            Offer::Held {
                flush_after: Some(Duration::from_millis(9750))
            }
        );
        assert_eq!(
            c.offer(&k, r(500, PlayState::Playing), iv, t1),
            Offer::Held { flush_after: None }
        );
        // The flush sends the newest position.
        assert_eq!(c.take_due(&k, t0 + iv), Some(r(500, PlayState::Playing)));
        assert_eq!(c.take_due(&k, t0 + iv), None);
        // A state change is sent at once and drops what was held.
        let t2 = t0 + iv + Duration::from_millis(100);
        assert!(matches!(
            c.offer(&k, r(600, PlayState::Playing), iv, t2),
            Offer::Held { .. }
        ));
        assert_eq!(c.offer(&k, r(700, PlayState::Paused), iv, t2), Offer::Send);
        assert_eq!(c.take_due(&k, t2), None);
        // `stopped` always goes out, even twice.
        assert_eq!(c.offer(&k, r(800, PlayState::Stopped), iv, t2), Offer::Send);
        assert_eq!(c.offer(&k, r(800, PlayState::Stopped), iv, t2), Offer::Send);
        // After the interval the same state goes out again.
        assert_eq!(
            c.offer(&k, r(900, PlayState::Paused), iv, t2 + iv),
            Offer::Send
        );
        // Keys are independent.
        assert_eq!(c.offer(&2u8, r(0, PlayState::Playing), iv, t2), Offer::Send);
        assert_eq!(c.len(), 2);
    }
}
