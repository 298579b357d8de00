//! Login sessions, keyed by a hash of the cookie value.
//!
//! Never stores or accepts the raw cookie value: callers pass the 32-byte hash (keyed with a
//! key derived from the master key), so a copy of the database cannot be replayed as cookies.
//! A session ends at `expires_at` (absolute, fixed at login) or after `idle_ttl` seconds without
//! a touch, whichever comes first; callers pass `now` and the TTLs so expiry is testable.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::DbError;

/// A stored login session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    /// Hash of the cookie value (the primary key).
    pub id_hash: [u8; 32],
    /// The logged-in user.
    pub user_id: i64,
    /// Login time, epoch seconds.
    pub created_at: i64,
    /// Last request seen, epoch seconds.
    pub last_seen_at: i64,
    /// Absolute end, epoch seconds.
    pub expires_at: i64,
    /// `User-Agent` at login.
    pub user_agent: Option<String>,
    /// Client address at login.
    pub ip: Option<String>,
}

const SESSION_COLUMNS: &str =
    "id_hash, user_id, created_at, last_seen_at, expires_at, user_agent, ip";

fn session_from_row(row: &Row<'_>) -> rusqlite::Result<SessionRow> {
    Ok(SessionRow {
        id_hash: row.get(0)?,
        user_id: row.get(1)?,
        created_at: row.get(2)?,
        last_seen_at: row.get(3)?,
        expires_at: row.get(4)?,
        user_agent: row.get(5)?,
        ip: row.get(6)?,
    })
}

/// Stores a new session that ends at `now + absolute_ttl` at the latest.
pub fn create_session(
    conn: &Connection,
    user_id: i64,
    id_hash: &[u8; 32],
    now: i64,
    absolute_ttl: i64,
    user_agent: Option<&str>,
    ip: Option<&str>,
) -> Result<SessionRow, DbError> {
    Ok(conn
        .prepare_cached(&format!(
            "INSERT INTO sessions ({SESSION_COLUMNS}) VALUES (?1, ?2, ?3, ?3, ?4, ?5, ?6)
             RETURNING {SESSION_COLUMNS}"
        ))?
        .query_row(
            params![
                &id_hash[..],
                user_id,
                now,
                now.saturating_add(absolute_ttl),
                user_agent,
                ip
            ],
            session_from_row,
        )?)
}

/// The session with this hash if it is still valid at `now`: before its absolute expiry and
/// touched less than `idle_ttl` seconds ago.
pub fn find_session(
    conn: &Connection,
    id_hash: &[u8; 32],
    now: i64,
    idle_ttl: i64,
) -> Result<Option<SessionRow>, DbError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions
             WHERE id_hash = ?1 AND expires_at > ?2 AND last_seen_at + ?3 > ?2"
        ))?
        .query_row(params![&id_hash[..], now, idle_ttl], session_from_row)
        .optional()?)
}

/// Marks the session as seen at `now`. Returns `false` (and changes nothing) if it no longer
/// exists or has already expired, so a late touch cannot revive an idle session.
pub fn touch_session(
    conn: &Connection,
    id_hash: &[u8; 32],
    now: i64,
    idle_ttl: i64,
) -> Result<bool, DbError> {
    Ok(conn
        .prepare_cached(
            "UPDATE sessions SET last_seen_at = max(last_seen_at, ?2)
             WHERE id_hash = ?1 AND expires_at > ?2 AND last_seen_at + ?3 > ?2",
        )?
        .execute(params![&id_hash[..], now, idle_ttl])?
        > 0)
}

/// Deletes the session (logout). Returns whether it existed.
pub fn delete_session(conn: &Connection, id_hash: &[u8; 32]) -> Result<bool, DbError> {
    Ok(conn
        .prepare_cached("DELETE FROM sessions WHERE id_hash = ?1")?
        .execute([&id_hash[..]])?
        > 0)
}

/// The hashes of every session that has expired at `now`, absolutely or by idleness.
pub fn expired_sessions(
    conn: &Connection,
    now: i64,
    idle_ttl: i64,
) -> Result<Vec<[u8; 32]>, DbError> {
    let hashes: Vec<Vec<u8>> = conn
        .prepare_cached(
            "SELECT id_hash FROM sessions WHERE expires_at <= ?1 OR last_seen_at + ?2 <= ?1",
        )?
        .query_map(params![now, idle_ttl], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(hashes
        .into_iter()
        .filter_map(|h| <[u8; 32]>::try_from(h.as_slice()).ok())
        .collect())
}

/// Deletes every session that has expired at `now`, absolutely or by idleness. Returns how many.
pub fn delete_expired(conn: &Connection, now: i64, idle_ttl: i64) -> Result<usize, DbError> {
    Ok(conn
        .prepare_cached("DELETE FROM sessions WHERE expires_at <= ?1 OR last_seen_at + ?2 <= ?1")?
        .execute(params![now, idle_ttl])?)
}
