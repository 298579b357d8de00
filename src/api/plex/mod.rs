//! `/api/plex/*` handlers, and their shared machinery: who is asking and which server (the
//! user's current one), per-user cache keys, the cached-JSON fetch, and cache invalidation after
//! writes. Parameter validation lives in [`crate::api::extract`], response building in
//! [`crate::api::respond`].
//!
//! Why: the Express backend keyed Plex responses by server only, so one user's watch state
//! (`viewOffset`, On Deck) was served to another; here every key starts with
//! `u<user>:s<server>:` ([`Ctx::key`]) and nothing else is ever used as a key. It also spliced
//! unvalidated ids into upstream URLs: here rating keys must be digits (`extract::rating_key`) and
//! library paths are canonicalised (`extract::library_path`) before any upstream call.
//!
//! Must never: answer without a session (401 JSON, even for unknown paths), put a token or the
//! server address in a body, cache an error, or cache under a key without the user prefix.

pub mod home;
pub mod image;
pub mod library;
pub mod proxy;
pub mod ratings;
pub mod stream;
pub mod writes;

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::Value;

use crate::api::respond::{self, BrowserCaching, container_array};
use crate::api::session::require_session;
use crate::api::state::AppState;
use crate::auth::AuthSession;
use crate::cache::{Entry, Hit, user_prefix};
use crate::db;
use crate::http::{ApiError, Body};
use crate::plex::client::{PlexClient, Query};

pub use crate::cache::plex_ttl as ttl;

/// The signed-in user and the server a `/api/plex` call goes to.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The login session.
    pub login: AuthSession,
    /// The local server id.
    pub server_id: i64,
    prefix: String,
    /// The browser's request headers that name it to Plex (User-Agent), kept for `client`.
    agent: http::HeaderMap,
}

impl Ctx {
    /// The user.
    pub fn user_id(&self) -> i64 {
        self.login.user_id
    }

    /// The cache key for `name` in this user's view of this server.
    pub fn key(&self, name: &str) -> String {
        format!("{}{}", self.prefix, name)
    }

    /// The prefix of every key for this user and server.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A client for the server (resolves its address only now, so cache hits never need it).
    /// Plex sees the login session's own client identity on every call.
    pub async fn client(&self, state: &AppState) -> Result<PlexClient, ApiError> {
        let identity = crate::api::session::login_identity(&self.agent, state, &self.login).await?;
        Ok(PlexClient::connect(
            state.upstream(),
            &identity,
            state.servers(),
            self.login.user_id,
            self.server_id,
        )
        .await?)
    }
}

/// The session (401 otherwise) and the user's current server (else their first; 404 when
/// they have none).
pub async fn ctx(req: &Request<Incoming>, state: &AppState) -> Result<Ctx, ApiError> {
    let login = require_session(req, state).await?;
    let user_id = login.user_id;
    let server_id = state
        .db()
        .read(move |conn| {
            Ok(match db::servers::current_server_id(conn, user_id)? {
                Some(id) => Some(id),
                None => db::servers::list_servers(conn, user_id)?
                    .first()
                    .map(|s| s.id),
            })
        })
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "no_server",
                "no Plex server is set up for this account; sync servers first",
            )
        })?;
    let mut agent = http::HeaderMap::new();
    if let Some(ua) = req.headers().get(http::header::USER_AGENT) {
        agent.insert(http::header::USER_AGENT, ua.clone());
    }
    Ok(Ctx {
        prefix: format!("{}s{server_id}:", user_prefix(user_id)),
        login,
        server_id,
        agent,
    })
}

/// A Plex view answered from the `plex` bucket: per-user state the browser must not keep
/// (plexgate's own cache is invalidated on writes).
pub fn cached_response(entry: &Entry, hit: Hit) -> Response<Body> {
    respond::cached(entry, hit, "plex", BrowserCaching::NoStore)
}

/// The `plex` bucket entry for `key`, or `fetch`'s JSON stored for `ttl`. Concurrent misses of
/// one key share one upstream call; errors are answered, never cached.
pub async fn cached_json<F, Fut>(
    state: &AppState,
    key: String,
    ttl: Duration,
    fetch: F,
) -> Result<(Entry, Hit), ApiError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Value, ApiError>>,
{
    state
        .caches()
        .plex
        .get_or_fetch(key, || async move {
            let value = fetch().await?;
            let bytes = serde_json::to_vec(&value).map_err(|_| {
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "encode_failed",
                    "the response could not be encoded",
                )
            })?;
            Ok::<_, ApiError>(Entry::json(Bytes::from(bytes), ttl))
        })
        .await
        .map_err(|e| (*e).clone())
}

/// Drops cached state an item's watch state or rating changed: every metadata variant of the
/// item and of its parent season and show (found in the cached item itself), On Deck, Continue
/// Watching, recently added, library listings and `/dir` listings (seasons, episodes). The
/// contract dropped only three keys, which left stale `viewOffset`s in the flag variants.
pub async fn invalidate_watch_state(state: &AppState, ctx: &Ctx, rk: &str) {
    let bucket = &state.caches().plex;
    let mut items = vec![rk.to_string()];
    if let Some(entry) = bucket.get(&ctx.key(&format!("metadata:{rk}|"))).await
        && let Ok(v) = serde_json::from_slice::<Value>(&entry.body)
    {
        for k in ["parentRatingKey", "grandparentRatingKey"] {
            if let Some(p) = v.get(k).and_then(|p| {
                p.as_str()
                    .map(str::to_string)
                    .or_else(|| p.as_u64().map(|n| n.to_string()))
            }) {
                items.push(p);
            }
        }
    }
    for item in items {
        bucket.invalidate_prefix(&ctx.key(&format!("metadata:{item}|")));
    }
    for exact in ["ondeck", "continue"] {
        bucket.remove(&ctx.key(exact)).await;
    }
    for family in ["recent:", "library:", "dir:", "secondary:"] {
        bucket.invalidate_prefix(&ctx.key(family));
    }
}

/// The cached first `Metadata` object of `rk` with `flags` (404 when PMS has none).
pub async fn metadata_item(
    state: &AppState,
    c: &Ctx,
    rk: &str,
    flags: &Query,
) -> Result<(Entry, Hit), ApiError> {
    let key = c.key(&format!("metadata:{rk}|{}", flags.encode()));
    cached_json(state, key, ttl::METADATA, || async {
        let doc = c
            .client(state)
            .await?
            .get_json(&format!("/library/metadata/{rk}"), flags)
            .await?;
        match container_array(doc, "Metadata") {
            Value::Array(mut items) if !items.is_empty() => Ok(items.swap_remove(0)),
            _ => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "plex_not_found",
                "the Plex server has no item with this rating key",
            )),
        }
    })
    .await
}
