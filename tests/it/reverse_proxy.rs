//! plexgate behind real reverse proxies: nginx and Caddy (Debian packages) run the configs the
//! repo ships in `deploy/`, on loopback, with TLS from a self-signed certificate made by openssl
//! at test time, serving plexgate on its own host name at `/` and under `/plexgate/`.
//!
//! What it proves, for both proxies and both variants:
//! - the session cookie gets `Secure` (the proxy's `X-Forwarded-Proto: https`, believed because
//!   the proxy is a trusted peer);
//! - the facade `baseUrl`, stream URLs and every URI inside HLS and DASH manifests carry the
//!   public base path, and a segment fetched through the proxy is media;
//! - Range answers 206 with exactly the requested bytes; bodies stream through (the first bytes
//!   of a throttled upstream arrive long before its end, not all at once after it);
//! - ffprobe decodes the proxied HLS through TLS, verifying the certificate;
//! - hls.js and dash.js in Chromium play every format through the TLS proxies under /plexgate/,
//!   and so does the /demo page, which finds its assets and API under the prefix.
//!
//! And that `X-Forwarded-Proto` and `X-Request-Id` are believed only from trusted peers: with
//! `trusted_proxies` excluding the proxies their https hint is ignored, a client's spoofed
//! headers sent straight to plexgate are ignored unless that client is itself trusted, and the
//! deploy configs replace a client's `X-Request-Id` with the proxy's own.
//!
//! Needs nginx, caddy, openssl, ffmpeg (ffprobe), and node + chromium for the browser part; run
//! with `cargo test --features e2e`. A missing tool fails with what to install.
#![cfg(feature = "e2e")]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::support::canary::Canary;
use crate::support::proxies::{Proxy, Tls, Variant};
use crate::support::test_config;
use plexgate::app::demo::Demo;

const MOVIE: &[u8] = include_bytes!("../../fixtures/media/movie.mp4");

/// plexgate (demo mode) with nginx and Caddy in front of it.
struct Stack {
    demo: Demo,
    tls: Tls,
    nginx: Proxy,
    caddy: Proxy,
    _dirs: Vec<tempfile::TempDir>,
}

impl Stack {
    async fn start(extra: &[(&str, &str)]) -> Stack {
        let dir = tempfile::tempdir().unwrap();
        let demo = Demo::start(test_config(dir.path(), extra)).await.unwrap();
        let upstream: SocketAddr = demo.url().trim_start_matches("http://").parse().unwrap();
        let tls = Tls::new(dir.path());
        let (nd, cd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let nginx = crate::support::proxies::nginx(upstream, &tls, nd.path());
        let caddy = crate::support::proxies::caddy(upstream, &tls, cd.path());
        Stack {
            demo,
            tls,
            nginx,
            caddy,
            _dirs: vec![dir, nd, cd],
        }
    }

    fn proxies(&self) -> [&Proxy; 2] {
        [&self.nginx, &self.caddy]
    }

    async fn stop(self) {
        drop((self.nginx, self.caddy));
        self.demo.shutdown().await;
    }
}

/// `scheme://host:port` of an origin that may carry a base path.
fn host_of(origin: &str) -> String {
    let (scheme, rest) = origin.split_once("://").unwrap();
    format!("{scheme}://{}", rest.split('/').next().unwrap())
}

/// Signs in at `origin` as a browser would (same-origin `Origin`); returns (Set-Cookie, cookie).
async fn login(
    client: &reqwest::Client,
    origin: &str,
    headers: &[(&str, &str)],
) -> (String, String) {
    let mut req = client
        .post(format!("{origin}/api/auth/demo-login"))
        .header("origin", host_of(origin));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200, "demo-login at {origin}");
    let set = resp.headers()["set-cookie"].to_str().unwrap().to_string();
    let pair = set.split(';').next().unwrap().to_string();
    (set, pair)
}

async fn get_json(client: &reqwest::Client, url: &str, cookie: &str) -> serde_json::Value {
    let resp = client
        .get(url)
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{url}");
    resp.json().await.unwrap()
}

