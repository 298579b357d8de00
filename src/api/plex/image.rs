//! `/api/image/*` (contract #58–#61): Plex artwork and allowlisted remote images, resized and
//! re-encoded, cached in memory with an `ETag`, plus the caller's own image-cache stats/cleanup.
//!
//! Why: every `<img>` of the frontend comes here. `/api/image/plex` takes a server-relative
//! path, asks the user's PMS for it through `/photo/:/transcode` with the token as a header (the
//! path is checked by the same function as the facade's `url=`: library artwork only, nested
//! tokens dropped), and answers `Cache-Control: private`. An absolute URL given to it (Discover
//! posters live on `metadata-static.plex.tv`) is treated exactly like `/api/image/proxy`:
//! allowlisted hosts only, never with a token. The browser's `server`/`token` parameters are ignored — a browser never
//! picks which server or token plexgate uses.
//!
//! Must never: fetch an arbitrary URL or a local file (see [`crate::image::fetch`]), take a token
//! from the browser, treat `f` as anything but one of three encoders, or answer without a
//! session.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, HeaderValue, IF_NONE_MATCH};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::ctx;
use crate::api::respond::json_response;
use crate::api::session::require_session;
use crate::api::state::AppState;
use crate::body::{empty, full};
use crate::cache::{Entry, Hit, user_prefix};
use crate::http::{ApiError, Body};
use crate::image::codec::process;
use crate::image::fetch::{AllowedHost, FetchError, fetch};
use crate::image::spec::Spec;
use crate::image::{PLEX_TTL, PROXY_TTL};
use crate::plex::client::{IMAGE_TIMEOUT, Query};
use crate::stream::scope;

/// Largest image accepted from PMS.
const MAX_PLEX_IMAGE: usize = 20 << 20;

fn short_hash(s: &[u8]) -> String {
    crate::util::hex(&Sha256::digest(s)[..12])
}

/// The image answer: bytes, type, `ETag` (a hash of the bytes), `Cache-Control`, `X-Cache`;
/// 304 when the browser already has this `ETag`.
fn image_response(
    req_etag: Option<&str>,
    entry: &Entry,
    hit: Hit,
    cache_control: &str,
) -> Response<Body> {
    let etag = format!("\"{}\"", short_hash(&entry.body));
    let not_modified = req_etag.is_some_and(|v| {
        v.split(',')
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == etag || t == "*")
    });
    let mut resp = if not_modified {
        let mut r = Response::new(empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        Response::new(full(entry.body.clone()))
    };
    let h = resp.headers_mut();
    if let Ok(ct) = HeaderValue::from_str(&entry.content_type) {
        h.insert(CONTENT_TYPE, ct);
    }
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(cache_control) {
        h.insert(CACHE_CONTROL, v);
    }
    h.insert("x-cache", HeaderValue::from_static(hit.as_str()));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    resp
}

