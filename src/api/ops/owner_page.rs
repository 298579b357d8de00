//! `GET /` when no web root is configured, and `GET /owner/assets/{file}`: the owner page.
//!
//! A new install answers `/` with something a person can use instead of a JSON 404: sign in
//! with Plex (the same PIN flow Flixor uses), then the owner sees version, uptime, servers,
//! playback sessions with a Revoke button and recent upstream errors, all from
//! `/api/admin/…`; anyone else sees that they are signed in with nothing to administer. In demo
//! mode `/` sends the visitor to `/demo` instead.
//!
//! Plain HTML, CSS and one classic script embedded in the binary, no build step, like the demo
//! page: assets are named with `?v=<content hash>` and cached for a year. Every URL on the page
//! is relative, so it works under `server.base_path` and behind a proxy's prefix; that needs
//! the page's URL to end in `/`, hence the redirect from `/base` to `/base/`.

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::api::extract::path_param;
use crate::api::respond::{Asset, Embedded, redirect};
use crate::api::state::AppState;
use crate::http::{ApiError, Body};

const PAGE: &str = include_str!("../../../assets/owner/index.html");

/// Only this origin: the page talks to plexgate and nothing else.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; \
                   frame-ancestors 'none'";

/// `(file name, content type, bytes)` of every asset `/owner/assets/` serves.
const ASSETS: &[Asset] = &[
    (
        "owner.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../../assets/owner/owner.js"),
    ),
    (
        "owner.css",
        "text/css; charset=utf-8",
        include_bytes!("../../../assets/owner/owner.css"),
    ),
];

static OWNER: Embedded = Embedded::new(PAGE, ASSETS, CSP);

/// The last segment of `path` (`/plexgate` → `plexgate`), for a relative redirect below it.
fn last_segment(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or("")
}

/// `GET /`.
pub async fn page(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    let path = req.uri().path();
    // Relative locations: right at the root and under any prefix a proxy adds.
    let below = |to: &str| match path.ends_with('/') {
        true => to.to_string(),
        false => format!("{}/{to}", last_segment(path)),
    };
    if state.demo_mode() {
        return Ok(redirect(StatusCode::FOUND, &below("demo")));
    }
    if !path.ends_with('/') {
        return Ok(redirect(StatusCode::MOVED_PERMANENTLY, &below("")));
    }
    Ok(OWNER.page(&req))
}

/// `GET /owner/assets/{file}`.
pub async fn asset(req: Request<Incoming>, _state: AppState) -> Result<Response<Body>, ApiError> {
    OWNER.asset(&req, path_param(&req, "file"))
}
