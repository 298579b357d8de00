//! A small JSON client for one user's Plex Media Server: the library reads and the writes that
//! `/api/plex/*` makes on the browser's behalf.
//!
//! Why: every such call needs the same things — the server token as the `X-Plex-Token` header,
//! plexgate's client identity, `Accept: application/json` (PMS answers XML otherwise), a bounded
//! total time, a bounded body, and one re-probe of the server's addresses when the remembered one
//! stops answering (reads only: a write is never sent twice). Query parameters a browser passes
//! through are filtered by [`Query::passthrough`], which drops every `X-Plex-*` and token-like
//! key, so a browser can neither smuggle a token nor impersonate another client.
//!
//! It never puts the token in a URL, never logs a URL with its query, and never follows a
//! redirect to another host with the token (reqwest strips sensitive headers on cross-host
//! redirects, and PMS does not redirect API calls).

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method};
use serde_json::Value;

use super::{AccessError, ClientIdentity, PlexError, ServerAccess, ServerDirectory};
use crate::upstream::{self, Upstream};

/// Total time for a metadata read.
pub const READ_TIMEOUT: Duration = Duration::from_secs(15);
/// Total time for a write (timeline, scrobble, rate, stream selection, decision).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Total time for an image from `/photo/:/transcode`.
pub const IMAGE_TIMEOUT: Duration = Duration::from_secs(20);
/// The largest JSON body accepted from PMS (a 5 000-item section listing is about 10 MiB).
pub const MAX_JSON_BYTES: usize = 32 << 20;

/// Query parameters for a PMS call, encoded in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query(Vec<(String, String)>);

impl Query {
    /// No parameters.
    pub fn new() -> Self {
        Query::default()
    }

    /// Adds `name=value`.
    pub fn push(&mut self, name: &str, value: impl Into<String>) -> &mut Self {
        self.0.push((name.to_string(), value.into()));
        self
    }

    /// Adds `name=value` when `value` is present.
    pub fn push_opt(&mut self, name: &str, value: Option<impl Into<String>>) -> &mut Self {
        if let Some(v) = value {
            self.push(name, v);
        }
        self
    }

    /// Appends every parameter of `other`.
    pub fn extend(&mut self, other: &Query) -> &mut Self {
        self.0.extend(other.0.iter().cloned());
        self
    }

    /// The browser's query, decoded, without the keys in `skip` (case-sensitive, like PMS),
    /// without any `X-Plex-*` key (identity, paging and tokens are plexgate's to set) and
    /// without any key containing `token`. Malformed escapes are kept literally.
    pub fn passthrough(raw: Option<&str>, skip: &[&str]) -> Self {
        let mut q = Query::new();
        for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let key = decode(k);
            let lower = key.to_ascii_lowercase();
            if key.is_empty()
                || skip.contains(&key.as_str())
                || lower.starts_with("x-plex-")
                || lower.contains("token")
            {
                continue;
            }
            q.0.push((key, decode(v)));
        }
        q
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `a=b&c=d`, every name and value percent-encoded.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push('&');
            }
            out.push_str(&crate::util::percent_encode(k));
            out.push('=');
            out.push_str(&crate::util::percent_encode(v));
        }
        out
    }
}

fn decode(s: &str) -> String {
    crate::util::percent_decode(s, true).unwrap_or_else(|| s.to_string())
}

/// A response body and its content type.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The body.
    pub body: Bytes,
    /// `Content-Type` as PMS sent it.
    pub content_type: Option<String>,
}

/// A connection to one user's server.
#[derive(Clone)]
pub struct PlexClient {
    http: reqwest::Client,
    identity: ClientIdentity,
    servers: ServerDirectory,
    user_id: i64,
    server_id: i64,
    access: ServerAccess,
    session_identifier: Option<String>,
}

impl std::fmt::Debug for PlexClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlexClient")
            .field("user_id", &self.user_id)
            .field("server_id", &self.server_id)
            .field("access", &self.access)
            .finish_non_exhaustive()
    }
}

impl PlexClient {
    /// Resolves `user_id`'s server `server_id` (its remembered address, or a probe).
    pub async fn connect(
        http: &reqwest::Client,
        identity: &ClientIdentity,
        servers: &ServerDirectory,
        user_id: i64,
        server_id: i64,
    ) -> Result<Self, AccessError> {
        let access = servers.access(user_id, server_id).await?;
        Ok(PlexClient {
            http: http.clone(),
            identity: identity.clone(),
            servers: servers.clone(),
            user_id,
            server_id,
            access,
            session_identifier: None,
        })
    }

