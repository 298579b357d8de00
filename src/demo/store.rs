//! The demo Plex's mutable state: per-account, per-item watch state, per-part stream selection, transcode
//! decisions and sessions.
//!
//! Why: the protocol's interesting behaviour is stateful (timeline moves `viewOffset`, PUT on a
//! part changes `selected`, `start.*` needs a prior decision, idle sessions are reaped). All of it
//! lives behind one mutex held for short, non-async sections. Reaping is lazy: every request and
//! every `live_transcode_sessions()` first drops what has been idle too long, so expiry is exact
//! and needs no timer task. It never holds a lock across an `.await`.
//!
//! It imports nothing of the demo: `library` reads it and `state` holds it, so it sits below both.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Watch state of one item (by `ratingKey`).
#[derive(Debug, Clone, Default)]
pub(crate) struct UserState {
    pub view_offset: Option<u64>,
    pub view_count: u64,
    pub last_viewed_at: Option<i64>,
    pub user_rating: Option<f64>,
    /// Last `/:/timeline` state (`playing`, `paused`, …).
    pub last_state: Option<String>,
}

/// Selected streams of one part (by part id); `None` means "none selected".
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Selection {
    pub audio: Option<u64>,
    pub subtitle: Option<u64>,
}

/// What a decision concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DecisionKind {
    DirectPlay,
    Transcode,
    Unavailable,
}

/// How a session's segments are packaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Packaging {
    HlsTs,
    HlsFmp4,
    Dash,
}

impl Packaging {
    /// PMS's `protocol` value.
    pub(crate) fn protocol(self) -> &'static str {
        match self {
            Packaging::HlsTs | Packaging::HlsFmp4 => "hls",
            Packaging::Dash => "dash",
        }
    }

    /// PMS's `container` value for the output.
    pub(crate) fn container(self) -> &'static str {
        match self {
            Packaging::HlsTs => "mpegts",
            Packaging::HlsFmp4 | Packaging::Dash => "mp4",
        }
    }
}

/// A running transcode session (created by `start.*`).
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub id: String,
    pub rating_key: String,
    pub packaging: Packaging,
    /// Indexes into `Facts::renditions`, highest first.
    pub renditions: Vec<usize>,
    /// Whether the master advertises the `vtt-base` subtitle rendition.
    pub subtitles: bool,
    /// How many times the embedded media plays back to back (a title longer than the media).
    pub loops: u32,
    pub video_decision: &'static str,
    pub audio_decision: &'static str,
    pub client_identifier: Option<String>,
    pub last_activity: Instant,
}

/// Which Plex account a request came from: 0 for the server token, `n` for the `n`-th shared
/// user token (each account has its own watch state, as on a real PMS).
pub(crate) type Account = usize;

/// All mutable state.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// Watch state per account, per `ratingKey`.
    pub watch: HashMap<Account, HashMap<String, UserState>>,
    pub selections: HashMap<u64, Selection>,
    pub sessions: HashMap<String, Session>,
    /// Transcode `session` ids that had a decision, with when.
    pub decisions: HashMap<String, Instant>,
    /// The last decision per `X-Plex-Client-Identifier`.
    pub client_decisions: HashMap<String, DecisionKind>,
}

impl State {
    /// The watch state of `rk` for `account`, if it has any.
    pub(crate) fn user_state(&self, account: Account, rk: &str) -> Option<&UserState> {
        self.watch.get(&account).and_then(|m| m.get(rk))
    }

    /// The watch state of `rk` for `account`, created empty.
    pub(crate) fn user_state_mut(&mut self, account: Account, rk: &str) -> &mut UserState {
        self.watch
            .entry(account)
            .or_default()
            .entry(rk.to_owned())
            .or_default()
    }

    /// Every item `account` has watch state for.
    pub(crate) fn watched_items(
        &self,
        account: Account,
    ) -> impl Iterator<Item = (&String, &UserState)> {
        self.watch.get(&account).into_iter().flatten()
    }

    /// Drops sessions and decisions idle for longer than `idle`.
    pub(crate) fn reap(&mut self, now: Instant, idle: Duration) {
        self.sessions
            .retain(|_, s| now.saturating_duration_since(s.last_activity) <= idle);
        self.decisions
            .retain(|_, at| now.saturating_duration_since(*at) <= idle);
    }

    /// The live session `id`, marked active now.
    pub(crate) fn touch(&mut self, id: &str) -> Option<&Session> {
        let s = self.sessions.get_mut(id)?;
        s.last_activity = Instant::now();
        Some(s)
    }

    /// Live session ids, sorted.
    pub(crate) fn session_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.sessions.keys().cloned().collect();
        ids.sort();
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reap_drops_idle_sessions_only() {
        let mut st = State::default();
        let old = Instant::now();
        for (id, at) in [("old", old), ("new", old + Duration::from_secs(10))] {
            st.sessions.insert(
                id.into(),
                Session {
                    id: id.into(),
                    rating_key: "101".into(),
                    packaging: Packaging::HlsTs,
                    renditions: vec![0],
                    subtitles: false,
                    loops: 1,
                    video_decision: "copy",
                    audio_decision: "copy",
                    client_identifier: None,
                    last_activity: at,
                },
            );
        }
        st.reap(old + Duration::from_secs(12), Duration::from_secs(5));
        assert_eq!(st.session_ids(), vec!["new".to_string()]);
    }
}