async fn get_text(client: &reqwest::Client, url: &str) -> String {
    let resp = client.get(url).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{url}");
    resp.text().await.unwrap()
}

/// URIs of an HLS playlist: URI lines and `URI="…"` attributes.
fn uris_in_m3u8(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        if !line.starts_with('#') && !line.trim().is_empty() {
            out.push(line.trim().to_string());
        }
        for part in line.split("URI=\"").skip(1) {
            out.push(part.split('"').next().unwrap().to_string());
        }
    }
    out
}

/// URL-bearing attributes of an MPD.
fn uris_in_mpd(mpd: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["media=\"", "initialization=\""] {
        for part in mpd.split(attr).skip(1) {
            out.push(part.split('"').next().unwrap().replace("&amp;", "&"));
        }
    }
    for part in mpd.split("<BaseURL>").skip(1) {
        out.push(part.split('<').next().unwrap().to_string());
    }
    out
}

fn ffprobe(url: &str, ca: &std::path::Path) -> String {
    crate::support::proxies::require("ffprobe", "ffmpeg");
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-tls_verify", "1", "-ca_file"])
        .arg(ca)
        .args([
            "-count_frames",
            "-show_entries",
            "stream=codec_name,nb_read_frames",
        ])
        .args(["-of", "default=nw=1", url])
        .output()
        .expect("run ffprobe");
    assert!(
        out.status.success(),
        "ffprobe failed on {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Everything a browser-like client does through one proxy at `origin`; `base` is plexgate's
/// public base path.
async fn check_through(stack: &Stack, proxy: &Proxy, variant: Variant, base: &str) {
    let origin = proxy.origin(variant);
    let host = host_of(&origin);
    let what = format!("{} {variant:?}", proxy.name);
    let c = stack.tls.client();
    let canary = Canary::new(&[stack.demo.embedded_plex().unwrap().token()]);

    let (set_cookie, cookie) = login(&c, &origin, &[]).await;
    assert!(set_cookie.contains("; Secure"), "{what}: {set_cookie}");
    assert!(set_cookie.contains("HttpOnly"), "{what}: {set_cookie}");

    let prefix = format!("{base}/api/plex/proxy/");
    let servers = get_json(&c, &format!("{origin}/api/auth/servers"), &cookie).await;
    let base_url = servers[0]["baseUrl"].as_str().unwrap().to_string();
    assert!(base_url.starts_with(&prefix), "{what}: baseUrl {base_url}");

    // HLS: the stream URL, the master and a media playlist all carry the base path.
    let s = get_json(
        &c,
        &format!("{origin}/api/plex/stream/101?protocol=hls"),
        &cookie,
    )
    .await;
    let url = s["url"].as_str().unwrap();
    assert!(
        url.starts_with(&prefix) && url.ends_with(".m3u8"),
        "{what}: {url}"
    );
    let master = get_text(&c, &format!("{host}{url}")).await;
    canary.scan(&format!("{what} master"), master.as_bytes());
    let variants = uris_in_m3u8(&master);
    assert!(!variants.is_empty());
    for u in &variants {
        assert!(u.starts_with(&prefix), "{what}: master URI {u}");
    }
    let media = get_text(&c, &format!("{host}{}", variants[0])).await;
    let segments = uris_in_m3u8(&media);
    for u in &segments {
        assert!(u.starts_with(&prefix), "{what}: media playlist URI {u}");
    }
    let seg = c
        .get(format!("{host}{}", segments[0]))
        .send()
        .await
        .unwrap();
    assert_eq!(seg.status(), 200);
    assert_eq!(seg.headers()["content-type"], "video/mp2t");
    assert!(
        seg.bytes().await.unwrap().len() > 10_000,
        "{what}: a real segment"
    );

    // ffprobe decodes it all through TLS, trusting only our certificate.
    let (hls_url, ca) = (format!("{host}{url}"), stack.tls.ca.clone());
    let report = tokio::task::spawn_blocking(move || ffprobe(&hls_url, &ca))
        .await
        .unwrap();
    assert!(
        report.contains("codec_name=h264") && report.contains("nb_read_frames=250"),
        "{what}: ffprobe {report}"
    );

    // DASH: the MPD's templates carry the base path too.
    let s = get_json(
        &c,
        &format!("{origin}/api/plex/stream/101?protocol=dash"),
        &cookie,
    )
    .await;
    let url = s["url"].as_str().unwrap();
    assert!(
        url.starts_with(&prefix) && url.ends_with(".mpd"),
        "{what}: {url}"
    );
    let mpd = get_text(&c, &format!("{host}{url}")).await;
    let uris = uris_in_mpd(&mpd);
    assert!(!uris.is_empty(), "{what}: {mpd}");
    for u in &uris {
        assert!(u.starts_with(&prefix), "{what}: MPD URI {u}");
    }

    // Range through the facade's direct-play part, after a direct-play decision as the Flixor
    // player makes one (PMS refuses a part to a client whose last decision was a transcode).
    let decision = c
        .get(format!(
            "{host}{base_url}/video/:/transcode/universal/decision?hasMDE=1\
             &path=%2Flibrary%2Fmetadata%2F101&mediaIndex=0&partIndex=0&protocol=hls\
             &directPlay=1&directStream=1&subtitles=none&session=rp-direct"
        ))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(decision.status(), 200, "{what}");
    let decision: serde_json::Value = decision.json().await.unwrap();
    assert_eq!(decision["MediaContainer"]["directPlayDecisionCode"], 1000);
    let part = format!("{host}{base_url}/library/parts/301/1716000000/file.mp4");
    let r = c
        .get(&part)
        .header("range", "bytes=1000-4999")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206, "{what}");
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes 1000-4999/{}", MOVIE.len()).as_str()
    );
    assert_eq!(&r.bytes().await.unwrap()[..], &MOVIE[1000..5000], "{what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_and_caddy_serve_plexgate_at_the_root_with_tls() {
    let stack = Stack::start(&[]).await;
    for proxy in stack.proxies() {
        check_through(&stack, proxy, Variant::Root, "").await;
    }
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_and_caddy_serve_plexgate_under_a_subpath_with_tls() {
    let stack = Stack::start(&[("server.base_path", "/plexgate")]).await;
    for proxy in stack.proxies() {
        check_through(&stack, proxy, Variant::Subpath, "/plexgate").await;
    }
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_stream_through_both_proxies_without_buffering() {
    let stack = Stack::start(&[]).await;
    let plex = stack.demo.embedded_plex().unwrap();
    let c = stack.tls.client();
    // About 2.6 s for the whole 509 KiB movie.
    plex.faults().throttle(Some(200_000));
    for proxy in stack.proxies() {
        let origin = proxy.origin(Variant::Root);
        let (_, cookie) = login(&c, &origin, &[]).await;
        let servers = get_json(&c, &format!("{origin}/api/auth/servers"), &cookie).await;
        let base_url = servers[0]["baseUrl"].as_str().unwrap();
        let started = Instant::now();
        let mut resp = c
            .get(format!(
                "{origin}{base_url}/library/parts/301/1716000000/file.mp4"
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let mut first = None;
        let mut total = 0;
        while let Some(chunk) = resp.chunk().await.unwrap() {
            first.get_or_insert_with(|| started.elapsed());
            total += chunk.len();
        }
        let (first, all) = (first.unwrap(), started.elapsed());
        assert_eq!(total, MOVIE.len(), "{}", proxy.name);
        assert!(
            all > Duration::from_secs(2),
            "{}: throttled upstream took {all:?}",
            proxy.name
        );
        assert!(
            first < all / 4,
            "{}: first bytes after {first:?} of {all:?}: the proxy buffered the body",
            proxy.name
        );
    }
    plex.faults().throttle(None);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_headers_are_believed_only_from_trusted_proxies() {
    let spoof = [
        ("x-forwarded-proto", "https"),
        ("x-forwarded-for", "203.0.113.9"),
        ("x-request-id", "client-chosen-id"),
    ];

    // The proxies are not trusted: their https hint is ignored, and so is a client's spoof.
    let stack = Stack::start(&[("server.trusted_proxies", "192.0.2.1/32")]).await;
    for proxy in stack.proxies() {
        let (set, _) = login(&stack.tls.client(), &proxy.origin(Variant::Root), &[]).await;
        assert!(
            !set.contains("Secure"),
            "{}: untrusted proxy believed: {set}",
            proxy.name
        );
    }
    let direct = crate::support::client();
    let (set, _) = login(&direct, &stack.demo.url(), &spoof).await;
    assert!(
        !set.contains("Secure"),
        "spoofed X-Forwarded-Proto believed: {set}"
    );
    let r = direct
        .get(format!("{}/health", stack.demo.url()))
        .header("x-request-id", "client-chosen-id")
        .send()
        .await
        .unwrap();
    assert_ne!(r.headers()["x-request-id"], "client-chosen-id");
    stack.stop().await;

    // Loopback trusted (the default): the same headers from a trusted peer are believed, which
    // shows the trust list is what made the difference above; through the proxies, the
    // client's X-Request-Id is replaced by the proxy's own.
    let stack = Stack::start(&[]).await;
    let (set, _) = login(&direct, &stack.demo.url(), &spoof).await;
    assert!(
        set.contains("; Secure"),
        "trusted peer's X-Forwarded-Proto ignored: {set}"
    );
    let r = direct
        .get(format!("{}/health", stack.demo.url()))
        .header("x-request-id", "client-chosen-id")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "client-chosen-id");
    for proxy in stack.proxies() {
        let c = stack.tls.client();
        let (set, _) = login(&c, &proxy.origin(Variant::Root), &[]).await;
        assert!(set.contains("; Secure"), "{}: {set}", proxy.name);
        let r = c
            .get(format!("{}/health", proxy.origin(Variant::Root)))
            .header("x-request-id", "client-chosen-id")
            .send()
            .await
            .unwrap();
        let id = r.headers()["x-request-id"].to_str().unwrap();
        assert!(
            id != "client-chosen-id" && id.len() >= 16,
            "{}: {id}",
            proxy.name
        );
    }
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_play_every_format_through_tls_proxies_under_a_subpath() {
    let stack = Stack::start(&[("server.base_path", "/plexgate")]).await;
    let plex = stack.demo.embedded_plex().unwrap();
    let mut args: Vec<String> = vec!["--suite".into(), "ttff".into(), "--reps".into(), "1".into()];
    args.push("--demo-page".into());
    args.extend(["--plex-origin".into(), plex.url()]);
    for proxy in stack.proxies() {
        args.push("--target".into());
        args.push(format!("{}={}", proxy.name, proxy.origin(Variant::Subpath)));
    }
    let result = tokio::task::spawn_blocking(move || crate::support::node_suite::run(&args))
        .await
        .unwrap();
    crate::support::node_suite::assert_checks(&result, 4);
    let console = crate::support::node_suite::unexpected_console(&result);
    assert!(
        console.is_empty(),
        "console errors:\n{}",
        console.join("\n")
    );
    assert_eq!(result["plexPortRequests"].as_array().map(Vec::len), Some(0));
    let entries = crate::support::node_suite::entries(&result, |_| true);
    for e in &entries {
        let url = e["url"].as_str().unwrap();
        if url.starts_with("blob:") {
            continue; // MediaSource object URLs, not requests
        }
        let path = url.splitn(4, '/').nth(3).unwrap_or("");
        assert!(
            path.starts_with("plexgate/"),
            "outside the base path: {url}"
        );
    }
    let canary = Canary::new(&[plex.token()]);
    assert!(crate::support::node_suite::scan(&canary, &entries) > 50);
    stack.stop().await;
}
