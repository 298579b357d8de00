//! `GET /demo` and `GET /demo/assets/{file}` (demo mode only): one page that signs in as the
//! demo user, lists the library with posters, plays the title through plexgate with hls.js or
//! dash.js, and shows every request the page made with a verdict on where a Plex token was seen.
//!
//! Everything is embedded in the binary: the page (`assets/demo/`) and the player libraries
//! vendored byte for byte from their npm packages with their licences (`assets/vendor/`). There
//! is no build step. The page is `no-cache` and names its assets with `?v=<content hash>`, so the
//! assets can be cached for a year and still change with the binary. The page's
//! Content-Security-Policy only lets it talk to its own origin: the browser itself refuses any
//! request to Plex. Outside demo mode both routes are 404, like any unknown path.

use std::sync::OnceLock;

use http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, HeaderValue, IF_NONE_MATCH};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::api::state::AppState;
use crate::body::{empty, full};
use crate::http::{ApiError, Body, PathParams};

const PAGE: &str = include_str!("../../../assets/demo/index.html");

/// Only this origin, and `blob:` for the MediaSource URLs and hls.js's worker.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   media-src 'self' blob:; worker-src 'self' blob:; connect-src 'self'; \
                   base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const JS: &str = "text/javascript; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

/// `(file name, content type, bytes)` of every asset `/demo/assets/` serves.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "demo.js",
        JS,
        include_bytes!("../../../assets/demo/demo.js"),
    ),
    (
        "demo.css",
        "text/css; charset=utf-8",
        include_bytes!("../../../assets/demo/demo.css"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_bytes!("../../../assets/demo/favicon.svg"),
    ),
    (
        "hls-1.7.4.min.js",
        JS,
        include_bytes!("../../../assets/vendor/hls-1.7.4.min.js"),
    ),
    (
        "hls.js-LICENSE.txt",
        TEXT,
        include_bytes!("../../../assets/vendor/hls.js-LICENSE.txt"),
    ),
    (
        "dash.mediaplayer-5.2.1.min.js",
        JS,
        include_bytes!("../../../assets/vendor/dash.mediaplayer-5.2.1.min.js"),
    ),
    (
        "dash.mediaplayer-5.2.1.min.js.LICENSE.txt",
        TEXT,
        include_bytes!("../../../assets/vendor/dash.mediaplayer-5.2.1.min.js.LICENSE.txt"),
    ),
    (
        "dashjs-LICENSE.md",
        TEXT,
        include_bytes!("../../../assets/vendor/dashjs-LICENSE.md"),
    ),
];

/// FNV-1a over every embedded byte: the page's `?v=` and the ETag of both routes.
fn version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let parts = std::iter::once(PAGE.as_bytes()).chain(ASSETS.iter().map(|a| a.2));
        for byte in parts.flatten() {
            h = (h ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        format!("{h:016x}")
    })
}

fn respond(
    req: &Request<Incoming>,
    content_type: &'static str,
    cache: &'static str,
    bytes: impl Into<bytes::Bytes>,
) -> Response<Body> {
    let etag = format!("\"{}\"", version());
    let fresh = req
        .headers()
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
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

/// `GET /demo`.
pub async fn page(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    if !state.demo_mode() {
        return Err(ApiError::not_found());
    }
    let html = PAGE.replace("{{v}}", version());
    let mut resp = respond(&req, "text/html; charset=utf-8", "no-cache", html);
    let h = resp.headers_mut();
    h.insert("content-security-policy", HeaderValue::from_static(CSP));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    Ok(resp)
}

/// `GET /demo/assets/{file}`.
pub async fn asset(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    if !state.demo_mode() {
        return Err(ApiError::not_found());
    }
    let name = req
        .extensions()
        .get::<PathParams>()
        .and_then(|p| p.get("file"))
        .unwrap_or("");
    let (_, content_type, bytes) = ASSETS
        .iter()
        .find(|(n, _, _)| *n == name)
        .ok_or_else(ApiError::not_found)?;
    Ok(respond(
        &req,
        content_type,
        "public, max-age=31536000, immutable",
        *bytes,
    ))
}