fn if_none_match(req: &Request<Incoming>) -> Option<String> {
    req.headers()
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn allowlist(state: &AppState) -> Vec<AllowedHost> {
    state
        .config()
        .image
        .proxy_hosts
        .iter()
        .filter_map(|h| AllowedHost::parse(h).ok())
        .collect()
}

fn is_absolute(u: &str) -> bool {
    let lower = u.trim_start().to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://") || lower.starts_with("//")
}

/// A remote image through the allowlist, cached for everyone (it is public content).
async fn remote(state: &AppState, url: &str, spec: Spec) -> Result<(Entry, Hit), ApiError> {
    if url.trim_start().starts_with("//") {
        return Err(FetchError::Invalid.into());
    }
    let allowed = allowlist(state);
    // The allowlist is checked before the cache (a cached entry exists only for a URL that
    // passed every check when it was fetched); resolution is checked when fetching.
    crate::image::fetch::check_listed(url, &allowed)?;
    let key = format!("img:proxy:{}:{}", short_hash(url.as_bytes()), spec.key());
    let url = url.to_string();
    let max_pixels = state.config().image.max_pixels;
    state
        .caches()
        .image
        .get_or_fetch(key, || async move {
            let source = fetch(&url, &allowed).await.map_err(ApiError::from)?;
            let out = process(source, spec, max_pixels)
                .await
                .map_err(ApiError::from)?;
            Ok::<_, ApiError>(Entry::new(
                Bytes::from(out.bytes),
                out.format.content_type(),
                PROXY_TTL,
            ))
        })
        .await
        .map_err(|e| (*e).clone())
}

/// `GET /api/image/proxy?url=&w=&h=&q=&f=&fit=`: an image from an allowlisted host.
pub async fn proxy(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    require_session(&req, &state).await?;
    let query = Query::passthrough(req.uri().query(), &[]);
    let spec = Spec::parse(&query, state.config().image.quality)?;
    let url = query
        .get("url")
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .ok_or_else(|| ApiError::bad_request("missing_url", "the url parameter is required"))?;
    let (entry, hit) = remote(&state, url, spec).await?;
    Ok(image_response(
        if_none_match(&req).as_deref(),
        &entry,
        hit,
        "public, max-age=604800",
    ))
}

/// `GET /api/image/plex?path=<server path>&w=&h=&q=&f=&fit=` (`url=` as a fallback name).
pub async fn plex(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    let c = ctx(&req, &state).await?;
    let query = Query::passthrough(req.uri().query(), &[]);
    let spec = Spec::parse(&query, state.config().image.quality)?;
    let source = query
        .get("path")
        .filter(|p| !p.trim().is_empty())
        .or_else(|| query.get("url").filter(|p| !p.trim().is_empty()))
        .map(|p| p.trim().to_string())
        .ok_or_else(|| ApiError::bad_request("missing_path", "the path parameter is required"))?;
    let etag = if_none_match(&req);
    if is_absolute(&source) {
        let (entry, hit) = remote(&state, &source, spec).await?;
        return Ok(image_response(
            etag.as_deref(),
            &entry,
            hit,
            "private, max-age=86400",
        ));
    }
    let path = scope::photo_source(&crate::util::percent_encode(&source)).map_err(|_| {
        ApiError::bad_request(
            "invalid_image_path",
            "path must be library artwork on the Plex server, such as /library/metadata/1/thumb/2",
        )
    })?;
    let key = c.key(&format!(
        "img:{}:{}",
        short_hash(path.as_bytes()),
        spec.key()
    ));
    let (entry, hit) = state
        .caches()
        .image
        .get_or_fetch(key, || async {
            let mut q = Query::new();
            q.push("url", path.clone())
                .push_opt("width", spec.width.map(|w| w.to_string()))
                .push_opt("height", spec.height.map(|h| h.to_string()))
                .push("minSize", "1")
                .push("upscale", "0");
            let fetched = c
                .client(&state)
                .await?
                .get("/photo/:/transcode", &q, IMAGE_TIMEOUT, MAX_PLEX_IMAGE)
                .await?;
            let out = process(fetched.body, spec, state.config().image.max_pixels).await?;
            Ok::<_, ApiError>(Entry::new(
                Bytes::from(out.bytes),
                out.format.content_type(),
                PLEX_TTL,
            ))
        })
        .await
        .map_err(|e| (*e).clone())?;
    Ok(image_response(
        etag.as_deref(),
        &entry,
        hit,
        "private, max-age=86400",
    ))
}

/// Wall-clock seconds when `entry` was stored.
fn stored_unix(entry: &Entry) -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    (now - entry.stored_at.elapsed().as_secs_f64()) as i64
}

/// `GET /api/image/cache/stats`: the caller's own cached images (remote images are shared and
/// not anyone's).
pub async fn cache_stats(
    req: Request<Incoming>,
    state: AppState,
) -> Result<Response<Body>, ApiError> {
    let login = require_session(&req, &state).await?;
    let bucket = &state.caches().image;
    let mut files = Vec::new();
    for key in bucket.keys(&user_prefix(login.user_id)) {
        if let Some(entry) = bucket.get(&key).await {
            files.push((key, entry.body.len(), stored_unix(&entry)));
        }
    }
    let total: usize = files.iter().map(|f| f.1).sum();
    let describe = |f: Option<&(String, usize, i64)>| {
        f.map_or(serde_json::Value::Null, |(name, size, at)| {
            json!({"name": name, "size": size, "modified": crate::util::iso8601(*at)})
        })
    };
    let oldest = files.iter().min_by_key(|f| f.2);
    let newest = files.iter().max_by_key(|f| f.2);
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "files": files.len(),
            "totalSize": total,
            "totalSizeMB": ((total as f64) / 1_048_576.0 * 100.0).round() / 100.0,
            "oldestFile": describe(oldest),
            "newestFile": describe(newest),
        }),
    ))
}

/// `DELETE /api/image/cache[?maxAge=<ms>]`: drops the caller's cached images older than
/// `maxAge` (default 7 days).
pub async fn cache_clean(
    req: Request<Incoming>,
    state: AppState,
) -> Result<Response<Body>, ApiError> {
    let login = require_session(&req, &state).await?;
    let query = Query::passthrough(req.uri().query(), &[]);
    let max_age = match query.get("maxAge").map(str::trim).filter(|v| !v.is_empty()) {
        None => Duration::from_secs(7 * 86_400),
        Some(v) => Duration::from_millis(v.parse::<u64>().map_err(|_| {
            ApiError::bad_request("invalid_max_age", "maxAge must be a number of milliseconds")
        })?),
    };
    let bucket = &state.caches().image;
    let mut deleted = 0u64;
    for key in bucket.keys(&user_prefix(login.user_id)) {
        if let Some(entry) = bucket.get(&key).await
            && entry.stored_at.elapsed() >= max_age
            && bucket.remove(&key).await
        {
            deleted += 1;
        }
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({"message": "Image cache cleaned", "filesDeleted": deleted}),
    ))
}
