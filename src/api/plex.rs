//! `/api/plex/*` shared machinery: who is asking and which server (the user's current one),
//! per-user cache keys, the cached-JSON answer with `X-Cache`, parameter validation, cache
//! invalidation after writes, and the authenticated catch-all 404.
//!
//! Why: the Express backend keyed Plex responses by server only, so one user's watch state
//! (`viewOffset`, On Deck) was served to another; here every key starts with
//! `u<user>:s<server>:` ([`Ctx::key`]) and nothing else is ever used as a key. It also spliced
//! unvalidated ids into upstream URLs: here rating keys must be digits ([`rating_key`]) and
//! library paths are canonicalised ([`library_path`]) before any upstream call.
//!
//! Must never: answer without a session (401 JSON, even for unknown paths), put a token or the
//! server address in a body, cache an error, or cache under a key without the user prefix.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::Value;

use super::AppState;
use super::auth::require_session;
use crate::auth::AuthSession;
use crate::cache::{Entry, Hit, user_prefix};
use crate::db;
use crate::http::body::full;
use crate::http::{ApiError, Body, PathParams};
use crate::plex::client::PlexClient;
use crate::stream::scope;

/// Time-to-live of each cached Plex route (contract §2.2).
pub mod ttl {
    use std::time::Duration;

    /// `/libraries` (and the section list findByGuid walks).
    pub const LIBRARIES: Duration = Duration::from_secs(3600);
    /// `/library/:id/all`.
    pub const LIBRARY: Duration = Duration::from_secs(300);
    /// `/library/:id/:directory`.
    pub const SECONDARY: Duration = Duration::from_secs(3600);
    /// `/dir/*`.
    pub const DIR: Duration = Duration::from_secs(600);
    /// `/metadata/:id` (and `/ratings/:id`).
    pub const METADATA: Duration = Duration::from_secs(3600);
    /// `/search`.
    pub const SEARCH: Duration = Duration::from_secs(300);
    /// `/findByGuid`.
    pub const GUID: Duration = Duration::from_secs(1800);
    /// `/ondeck`.
    pub const ONDECK: Duration = Duration::from_secs(60);
    /// `/continue`.
    pub const CONTINUE: Duration = Duration::from_secs(60);
    /// `/recent`.
    pub const RECENT: Duration = Duration::from_secs(300);
    /// `/test` capabilities.
    pub const CAPABILITIES: Duration = Duration::from_secs(3600);
}

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
        let identity = super::auth::login_identity(&self.agent, state, &self.login).await?;
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

/// A JSON body answered from the cache or just fetched, with `X-Cache`.
pub fn cached_response(entry: &Entry, hit: Hit) -> Response<Body> {
    let mut resp = Response::new(full(entry.body.clone()));
    let h = resp.headers_mut();
    if let Ok(ct) = HeaderValue::from_str(&entry.content_type) {
        h.insert(CONTENT_TYPE, ct);
    }
    // Per-user data: the browser must not keep it (plexgate's own cache is invalidated on writes).
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-cache", HeaderValue::from_static(hit.as_str()));
    h.insert("x-cache-bucket", HeaderValue::from_static("plex"));
    resp
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

/// `MediaContainer` of a PMS document (an empty object when PMS sent none).
pub fn container(doc: Value) -> Value {
    match doc {
        Value::Object(mut o) => o
            .remove("MediaContainer")
            .filter(Value::is_object)
            .unwrap_or_else(|| Value::Object(Default::default())),
        _ => Value::Object(Default::default()),
    }
}

/// `MediaContainer.<name>` as an array (`[]` when absent), as the frontend expects for lists.
pub fn container_array(doc: Value, name: &str) -> Value {
    match container(doc) {
        Value::Object(mut o) => match o.remove(name) {
            Some(v @ Value::Array(_)) => v,
            _ => Value::Array(Vec::new()),
        },
        _ => Value::Array(Vec::new()),
    }
}

/// A path parameter, still percent-encoded.
pub fn path_param<'r>(req: &'r Request<Incoming>, name: &str) -> &'r str {
    req.extensions()
        .get::<PathParams>()
        .and_then(|p| p.get(name))
        .unwrap_or("")
}

/// A Plex rating key: digits only (§5.1 #7: anything else could reach another PMS endpoint;
/// §5.3 #3: Discover ids fail fast instead of costing an upstream call).
pub fn rating_key(value: &str, what: &str) -> Result<String, ApiError> {
    let v = value.trim();
    if v.is_empty() || v.len() > 20 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::bad_request(
            "invalid_rating_key",
            format!("{what} must be a Plex rating key (digits)"),
        ));
    }
    Ok(v.to_string())
}

/// A library section key: digits only.
pub fn section_key(value: &str) -> Result<String, ApiError> {
    let v = value.trim();
    if v.is_empty() || v.len() > 20 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::bad_request(
            "invalid_section",
            "the library section must be a number",
        ));
    }
    Ok(v.to_string())
}

/// A `/dir/*` path: canonical (decoded once; no `..`, `.`, `//`, `%2f`, `\`), under `library/`
/// and free of library actions. Returns the path re-encoded for the upstream request.
pub fn library_path(raw: &str) -> Result<String, ApiError> {
    let bad = || {
        ApiError::bad_request(
            "invalid_path",
            "only plain /library/… read paths are allowed",
        )
    };
    let path = scope::canonicalize(raw).map_err(|_| bad())?;
    let segments: Vec<&str> = path.as_str()[1..].split('/').collect();
    if segments.first() != Some(&"library")
        || segments.len() < 2
        || segments.iter().any(|s| scope::is_library_action(s))
    {
        return Err(bad());
    }
    Ok(path.to_upstream())
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

/// Any other `/api/plex/…` path: 401 without a session (as the contract's auth middleware did
/// for every path), 404 with one.
pub async fn not_found(
    req: Request<Incoming>,
    state: AppState,
) -> Result<Response<Body>, ApiError> {
    require_session(&req, &state).await?;
    Err(ApiError::not_found())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dir_paths_are_library_reads_only() {
        assert_eq!(
            library_path("library/metadata/1000/children").unwrap(),
            "/library/metadata/1000/children"
        );
        assert_eq!(
            library_path("library/sections/1/genre/41").unwrap(),
            "/library/sections/1/genre/41"
        );
        for bad in [
            "",
            "identity",
            "library",
            "accounts/1",
            "library/../accounts",
            "library/%2e%2e/accounts",
            "library/sections/1/refresh",
            "library%2fsections",
            "library//sections",
            ":/prefs",
        ] {
            assert!(library_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rating_keys_are_digits() {
        assert_eq!(rating_key(" 101 ", "ratingKey").unwrap(), "101");
        for bad in ["", "5d776b59ad5437001f79c6f8", "101/../1", "1 1", "-1"] {
            assert!(rating_key(bad, "ratingKey").is_err(), "{bad}");
        }
    }

    #[test]
    fn unwrapping() {
        let doc = json!({"MediaContainer": {"size": 1, "Metadata": [{"ratingKey": "1"}]}});
        assert_eq!(
            container_array(doc.clone(), "Metadata"),
            json!([{"ratingKey": "1"}])
        );
        assert_eq!(container_array(doc.clone(), "Directory"), json!([]));
        assert_eq!(container(doc)["size"], 1);
        assert_eq!(container(Value::Null), json!({}));
        assert_eq!(
            container_array(json!({"MediaContainer": {"size": 0}}), "Metadata"),
            json!([])
        );
    }
}
