//! The assembled server: health, readiness against a real (demo) Plex, the demo seed, and the
//! start-up refusals that protect stored tokens.

use crate::support::{TestApp, assert_error, client, test_config};
use plexgate::app::demo::Demo;
use plexgate::demo::{DemoPlex, DemoPlexOptions};

#[tokio::test]
async fn health_answers_ok_with_version_and_uptime() {
    let app = TestApp::start(&[]).await;
    let resp = client().get(app.url("/health")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().contains_key("x-request-id"));
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert!(body["uptimeSeconds"].is_u64());
}

#[tokio::test]
async fn ready_with_no_servers_checks_the_database() {
    let app = TestApp::start(&[]).await;
    let resp = client().get(app.url("/ready")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"]["database"]["status"], "ok");
    assert_eq!(body["checks"]["plex"], serde_json::json!([]));
}

#[tokio::test]
async fn unknown_route_and_wrong_method_on_the_real_table() {
    let app = TestApp::start(&[]).await;
    let resp = client().get(app.url("/api/nothing")).send().await.unwrap();
    assert_error(resp, 404, "not_found").await;
    let resp = client()
        .post(app.url("/health"))
        .header("x-requested-with", "test")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["allow"], "GET, HEAD");
    assert_error(resp, 405, "method_not_allowed").await;
    let resp = client().head(app.url("/health")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn body_over_configured_limit_is_413() {
    let app = TestApp::start(&[("server.max_body_bytes", "2048")]).await;
    let resp = client()
        .post(app.url("/health"))
        .body(vec![b'x'; 4096])
        .send()
        .await
        .unwrap();
    assert_error(resp, 413, "payload_too_large").await;
}

async fn start_demo(plex: Option<&DemoPlex>) -> (Demo, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut extra = vec![];
    let (url, token);
    if let Some(p) = plex {
        url = p.url();
        token = p.token().to_string();
        extra.push(("demo.plex_url", url.as_str()));
        extra.push(("demo.plex_token", token.as_str()));
    }
    let config = test_config(dir.path(), &extra);
    (Demo::start(config).await.expect("demo starts"), dir)
}

#[tokio::test]
async fn demo_seeds_user_and_server_and_is_ready() {
    let (demo, _dir) = start_demo(None).await;
    let plex = demo.embedded_plex().expect("embedded demo Plex");
    let token = plex.token().to_string();
    let resp = client()
        .get(format!("{}/ready", demo.url()))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    let body: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["checks"]["plex"][0]["status"], "ok", "{body}");
    assert_eq!(
        body["checks"]["plex"][0]["machineIdentifier"],
        plex.machine_identifier()
    );
    assert!(!text.contains(&token), "token leaked into /ready");

    // The seeded server token is stored sealed, and only the repository opens it.
    let db = demo.state().db().clone();
    let secrets = demo.state().secrets().clone();
    let (raw, opened) = db
        .read(move |conn| {
            let raw: Vec<u8> =
                conn.query_row("SELECT access_token FROM servers", [], |r| r.get(0))?;
            let user_id: i64 = conn.query_row("SELECT id FROM users", [], |r| r.get(0))?;
            let server_id: i64 = conn.query_row("SELECT id FROM servers", [], |r| r.get(0))?;
            let opened =
                plexgate::db::servers::server_access_token(conn, user_id, server_id, &secrets)?;
            Ok((raw, opened))
        })
        .await
        .unwrap();
    assert_eq!(opened, token);
    assert!(
        !raw.windows(token.len()).any(|w| w == token.as_bytes()),
        "plaintext token in the servers table"
    );
    // The demo's Plex saw the token as a header, never in a URL.
    for r in plex.requests() {
        assert!(
            !r.query.clone().unwrap_or_default().contains(&token),
            "{}",
            r.path
        );
    }
    assert!(
        plex.requests()
            .iter()
            .any(|r| r.header("x-plex-token") == Some(token.as_str()))
    );
    let dir = demo.data_dir().to_path_buf();
    assert!(dir.exists());
    demo.shutdown().await;
    assert!(!dir.exists(), "temporary demo data is removed on shutdown");
}

#[tokio::test]
async fn ready_is_503_when_plex_goes_away() {
    let plex = DemoPlex::start(DemoPlexOptions::default()).await.unwrap();
    let (demo, _dir) = start_demo(Some(&plex)).await;
    assert!(demo.embedded_plex().is_none());
    plex.shutdown().await;
    let resp = client()
        .get(format!("{}/ready", demo.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["checks"]["database"]["status"], "ok");
    assert_eq!(body["checks"]["plex"][0]["status"], "error");
    demo.shutdown().await;
}

#[tokio::test]
async fn demo_with_a_wrong_token_fails_clearly() {
    let plex = DemoPlex::start(DemoPlexOptions::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = plex.url();
    let config = test_config(
        dir.path(),
        &[("demo.plex_url", &url), ("demo.plex_token", "wrong-token")],
    );
    let err = Demo::start(config).await.unwrap_err().to_string();
    assert!(err.contains("rejected the server token"), "{err}");
    assert!(!err.contains("wrong-token"), "{err}");
}

#[tokio::test]
async fn lost_key_file_refuses_to_start_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(dir.path(), &[]);
    let key_file = config.storage.key_file.clone();
    let running = plexgate::app::start(config.clone()).await.unwrap();
    running.shutdown().await;
    assert!(key_file.exists());
    std::fs::remove_file(&key_file).unwrap();

    let err = plexgate::app::start(config).await.unwrap_err().to_string();
    assert!(err.contains(&key_file.display().to_string()), "{err}");
    assert!(!key_file.exists(), "no new key may be written");
}

#[tokio::test]
async fn newer_database_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(dir.path(), &[]);
    std::fs::create_dir_all(config.storage.database.parent().unwrap()).unwrap();
    {
        let conn = rusqlite::Connection::open(&config.storage.database).unwrap();
        conn.execute_batch("PRAGMA user_version = 999;").unwrap();
    }
    let err = plexgate::app::start(config).await.unwrap_err().to_string();
    assert!(err.contains("newer plexgate"), "{err}");
}

/// Behaviour change with issue 13 (what tower-http's CORS does): `Vary: Origin` on every
/// response, also to a request without `Origin`, so a shared cache keeps one answer per origin.
#[tokio::test]
async fn every_response_varies_on_origin() {
    let app = TestApp::start(&[("server.cors_origins", "https://app.example.com")]).await;
    for origin in [
        None,
        Some("https://app.example.com"),
        Some("https://evil.example"),
    ] {
        let mut req = client().get(app.url("/health"));
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let vary: Vec<_> = resp.headers().get_all("vary").iter().collect();
        assert_eq!(vary, ["Origin"], "{origin:?}");
        assert_eq!(
            resp.headers().contains_key("access-control-allow-origin"),
            origin == Some("https://app.example.com"),
            "{origin:?}"
        );
    }
}
