//! Per-user secrets kept in `user_settings`: the user's own TMDB key and their Trakt tokens.
//!
//! Both columns hold [`SecretBox`] output sealed with associated data naming the column and the
//! user (`plexgate:user_settings.<column>:<user id>`), so a sealed value copied to another user's
//! row or the other column fails to open. Values are sealed before they are written and opened
//! only by the `*_tmdb_key` / `trakt_tokens` readers here; nothing in this file logs, formats or
//! returns a secret in an error.

use rusqlite::{Connection, OptionalExtension, params};

use super::DbError;
use super::secrets::{open_str, seal_str};
use crate::crypto::SecretBox;

fn tmdb_key_aad(user_id: i64) -> String {
    format!("plexgate:user_settings.tmdb_api_key:{user_id}")
}

fn trakt_tokens_aad(user_id: i64) -> String {
    format!("plexgate:user_settings.trakt_tokens:{user_id}")
}

/// Writes one sealed column (or NULL), creating the settings row if the user has none yet.
fn put(
    conn: &Connection,
    user_id: i64,
    column: &'static str,
    sealed: Option<Vec<u8>>,
    now: i64,
) -> Result<(), DbError> {
    // `column` is one of two constants in this file, never input.
    let sql = format!(
        "INSERT INTO user_settings (user_id, {column}, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (user_id) DO UPDATE SET {column} = excluded.{column},
             updated_at = excluded.updated_at"
    );
    let changed = conn
        .prepare_cached(&sql)?
        .execute(params![user_id, sealed, now])?;
    if changed == 0 {
        return Err(DbError::NotFound("user settings"));
    }
    Ok(())
}

fn get_sealed(
    conn: &Connection,
    user_id: i64,
    column: &'static str,
) -> Result<Option<Vec<u8>>, DbError> {
    let sql = format!("SELECT {column} FROM user_settings WHERE user_id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([user_id], |row| row.get::<_, Option<Vec<u8>>>(0))
        .optional()?
        .flatten())
}

/// Stores the user's own TMDB key (sealed).
pub fn set_tmdb_key(
    conn: &Connection,
    user_id: i64,
    key: &str,
    secrets: &SecretBox,
    now: i64,
) -> Result<(), DbError> {
    let sealed = seal_str(secrets, key, &tmdb_key_aad(user_id));
    put(conn, user_id, "tmdb_api_key", Some(sealed), now)
}

/// The user's own TMDB key, if they saved one.
pub fn user_tmdb_key(
    conn: &Connection,
    user_id: i64,
    secrets: &SecretBox,
) -> Result<Option<String>, DbError> {
    get_sealed(conn, user_id, "tmdb_api_key")?
        .map(|sealed| open_str(secrets, &sealed, &tmdb_key_aad(user_id), "TMDB key"))
        .transpose()
}

/// Forgets the user's own TMDB key. Returns whether one was stored.
pub fn clear_tmdb_key(conn: &Connection, user_id: i64, now: i64) -> Result<bool, DbError> {
    let had = get_sealed(conn, user_id, "tmdb_api_key")?.is_some();
    if had {
        put(conn, user_id, "tmdb_api_key", None, now)?;
    }
    Ok(had)
}

/// Stores the user's Trakt token set (a JSON document, sealed as a whole).
pub fn set_trakt_tokens(
    conn: &Connection,
    user_id: i64,
    tokens_json: &str,
    secrets: &SecretBox,
    now: i64,
) -> Result<(), DbError> {
    let sealed = seal_str(secrets, tokens_json, &trakt_tokens_aad(user_id));
    put(conn, user_id, "trakt_tokens", Some(sealed), now)
}

/// The user's Trakt token set as stored (JSON), if they connected Trakt.
pub fn trakt_tokens(
    conn: &Connection,
    user_id: i64,
    secrets: &SecretBox,
) -> Result<Option<String>, DbError> {
    get_sealed(conn, user_id, "trakt_tokens")?
        .map(|sealed| open_str(secrets, &sealed, &trakt_tokens_aad(user_id), "Trakt tokens"))
        .transpose()
}

/// Forgets the user's Trakt tokens. Returns whether any were stored.
pub fn clear_trakt_tokens(conn: &Connection, user_id: i64, now: i64) -> Result<bool, DbError> {
    let had = get_sealed(conn, user_id, "trakt_tokens")?.is_some();
    if had {
        put(conn, user_id, "trakt_tokens", None, now)?;
    }
    Ok(had)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::MasterKey;
    use crate::db::users::{NewUser, upsert_user};

    fn setup() -> (Connection, SecretBox, i64, i64) {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("PRAGMA foreign_keys=ON").unwrap();
        let mut conn = conn;
        super::super::migrations::run(&mut conn, std::path::Path::new(":memory:")).unwrap();
        let secrets = SecretBox::new(&MasterKey::generate());
        let mut ids = Vec::new();
        for plex_id in [1, 2] {
            let u = upsert_user(
                &conn,
                &NewUser {
                    plex_id,
                    username: "u",
                    email: None,
                    thumb: None,
                    title: None,
                    has_password: false,
                    subscription: None,
                    plex_token: "account-token",
                },
                &secrets,
                0,
            )
            .unwrap();
            ids.push(u.id);
        }
        (conn, secrets, ids[0], ids[1])
    }

    #[test]
    fn keys_round_trip_sealed_and_bound_to_their_row() {
        let (conn, secrets, a, b) = setup();
        assert_eq!(user_tmdb_key(&conn, a, &secrets).unwrap(), None);
        set_tmdb_key(&conn, a, "user-key-0123456789", &secrets, 1).unwrap();
        assert_eq!(
            user_tmdb_key(&conn, a, &secrets).unwrap().as_deref(),
            Some("user-key-0123456789")
        );
        let raw: Vec<u8> = conn
            .query_row(
                "SELECT tmdb_api_key FROM user_settings WHERE user_id = ?1",
                [a],
                |r| r.get(0),
            )
            .unwrap();
        assert!(!raw.windows(10).any(|w| w == b"user-key-0"));
        // Moved to another user's row, or into the other column: refuses to open.
        conn.execute(
            "UPDATE user_settings SET tmdb_api_key = ?1, trakt_tokens = ?1 WHERE user_id = ?2",
            params![raw, b],
        )
        .unwrap();
        assert!(user_tmdb_key(&conn, b, &secrets).is_err());
        assert!(trakt_tokens(&conn, b, &secrets).is_err());
        assert!(clear_tmdb_key(&conn, a, 2).unwrap());
        assert!(!clear_tmdb_key(&conn, a, 2).unwrap());
        assert_eq!(user_tmdb_key(&conn, a, &secrets).unwrap(), None);

        set_trakt_tokens(&conn, a, r#"{"access_token":"x"}"#, &secrets, 3).unwrap();
        assert_eq!(
            trakt_tokens(&conn, a, &secrets).unwrap().as_deref(),
            Some(r#"{"access_token":"x"}"#)
        );
        assert!(clear_trakt_tokens(&conn, a, 4).unwrap());
        assert_eq!(trakt_tokens(&conn, a, &secrets).unwrap(), None);
    }

    #[test]
    fn unknown_user_is_an_error_not_a_silent_no_op() {
        let (conn, secrets, _, _) = setup();
        assert!(set_tmdb_key(&conn, 9999, "k", &secrets, 1).is_err());
    }
}
