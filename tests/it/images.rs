//! `/api/image/plex` and `/api/image/proxy`: resizing (never enlarging) and re-encoding, ETag and
//! Cache-Control, the in-memory cache, the host allowlist (a fake image host on loopback stands
//! in for TMDB), and every SSRF / path / file trick refused.

use std::sync::{Arc, Mutex};

use crate::support::plex_world::PlexWorld;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};

const POSTER: &[u8] = include_bytes!("../../fixtures/media/poster.jpg");

/// A fake image host: what it served, and whether a browser header ever reached it.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<(String, bool)>>>);

async fn image_host(other_port: u16) -> (String, Seen) {
    let seen = Seen::default();
    let log = seen.clone();
    let addr = crate::support::server::serve(move |req: Request<Incoming>| {
        let log = log.clone();
        async move {
            let leaked = req.headers().contains_key("cookie")
                || req.headers().contains_key("authorization")
                || req.headers().contains_key("x-plex-token");
            log.0
                .lock()
                .unwrap()
                .push((req.uri().path().to_string(), leaked));
            let resp = match req.uri().path() {
                "/poster.jpg" => Response::builder()
                    .header("content-type", "image/jpeg")
                    .body(Full::new(Bytes::from_static(POSTER))),
                "/redirect-in" => Response::builder()
                    .status(302)
                    .header("location", "/poster.jpg")
                    .body(Full::new(Bytes::new())),
                "/redirect-out" => Response::builder()
                    .status(302)
                    .header(
                        "location",
                        format!("http://127.0.0.1:{other_port}/poster.jpg"),
                    )
                    .body(Full::new(Bytes::new())),
                "/redirect-file" => Response::builder()
                    .status(302)
                    .header("location", "file:///etc/passwd")
                    .body(Full::new(Bytes::new())),
                "/not-an-image" => Response::builder()
                    .header("content-type", "text/html")
                    .body(Full::new(Bytes::from_static(b"<html>hello</html>"))),
                _ => Response::builder()
                    .status(404)
                    .body(Full::new(Bytes::new())),
            };
            resp.unwrap()
        }
    })
    .await;
    let url = format!("http://{addr}");
    (url, seen)
}

fn dims(bytes: &[u8]) -> (u32, u32) {
    let img = image::load_from_memory(bytes).expect("an image");
    (img.width(), img.height())
}

struct World {
    w: PlexWorld,
    host: String,
    seen: Seen,
    other: String,
    other_seen: Seen,
}

async fn world() -> World {
    let (other, other_seen) = image_host(1).await;
    let other_port: u16 = other.rsplit(':').next().unwrap().parse().unwrap();
    let (host, seen) = image_host(other_port).await;
    let w = PlexWorld::start(&[("image.proxy_hosts", &format!("image.tmdb.org,{host}"))]).await;
    World {
        w,
        host,
        seen,
        other,
        other_seen,
    }
}

