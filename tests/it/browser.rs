//! Real players in a real browser: hls.js and dash.js (the npm packages pinned in
//! tests/browser/package-lock.json) in Debian's Chromium, driven by playwright-core
//! (tests/browser/run.mjs), against plexgate in demo mode with the embedded demo Plex.
//!
//! What it proves, from the page and from Chromium's own network events:
//! - HLS-TS, HLS-fMP4, DASH and direct play start and pass 3 s, seek to 70 % and play on,
//!   switch quality and audio/subtitles (new sessions) and keep playing, and deliver WebVTT
//!   cues; stopping revokes the ticket. Both ways Flixor plays: the frontend's
//!   (`/api/plex/stream` → player) and its player's (facade → decision → `start.*`).
//! - No request from the browser reaches the Plex port, and the leak canary finds the Plex
//!   token in no URL, header or body Chromium saw; the console shows no unexpected error.
//! - `/demo` signs in, lists, plays HLS and DASH and says exactly "Plex token seen: nowhere"
//!   (screenshot in target/e2e-report/).
//! - `/` without a web root: the owner signs in through the fake plex.tv PIN, sees the server
//!   and a live playback session, presses Revoke and the session's segment URL is then 403
//!   (screenshot in target/e2e-report/owner-page.png); a friend the owner shares the server with
//!   signs in there too and is told there is nothing to administer.
//! - With `stream.allow_direct` and `mode=direct` the canary does find the token: it can fail.
//! - Time to first frame per format straight from Plex, through plexgate, and through
//!   nginx/Caddy + plexgate with TLS, interleaved in one browser (target/e2e-report/ttff.md).
//!
//! Needs node with `npm ci` in tests/browser, chromium, nginx, caddy and openssl; run with
//! `cargo test --features e2e`. A missing tool fails with what to install.
#![cfg(feature = "e2e")]

use std::fmt::Write as _;

use crate::support::canary::Canary;
use crate::support::test_config;
use plexgate::app::demo::Demo;
use serde_json::Value;

/// One browser suite at a time: they measure time, and the machine has two cores.
pub(crate) static BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn run_suite(args: Vec<String>) -> Value {
    tokio::task::spawn_blocking(move || crate::support::node_suite::run(&args))
        .await
        .expect("runner thread")
}

/// No console error the suite did not provoke, and not one request from the browser to Plex.
fn assert_quiet_and_plex_untouched(result: &Value) {
    let console = crate::support::node_suite::unexpected_console(result);
    assert!(
        console.is_empty(),
        "console errors:\n{}",
        console.join("\n")
    );
    assert_eq!(
        result["plexPortRequests"].as_array().map(Vec::len),
        Some(0),
        "the browser reached the Plex port: {}",
        result["plexPortRequests"]
    );
}

