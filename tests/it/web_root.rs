//! `web.root`: a built single-page app served at `/` and under the base path, with the HTTP
//! semantics a static host owes it (fallback to index.html for client-side routes only, cache
//! headers, Last-Modified and ETag/304, Range, MIME types, precompressed siblings) and no way out of the
//! root. The table keeps `/api/…`, `/health`, `/ready`, `/metrics` and `/demo…`.

use crate::support::{TestApp, assert_error, client, raw_get, web_app};
use plexgate::config::Sources;

struct Site {
    app: TestApp,
    _dir: tempfile::TempDir,
}

async fn site(extra: &[(&str, &str)]) -> Site {
    let dir = tempfile::tempdir().unwrap();
    let root = web_app::build(dir.path()).display().to_string();
    let mut config = vec![("web.root", root.as_str())];
    config.extend_from_slice(extra);
    Site {
        app: TestApp::start(&config).await,
        _dir: dir,
    }
}

async fn get(url: String, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = client().get(url);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.send().await.unwrap()
}

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

async fn assert_index(r: reqwest::Response) {
    assert_eq!(r.status(), 200, "{}", r.url());
    assert!(header(&r, "content-type").starts_with("text/html"));
    assert_eq!(header(&r, "cache-control"), "no-cache");
    assert_eq!(r.text().await.unwrap(), web_app::INDEX);
}

#[tokio::test]
async fn client_side_routes_get_index_html_at_the_root_and_under_the_base_path() {
    let s = site(&[("server.base_path", "/plexgate")]).await;
    for path in [
        "/",
        "/index.html",
        "/details/123",
        "/browse/movies/",
        "/assets",
        "/assets/",
        "/plexgate",
        "/plexgate/",
        "/plexgate/details/1?tab=cast",
    ] {
        assert_index(get(s.app.url(path), &[]).await).await;
    }
    let js = get(s.app.url("/plexgate/assets/app-abc123.js"), &[]).await;
    assert_eq!(js.status(), 200);
    assert_eq!(js.text().await.unwrap(), web_app::APP_JS);
}

#[tokio::test]
async fn the_route_table_keeps_api_health_and_demo_paths() {
    let s = site(&[("server.base_path", "/plexgate")]).await;
    for path in [
        "/api/nope",
        "/api",
        "/api/",
        "/plexgate/api/nope",
        "/demo",
        "/demo/x.js",
    ] {
        assert_error(get(s.app.url(path), &[]).await, 404, "not_found").await;
    }
    let health = get(s.app.url("/plexgate/health"), &[]).await;
    assert_eq!(health.status(), 200);
    assert!(header(&health, "content-type").starts_with("application/json"));
    let session = get(s.app.url("/api/auth/session"), &[]).await;
    assert_eq!(session.status(), 200);
    assert_eq!(
        session.json::<serde_json::Value>().await.unwrap()["authenticated"],
        false
    );
    // Only GET and HEAD are the app's: other methods still meet the table.
    let post = client()
        .post(s.app.url("/details/1"))
        .header("x-requested-with", "t");
    assert_error(post.send().await.unwrap(), 404, "not_found").await;
}

#[tokio::test]
async fn hashed_assets_are_immutable_other_files_revalidate_and_missing_files_are_404() {
    let s = site(&[]).await;
    let js = get(s.app.url("/assets/app-abc123.js"), &[]).await;
    assert_eq!(js.status(), 200);
    assert_eq!(header(&js, "content-type"), "text/javascript");
    assert_eq!(
        header(&js, "cache-control"),
        "public, max-age=31536000, immutable"
    );
    let css = get(s.app.url("/assets/style-def456.css"), &[]).await;
    assert_eq!(header(&css, "content-type"), "text/css");
    assert_eq!(
        header(&css, "cache-control"),
        "public, max-age=31536000, immutable"
    );
    let icon = get(s.app.url("/favicon.ico"), &[]).await;
    assert_eq!(icon.status(), 200);
    assert_eq!(header(&icon, "content-type"), "image/x-icon");
    assert_eq!(header(&icon, "cache-control"), "no-cache");
    // A stale <script src> must fail, not get index.html with a 200 and a year of caching.
    for path in ["/assets/app-000000.js", "/robots.txt"] {
        assert_error(get(s.app.url(path), &[]).await, 404, "not_found").await;
    }
}

