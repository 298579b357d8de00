//! Plex accounts that logged in through the PIN flow.
//!
//! The account token is sealed on the way in and only [`user_plex_token`] opens it; [`User`]
//! has no token field, so printing or serialising a user can never leak one.

use std::fmt;

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::secrets::{open_str, seal_str, user_token_aad};
use super::{DbError, atomically};
use crate::crypto::SecretBox;

/// A user as plex.tv describes it at login, including the account token to store.
pub struct NewUser<'a> {
    /// plex.tv account id.
    pub plex_id: i64,
    /// plex.tv `username` (falling back to `title`).
    pub username: &'a str,
    /// Account e-mail.
    pub email: Option<&'a str>,
    /// Avatar URL.
    pub thumb: Option<&'a str>,
    /// Display title.
    pub title: Option<&'a str>,
    /// Whether the account has a password.
    pub has_password: bool,
    /// plex.tv subscription object (`{active, status, plan}`).
    pub subscription: Option<&'a serde_json::Value>,
    /// The plex.tv account token; sealed before it is written.
    pub plex_token: &'a str,
}

impl fmt::Debug for NewUser<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewUser")
            .field("plex_id", &self.plex_id)
            .field("username", &self.username)
            .field("plex_token", &"…redacted…")
            .finish_non_exhaustive()
    }
}

/// A stored user. Holds no token.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// Local id (used in sessions, tickets and foreign keys).
    pub id: i64,
    /// plex.tv account id.
    pub plex_id: i64,
    /// plex.tv username.
    pub username: String,
    /// Account e-mail.
    pub email: Option<String>,
    /// Avatar URL.
    pub thumb: Option<String>,
    /// Display title.
    pub title: Option<String>,
    /// Whether the account has a password.
    pub has_password: bool,
    /// plex.tv subscription object.
    pub subscription: Option<serde_json::Value>,
    /// First login, epoch seconds.
    pub created_at: i64,
    /// Last login or update, epoch seconds.
    pub updated_at: i64,
}

const USER_COLUMNS: &str = "id, plex_id, username, email, thumb, title, has_password, subscription, created_at, updated_at";

fn user_from_row(row: &Row<'_>) -> rusqlite::Result<User> {
    let subscription: Option<String> = row.get(7)?;
    let subscription = subscription
        .map(|text| serde_json::from_str(&text))
        .transpose()
        .map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(7, rusqlite::types::Type::Text, e.into())
        })?;
    Ok(User {
        id: row.get(0)?,
        plex_id: row.get(1)?,
        username: row.get(2)?,
        email: row.get(3)?,
        thumb: row.get(4)?,
        title: row.get(5)?,
        has_password: row.get(6)?,
        subscription,
        created_at: row.get(8)?,
        updated_at: row.get(9)?,
    })
}

/// Inserts the user, or updates the existing row with the same `plex_id` (each login refreshes
/// profile and token). Also creates the user's settings row on first login.
pub fn upsert_user(
    conn: &Connection,
    new: &NewUser<'_>,
    secrets: &SecretBox,
    now: i64,
) -> Result<User, DbError> {
    let sealed = seal_str(secrets, new.plex_token, &user_token_aad(new.plex_id));
    let subscription = new.subscription.map(|v| v.to_string());
    atomically(conn, |conn| {
        let user = conn
            .prepare_cached(&format!(
                "INSERT INTO users (plex_id, username, email, thumb, title, plex_token,
                                    has_password, subscription, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)
                 ON CONFLICT (plex_id) DO UPDATE SET
                     username = excluded.username, email = excluded.email,
                     thumb = excluded.thumb, title = excluded.title,
                     plex_token = excluded.plex_token, has_password = excluded.has_password,
                     subscription = excluded.subscription, updated_at = excluded.updated_at
                 RETURNING {USER_COLUMNS}"
            ))?
            .query_row(
                params![
                    new.plex_id,
                    new.username,
                    new.email,
                    new.thumb,
                    new.title,
                    sealed,
                    new.has_password,
                    subscription,
                    now
                ],
                user_from_row,
            )?;
        conn.prepare_cached(
            "INSERT INTO user_settings (user_id, updated_at) VALUES (?1, ?2)
             ON CONFLICT (user_id) DO NOTHING",
        )?
        .execute(params![user.id, now])?;
        Ok(user)
    })
}

/// The user with local id `id`.
pub fn get_user(conn: &Connection, id: i64) -> Result<Option<User>, DbError> {
    Ok(conn
        .prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"))?
        .query_row([id], user_from_row)
        .optional()?)
}

/// The user with plex.tv account id `plex_id`.
pub fn get_user_by_plex_id(conn: &Connection, plex_id: i64) -> Result<Option<User>, DbError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE plex_id = ?1"
        ))?
        .query_row([plex_id], user_from_row)
        .optional()?)
}

/// The user whose username is `username` (case-insensitive), if exactly that one exists.
pub fn get_user_by_username(conn: &Connection, username: &str) -> Result<Option<User>, DbError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE username = ?1 COLLATE NOCASE ORDER BY id LIMIT 1"
        ))?
        .query_row([username], user_from_row)
        .optional()?)
}

/// Decrypts the user's plex.tv account token. The only way to get it back.
pub fn user_plex_token(
    conn: &Connection,
    user_id: i64,
    secrets: &SecretBox,
) -> Result<String, DbError> {
    let (plex_id, sealed): (i64, Vec<u8>) = conn
        .prepare_cached("SELECT plex_id, plex_token FROM users WHERE id = ?1")?
        .query_row([user_id], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?
        .ok_or(DbError::NotFound("user"))?;
    open_str(
        secrets,
        &sealed,
        &user_token_aad(plex_id),
        "Plex account token",
    )
}

/// Deletes the user and, by cascade, their settings, servers, sessions and playback sessions.
/// Returns whether the user existed.
pub fn delete_user(conn: &Connection, id: i64) -> Result<bool, DbError> {
    Ok(conn
        .prepare_cached("DELETE FROM users WHERE id = ?1")?
        .execute([id])?
        > 0)
}
