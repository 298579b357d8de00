//! `web.root` in Chromium: the fixture app (a hand-written `index.html` and a hashed
//! `assets/app-abc123.js`, built like Vite's `dist/`) opened on a deep link at plexgate's own
//! origin signs in and reads `/api/auth/session` with `credentials: 'include'`, with no CORS
//! settings at all, as the unchanged Flixor build does. The leak canary scans what it saw.
#![cfg(feature = "e2e")]

use crate::support::canary::Canary;
use crate::support::{node_suite, test_config, web_app};
use plexgate::app::demo::Demo;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_built_app_works_from_plexgates_own_origin_without_cors() {
    let _one = crate::browser::BROWSER.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let root = web_app::build(dir.path());
    // The fixture's .br/.gz siblings are labels, not encodings: Chromium would get them.
    for sibling in ["app-abc123.js.br", "app-abc123.js.gz"] {
        std::fs::remove_file(root.join("assets").join(sibling)).unwrap();
    }
    let root = root.display().to_string();
    let demo = Demo::start(test_config(dir.path(), &[("web.root", &root)]))
        .await
        .unwrap();
    assert!(demo.state().config().server.cors_origins.is_empty());
    let plex = demo.embedded_plex().expect("embedded demo Plex");
    let canary = Canary::new(&[plex.token()]);
    let args = vec![
        "--suite".to_string(),
        "webroot".to_string(),
        "--origin".to_string(),
        demo.url(),
        "--plex-origin".to_string(),
        demo.plex_url().to_string(),
    ];
    let result = tokio::task::spawn_blocking(move || node_suite::run(&args))
        .await
        .expect("runner thread");
    node_suite::assert_checks(&result, 6);
    let console = node_suite::unexpected_console(&result);
    assert!(console.is_empty(), "console:\n{}", console.join("\n"));
    let seen = node_suite::entries(&result, |_| true);
    let asset = seen
        .iter()
        .find(|e| {
            e["url"]
                .as_str()
                .is_some_and(|u| u.ends_with("/assets/app-abc123.js"))
        })
        .expect("the browser fetched the hashed asset");
    assert_eq!(
        asset["responseHeaders"]["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(
        seen.iter()
            .all(|e| e["responseHeaders"]["access-control-allow-origin"].is_null()),
        "no CORS header anywhere"
    );
    let leaks = node_suite::leaks(&canary, &seen);
    assert!(leaks.is_empty(), "{leaks:?}");
    demo.shutdown().await;
}
