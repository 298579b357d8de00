//! Revoked ticket sessions: the durable side of the in-memory deny set.
//!
//! Tickets are stateless and stay valid until they expire; revoking one records its session id
//! here so a restart does not bring it back. A row is only useful until the ticket's own expiry,
//! after which [`prune`] removes it.

use rusqlite::{Connection, params};

use super::DbError;

/// Revokes ticket session `session_id` until `expires_at` (when the ticket would have expired
/// anyway). Revoking again keeps the first time and reason and extends `expires_at` if later.
/// Returns `true` if the session was not revoked before.
pub fn revoke(
    conn: &Connection,
    session_id: &str,
    expires_at: i64,
    reason: &str,
    now: i64,
) -> Result<bool, DbError> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO revoked_sessions (session_id, revoked_at, expires_at, reason)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (session_id) DO NOTHING",
        )?
        .execute(params![session_id, now, expires_at, reason])?
        > 0;
    if !inserted {
        conn.prepare_cached(
            "UPDATE revoked_sessions SET expires_at = max(expires_at, ?2) WHERE session_id = ?1",
        )?
        .execute(params![session_id, expires_at])?;
    }
    Ok(inserted)
}

/// Whether `session_id` is revoked and the revocation still matters at `now`.
pub fn is_revoked(conn: &Connection, session_id: &str, now: i64) -> Result<bool, DbError> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM revoked_sessions WHERE session_id = ?1 AND expires_at > ?2)",
        )?
        .query_row(params![session_id, now], |row| row.get(0))?)
}

/// Session ids whose revocation still matters at `now`, to warm the deny set at startup.
pub fn active_revocations(conn: &Connection, now: i64) -> Result<Vec<String>, DbError> {
    Ok(conn
        .prepare_cached(
            "SELECT session_id FROM revoked_sessions WHERE expires_at > ?1 ORDER BY revoked_at",
        )?
        .query_map([now], |row| row.get(0))?
        .collect::<Result<_, _>>()?)
}

/// Deletes revocations of tickets that have expired by `now`. Returns how many.
pub fn prune(conn: &Connection, now: i64) -> Result<usize, DbError> {
    Ok(conn
        .prepare_cached("DELETE FROM revoked_sessions WHERE expires_at <= ?1")?
        .execute([now])?)
}