#[tokio::test]
async fn proxy_resizes_reencodes_caches_and_revalidates() {
    let World { w, host, seen, .. } = world().await;
    let canary = w.canary();
    let mut a = w.alice(&canary).await;
    let url = plexgate::util::percent_encode(&format!("{host}/poster.jpg"));
    let r = a.get(&format!("/api/image/proxy?url={url}&w=150")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("image/jpeg"));
    assert_eq!(r.header("cache-control"), Some("public, max-age=604800"));
    assert_eq!(r.header("x-cache"), Some("MISS"));
    assert_eq!(dims(&r.body), (150, 225));
    let etag = r.header("etag").unwrap().to_string();
    assert!(etag.starts_with('"') && etag.ends_with('"'));
    let again = a.get(&format!("/api/image/proxy?url={url}&w=150")).await;
    assert_eq!(
        (again.header("x-cache"), again.header("etag")),
        (Some("HIT"), Some(etag.as_str()))
    );
    assert_eq!(again.body, r.body);
    assert_eq!(seen.0.lock().unwrap().len(), 1, "second answer from memory");
    let cond = a
        .get_with(
            &format!("/api/image/proxy?url={url}&w=150"),
            &[("if-none-match", &etag)],
        )
        .await;
    assert_eq!(cond.status, 304);
    assert!(cond.body.is_empty());
    // Never enlarged; other formats and fits.
    let big = a
        .get(&format!(
            "/api/image/proxy?url={url}&w=2000&h=3000&fit=fill"
        ))
        .await;
    assert_eq!(dims(&big.body), (300, 450));
    let webp = a
        .get(&format!("/api/image/proxy?url={url}&w=100&h=100&f=webp"))
        .await;
    // An opaque poster asked as WebP is a lossy JPEG (see `image_size`).
    assert_eq!(webp.header("content-type"), Some("image/jpeg"));
    assert_eq!(dims(&webp.body), (100, 100), "cover crops to the box");
    let png = a
        .get(&format!("/api/image/proxy?url={url}&h=90&f=png&q=40"))
        .await;
    assert_eq!(
        (png.header("content-type"), dims(&png.body)),
        (Some("image/png"), (60, 90))
    );
    // A redirect to the same allowed host is followed.
    let r = a
        .get(&format!(
            "/api/image/proxy?url={}",
            plexgate::util::percent_encode(&format!("{host}/redirect-in"))
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    // Upstream 404 and non-images.
    a.get(&format!(
        "/api/image/proxy?url={}",
        plexgate::util::percent_encode(&format!("{host}/missing"))
    ))
    .await
    .assert_error(404, "image_not_found");
    a.get(&format!(
        "/api/image/proxy?url={}",
        plexgate::util::percent_encode(&format!("{host}/not-an-image"))
    ))
    .await
    .assert_error(502, "image_unreadable");
    assert!(
        seen.0.lock().unwrap().iter().all(|(_, leaked)| !leaked),
        "no cookie or token reached the host"
    );
}

#[tokio::test]
async fn proxy_refuses_every_url_off_the_allowlist() {
    let World {
        w,
        host,
        seen,
        other,
        other_seen,
    } = world().await;
    let canary = w.canary();
    let mut a = w.alice(&canary).await;
    let port = host.rsplit(':').next().unwrap();
    let enc = plexgate::util::percent_encode;
    for (url, code) in [
        (format!("{other}/poster.jpg"), "image_url_not_allowed"),
        (
            format!("http://localhost:{port}/poster.jpg"),
            "image_url_not_allowed",
        ),
        (
            format!("http://127.0.0.2:{port}/poster.jpg"),
            "image_url_not_allowed",
        ),
        (
            format!("https://127.0.0.1:{port}/poster.jpg"),
            "image_url_not_allowed",
        ),
        (
            format!("http://user:pw@127.0.0.1:{port}/poster.jpg"),
            "image_url_not_allowed",
        ),
        (
            "http://169.254.169.254/latest/meta-data/".to_string(),
            "image_url_not_allowed",
        ),
        (
            "http://image.tmdb.org/t/p/w500/a.jpg".to_string(),
            "image_url_not_allowed",
        ),
        (
            "https://image.tmdb.org.evil.example/a.jpg".to_string(),
            "image_url_not_allowed",
        ),
        ("file:///etc/passwd".to_string(), "invalid_image_url"),
        ("/etc/passwd".to_string(), "invalid_image_url"),
        ("//127.0.0.1/x".to_string(), "invalid_image_url"),
        ("gopher://127.0.0.1/x".to_string(), "invalid_image_url"),
        (format!("{host}/redirect-out"), "image_url_not_allowed"),
        (format!("{host}/redirect-file"), "invalid_image_url"),
    ] {
        let r = a.get(&format!("/api/image/proxy?url={}", enc(&url))).await;
        r.assert_error(400, code);
    }
    assert!(
        other_seen.0.lock().unwrap().is_empty(),
        "the unlisted host was never contacted"
    );
    let paths: Vec<String> = seen
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|(p, _)| p.clone())
        .collect();
    assert_eq!(
        paths,
        ["/redirect-out", "/redirect-file"],
        "only the listed host, only the redirects"
    );
    // Bad parameters, including a format that would have been a file name in Express.
    let ok = enc(&format!("{host}/poster.jpg"));
    for (q, code) in [
        ("", "missing_url"),
        ("url=", "missing_url"),
        (
            &*format!("url={ok}&f=../../../etc/passwd"),
            "invalid_format",
        ),
        (&*format!("url={ok}&f=gif"), "invalid_format"),
        (&*format!("url={ok}&q=101"), "invalid_quality"),
        (&*format!("url={ok}&w=0"), "invalid_image_size"),
        (&*format!("url={ok}&h=99999"), "invalid_image_size"),
        (&*format!("url={ok}&fit=crop"), "invalid_fit"),
    ] {
        a.get(&format!("/api/image/proxy?{q}"))
            .await
            .assert_error(400, code);
    }
}

#[tokio::test]
async fn plex_images_go_through_photo_transcode_with_the_token_as_a_header() {
    let World { w, host, seen, .. } = world().await;
    let canary = w.canary();
    let mut a = w.alice(&canary).await;
    let path = "/library/metadata/101/thumb/1716000000";
    let r = a
        .get(&format!(
            "/api/image/plex?path={}&w=100&q=70&f=jpeg",
            plexgate::util::percent_encode(path)
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("cache-control"), Some("private, max-age=86400"));
    assert_eq!(r.header("x-cache"), Some("MISS"));
    assert_eq!(dims(&r.body), (100, 150));
    assert!(r.header("etag").is_some());
    let up = w.upstream("/photo/:/transcode");
    assert_eq!(up.len(), 1);
    assert_eq!(up[0].query_param("url").as_deref(), Some(path));
    assert_eq!(up[0].query_param("width").as_deref(), Some("100"));
    assert_eq!(up[0].header("x-plex-token"), Some(w.plex.token()));
    let again = a
        .get(&format!(
            "/api/image/plex?path={}&w=100&q=70&f=jpeg",
            plexgate::util::percent_encode(path)
        ))
        .await;
    assert_eq!(again.header("x-cache"), Some("HIT"));
    assert_eq!(w.upstream("/photo/:/transcode").len(), 1);
    // `url=` works as the fallback name; a nested token is dropped before Plex sees it.
    let r = a
        .get(&format!(
            "/api/image/plex?url={}&f=webp",
            plexgate::util::percent_encode(&format!("{path}?X-Plex-Token=leak"))
        ))
        .await;
    assert_eq!(
        (r.status.as_u16(), r.header("content-type")),
        (200, Some("image/jpeg"))
    );
    assert_eq!(
        w.upstream("/photo/:/transcode")[1]
            .query_param("url")
            .as_deref(),
        Some(path)
    );
    // The browser's server/token never redirect the fetch.
    let evil = a
        .get(&format!(
            "/api/image/plex?path={}&server=127.0.0.1:1&token=abc",
            plexgate::util::percent_encode(path)
        ))
        .await;
    assert_eq!(evil.status, 200);
    // Absolute URLs follow the proxy's allowlist, without a token.
    let abs = a
        .get(&format!(
            "/api/image/plex?path={}",
            plexgate::util::percent_encode(&format!("{host}/poster.jpg"))
        ))
        .await;
    assert_eq!(abs.status, 200, "{}", abs.text());
    assert!(seen.0.lock().unwrap().iter().all(|(_, leaked)| !leaked));
    for (p, code) in [
        ("", "missing_path"),
        ("library/metadata/101/thumb/1", "invalid_image_path"),
        ("/library/../../etc/passwd", "invalid_image_path"),
        ("/library/%2e%2e/accounts", "invalid_image_path"),
        ("\\\\evil\\share", "invalid_image_path"),
        ("//evil.example/x.jpg", "invalid_image_url"),
        (
            "http://169.254.169.254/latest/meta-data",
            "image_url_not_allowed",
        ),
        ("file:///etc/passwd", "invalid_image_path"),
    ] {
        a.get(&format!(
            "/api/image/plex?path={}",
            plexgate::util::percent_encode(p)
        ))
        .await
        .assert_error(400, code);
    }
    a.get(&format!(
        "/api/image/plex?path={}&f=tiff",
        plexgate::util::percent_encode(path)
    ))
    .await
    .assert_error(400, "invalid_format");
    a.get("/api/image/plex?path=%2Flibrary%2Fmetadata%2F999%2Fthumb%2F1")
        .await
        .assert_error(404, "plex_not_found");

    // The caller's image cache: stats and cleanup touch only their own entries.
    let stats = a.get("/api/image/cache/stats").await.json();
    assert_eq!(stats["files"], 3, "{stats}");
    assert!(
        stats["oldestFile"]["name"]
            .as_str()
            .unwrap()
            .starts_with("u")
    );
    let mut bob = w.bob(&canary).await;
    assert_eq!(bob.get("/api/image/cache/stats").await.json()["files"], 0);
    let none = bob
        .request(
            reqwest::Method::DELETE,
            "/api/image/cache?maxAge=0",
            &[],
            None,
            true,
        )
        .await;
    assert_eq!(none.json()["filesDeleted"], 0);
    a.request(
        reqwest::Method::DELETE,
        "/api/image/cache?maxAge=soon",
        &[],
        None,
        true,
    )
    .await
    .assert_error(400, "invalid_max_age");
    let kept = a
        .request(reqwest::Method::DELETE, "/api/image/cache", &[], None, true)
        .await;
    assert_eq!(
        kept.json(),
        serde_json::json!({"message": "Image cache cleaned", "filesDeleted": 0})
    );
    let cleaned = a
        .request(
            reqwest::Method::DELETE,
            "/api/image/cache?maxAge=0",
            &[],
            None,
            true,
        )
        .await;
    assert_eq!(cleaned.json()["filesDeleted"], 3);
    assert_eq!(a.get("/api/image/cache/stats").await.json()["files"], 0);
    w.assert_upstream_hygiene();
}
