//! Ticket sessions: one row per facade ticket (per login session and server) and per playback
//! session, so stops, logouts and idle sweeps can find what to revoke and operators can see
//! what played, for how long and how many bytes.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::DbError;

/// Which kind of ticket the session backs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The PMS facade (`baseUrl` + `token`).
    Facade,
    /// One `/api/plex/stream` playback.
    Playback,
}

impl Kind {
    /// `facade` or `playback`, as stored and as logged.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Facade => "facade",
            Kind::Playback => "playback",
        }
    }
}

/// A new ticket session.
#[derive(Debug, Clone)]
pub struct NewTicketSession {
    /// Hex session id (the one inside the ticket).
    pub id: String,
    /// Owner.
    pub user_id: i64,
    /// Server row.
    pub server_id: i64,
    /// Login session it belongs to (revoked with it at logout), if any.
    pub login_session_hash: Option<[u8; 32]>,
    /// Facade or playback.
    pub kind: Kind,
    /// Item played (playback).
    pub rating_key: Option<String>,
    /// Plex transcode `session` id (playback).
    pub plex_session_id: Option<String>,
    /// `hls`, `dash` or `http` (playback).
    pub protocol: Option<String>,
    /// `proxy` or `direct` (playback).
    pub mode: Option<String>,
}

/// A stored ticket session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketSession {
    /// Hex session id.
    pub id: String,
    /// Owner.
    pub user_id: i64,
    /// Server row.
    pub server_id: i64,
    /// Facade or playback.
    pub kind: String,
    /// Item played.
    pub rating_key: Option<String>,
    /// Plex transcode session id.
    pub plex_session_id: Option<String>,
    /// Started, epoch seconds.
    pub started_at: i64,
    /// Ended, epoch seconds.
    pub ended_at: Option<i64>,
    /// Bytes sent to the browser.
    pub bytes_sent: i64,
    /// Why it ended (`stopped`, `client_gone`, `logout`, `replaced`…).
    pub end_reason: Option<String>,
    /// The login session it belongs to.
    pub login_session_hash: Option<[u8; 32]>,
    /// `hls`, `dash` or `http` (playback).
    pub protocol: Option<String>,
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<TicketSession> {
    Ok(TicketSession {
        id: row.get(0)?,
        user_id: row.get(1)?,
        server_id: row.get(2)?,
        kind: row.get(3)?,
        rating_key: row.get(4)?,
        plex_session_id: row.get(5)?,
        started_at: row.get(6)?,
        ended_at: row.get(7)?,
        bytes_sent: row.get(8)?,
        end_reason: row.get(9)?,
        login_session_hash: row
            .get::<_, Option<Vec<u8>>>(10)?
            .and_then(|h| <[u8; 32]>::try_from(h.as_slice()).ok()),
        protocol: row.get(11)?,
    })
}

const COLUMNS: &str = "id, user_id, server_id, kind, rating_key, plex_session_id, started_at, \
                       ended_at, bytes_sent, end_reason, login_session_hash, protocol";

/// Records a new ticket session started at `now`.
pub fn insert(conn: &Connection, new: &NewTicketSession, now: i64) -> Result<(), DbError> {
    conn.prepare_cached(
        "INSERT INTO playback_sessions (id, user_id, server_id, login_session_hash, kind,
             rating_key, plex_session_id, protocol, mode, started_at, last_activity_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
    )?
    .execute(params![
        new.id,
        new.user_id,
        new.server_id,
        new.login_session_hash.as_ref().map(|h| h.as_slice()),
        new.kind.as_str(),
        new.rating_key,
        new.plex_session_id,
        new.protocol,
        new.mode,
        now,
    ])?;
    Ok(())
}

/// The session `id`, if any.
pub fn get(conn: &Connection, id: &str) -> Result<Option<TicketSession>, DbError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM playback_sessions WHERE id = ?1"
        ))?
        .query_row([id], from_row)
        .optional()?)
}

/// Adds activity: the last request time and bytes sent since the previous call.
pub fn record_activity(conn: &Connection, id: &str, now: i64, bytes: u64) -> Result<(), DbError> {
    conn.prepare_cached(
        "UPDATE playback_sessions
            SET last_activity_at = max(last_activity_at, ?2), bytes_sent = bytes_sent + ?3
          WHERE id = ?1",
    )?
    .execute(params![id, now, bytes as i64])?;
    Ok(())
}

/// Marks `id` ended at `now` for `reason`; returns false if it had already ended.
pub fn end(conn: &Connection, id: &str, now: i64, reason: &str) -> Result<bool, DbError> {
    Ok(conn
        .prepare_cached(
            "UPDATE playback_sessions SET ended_at = ?2, end_reason = ?3
              WHERE id = ?1 AND ended_at IS NULL",
        )?
        .execute(params![id, now, reason])?
        > 0)
}

/// Open sessions of a login session (to revoke at logout).
pub fn open_for_login(
    conn: &Connection,
    login_hash: &[u8; 32],
) -> Result<Vec<TicketSession>, DbError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM playback_sessions
              WHERE login_session_hash = ?1 AND ended_at IS NULL ORDER BY started_at"
        ))?
        .query_map([login_hash.as_slice()], from_row)?
        .collect::<Result<_, _>>()?)
}

/// Open sessions of one kind (restart recovery and sweeps).
pub fn open_of_kind(conn: &Connection, kind: Kind) -> Result<Vec<TicketSession>, DbError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM playback_sessions
              WHERE kind = ?1 AND ended_at IS NULL ORDER BY started_at"
        ))?
        .query_map([kind.as_str()], from_row)?
        .collect::<Result<_, _>>()?)
}

/// An open playback session as the owner page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenPlayback {
    /// Hex session id.
    pub id: String,
    /// Whose it is.
    pub user_id: i64,
    /// Their username.
    pub username: String,
    /// Server row.
    pub server_id: i64,
    /// Item played.
    pub rating_key: Option<String>,
    /// `hls`, `dash` or `http`.
    pub protocol: Option<String>,
    /// Started, epoch seconds.
    pub started_at: i64,
    /// Last request, epoch seconds, as last flushed.
    pub last_activity_at: i64,
    /// Bytes sent, as last flushed.
    pub bytes_sent: i64,
}

/// Every open playback session with its user's name, newest first.
pub fn open_playbacks(conn: &Connection) -> Result<Vec<OpenPlayback>, DbError> {
    Ok(conn
        .prepare_cached(
            "SELECT p.id, p.user_id, u.username, p.server_id, p.rating_key, p.protocol,
                    p.started_at, p.last_activity_at, p.bytes_sent
               FROM playback_sessions p JOIN users u ON u.id = p.user_id
              WHERE p.kind = 'playback' AND p.ended_at IS NULL
              ORDER BY p.started_at DESC, p.id",
        )?
        .query_map([], |row| {
            Ok(OpenPlayback {
                id: row.get(0)?,
                user_id: row.get(1)?,
                username: row.get(2)?,
                server_id: row.get(3)?,
                rating_key: row.get(4)?,
                protocol: row.get(5)?,
                started_at: row.get(6)?,
                last_activity_at: row.get(7)?,
                bytes_sent: row.get(8)?,
            })
        })?
        .collect::<Result<_, _>>()?)
}
