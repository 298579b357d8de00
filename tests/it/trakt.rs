//! `/api/trakt/*` against a fake Trakt: public charts (shape, headers Trakt received, caching,
//! validation, upstream errors), the device-code sign-in with always-200 polling and tokens kept
//! server-side (placeholders in the browser, sealed in SQLite), user routes and watchlist sync,
//! refresh before expiry (one refresh for concurrent callers), disconnect, the clear 503 without
//! credentials, and the leak canary over every response and log line.

use std::time::Duration;

use crate::support::TestApp;
use crate::support::browser::Browser;
use crate::support::canary::Canary;
use crate::support::fake_plextv::FakePlexTv;
use crate::support::fake_trakt::{FakeTrakt, Fault, Outcome};
use crate::support::services::{LogCapture, sign_in};
use reqwest::Method;
use serde_json::json;

const CLIENT_ID: &str = "trakt-client-id-4ab0ead6d551";
const CLIENT_SECRET: &str = "trakt-client-secret-64d24f12e462";
const ACCOUNT_TOKEN: &str = "acct-token-trakt-suite-5512";

struct World {
    app: TestApp,
    trakt: FakeTrakt,
    _plextv: FakePlexTv,
}

impl World {
    async fn start(configured: bool) -> World {
        let trakt = FakeTrakt::start(CLIENT_ID, CLIENT_SECRET).await;
        let plextv = FakePlexTv::start(1, 5150, ACCOUNT_TOKEN).await;
        let mut cfg = vec![
            ("trakt.url", trakt.url.as_str()),
            ("plextv.url", plextv.url.as_str()),
        ];
        if configured {
            cfg.push(("trakt.client_id", CLIENT_ID));
            cfg.push(("trakt.client_secret", CLIENT_SECRET));
        }
        World {
            app: TestApp::start(&cfg).await,
            trakt,
            _plextv: plextv,
        }
    }

    fn origin(&self) -> String {
        self.app.running.url()
    }
}

/// The client secret and every token the fake will hand out in these tests.
fn canary() -> Canary {
    let mut secrets = vec![
        CLIENT_SECRET.to_string(),
        ACCOUNT_TOKEN.to_string(),
        "a8f3c2d1e9b7".to_string(),
        "77c1d0e4f2a9".to_string(),
    ];
    for n in 1..=9 {
        secrets.push(format!("trakt-access-{n:04}-a8f3c2d1e9b7"));
        secrets.push(format!("trakt-refresh-{n:04}-77c1d0e4f2a9"));
    }
    let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
    Canary::new(&refs)
}

fn assert_logs_clean(log: &LogCapture, canary: &Canary) {
    let text = log.text();
    assert!(!text.is_empty(), "the log capture saw nothing");
    if let Some(found) = canary.find(text.as_bytes()) {
        panic!("LEAK in the log: {found}");
    }
}

async fn post_json(
    b: &mut Browser<'_>,
    path: &str,
    body: serde_json::Value,
) -> crate::support::browser::Seen {
    b.request(
        Method::POST,
        path,
        &[("content-type", "application/json")],
        Some(body.to_string().into_bytes()),
        true,
    )
    .await
}

