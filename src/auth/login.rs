use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use http::HeaderMap;
use sha2::Sha256;

use super::cookie;
use crate::crypto::MasterKey;
use crate::db::{self, Db, DbError};
use crate::util::{random_bytes, unix_now};

/// Bytes of the pin cookie's MAC (144 bits).
const PIN_TAG_LEN: usize = 18;

/// Idle expiry: a session unused for a day ends.
pub const SESSION_IDLE_TTL: i64 = 24 * 3600;
/// Absolute expiry: every session ends a week after login.
pub const SESSION_ABSOLUTE_TTL: i64 = 7 * 24 * 3600;

/// An authenticated request's session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSession {
    /// The user.
    pub user_id: i64,
    /// The stored hash of the cookie (revocation of its tickets is keyed on it).
    pub hash: [u8; 32],
    /// Absolute expiry, epoch seconds.
    pub expires_at: i64,
}

/// Creates, finds and ends login sessions.
#[derive(Clone)]
pub struct LoginSessions {
    db: Db,
    hash_key: [u8; 32],
}

impl std::fmt::Debug for LoginSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginSessions").finish_non_exhaustive()
    }
}

impl LoginSessions {
    /// Sessions stored in `db`, hashed with a key derived from `master`.
    pub fn new(db: Db, master: &MasterKey) -> Self {
        LoginSessions {
            db,
            hash_key: master.derive("plexgate.login-session.v1"),
        }
    }

    fn hash(&self, cookie_value: &str) -> [u8; 32] {
        let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.hash_key)
            .expect("HMAC takes any key length");
        m.update(cookie_value.as_bytes());
        m.finalize().into_bytes().into()
    }

    /// Starts a session for `user_id`; returns the cookie value and the session.
    pub async fn create(
        &self,
        user_id: i64,
        user_agent: Option<String>,
        ip: Option<String>,
    ) -> Result<(String, AuthSession), DbError> {
        let value = URL_SAFE_NO_PAD.encode(random_bytes::<16>());
        let hash = self.hash(&value);
        let now = unix_now();
        self.db
            .write(move |conn| {
                db::sessions::create_session(
                    conn,
                    user_id,
                    &hash,
                    now,
                    SESSION_ABSOLUTE_TTL,
                    user_agent.as_deref(),
                    ip.as_deref(),
                )
            })
            .await?;
        Ok((
            value,
            AuthSession {
                user_id,
                hash,
                expires_at: now + SESSION_ABSOLUTE_TTL,
            },
        ))
    }

    /// The session the request's cookie names, if it is valid now (and marks it used).
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Option<AuthSession>, DbError> {
        let Some(value) = cookie::read(headers, cookie::NAME) else {
            return Ok(None);
        };
        if value.len() != 22 {
            return Ok(None);
        }
        let hash = self.hash(value);
        let now = unix_now();
        let found = self
            .db
            .read(move |conn| db::sessions::find_session(conn, &hash, now, SESSION_IDLE_TTL))
            .await?;
        let Some(row) = found else {
            return Ok(None);
        };
        // Touching on every request would make every read a write; a minute's precision on a
        // 24-hour idle window is plenty.
        if now - row.last_seen_at >= 60 {
            self.db
                .write(move |conn| {
                    db::sessions::touch_session(conn, &hash, now, SESSION_IDLE_TTL).map(|_| ())
                })
                .await?;
        }
        Ok(Some(AuthSession {
            user_id: row.user_id,
            hash,
            expires_at: row.expires_at,
        }))
    }

    /// Login sessions that have expired now (unused for the idle window, or past their
    /// absolute end): their tickets must be revoked and the rows deleted.
    pub async fn expired(&self) -> Result<Vec<[u8; 32]>, DbError> {
        let now = unix_now();
        self.db
            .read(move |conn| db::sessions::expired_sessions(conn, now, SESSION_IDLE_TTL))
            .await
    }

    fn pin_mac(&self, pin_id: i64, client_id: &str) -> Hmac<Sha256> {
        let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.hash_key)
            .expect("HMAC takes any key length");
        m.update(b"plexgate.pin-binding.v1\0");
        m.update(&pin_id.to_be_bytes());
        m.update(client_id.as_bytes());
        m
    }

    /// The value of the pin cookie that binds PIN `pin_id` to the browser that created it: a
    /// MAC only this installation can compute, so a PIN created in another browser cannot be
    /// polled from this one (login CSRF). Stateless: it survives a restart mid-login.
    pub fn pin_binding(&self, pin_id: i64, client_id: &str) -> String {
        let tag = self.pin_mac(pin_id, client_id).finalize().into_bytes();
        URL_SAFE_NO_PAD.encode(&tag[..PIN_TAG_LEN])
    }

    /// Whether the request carries the pin cookie for `pin_id` (verified in constant time).
    pub fn pin_bound(&self, headers: &HeaderMap, pin_id: i64, client_id: &str) -> bool {
        let Some(tag) = cookie::read(headers, cookie::PIN_NAME)
            .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
            .filter(|t| t.len() == PIN_TAG_LEN)
        else {
            return false;
        };
        self.pin_mac(pin_id, client_id)
            .verify_truncated_left(&tag)
            .is_ok()
    }

    /// Ends the session.
    pub async fn destroy(&self, hash: [u8; 32]) -> Result<(), DbError> {
        self.db
            .write(move |conn| db::sessions::delete_session(conn, &hash).map(|_| ()))
            .await
    }
}
