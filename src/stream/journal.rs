//! The INFO lines an operator reads about playback: one when a playback starts, one when its
//! session ends (what played, for whom, how, how many bytes, how long). They replace one line
//! per segment, which the access log writes at DEBUG (`http::access`).
//!
//! Never a token, a ticket or an upstream URL: ids, the item's rating key and counts only.

use crate::db::playback::TicketSession;
use crate::util::unix_now;

use super::live::LiveSession;

const TARGET: &str = "plexgate::playback";

/// A playback session was registered (`/api/plex/stream`).
pub(super) fn playback_started(live: &LiveSession, protocol: Option<&str>, mode: Option<&str>) {
    tracing::info!(
        target: TARGET,
        session = %live.id,
        user_id = live.user_id,
        rating_key = live.rating_key.as_deref().unwrap_or("-"),
        protocol = protocol.unwrap_or("-"),
        mode = mode.unwrap_or("-"),
        "playback session started"
    );
}

/// The player started a transcode itself through the facade.
pub(super) fn facade_playback_started(
    live: &LiveSession,
    rating_key: Option<&str>,
    transcode: &str,
) {
    tracing::info!(
        target: TARGET,
        session = %live.id,
        user_id = live.user_id,
        rating_key = rating_key.unwrap_or("-"),
        transcode,
        "playback started through the facade"
    );
}

/// A ticket session ended; `row` is its stored record after the end was written.
pub(super) fn session_ended(live: &LiveSession, row: Option<&TicketSession>, reason: &str) {
    tracing::info!(
        target: TARGET,
        session = %live.id,
        user_id = live.user_id,
        kind = live.kind.as_str(),
        rating_key = row.and_then(|r| r.rating_key.as_deref()).unwrap_or("-"),
        protocol = row.and_then(|r| r.protocol.as_deref()).unwrap_or("-"),
        bytes = row.map_or(0, |r| r.bytes_sent),
        duration_secs = row.map_or(0, |r| unix_now() - r.started_at),
        reason,
        "{} session ended",
        live.kind.as_str()
    );
}