/// Runs the device flow to the end; returns the token object the browser got.
async fn connect(w: &World, b: &mut Browser<'_>) -> serde_json::Value {
    let code = b.post("/api/trakt/oauth/device/code").await;
    assert_eq!(code.status, 200, "{}", code.text());
    let code = code.json();
    assert_eq!(code["user_code"], "5A3B9C1D");
    assert_eq!(code["verification_url"], "https://trakt.tv/activate");
    assert_eq!(code["interval"], 5);
    let device_code = code["device_code"].as_str().unwrap().to_string();
    let sent = w.trakt.seen_path("/oauth/device/code");
    assert_eq!(sent.last().unwrap().json(), json!({"client_id": CLIENT_ID}));
    for _ in 0..5 {
        let r = post_json(
            b,
            "/api/trakt/oauth/device/token",
            json!({"code": device_code}),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let j = r.json();
        if j["ok"] == true {
            return j["tokens"].clone();
        }
        assert_eq!(j["error"], "authorization_pending", "{j}");
    }
    panic!("never connected");
}

#[tokio::test]
async fn charts_are_public_cached_and_validated() {
    let log = LogCapture::install();
    let w = World::start(true).await;
    let canary = canary();
    let mut b = Browser::new(&w.origin(), &canary);

    let r = b.get("/api/trakt/trending/movies?limit=2").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let list = r.json();
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(list[0]["watchers"], 120);
    assert_eq!(list[0]["movie"]["ids"]["tmdb"], 949);
    assert_eq!(r.header("x-cache"), Some("MISS"));
    assert_eq!(r.header("x-cache-bucket"), Some("trakt"));
    let seen = w.trakt.seen_path("/movies/trending");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].q("limit"), Some("2"));
    assert_eq!(seen[0].header("trakt-api-key"), Some(CLIENT_ID));
    assert_eq!(seen[0].header("trakt-api-version"), Some("2"));
    assert_eq!(seen[0].header("authorization"), None);
    assert_eq!(
        b.get("/api/trakt/trending/movies?limit=2")
            .await
            .header("x-cache"),
        Some("HIT")
    );
    assert_eq!(w.trakt.seen_path("/movies/trending").len(), 1);
    // Another limit is another cache entry.
    b.get("/api/trakt/trending/movies?limit=3").await;
    assert_eq!(w.trakt.seen_path("/movies/trending").len(), 2);

    let r = b.get("/api/trakt/popular/shows").await;
    assert_eq!(r.json()[0]["ids"]["tmdb"], 95396);
    assert_eq!(w.trakt.seen_path("/shows/popular")[0].q("limit"), None);
    let r = b.get("/api/trakt/movies/watched/weekly?limit=5").await;
    assert_eq!(r.json()[0]["watcher_count"], 900);
    assert_eq!(
        w.trakt.seen_path("/movies/watched/weekly")[0].q("limit"),
        Some("5")
    );
    let r = b.get("/api/trakt/shows/anticipated").await;
    assert_eq!(r.json()[0]["list_count"], 5000);
    assert!(r.json()[0]["show"].is_object());

    let before = w.trakt.seen().len();
    b.get("/api/trakt/trending/films")
        .await
        .assert_error(400, "invalid_media_type");
    b.get("/api/trakt/movies/watched/hourly")
        .await
        .assert_error(400, "invalid_period");
    b.get("/api/trakt/popular/movies?limit=0")
        .await
        .assert_error(400, "invalid_limit");
    b.get("/api/trakt/popular/movies?limit=abc")
        .await
        .assert_error(400, "invalid_limit");
    assert_eq!(
        w.trakt.seen().len(),
        before,
        "bad input never reaches Trakt"
    );

    w.trakt.set_fault(Fault::RateLimited);
    let r = b.get("/api/trakt/popular/movies?limit=7").await;
    r.assert_error(503, "trakt_rate_limited");
    assert_eq!(r.header("retry-after"), Some("5"));
    w.trakt.set_fault(Fault::ServerError);
    b.get("/api/trakt/popular/movies?limit=7")
        .await
        .assert_error(502, "trakt_error");
    w.trakt.set_fault(Fault::None);
    assert_eq!(
        b.get("/api/trakt/popular/movies?limit=7").await.status,
        200,
        "errors are not cached"
    );

    // A client id Trakt does not know is this server's problem, not the user's: 502.
    let other = TestApp::start(&[
        ("trakt.url", w.trakt.url.as_str()),
        ("trakt.client_id", "unknown-client-id-0000"),
        ("trakt.client_secret", CLIENT_SECRET),
    ])
    .await;
    let mut b = Browser::new(&other.running.url(), &canary);
    b.get("/api/trakt/popular/movies")
        .await
        .assert_error(502, "trakt_unauthorized");
    assert_logs_clean(&log, &canary);
}

#[tokio::test]
async fn without_credentials_every_route_says_trakt_not_configured() {
    let log = LogCapture::install();
    let w = World::start(false).await;
    let canary = canary();
    let mut b = Browser::new(&w.origin(), &canary);
    b.get("/api/trakt/trending/movies")
        .await
        .assert_error(503, "trakt_not_configured");
    b.get("/api/trakt/movies/anticipated")
        .await
        .assert_error(503, "trakt_not_configured");
    sign_in(&mut b, "trakt-browser-nc").await;
    b.post("/api/trakt/oauth/device/code")
        .await
        .assert_error(503, "trakt_not_configured");
    // Polling stays 200, with a code the frontend treats as final.
    let r = post_json(
        &mut b,
        "/api/trakt/oauth/device/token",
        json!({"code": "x"}),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["ok"], false);
    assert_eq!(r.json()["error"], "invalid_client");
    assert_eq!(r.json()["code"], "trakt_not_configured");
    b.get("/api/trakt/users/me")
        .await
        .assert_error(503, "trakt_not_configured");
    b.get("/api/trakt/recommendations/movies")
        .await
        .assert_error(503, "trakt_not_configured");
    post_json(
        &mut b,
        "/api/trakt/watchlist",
        json!({"movies": [{"ids": {"tmdb": 949}}]}),
    )
    .await
    .assert_error(503, "trakt_not_configured");
    assert!(w.trakt.seen().is_empty(), "nothing was sent to Trakt");

    // Half a configuration is a start-up error naming the missing key.
    let env = std::collections::HashMap::from([(
        plexgate::config::env_name("trakt.client_id"),
        CLIENT_ID.to_string(),
    )]);
    let err = plexgate::config::Sources::new()
        .env(|n| env.get(n).cloned())
        .build()
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("trakt.client_secret: must be set together with trakt.client_id"),
        "{err}"
    );
    assert_logs_clean(&log, &canary);
}

