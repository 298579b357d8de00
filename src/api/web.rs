//! The served frontend (`web.root`): a built single-page app such as Flixor's `dist/`, at `/`
//! and under `server.base_path`, so the unchanged app runs from plexgate's own origin and needs
//! no CORS settings at all.
//!
//! tower-http's `ServeDir` does the file serving (Range, Last-Modified/304, MIME types,
//! precompressed `.br`/`.gz` siblings chosen from Accept-Encoding, `..` refused, never a
//! directory listing); we must not write a file server. This file only decides which paths are
//! the app's, what a client-side route falls back to (index.html), how long an answer may be
//! cached, adds the weak ETag (and its 304) that `ServeDir` does not send, and refuses symlinks
//! that lead out of the root, which `ServeDir` would follow.
//! It never answers `/api/…`, `/health`, `/ready`, `/metrics` or `/demo…`: those stay with the
//! route table, so an unknown API path is still a JSON 404.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;

use http::header::{
    CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, ETAG, HeaderValue, LAST_MODIFIED, VARY,
};
use http::{Request, Response, StatusCode, Uri};
use hyper::body::Incoming;
use percent_encoding::percent_decode_str;
use tower_http::services::{ServeDir, ServeFile};

use crate::api::state::AppState;
use crate::body::boxed;
use crate::http::{ApiError, Body, PathParams, Router, etag};

/// Paths the route table keeps even when a web root is served.
const RESERVED: [&str; 5] = ["/api", "/health", "/ready", "/metrics", "/demo"];

/// Bundlers name their output after its content, so such a file never changes under its name.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Everything else (index.html above all) is revalidated, so a new build shows up at once.
const REVALIDATE: &str = "no-cache";

/// Adds the web root's site to `router` when `web.root` is set; without it `/` stays with the
/// route table.
pub fn mount(router: Router<AppState>, state: &AppState) -> Router<AppState> {
    let Some(root) = state.config().web.root.as_ref() else {
        return router;
    };
    let site = Arc::new(WebRoot::new(root));
    router.site(claims, move |req, _state| site.clone().serve(req))
}

