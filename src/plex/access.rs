//! Where and how to reach a user's server: its base URL and (decrypted) access token.
//!
//! Decrypting and reading SQLite on every segment request would be wasteful, so resolved access
//! is kept in memory for a short time. [`ServerAccess`] never prints its token, and the token is
//! only ever sent as the `X-Plex-Token` header by this module's callers inside `plex` and
//! `stream::proxy`.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::HeaderValue;

use crate::crypto::SecretBox;
use crate::db::{self, Db, DbError};

/// How long a resolved server stays cached.
const TTL: Duration = Duration::from_secs(60);

/// A server's base URL and token, ready for a request.
#[derive(Clone)]
pub struct ServerAccess {
    /// Local server row id.
    pub server_id: i64,
    /// `http(s)://host:port`, no trailing slash.
    pub base: String,
    /// The server's machine identifier.
    pub machine_identifier: String,
    token: Arc<str>,
    /// The token as the header value, built once and marked sensitive (never printed by a
    /// `Debug` of a header map, left out of HPACK tables); `None` if it cannot be a header.
    token_header: Option<HeaderValue>,
}

/// `base` as `url::Url` writes it (lower-case host, no default port, international names in
/// ASCII), without the trailing slash. Done once here, so a forwarded request appends its path
/// without parsing the whole address again (`stream::target`).
fn normalized_base(base: &str) -> String {
    match url::Url::parse(base) {
        Ok(url) if url.query().is_none() && url.fragment().is_none() => {
            url.as_str().trim_end_matches('/').to_string()
        }
        _ => base.trim_end_matches('/').to_string(),
    }
}

impl ServerAccess {
    /// Access built from parts (tests, the demo).
    pub fn new(server_id: i64, base: &str, machine_identifier: &str, token: &str) -> Self {
        ServerAccess {
            server_id,
            base: normalized_base(base),
            machine_identifier: machine_identifier.to_string(),
            token: Arc::from(token),
            token_header: HeaderValue::from_str(token).ok().map(|mut v| {
                v.set_sensitive(true);
                v
            }),
        }
    }

    /// The server token, for the `X-Plex-Token` header only.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The server token as an `X-Plex-Token` header value (see the field).
    pub fn token_header(&self) -> Option<&HeaderValue> {
        self.token_header.as_ref()
    }
}

impl fmt::Debug for ServerAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerAccess")
            .field("server_id", &self.server_id)
            .field("base", &self.base)
            .field("token", &"[redacted]")
            .finish()
    }
}

/// Why a server could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// No such server for this user.
    #[error("unknown server")]
    UnknownServer,
    /// No candidate address answered as this server.
    #[error("no address of the server answers")]
    Unreachable,
    /// The server has no address to try.
    #[error("the server has no known address")]
    NoAddress,
    /// Storage failed or the token could not be decrypted.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Resolved access per (user id, server id), with when it was resolved.
type AccessCache = HashMap<(i64, i64), (Instant, ServerAccess)>;

/// Resolves and caches [`ServerAccess`] per (user, server).
#[derive(Clone)]
pub struct ServerDirectory {
    db: Db,
    secrets: SecretBox,
    client: reqwest::Client,
    cache: Arc<Mutex<AccessCache>>,
}

impl fmt::Debug for ServerDirectory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerDirectory").finish_non_exhaustive()
    }
}

impl ServerDirectory {
    /// A directory over `db`.
    pub fn new(db: Db, secrets: SecretBox, client: reqwest::Client) -> Self {
        ServerDirectory {
            db,
            secrets,
            client,
            cache: Arc::default(),
        }
    }

    /// The access for `user_id`'s server `server_id`: the remembered address, or the best
    /// candidate found by probing when none is remembered yet.
    pub async fn access(&self, user_id: i64, server_id: i64) -> Result<ServerAccess, AccessError> {
        if let Some(hit) = self.cached(user_id, server_id) {
            return Ok(hit);
        }
        self.resolve(user_id, server_id, false).await
    }

    /// Called when the remembered address stopped answering: probes the candidates again,
    /// remembers the winner and returns it.
    pub async fn reprobe(&self, user_id: i64, server_id: i64) -> Result<ServerAccess, AccessError> {
        self.invalidate(user_id, server_id);
        self.resolve(user_id, server_id, true).await
    }

    async fn resolve(
        &self,
        user_id: i64,
        server_id: i64,
        force_probe: bool,
    ) -> Result<ServerAccess, AccessError> {
        let secrets = self.secrets.clone();
        let resolved = self
            .db
            .read(move |conn| {
                let Some(server) = db::servers::get_server(conn, user_id, server_id)? else {
                    return Ok(None);
                };
                let token = db::servers::server_access_token(conn, user_id, server_id, &secrets)?;
                Ok(Some((server, token)))
            })
            .await?;
        let (server, token) = resolved.ok_or(AccessError::UnknownServer)?;
        let remembered = server.current_uri.clone().filter(|_| !force_probe);
        let base = match remembered {
            Some(uri) => uri,
            None => {
                let candidates = super::connect::ranked(
                    &server.connections,
                    server.preferred_uri.as_deref(),
                    server.owned,
                    server.https_required,
                );
                if candidates.is_empty() {
                    return Err(AccessError::NoAddress);
                }
                let found = super::connect::first_reachable(
                    &self.client,
                    &candidates,
                    &server.machine_identifier,
                )
                .await;
                let now = crate::util::unix_now();
                let chosen = found.clone();
                self.db
                    .write(move |conn| {
                        db::servers::set_current_uri(
                            conn,
                            user_id,
                            server_id,
                            chosen.as_deref(),
                            now,
                        )
                    })
                    .await?;
                match found {
                    Some(uri) => {
                        tracing::info!(server_id, user_id, "chose a server address");
                        uri
                    }
                    None => return Err(AccessError::Unreachable),
                }
            }
        };
        let access = ServerAccess::new(server.id, &base, &server.machine_identifier, &token);
        self.lock()
            .insert((user_id, server_id), (Instant::now(), access.clone()));
        Ok(access)
    }

    /// Forgets cached access (after a server sync or an address change).
    pub fn invalidate(&self, user_id: i64, server_id: i64) {
        self.lock().remove(&(user_id, server_id));
    }

    fn cached(&self, user_id: i64, server_id: i64) -> Option<ServerAccess> {
        let cache = self.lock();
        let (at, access) = cache.get(&(user_id, server_id))?;
        (at.elapsed() < TTL).then(|| access.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, AccessCache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }
}
