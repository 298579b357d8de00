//! Building responses: JSON, and JSON answered from a cache with its `X-Cache` headers.
//!
//! Why one place: three near-identical builders (Plex, TMDB/Trakt, the watchlist) used to set
//! the cache headers each their own way. The caching policy is the only thing that differs, so it
//! is a parameter.

use std::sync::OnceLock;

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, HeaderValue};
use http::{Request, Response, StatusCode};
use serde_json::Value;

use crate::body::{empty, full};
use crate::cache::{Entry, Hit};
use crate::http::{ApiError, Body};

/// Serializes `value` as a JSON response with `status`.
pub fn json_response(status: StatusCode, value: &impl serde::Serialize) -> Response<Body> {
    let bytes = serde_json::to_vec(value).unwrap_or_else(|_| b"null".to_vec());
    let mut resp = Response::new(full(Bytes::from(bytes)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// What the browser may do with a cached answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrowserCaching {
    /// Keep nothing: per-user state that plexgate invalidates on writes (Plex views).
    NoStore,
    /// Keep it privately for what is left of the entry's life (TMDB, Trakt, watchlist).
    PrivateRemaining,
}

/// A cached body as a response: its content type, `X-Cache` (HIT/MISS…), `X-Cache-Bucket` and
/// the `Cache-Control` that `caching` asks for.
pub fn cached(
    entry: &Entry,
    hit: Hit,
    bucket: &'static str,
    caching: BrowserCaching,
) -> Response<Body> {
    let mut resp = Response::new(full(entry.body.clone()));
    let h = resp.headers_mut();
    if let Ok(ct) = HeaderValue::from_str(&entry.content_type) {
        h.insert(CONTENT_TYPE, ct);
    }
    h.insert("x-cache", HeaderValue::from_static(hit.as_str()));
    h.insert("x-cache-bucket", HeaderValue::from_static(bucket));
    match caching {
        BrowserCaching::NoStore => {
            h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        BrowserCaching::PrivateRemaining => {
            let left = entry
                .ttl
                .saturating_sub(entry.stored_at.elapsed())
                .as_secs_f64()
                .ceil() as u64;
            if let Ok(cc) = HeaderValue::from_str(&format!("private, max-age={left}")) {
                h.insert(CACHE_CONTROL, cc);
            }
        }
    }
    resp
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

/// `(file name, content type, bytes)` of an asset compiled into the binary.
pub type Asset = (&'static str, &'static str, &'static [u8]);

/// What every embedded page serves besides its own assets: the shared style sheet and the icon.
const SHARED: &[Asset] = &[
    (
        "base.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/base.css"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_bytes!("../../assets/demo/favicon.svg"),
    ),
];

/// A page and its assets compiled into the binary (the demo page, the owner page): no build
/// step, no file system. The page is `no-cache` and names its assets with `?v=<content hash>`
/// (its `{{v}}`), so the assets can be cached for a year and still change with the binary.
#[derive(Debug)]
pub struct Embedded {
    page: &'static str,
    assets: &'static [Asset],
    csp: &'static str,
    version: OnceLock<String>,
}

impl Embedded {
    /// `page` (HTML with `{{v}}` where the version goes), its `assets` and its
    /// Content-Security-Policy.
    pub const fn new(page: &'static str, assets: &'static [Asset], csp: &'static str) -> Self {
        Embedded {
            page,
            assets,
            csp,
            version: OnceLock::new(),
        }
    }

    /// FNV-1a over every embedded byte: the `?v=` and the ETag of the page and its assets.
    fn version(&self) -> &str {
        self.version.get_or_init(|| {
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            let parts =
                std::iter::once(self.page.as_bytes()).chain(self.assets.iter().map(|a| a.2));
            for byte in parts.flatten() {
                h = (h ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3);
            }
            format!("{h:016x}")
        })
    }

    /// The page, with its CSP and no referrer.
    pub fn page<B>(&self, req: &Request<B>) -> Response<Body> {
        let html = self.page.replace("{{v}}", self.version());
        let mut resp = self.respond(req, "text/html; charset=utf-8", "no-cache", html);
        let h = resp.headers_mut();
        if let Ok(v) = HeaderValue::from_str(self.csp) {
            h.insert("content-security-policy", v);
        }
        h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
        resp
    }

    /// The asset `name` (its own or a shared one), cached for a year, or 404.
    pub fn asset<B>(&self, req: &Request<B>, name: &str) -> Result<Response<Body>, ApiError> {
        let (_, content_type, bytes) = self
            .assets
            .iter()
            .chain(SHARED)
            .find(|(n, _, _)| *n == name)
            .ok_or_else(ApiError::not_found)?;
        Ok(self.respond(
            req,
            content_type,
            "public, max-age=31536000, immutable",
            *bytes,
        ))
    }

    /// With ETag `"version"`, or 304 when the browser has it already.
    fn respond<B>(
        &self,
        req: &Request<B>,
        content_type: &'static str,
        cache: &'static str,
        bytes: impl Into<Bytes>,
    ) -> Response<Body> {
        let etag = format!("\"{}\"", self.version());
        let fresh = crate::http::etag::none_match(req.headers(), &etag);
        let mut resp = if fresh {
            let mut r = Response::new(empty());
            *r.status_mut() = StatusCode::NOT_MODIFIED;
            r
        } else {
            Response::new(full(bytes))
        };
        let h = resp.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        h.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
        if let Ok(v) = HeaderValue::from_str(&etag) {
            h.insert(ETAG, v);
        }
        resp
    }
}

/// A redirect to `location` (relative locations keep working behind a reverse proxy's prefix).
pub fn redirect(status: StatusCode, location: &str) -> Response<Body> {
    let mut resp = Response::new(empty());
    *resp.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(http::header::LOCATION, v);
    }
    resp.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