/// Whether the app owns `path` (base path already stripped): everything the route table does
/// not reserve.
fn claims(path: &str) -> bool {
    !RESERVED.iter().any(|reserved| {
        path.strip_prefix(reserved)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

struct WebRoot {
    /// The root with every symlink resolved: served files must resolve inside it.
    root: PathBuf,
    /// Paths that name a file: a missing one is a 404, never index.html with a 200 (a stale
    /// `<script src>` must fail loudly, not parse HTML as JavaScript).
    files: ServeDir,
    /// Client-side routes: the file if there is one, else index.html.
    app: ServeDir<ServeFile>,
}

impl WebRoot {
    fn new(root: &std::path::Path) -> WebRoot {
        // Config checked the directory a moment ago; were it gone now, every file would
        // fail the containment check below and answer 404, which is the safe side.
        let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
        // Directories are not served (no listing, no redirect that would forget the base
        // path): a client-side route that happens to be a directory gets index.html.
        let files = ServeDir::new(&root)
            .append_index_html_on_directories(false)
            .precompressed_br()
            .precompressed_gzip();
        let index = ServeFile::new(root.join("index.html"))
            .precompressed_br()
            .precompressed_gzip();
        let app = files.clone().fallback(index);
        WebRoot { root, files, app }
    }

    async fn serve(self: Arc<Self>, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
        let path = req
            .extensions()
            .get::<PathParams>()
            .and_then(|p| p.get("web"))
            .unwrap_or("/")
            .to_string();
        if hidden(&path) || self.leaves_root(&path).await {
            return Err(ApiError::not_found());
        }
        let uri: Uri = match req.uri().query() {
            Some(query) => format!("{path}?{query}"),
            None => path.clone(),
        }
        .parse()
        .map_err(|_| ApiError::not_found())?;
        let (mut parts, _body) = req.into_parts();
        parts.uri = uri;
        let conditional = parts.headers.clone();
        let req = Request::from_parts(parts, ());
        let file = names_a_file(&path);
        let served = if file {
            self.files.clone().try_call(req).await
        } else {
            self.app.clone().try_call(req).await
        };
        let resp = served.map_err(|e| {
            tracing::warn!(error = %e, "web root: a file could not be read");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "web_root_unreadable",
                "the web app's files could not be read",
            )
        })?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Err(ApiError::not_found());
        }
        let cache = if file && is_hashed_asset(&path) && !resp.status().is_client_error() {
            IMMUTABLE
        } else {
            REVALIDATE
        };
        let etag = etag::for_file(resp.headers());
        let mut resp = match &etag {
            // The browser's copy is current: headers only (the opened file is never read).
            Some(tag) if etag::none_match(&conditional, tag) => {
                let mut not_modified = Response::new(crate::body::empty());
                *not_modified.status_mut() = StatusCode::NOT_MODIFIED;
                for name in [LAST_MODIFIED, CONTENT_TYPE, CONTENT_ENCODING] {
                    if let Some(v) = resp.headers().get(&name) {
                        not_modified.headers_mut().insert(name, v.clone());
                    }
                }
                not_modified
            }
            _ => resp.map(boxed),
        };
        let headers = resp.headers_mut();
        if let Some(v) = etag.and_then(|t| HeaderValue::from_str(&t).ok()) {
            headers.insert(ETAG, v);
        }
        headers.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
        // A precompressed sibling may have answered instead of the file.
        headers.append(VARY, HeaderValue::from_static("accept-encoding"));
        Ok(resp)
    }

    /// Whether the file `path` names (or its `.br`/`.gz` sibling) is a symlink to outside the
    /// root. Paths with `..` or that do not decode are refused by `ServeDir` itself.
    async fn leaves_root(&self, path: &str) -> bool {
        let Ok(decoded) = percent_decode_str(path.trim_start_matches('/')).decode_utf8() else {
            return false;
        };
        let file = self.root.join(decoded.trim_start_matches('/'));
        for suffix in ["", ".br", ".gz"] {
            let mut candidate = OsString::from(file.as_os_str());
            candidate.push(suffix);
            if let Ok(real) = tokio::fs::canonicalize(&candidate).await
                && !real.starts_with(&self.root)
            {
                tracing::warn!("web root: refused a symlink that leads out of the root");
                return true;
            }
        }
        false
    }
}

/// Whether a segment names a hidden file (`.env`, `.git/`, also percent-encoded): a build
/// directory may hold some, and they are nobody's business.
fn hidden(path: &str) -> bool {
    percent_decode_str(path)
        .decode_utf8_lossy()
        .split(['/', '\\'])
        .any(|segment| segment.starts_with('.'))
}

/// Whether the last segment has a file extension (`app.js`, `favicon.ico`), as opposed to a
/// client-side route (`/details/123`).
fn names_a_file(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or_default();
    name.rsplit_once('.').is_some_and(|(stem, ext)| {
        !stem.is_empty()
            && (1..=10).contains(&ext.len())
            && ext.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

/// A bundler's content-hashed output: under `assets/` (Vite's `build.assetsDir`) with a name
/// like `index-B3x_aQ1z.js` or `app.abc123.css`. Anything else is revalidated.
fn is_hashed_asset(path: &str) -> bool {
    let Some(rest) = path.strip_prefix("/assets/") else {
        return false;
    };
    let name = rest.rsplit('/').next().unwrap_or_default();
    let Some((stem, _ext)) = name.rsplit_once('.') else {
        return false;
    };
    stem.split_once(['-', '.']).is_some_and(|(_, hash)| {
        hash.len() >= 6
            && hash
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_keeps_its_paths() {
        for path in [
            "/api",
            "/api/nope",
            "/health",
            "/ready",
            "/metrics",
            "/demo",
            "/demo/assets/demo.js",
        ] {
            assert!(!claims(path), "{path}");
        }
        for path in [
            "/",
            "/index.html",
            "/details/1",
            "/apix",
            "/healthy",
            "/demo.html",
        ] {
            assert!(claims(path), "{path}");
        }
    }

    #[test]
    fn hashed_assets_are_recognised() {
        for path in [
            "/assets/app-abc123.js",
            "/assets/index-B3x_-aQ1.js",
            "/assets/style.abc12345.css",
        ] {
            assert!(is_hashed_asset(path), "{path}");
        }
        for path in [
            "/app-abc123.js",
            "/assets/app.js",
            "/assets/app-ab.js",
            "/index.html",
        ] {
            assert!(!is_hashed_asset(path), "{path}");
        }
    }

    #[test]
    fn files_are_told_from_routes() {
        assert!(names_a_file("/assets/app-abc123.js"));
        assert!(names_a_file("/favicon.ico"));
        assert!(!names_a_file("/"));
        assert!(!names_a_file("/details/123"));
        assert!(!names_a_file("/.hidden"));
    }

    #[test]
    fn hidden_files_are_refused() {
        for path in ["/.env", "/.git/config", "/%2egit/HEAD", "/assets/.x.js"] {
            assert!(hidden(path), "{path}");
        }
        assert!(!hidden("/assets/app-abc123.js"));
    }
}