#[tokio::test]
async fn device_sign_in_keeps_the_tokens_on_the_server() {
    let log = LogCapture::install();
    let w = World::start(true).await;
    let canary = canary();
    let mut b = Browser::new(&w.origin(), &canary);

    b.post("/api/trakt/oauth/device/code")
        .await
        .assert_error(401, "unauthorized");
    post_json(
        &mut b,
        "/api/trakt/oauth/device/token",
        json!({"code": "x"}),
    )
    .await
    .assert_error(401, "unauthorized");
    b.get("/api/trakt/users/me")
        .await
        .assert_error(401, "unauthorized");

    sign_in(&mut b, "trakt-browser-1").await;
    b.get("/api/trakt/users/me")
        .await
        .assert_error(401, "trakt_not_authenticated");

    let tokens = connect(&w, &mut b).await;
    // The frontend's connected check works (real times), the tokens are placeholders.
    assert_eq!(tokens["access_token"], "held-by-plexgate");
    assert_eq!(tokens["refresh_token"], "held-by-plexgate");
    assert_eq!(tokens["expires_in"], 7_776_000);
    assert!(tokens["created_at"].as_i64().unwrap() > 1_700_000_000);
    let issued = w.trakt.issued();
    assert_eq!(issued.len(), 1);
    let polls = w.trakt.seen_path("/oauth/device/token");
    assert_eq!(polls.len(), 2);
    assert_eq!(polls[0].json()["client_secret"], CLIENT_SECRET);
    // Sealed at rest.
    let db = w.app.running.state().db().clone();
    let raw: Vec<u8> = db
        .read(|c| Ok(c.query_row("SELECT trakt_tokens FROM user_settings", [], |r| r.get(0))?))
        .await
        .unwrap();
    for secret in [&issued[0].access, &issued[0].refresh] {
        assert!(!raw.windows(secret.len()).any(|x| x == secret.as_bytes()));
    }

    // A code this user was never issued is refused without asking Trakt.
    let before = w.trakt.seen_path("/oauth/device/token").len();
    let r = post_json(
        &mut b,
        "/api/trakt/oauth/device/token",
        json!({"code": "device-9999-5e0f"}),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["error"], "invalid_grant");
    let r = post_json(&mut b, "/api/trakt/oauth/device/token", json!({})).await;
    assert_eq!(
        (r.status.as_u16(), r.json()["ok"].clone()),
        (200, json!(false))
    );
    assert_eq!(w.trakt.seen_path("/oauth/device/token").len(), before);

    // User routes use the stored token as a Bearer header.
    let r = b.get("/api/trakt/users/me").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["username"], "jane");
    let me = w.trakt.seen_path("/users/me");
    assert_eq!(me.last().unwrap().bearer(), Some(issued[0].access.as_str()));
    assert_eq!(
        b.get("/api/trakt/recommendations/shows?limit=1")
            .await
            .json()[0]["ids"]["tmdb"],
        95396
    );
    assert_eq!(
        w.trakt.seen_path("/recommendations/shows")[0].q("limit"),
        Some("1")
    );
    let h = b
        .get("/api/trakt/users/me/history/movies?limit=1")
        .await
        .json();
    assert_eq!(h.as_array().unwrap().len(), 1);
    assert_eq!(b.get("/api/trakt/users/me/history").await.status, 200);
    b.get("/api/trakt/users/me/watchlist/films")
        .await
        .assert_error(400, "invalid_media_type");

    // Watchlist sync add / list / remove.
    let item = json!({"movies": [{"ids": {"tmdb": 949}, "title": "Heat", "year": 1995}]});
    let r = post_json(&mut b, "/api/trakt/watchlist", item.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["added"]["movies"], 1);
    assert_eq!(w.trakt.seen_path("/sync/watchlist")[0].json(), item);
    let list = b.get("/api/trakt/users/me/watchlist/movies").await.json();
    assert_eq!(list[0]["movie"]["ids"]["tmdb"], 949);
    assert_eq!(
        b.get("/api/trakt/users/me/watchlist/shows").await.json(),
        json!([])
    );
    assert_eq!(
        b.get("/api/trakt/users/me/watchlist")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let r = post_json(
        &mut b,
        "/api/trakt/watchlist/remove",
        json!({"movies": [{"ids": {"tmdb": 949}}]}),
    )
    .await;
    assert_eq!(r.json()["deleted"]["movies"], 1);
    post_json(
        &mut b,
        "/api/trakt/watchlist",
        json!({"people": [{"ids": {"trakt": 1}}]}),
    )
    .await
    .assert_error(400, "invalid_sync_payload");
    post_json(&mut b, "/api/trakt/watchlist", json!([1, 2]))
        .await
        .assert_error(400, "invalid_sync_payload");

    // Denied and expired codes end the polling with the codes the frontend treats as final.
    for (outcome, code) in [
        (Outcome::Deny, "access_denied"),
        (Outcome::Expire, "expired_token"),
    ] {
        w.trakt.next_device(outcome);
        let dc = b.post("/api/trakt/oauth/device/code").await.json()["device_code"].clone();
        let r = post_json(&mut b, "/api/trakt/oauth/device/token", json!({"code": dc})).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["ok"], false);
        assert_eq!(r.json()["error"], code);
    }
    // Trakt down while polling: still 200, "try again".
    w.trakt.next_device(Outcome::ApproveAfter(1));
    let dc = b.post("/api/trakt/oauth/device/code").await.json()["device_code"].clone();
    w.trakt.set_fault(Fault::ServerError);
    let r = post_json(&mut b, "/api/trakt/oauth/device/token", json!({"code": dc})).await;
    assert_eq!(
        (r.status.as_u16(), r.json()["error"].clone()),
        (200, json!("server_error"))
    );
    w.trakt.set_fault(Fault::None);

    // Disconnect: revoked at Trakt, forgotten here.
    let r = b.post("/api/trakt/oauth/revoke").await;
    assert_eq!(r.json(), json!({"ok": true, "revoked": true}));
    assert_eq!(
        w.trakt.seen_path("/oauth/revoke")[0].json()["token"],
        issued[0].access.as_str()
    );
    b.get("/api/trakt/users/me")
        .await
        .assert_error(401, "trakt_not_authenticated");
    assert!(canary.scanned() > 40);
    assert_logs_clean(&log, &canary);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_refreshed_before_they_expire_once_for_concurrent_calls() {
    let log = LogCapture::install();
    let w = World::start(true).await;
    let canary = canary();
    let mut b = Browser::new(&w.origin(), &canary);
    sign_in(&mut b, "trakt-browser-2").await;

    // A token with 30 s left: inside the refresh margin.
    w.trakt.set_expires_in(30);
    connect(&w, &mut b).await;
    w.trakt.set_expires_in(7_776_000);
    let first = w.trakt.issued()[0].clone();

    let cookie = b.cookie.clone().unwrap();
    let mut tasks = Vec::new();
    for _ in 0..5 {
        let url = format!("{}/api/trakt/users/me", w.origin());
        let cookie = cookie.clone();
        tasks.push(tokio::spawn(async move {
            let r = crate::support::client()
                .get(url)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }));
    }
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, 200, "{body}");
        canary.scan("users/me", body.as_bytes());
    }
    let refreshes = w.trakt.seen_path("/oauth/token");
    assert_eq!(refreshes.len(), 1, "one refresh for five concurrent calls");
    let sent = refreshes[0].json();
    assert_eq!(sent["grant_type"], "refresh_token");
    assert_eq!(sent["refresh_token"], first.refresh.as_str());
    assert_eq!(sent["client_secret"], CLIENT_SECRET);
    let second = w.trakt.issued()[1].clone();
    let calls = w.trakt.seen_path("/users/me");
    assert_eq!(calls.len(), 5);
    for c in &calls {
        assert_eq!(
            c.bearer(),
            Some(second.access.as_str()),
            "every call used the refreshed token"
        );
        assert!(c.at > refreshes[0].at);
    }
    // Fresh now: no further refresh.
    assert_eq!(b.get("/api/trakt/users/me").await.status, 200);
    assert_eq!(w.trakt.seen_path("/oauth/token").len(), 1);

    // The frontend's own "refresh" answers the token object with the server's times.
    let r = b.post("/api/trakt/oauth/token").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["access_token"], "held-by-plexgate");
    assert_eq!(r.json()["expires_in"], 7_776_000);

    // A refresh token Trakt no longer accepts: the current token is used until it expires,
    // then the connection is forgotten and the user routes say so.
    w.trakt.set_expires_in(1);
    connect(&w, &mut b).await;
    w.trakt.burn_refresh_tokens();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    b.get("/api/trakt/users/me")
        .await
        .assert_error(401, "trakt_not_authenticated");
    let db = w.app.running.state().db().clone();
    let stored: Option<Vec<u8>> = db
        .read(|c| Ok(c.query_row("SELECT trakt_tokens FROM user_settings", [], |r| r.get(0))?))
        .await
        .unwrap();
    assert!(stored.is_none(), "a dead connection is forgotten");
    assert_logs_clean(&log, &canary);
}