fn save(name: &str, value: &Value) {
    let path = crate::support::node_suite::report_dir().join(name);
    std::fs::write(&path, serde_json::to_vec_pretty(value).unwrap()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_page_and_vendored_players_are_served_only_in_demo_mode() {
    // Not demo mode: both routes are plain 404s.
    let app = crate::support::TestApp::start(&[]).await;
    let c = crate::support::client();
    for path in ["/demo", "/demo/assets/demo.js"] {
        let r = c.get(app.url(path)).send().await.unwrap();
        crate::support::assert_error(r, 404, "not_found").await;
    }

    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::start(test_config(dir.path(), &[])).await.unwrap();
    let page = c.get(format!("{}/demo", demo.url())).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let h = page.headers().clone();
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    assert_eq!(h["cache-control"], "no-cache");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("connect-src 'self'"), "{csp}");
    let html = page.text().await.unwrap();

    // Every asset the page names is there, with its type and a year of caching.
    let mut named = 0;
    for part in html.split("demo/assets/").skip(1) {
        let file = part.split(['"', '?']).next().unwrap();
        let r = c
            .get(format!("{}/demo/assets/{file}", demo.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{file}");
        let ct = r.headers()["content-type"].to_str().unwrap().to_string();
        let want = match file.rsplit('.').next().unwrap() {
            "js" => "text/javascript; charset=utf-8",
            "css" => "text/css; charset=utf-8",
            "svg" => "image/svg+xml",
            _ => "text/plain; charset=utf-8",
        };
        assert_eq!(ct, want, "{file}");
        assert_eq!(
            r.headers()["cache-control"],
            "public, max-age=31536000, immutable"
        );
        let etag = r.headers()["etag"].clone();
        let again = c
            .get(format!("{}/demo/assets/{file}", demo.url()))
            .header("if-none-match", etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{file}");
        named += 1;
    }
    assert!(
        named >= 8,
        "the page names its scripts, styles and licences"
    );
    let r = c
        .get(format!("{}/demo/assets/nope.js", demo.url()))
        .send()
        .await
        .unwrap();
    crate::support::assert_error(r, 404, "not_found").await;
    demo.shutdown().await;

    // The vendored players are the npm packages' files, byte for byte.
    crate::support::node_suite::require_tools();
    let root = crate::support::proxies::repo();
    for (vendored, npm) in [
        (
            "assets/vendor/hls-1.7.4.min.js",
            "tests/browser/node_modules/hls.js/dist/hls.min.js",
        ),
        (
            "assets/vendor/dash.mediaplayer-5.2.1.min.js",
            "tests/browser/node_modules/dashjs/dist/modern/umd/dash.mediaplayer.min.js",
        ),
        (
            "assets/vendor/hls.js-LICENSE.txt",
            "tests/browser/node_modules/hls.js/LICENSE",
        ),
        (
            "assets/vendor/dashjs-LICENSE.md",
            "tests/browser/node_modules/dashjs/LICENSE.md",
        ),
    ] {
        let a = std::fs::read(root.join(vendored)).unwrap();
        let b = std::fs::read(root.join(npm)).unwrap();
        assert!(a == b, "{vendored} differs from {npm}: re-vendor it");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn players_play_every_format_through_plexgate_and_the_token_leaks_nowhere() {
    let _one = BROWSER.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::start(test_config(dir.path(), &[])).await.unwrap();
    let plex = demo.embedded_plex().unwrap();
    let shot = crate::support::node_suite::report_dir().join("demo-page.png");
    let result = run_suite(vec![
        "--suite".into(),
        "full".into(),
        "--origin".into(),
        demo.url(),
        "--plex-origin".into(),
        plex.url(),
        "--screenshot".into(),
        shot.display().to_string(),
    ])
    .await;
    save("browser-full.json", &result);

    crate::support::node_suite::assert_checks(&result, 45);
    assert_eq!(result["verdict"], "Plex token seen: nowhere");
    assert!(shot.exists(), "screenshot of /demo");
    assert_quiet_and_plex_untouched(&result);

    let canary = Canary::new(&[plex.token()]);
    let all = crate::support::node_suite::entries(&result, |_| true);
    assert!(all.len() > 150, "Chromium saw {} requests", all.len());
    let scanned = crate::support::node_suite::scan(&canary, &all);
    assert!(scanned > all.len() * 4, "{scanned} places scanned");
    // The bodies really were collected (manifests, JSON), so the scan covered them.
    let bodies = all.iter().filter(|e| e["body"].is_string()).count();
    assert!(bodies > 50, "{bodies} text bodies");
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mode_direct_hands_the_browser_the_token_and_the_canary_finds_it() {
    let _one = BROWSER.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(dir.path(), &[("stream.allow_direct", "true")]);
    let demo = Demo::start(config).await.unwrap();
    let plex = demo.embedded_plex().unwrap();
    let shot = crate::support::node_suite::report_dir().join("demo-page-direct.png");
    let result = run_suite(vec![
        "--suite".into(),
        "direct".into(),
        "--origin".into(),
        demo.url(),
        "--plex-origin".into(),
        plex.url(),
        "--screenshot".into(),
        shot.display().to_string(),
    ])
    .await;
    save("browser-direct.json", &result);
    crate::support::node_suite::assert_checks(&result, 2);

    let canary = Canary::new(&[plex.token()]);
    let leaks = crate::support::node_suite::leaks(
        &canary,
        &crate::support::node_suite::entries(&result, |_| true),
    );
    assert!(
        leaks.iter().any(|l| l.contains("/api/plex/stream/101")),
        "the canary must find the token in the direct-mode answer: {leaks:?}"
    );
    assert!(
        !result["plexPortRequests"].as_array().unwrap().is_empty(),
        "in direct mode the browser goes to Plex itself"
    );
    let verdict = result["verdict"].as_str().unwrap();
    assert!(
        verdict.contains("/api/plex/stream/101"),
        "the page names the answer that carried the token: {verdict}"
    );
    eprintln!(
        "direct mode: {} leak places; playback from Plex: {}",
        leaks.len(),
        result["directPlayback"]
    );
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_to_first_frame_straight_from_plex_vs_through_plexgate_vs_behind_a_tls_proxy() {
    let _one = BROWSER.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::start(test_config(dir.path(), &[])).await.unwrap();
    let plex = demo.embedded_plex().unwrap();
    let upstream: std::net::SocketAddr = demo.url().trim_start_matches("http://").parse().unwrap();
    let tls = crate::support::proxies::Tls::new(dir.path());
    let nginx_dir = tempfile::tempdir().unwrap();
    let caddy_dir = tempfile::tempdir().unwrap();
    let nginx = crate::support::proxies::nginx(upstream, &tls, nginx_dir.path());
    let caddy = crate::support::proxies::caddy(upstream, &tls, caddy_dir.path());

    let targets = [
        ("plex", format!("{},{}", plex.url(), plex.token())),
        ("plexgate", demo.url()),
        (
            "nginx",
            nginx.origin(crate::support::proxies::Variant::Root),
        ),
        (
            "caddy",
            caddy.origin(crate::support::proxies::Variant::Root),
        ),
    ];
    let mut args: Vec<String> = vec!["--suite".into(), "ttff".into(), "--reps".into(), "5".into()];
    args.push("--plex-origin".into());
    args.push(plex.url());
    for (name, target) in &targets {
        args.push("--target".into());
        args.push(format!("{name}={target}"));
    }
    let result = run_suite(args).await;
    save("browser-ttff.json", &result);
    crate::support::node_suite::assert_checks(&result, 4);
    let console = crate::support::node_suite::unexpected_console(&result);
    assert!(
        console.is_empty(),
        "console errors:\n{}",
        console.join("\n")
    );

    // Only the baseline talks to Plex, and only the baseline ever holds the token.
    let not_baseline = |label: &str| !label.starts_with("ttff plex ");
    for r in result["plexPortRequests"].as_array().unwrap() {
        assert!(!not_baseline(r["label"].as_str().unwrap()), "{r}");
    }
    let canary = Canary::new(&[plex.token()]);
    let scanned = crate::support::node_suite::scan(
        &canary,
        &crate::support::node_suite::entries(&result, not_baseline),
    );
    assert!(scanned > 100);

    let report = ttff_table(&result, &targets.map(|t| t.0));
    std::fs::write(
        crate::support::node_suite::report_dir().join("ttff.md"),
        &report,
    )
    .unwrap();
    eprintln!("{report}");
    drop((nginx, caddy));
    demo.shutdown().await;
}

/// A Markdown table: median time to first frame (ms), requests and bytes per playback.
fn ttff_table(result: &Value, targets: &[&str]) -> String {
    let mut out = String::from(
        "time to first frame, median of 5 (ms); requests / kB fetched by each start\n\n",
    );
    let _ = writeln!(out, "| format | {} |", targets.join(" | "));
    let _ = writeln!(out, "|---|{}", "---|".repeat(targets.len()));
    for format in ["hls-ts", "hls-fmp4", "dash", "part"] {
        let cells: Vec<String> = targets
            .iter()
            .map(|t| {
                let m = &result["ttff"][t][format];
                format!(
                    "{} ms ({} req, {:.0} kB)",
                    m["medianMs"],
                    m["requests"],
                    m["bytes"].as_f64().unwrap_or(0.0) / 1024.0
                )
            })
            .collect();
        let _ = writeln!(out, "| {format} | {} |", cells.join(" | "));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_signs_in_at_slash_sees_a_live_session_and_revokes_it() {
    let _one = BROWSER.lock().await;
    let plex = plexgate::demo::DemoPlex::start(plexgate::demo::DemoPlexOptions::default())
        .await
        .unwrap();
    let plextv =
        crate::support::fake_plextv::FakePlexTv::start(2, 777, "owner-account-token-e2e").await;
    let plex_url = plex.url();
    plextv.add_server(
        "Home",
        plex.machine_identifier(),
        plex.token(),
        true,
        &[(&plex_url, true, false)],
    );
    let app = crate::support::TestApp::start(&[("plextv.url", plextv.url.as_str())]).await;
    let shot = crate::support::node_suite::report_dir().join("owner-page.png");
    let result = run_suite(vec![
        "--suite".into(),
        "owner".into(),
        "--origin".into(),
        app.running.url(),
        "--plex-origin".into(),
        plex.url(),
        "--screenshot".into(),
        shot.display().to_string(),
    ])
    .await;
    save("browser-owner.json", &result);
    crate::support::node_suite::assert_checks(&result, 7);
    assert!(shot.exists(), "screenshot of the owner page");
    assert_quiet_and_plex_untouched(&result);

    // Anyone else: a friend the owner shares the server with signs in at `/` in a new browser.
    plextv.add_account(
        901,
        "Friend",
        "friend-account-token-e2e",
        &[plex.machine_identifier()],
    );
    plextv.approve_as(Some("friend-account-token-e2e"));
    let other_shot = crate::support::node_suite::report_dir().join("owner-page-other.png");
    let other = run_suite(vec![
        "--suite".into(),
        "owner-other".into(),
        "--origin".into(),
        app.running.url(),
        "--plex-origin".into(),
        plex.url(),
        "--screenshot".into(),
        other_shot.display().to_string(),
    ])
    .await;
    save("browser-owner-other.json", &other);
    crate::support::node_suite::assert_checks(&other, 2);
    assert_quiet_and_plex_untouched(&other);

    let canary = Canary::new(&[
        plex.token(),
        "owner-account-token-e2e",
        "friend-account-token-e2e",
    ]);
    for r in [&result, &other] {
        let leaks = crate::support::node_suite::leaks(
            &canary,
            &crate::support::node_suite::entries(r, |_| true),
        );
        assert!(leaks.is_empty(), "tokens seen by the browser: {leaks:?}");
    }
}