    /// Sends `X-Plex-Session-Identifier: id` with every call (one playback or browser session).
    pub fn with_session_identifier(mut self, id: String) -> Self {
        self.session_identifier = Some(id);
        self
    }

    /// The local server id.
    pub fn server_id(&self) -> i64 {
        self.server_id
    }

    /// The server's machine identifier.
    pub fn machine_identifier(&self) -> &str {
        &self.access.machine_identifier
    }

    /// GET `path?query` (path already encoded, starting with `/`), bounded by `max_bytes`. When
    /// the connection fails, the server's addresses are probed again and the call is retried once.
    pub async fn get(
        &mut self,
        path: &str,
        query: &Query,
        timeout: Duration,
        max_bytes: usize,
    ) -> Result<Fetched, PlexError> {
        match self
            .send(Method::GET, path, query, timeout, max_bytes)
            .await
        {
            Err(first @ PlexError::Unreachable { .. }) => {
                match self.servers.reprobe(self.user_id, self.server_id).await {
                    Ok(access) => {
                        self.access = access;
                        self.send(Method::GET, path, query, timeout, max_bytes)
                            .await
                    }
                    Err(e) => {
                        tracing::warn!(server_id = self.server_id, error = %e, "re-probe failed");
                        Err(first)
                    }
                }
            }
            other => other,
        }
    }

    /// GET and parse JSON.
    pub async fn get_json(&mut self, path: &str, query: &Query) -> Result<Value, PlexError> {
        let fetched = self.get(path, query, READ_TIMEOUT, MAX_JSON_BYTES).await?;
        self.parse(&fetched.body)
    }

    /// A write (`PUT`/`POST`/`GET` with effects): sent once, never retried.
    pub async fn write(
        &self,
        method: Method,
        path: &str,
        query: &Query,
    ) -> Result<Fetched, PlexError> {
        self.send(method, path, query, WRITE_TIMEOUT, MAX_JSON_BYTES)
            .await
    }

    /// Parses a PMS JSON body; an empty body (PMS answers some actions with nothing) is `null`.
    pub fn parse(&self, body: &[u8]) -> Result<Value, PlexError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(body).map_err(|e| PlexError::undecodable(&self.access.base, e, ""))
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &Query,
        timeout: Duration,
        max_bytes: usize,
    ) -> Result<Fetched, PlexError> {
        let base = &self.access.base;
        let mut url = format!("{base}{path}");
        if !query.is_empty() {
            url.push('?');
            url.push_str(&query.encode());
        }
        let mut headers = HeaderMap::new();
        self.identity
            .apply(&mut headers, self.session_identifier.as_deref());
        let started = std::time::Instant::now();
        let resp = self
            .http
            .request(method, url)
            .headers(headers)
            .header("X-Plex-Token", self.access.token())
            .header(http::header::ACCEPT, "application/json")
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| PlexError::from_reqwest(base, &e))?;
        crate::metrics::upstream::upstream_ttfb(crate::upstream::Upstream::Plex, started.elapsed());
        let status = resp.status();
        if !status.is_success() {
            return Err(PlexError::from_status(base, status.as_u16(), path));
        }
        let content_type = resp
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = read_limited(resp, max_bytes, base).await?;
        Ok(Fetched { body, content_type })
    }
}

/// Collects a body, refusing more than `max` bytes (see `upstream::read_bounded`).
pub async fn read_limited(
    resp: reqwest::Response,
    max: usize,
    base: &str,
) -> Result<Bytes, PlexError> {
    let route = resp.url().path().to_string();
    upstream::read_bounded(Upstream::Plex, resp, max, &route)
        .await
        .map_err(|e| PlexError::from_upstream(base, &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passthrough_drops_identity_tokens_and_skipped_keys() {
        let q = Query::passthrough(
            Some(
                "sort=addedAt%3Adesc&offset=5&X-Plex-Token=t&x-plex-client-identifier=b&myToken=x&type=1&genre=a+b&&=v",
            ),
            &["offset", "limit"],
        );
        assert_eq!(q.encode(), "sort=addedAt%3Adesc&type=1&genre=a%20b");
        assert_eq!(q.get("type"), Some("1"));
        let mut q = Query::new();
        q.push("url", "/library/metadata/1/thumb/2?x=1")
            .push_opt("width", Some("10"))
            .push_opt("height", None::<String>);
        assert_eq!(
            q.encode(),
            "url=%2Flibrary%2Fmetadata%2F1%2Fthumb%2F2%3Fx%3D1&width=10"
        );
    }
}
