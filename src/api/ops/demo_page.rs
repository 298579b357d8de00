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

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::api::extract::path_param;
use crate::api::respond::{Asset, Embedded, redirect};
use crate::api::state::AppState;
use crate::http::{ApiError, Body};

const PAGE: &str = include_str!("../../../assets/demo/index.html");

/// Only this origin, and `blob:` for the MediaSource URLs and hls.js's worker.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   media-src 'self' blob:; worker-src 'self' blob:; connect-src 'self'; \
                   base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const JS: &str = "text/javascript; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

/// `(file name, content type, bytes)` of every asset `/demo/assets/` serves.
const ASSETS: &[Asset] = &[
    (
        "watch.js",
        JS,
        include_bytes!("../../../assets/demo/watch.js"),
    ),
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

static DEMO: Embedded = Embedded::new(PAGE, ASSETS, CSP);

/// `GET /demo`.
pub async fn page(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    if !state.demo_mode() {
        return Err(ApiError::not_found());
    }
    // `/demo/` would resolve the page's relative asset URLs one level too deep (an unstyled
    // page that never starts): send the browser to `/demo`, relatively, so a prefix survives.
    if req.uri().path().ends_with('/') {
        return Ok(redirect(StatusCode::MOVED_PERMANENTLY, "../demo"));
    }
    Ok(DEMO.page(&req))
}

/// `GET /demo/assets/{file}`.
pub async fn asset(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    if !state.demo_mode() {
        return Err(ApiError::not_found());
    }
    DEMO.asset(&req, path_param(&req, "file"))
}
