//! Runtime fault knobs of the demo Plex, settable from tests while the server runs.
//!
//! Why: plexgate must survive a slow, flaky or half-broken PMS, and its tests need a PMS that
//! misbehaves on demand. Every knob is an atomic or a short mutex so a test can flip it between
//! two requests. Body knobs (throttle, reset, ignore Range) act on bodies served from the
//! embedded media; request knobs (fail the n-th, delay) act on every request. This module never
//! sleeps or does I/O itself; it only answers "what should happen now".

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// "Off" for the `u64` knobs stored in atomics.
const OFF: u64 = u64::MAX;

/// Fault knobs of a running [`DemoPlex`](super::DemoPlex); get them with
/// [`DemoPlex::faults`](super::DemoPlex::faults). All default to off.
#[derive(Debug)]
pub struct Faults {
    throttle_bps: AtomicU64,
    reset_after: AtomicU64,
    ignore_range: AtomicBool,
    delay_nanos: AtomicU64,
    fail_nth: Mutex<Option<FailNth>>,
    timeline_termination: Mutex<Option<(u32, String)>>,
}

#[derive(Debug, Clone, Copy)]
struct FailNth {
    remaining: u64,
    status: u16,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            throttle_bps: AtomicU64::new(OFF),
            reset_after: AtomicU64::new(OFF),
            ignore_range: AtomicBool::new(false),
            delay_nanos: AtomicU64::new(0),
            fail_nth: Mutex::new(None),
            timeline_termination: Mutex::new(None),
        }
    }
}

impl Faults {
    /// Limits every media body to about `bytes_per_sec` (per response); `None` turns it off.
    /// The body still completes, only slower.
    pub fn throttle(&self, bytes_per_sec: Option<u64>) {
        let v = bytes_per_sec.map_or(OFF, |b| b.max(1));
        self.throttle_bps.store(v, Ordering::SeqCst);
    }

    /// Aborts the connection after `after_bytes` body bytes of every media response (bodies no
    /// longer than that complete normally); `None` turns it off. The client sees a transport
    /// error, never a clean short body.
    pub fn reset_mid_body(&self, after_bytes: Option<u64>) {
        self.reset_after
            .store(after_bytes.unwrap_or(OFF), Ordering::SeqCst);
    }

    /// The `n`-th request from now (1 = the next one; 0 counts as 1), whatever its path or token,
    /// answers `status` with a small PMS-style HTML page. Fires once; a new call replaces a pending one.
    pub fn fail_nth(&self, n: u64, status: u16) {
        *lock(&self.fail_nth) = Some(FailNth {
            remaining: n.max(1),
            status,
        });
    }

    /// When on, media responses ignore `Range` and answer 200 with the whole body (and no
    /// `Accept-Ranges`).
    pub fn ignore_range(&self, on: bool) {
        self.ignore_range.store(on, Ordering::SeqCst);
    }

    /// Waits this long before answering any request's headers; `None` turns it off.
    pub fn delay(&self, delay: Option<Duration>) {
        let nanos = delay.map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        self.delay_nanos.store(nanos, Ordering::SeqCst);
    }

    /// Makes every `/:/timeline` answer carry `terminationCode`/`terminationText` (the server
    /// ended playback), until cleared with `None`.
    pub fn terminate_timeline(&self, code_and_text: Option<(u32, String)>) {
        *lock(&self.timeline_termination) = code_and_text;
    }

    /// Turns every knob off.
    pub fn clear(&self) {
        self.throttle(None);
        self.reset_mid_body(None);
        self.ignore_range(false);
        self.delay(None);
        *lock(&self.fail_nth) = None;
        self.terminate_timeline(None);
    }

    pub(crate) fn throttle_bps(&self) -> Option<u64> {
        Some(self.throttle_bps.load(Ordering::SeqCst)).filter(|v| *v != OFF)
    }

    pub(crate) fn reset_after(&self) -> Option<u64> {
        Some(self.reset_after.load(Ordering::SeqCst)).filter(|v| *v != OFF)
    }

    pub(crate) fn ignores_range(&self) -> bool {
        self.ignore_range.load(Ordering::SeqCst)
    }

    pub(crate) fn delay_value(&self) -> Option<Duration> {
        Some(self.delay_nanos.load(Ordering::SeqCst))
            .filter(|n| *n != 0)
            .map(Duration::from_nanos)
    }

    /// Counts one request against a pending `fail_nth`; returns the status when it fires now.
    pub(crate) fn take_failure(&self) -> Option<u16> {
        let mut slot = lock(&self.fail_nth);
        let pending = slot.as_mut()?;
        pending.remaining -= 1;
        if pending.remaining == 0 {
            let status = pending.status;
            *slot = None;
            Some(status)
        } else {
            None
        }
    }

    pub(crate) fn timeline_termination(&self) -> Option<(u32, String)> {
        lock(&self.timeline_termination).clone()
    }
}

/// Locks a mutex, recovering from poisoning (a panicked test thread must not wedge the server).
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_nth_fires_once_on_the_nth_request() {
        let f = Faults::default();
        f.fail_nth(3, 503);
        assert_eq!(f.take_failure(), None);
        assert_eq!(f.take_failure(), None);
        assert_eq!(f.take_failure(), Some(503));
        assert_eq!(f.take_failure(), None);
    }

    #[test]
    fn knobs_default_off_and_clear() {
        let f = Faults::default();
        assert_eq!(f.throttle_bps(), None);
        f.throttle(Some(1000));
        f.reset_mid_body(Some(0));
        f.delay(Some(Duration::from_millis(5)));
        assert_eq!(f.throttle_bps(), Some(1000));
        assert_eq!(f.reset_after(), Some(0));
        f.clear();
        assert_eq!(f.reset_after(), None);
        assert_eq!(f.delay_value(), None);
    }
}