#[tokio::test]
async fn last_modified_and_etag_answer_304_and_ranges_answer_206() {
    let s = site(&[]).await;
    for path in ["/assets/app-abc123.js", "/details/9"] {
        let first = get(s.app.url(path), &[]).await;
        let modified = header(&first, "last-modified");
        assert!(!modified.is_empty(), "{path}");
        let again = get(s.app.url(path), &[("if-modified-since", &modified)]).await;
        assert_eq!(again.status(), 304, "{path}");
        assert!(again.bytes().await.unwrap().is_empty());
        // ServeDir sends no ETag; plexgate adds a weak one and honours If-None-Match.
        let etag = header(&first, "etag");
        assert!(etag.starts_with("W/\""), "{path}: {etag:?}");
        let fresh = get(s.app.url(path), &[("if-none-match", &etag)]).await;
        assert_eq!(fresh.status(), 304, "{path}");
        assert_eq!(header(&fresh, "etag"), etag, "{path}");
        assert!(!header(&fresh, "cache-control").is_empty(), "{path}");
        assert!(fresh.bytes().await.unwrap().is_empty());
        let listed = format!("\"other\", {}", etag.trim_start_matches("W/"));
        let fresh = get(s.app.url(path), &[("if-none-match", &listed)]).await;
        assert_eq!(fresh.status(), 304, "{path}: a list, compared weakly");
        let stale = get(s.app.url(path), &[("if-none-match", "W/\"0-0-identity\"")]).await;
        assert_eq!(stale.status(), 200, "{path}");
        assert!(!stale.bytes().await.unwrap().is_empty());
    }
    let plain = header(&get(s.app.url("/assets/app-abc123.js"), &[]).await, "etag");
    let brotli = get(
        s.app.url("/assets/app-abc123.js"),
        &[("accept-encoding", "br")],
    )
    .await;
    assert_ne!(
        header(&brotli, "etag"),
        plain,
        "the .br sibling is another representation"
    );
    let part = get(
        s.app.url("/assets/app-abc123.js"),
        &[("range", "bytes=3-9")],
    )
    .await;
    assert_eq!(part.status(), 206);
    assert_eq!(
        header(&part, "etag"),
        plain,
        "a range carries its file's tag"
    );
    let total = web_app::APP_JS.len();
    assert_eq!(header(&part, "content-range"), format!("bytes 3-9/{total}"));
    assert_eq!(part.text().await.unwrap(), &web_app::APP_JS[3..=9]);
    let beyond = get(
        s.app.url("/assets/app-abc123.js"),
        &[("range", "bytes=99999-")],
    )
    .await;
    assert_eq!(beyond.status(), 416);
}

#[tokio::test]
async fn precompressed_siblings_answer_when_the_browser_accepts_them() {
    let s = site(&[]).await;
    let url = || s.app.url("/assets/app-abc123.js");
    for (accept, encoding, body) in [
        ("br, gzip", "br", "BROTLI SIBLING"),
        ("gzip", "gzip", "GZIP SIBLING"),
        ("identity", "", web_app::APP_JS),
    ] {
        let r = get(url(), &[("accept-encoding", accept)]).await;
        assert_eq!(r.status(), 200, "{accept}");
        assert_eq!(header(&r, "content-encoding"), encoding, "{accept}");
        assert_eq!(header(&r, "content-type"), "text/javascript", "{accept}");
        assert!(header(&r, "vary").contains("accept-encoding"), "{accept}");
        assert_eq!(r.text().await.unwrap(), body, "{accept}");
    }
}

#[tokio::test]
async fn nothing_outside_the_root_or_hidden_is_served_and_directories_are_never_listed() {
    let s = site(&[]).await;
    let origin = s.app.running.url();
    for path in [
        "/../outside/secret.txt",
        "/%2e%2e/outside/secret.txt",
        "/assets/%2e%2e/%2e%2e/outside/secret.txt",
        "/assets/..%2f..%2foutside/secret.txt",
        "/leak.txt",
        "/ext/secret.txt",
        "/.env",
        "/%2eenv",
    ] {
        let answer = raw_get(&origin, path).await;
        assert!(!answer.contains(web_app::SECRET), "{path}: {answer}");
        assert!(answer.starts_with("HTTP/1.1 404"), "{path}: {answer}");
        assert!(
            answer.contains("\"code\":\"not_found\""),
            "{path}: {answer}"
        );
    }
    // A file whose precompressed sibling leads out is refused whatever the browser accepts:
    // the root has been tampered with.
    for accept in ["br", "identity"] {
        let r = get(
            s.app.url("/assets/innocent.js"),
            &[("accept-encoding", accept)],
        )
        .await;
        assert_error(r, 404, "not_found").await;
    }
    // A directory is a client-side route (index.html), never a listing.
    let listing = get(s.app.url("/assets/"), &[]).await.text().await.unwrap();
    assert!(!listing.contains("app-abc123.js\n") && listing == web_app::INDEX);
}

#[tokio::test]
async fn without_a_web_root_client_routes_stay_json_404s() {
    let app = TestApp::start(&[]).await;
    let r = get(app.url("/details/1"), &[]).await;
    assert_error(r, 404, "not_found").await;
}

#[test]
fn a_missing_or_unusable_web_root_is_a_config_error_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, "x").unwrap();
    for (root, says) in [
        (dir.path().join("nope"), "does not exist"),
        (empty, "has no readable index.html"),
        (file, "is not a readable directory"),
    ] {
        let root = root.display().to_string();
        let err = Sources::new()
            .flag("web.root", "--web-root", Some(root.clone()))
            .build()
            .expect_err("refused");
        let line = err.to_string();
        assert!(line.contains("web.root"), "{line}");
        assert!(line.contains(says), "{line}");
        assert!(line.contains("--web-root"), "{line}");
    }
}
