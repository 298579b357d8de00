//! Expired login sessions: deleted periodically, and every ticket they minted revoked with them.
//!
//! Why: a session expires by idleness (24 h unused) or age (7 days) without anyone calling
//! logout, and the facade and playback tickets it minted used to keep working until their own
//! expiry. The purge bounds how long a ticket can outlive its login to one period
//! (`auth.session_purge_secs`).

use std::time::Duration;

use tokio::task::JoinHandle;

use crate::api::AppState;

/// Revokes the tickets of every expired login session and deletes the sessions. Returns how
/// many sessions were purged.
pub async fn purge_expired_logins(state: &AppState) -> usize {
    let expired = match state.logins().expired().await {
        Ok(list) => list,
        Err(e) => {
            tracing::warn!(error = %e, "could not list expired login sessions");
            return 0;
        }
    };
    let mut purged = 0;
    for hash in expired {
        match state.keeper().revoke_login(hash, "login_expired").await {
            Ok(revoked) => {
                if let Err(e) = state.logins().destroy(hash).await {
                    tracing::warn!(error = %e, "could not delete an expired login session");
                    continue;
                }
                purged += 1;
                tracing::info!(tickets_revoked = revoked, "expired login session purged");
            }
            Err(e) => tracing::warn!(error = %e, "could not revoke an expired login's tickets"),
        }
    }
    purged
}

/// Runs [`purge_expired_logins`] every `period` until the handle is aborted.
pub fn spawn(state: AppState, period: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            purge_expired_logins(&state).await;
        }
    })
}
