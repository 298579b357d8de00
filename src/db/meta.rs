//! Key/value facts about the database itself (e.g. the fingerprint of the key its secrets need).
//! Never holds a secret: values here are not sealed.

use rusqlite::{Connection, OptionalExtension, params};

use super::DbError;

/// The value stored under `key`, if any.
pub fn get(conn: &Connection, key: &str) -> Result<Option<Vec<u8>>, DbError> {
    Ok(conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([key], |row| row.get(0))
        .optional()?)
}

/// Stores `value` under `key`, replacing any previous value.
pub fn set(conn: &Connection, key: &str, value: &[u8]) -> Result<(), DbError> {
    conn.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![key, value])?;
    Ok(())
}

/// Stores `value` under `key` unless a value is already there; returns the value that is
/// stored afterwards (the existing one or `value`). One statement, so two callers cannot both
/// win.
pub fn set_if_absent(conn: &Connection, key: &str, value: &[u8]) -> Result<Vec<u8>, DbError> {
    conn.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
    )?
    .execute(params![key, value])?;
    Ok(get(conn, key)?.unwrap_or_else(|| value.to_vec()))
}
