//! Accounts and servers: plex.tv PIN login through a fake plex.tv, sessions and their expiry,
//! server sync with connection fallback, the facade handed out, CORS, CSRF and rate limits.

use std::time::Duration;

use crate::support::browser::Browser;
use crate::support::canary::Canary;
use crate::support::fake_plextv::{FakePlexTv, Fault};
use crate::support::{TestApp, client};
use plexgate::demo::{DemoPlex, DemoPlexOptions};

const ACCOUNT_TOKEN: &str = "acct-token-abcdef123456";

struct World {
    app: TestApp,
    plex: DemoPlex,
    plextv: FakePlexTv,
    dead: String,
}

async fn dead_port() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

impl World {
    async fn start(extra: &[(&str, &str)]) -> World {
        let plex = DemoPlex::start(DemoPlexOptions::default()).await.unwrap();
        let plextv = FakePlexTv::start(3, 777, ACCOUNT_TOKEN).await;
        let port = plex.addr().port();
        let dead = format!("http://127.0.0.1:{}", dead_port().await);
        // plex.tv order: a local https (the demo speaks no TLS, so it fails), a dead local http,
        // the working remote address, a relay.
        plextv.add_server(
            "Home",
            plex.machine_identifier(),
            plex.token(),
            true,
            &[
                (&format!("https://127.0.0.1:{port}"), true, false),
                (&dead, true, false),
                (&format!("http://127.0.0.1:{port}"), false, false),
                (
                    &format!("http://127.0.0.1:{}", dead_port().await),
                    false,
                    true,
                ),
            ],
        );
        let mut all = vec![("plextv.url", plextv.url.as_str())];
        all.extend_from_slice(extra);
        let app = TestApp::start(&all).await;
        World {
            app,
            plex,
            plextv,
            dead,
        }
    }

    fn origin(&self) -> String {
        self.app.running.url()
    }

    fn canary(&self) -> Canary {
        Canary::new(&[ACCOUNT_TOKEN, self.plex.token()])
    }
}

async fn login(b: &mut Browser<'_>) -> serde_json::Value {
    let pin = b
        .request(
            reqwest::Method::POST,
            "/api/auth/plex/pin",
            &[("content-type", "application/json")],
            Some(br#"{"clientId":"browser-1234"}"#.to_vec()),
            true,
        )
        .await;
    assert_eq!(pin.status, 200, "{}", pin.text());
    let pin = pin.json();
    assert_eq!(pin["clientId"], "browser-1234");
    let auth_url = pin["authUrl"].as_str().unwrap();
    assert!(
        auth_url.starts_with("https://app.plex.tv/auth#?clientID=browser-1234&code="),
        "{auth_url}"
    );
    let id = pin["id"].as_i64().unwrap();
    let poll = format!("/api/auth/plex/pin/{id}?clientId=browser-1234");
    for _ in 0..2 {
        let r = b.get(&poll).await;
        assert_eq!(r.json(), serde_json::json!({"authenticated": false}));
        assert!(!b.has_cookie("plex.sid"));
    }
    let r = b.get(&poll).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let set = r.header("set-cookie").unwrap().to_string();
    assert!(
        set.starts_with("plex.sid=") && set.contains("HttpOnly") && set.contains("Path=/"),
        "{set}"
    );
    assert!(set.contains("Max-Age=604800"), "{set}");
    let j = r.json();
    assert_eq!(j["authenticated"], true);
    j
}

#[tokio::test]
async fn pin_login_syncs_servers_with_fallback_and_hands_out_the_facade() {
    let w = World::start(&[]).await;
    let canary = w.canary();
    let mut b = Browser::new(&w.origin(), &canary);
    let j = login(&mut b).await;
    assert_eq!(j["user"]["username"], "user777");
    assert_eq!(j["user"]["email"], "user777@example.org");
    assert_eq!(j["user"]["subscription"]["plan"], "lifetime");

    // plex.tv saw the same client id on create and every poll; the token only as a header.
    let seen = w.plextv.seen();
    for s in seen.iter().filter(|s| s.path.starts_with("/api/v2/pins")) {
        assert_eq!(s.client_id.as_deref(), Some("browser-1234"), "{}", s.path);
    }
    assert!(
        seen.iter()
            .any(|s| s.path == "/api/v2/resources" && s.token.as_deref() == Some(ACCOUNT_TOKEN))
    );

    // Stored sealed.
    let db = w.app.running.state().db().clone();
    let raw: Vec<u8> = db
        .read(|c| {
            Ok(c.query_row(
                "SELECT plex_token FROM users WHERE plex_id = 777",
                [],
                |r| r.get(0),
            )?)
        })
        .await
        .unwrap();
    assert!(
        !raw.windows(ACCOUNT_TOKEN.len())
            .any(|w| w == ACCOUNT_TOKEN.as_bytes())
    );

    // The dead first candidates were skipped and the working one remembered before answering.
    let current: Option<String> = db
        .read(|c| Ok(c.query_row("SELECT current_uri FROM servers", [], |r| r.get(0))?))
        .await
        .unwrap();
    assert_eq!(current.as_deref(), Some(w.plex.url().as_str()));

    let servers = b.get("/api/auth/servers").await;
    assert_eq!(servers.status, 200, "{}", servers.text());
    let s = servers.json()[0].clone();
    let base = s["baseUrl"].as_str().unwrap().to_string();
    assert!(base.starts_with("/api/plex/proxy/"));
    assert_eq!(s["token"], base.rsplit('/').next().unwrap());
    for c in s["connections"].as_array().unwrap() {
        assert_eq!(c["uri"], base.as_str());
        assert!(!c["label"].as_str().unwrap().contains('@'));
    }
    // The first Plex call after login works.
    let sections = b.get(&format!("{base}/library/sections")).await;
    assert_eq!(sections.status, 200, "{}", sections.text());

    // The account token never went to the Plex server, the server token never to plex.tv.
    for r in w.plex.requests() {
        assert_ne!(r.header("x-plex-token"), Some(ACCOUNT_TOKEN));
    }
    for s in w.plextv.seen() {
        assert_ne!(s.token.as_deref(), Some(w.plex.token()));
    }

    let session = b.get("/api/auth/session").await.json();
    assert_eq!(session["authenticated"], true);
    assert_eq!(b.get("/api/auth/validate").await.json()["valid"], true);
}

#[tokio::test]
async fn pin_errors_are_clear() {
    let w = World::start(&[]).await;
    let canary = w.canary();
    let mut b = Browser::new(&w.origin(), &canary);
    b.get("/api/auth/plex/pin/1000")
        .await
        .assert_error(400, "missing_client_id");
    b.get("/api/auth/plex/pin/abc?clientId=x")
        .await
        .assert_error(400, "invalid_pin_id");
    // A PIN this browser did not create (unknown, or created elsewhere): 404, never a sign-in.
    b.get("/api/auth/plex/pin/999999?clientId=someone")
        .await
        .assert_error(404, "pin_not_found");
    w.plextv.set_fault(Fault::RateLimited);
    let r = b
        .request(reqwest::Method::POST, "/api/auth/plex/pin", &[], None, true)
        .await;
    r.assert_error(429, "plextv_rate_limited");
    assert_eq!(r.header("retry-after"), Some("17"));
    w.plextv.set_fault(Fault::ServerError);
    b.request(reqwest::Method::POST, "/api/auth/plex/pin", &[], None, true)
        .await
        .assert_error(502, "plextv_unavailable");
    b.get("/api/auth/servers")
        .await
        .assert_error(401, "unauthorized");
}

#[tokio::test]
async fn plextv_refusing_the_token_is_401_and_stored_servers_still_answer() {
    let w = World::start(&[]).await;
    let canary = w.canary();
    let mut b = Browser::new(&w.origin(), &canary);
    login(&mut b).await;
    for fault in [Fault::Unauthorized, Fault::InvalidToken] {
        w.plextv.set_fault(fault);
        b.post("/api/auth/servers/sync")
            .await
            .assert_error(401, "plextv_unauthorized");
        let servers = b.get("/api/auth/servers").await;
        assert_eq!(
            servers.status, 200,
            "stored list answers while plex.tv refuses"
        );
        assert_eq!(servers.json().as_array().unwrap().len(), 1);
    }
    w.plextv.set_fault(Fault::None);
    let sync = b.post("/api/auth/servers/sync").await.json();
    assert_eq!(sync["saved"], 1);
    assert_eq!(sync["servers"][0]["id"], w.plex.machine_identifier());
}

#[tokio::test]
async fn server_routes_list_connections_endpoint_and_current() {
    let w = World::start(&[]).await;
    let canary = w.canary();
    let mut b = Browser::new(&w.origin(), &canary);
    login(&mut b).await;
    let mid = w.plex.machine_identifier().to_string();
    let list = b.get("/api/plex/servers").await.json();
    assert_eq!(list[0]["id"], mid.as_str());
    assert_eq!(list[0]["isActive"], true);
    assert_eq!(list[0]["port"], w.plex.addr().port());
    let conns = b
        .get(&format!("/api/plex/servers/{mid}/connections"))
        .await
        .json();
    let uris: Vec<&str> = conns["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["uri"].as_str().unwrap())
        .collect();
    assert_eq!(uris.len(), 4);
    assert!(
        uris[0].starts_with("https://"),
        "local https ranks first: {uris:?}"
    );
    let current: Vec<_> = conns["connections"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["isCurrent"] == true)
        .collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["uri"], w.plex.url().as_str());

    let post = |uri: String| format!(r#"{{"uri":"{uri}"}}"#).into_bytes();
    let endpoint = format!("/api/plex/servers/{mid}/endpoint");
    let ct = [("content-type", "application/json")];
    b.request(
        reqwest::Method::POST,
        &endpoint,
        &ct,
        Some(post(w.dead.clone())),
        true,
    )
    .await
    .assert_error(400, "endpoint_unreachable");
    b.request(
        reqwest::Method::POST,
        &endpoint,
        &ct,
        Some(post("http://u:p@127.0.0.1:1".into())),
        true,
    )
    .await
    .assert_error(400, "invalid_uri");
    b.request(
        reqwest::Method::POST,
        &endpoint,
        &ct,
        Some(br#"{}"#.to_vec()),
        true,
    )
    .await
    .assert_error(400, "missing_uri");
    let ok = b
        .request(
            reqwest::Method::POST,
            &endpoint,
            &ct,
            Some(post(w.plex.url())),
            true,
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(ok.json()["server"]["preferredUri"], w.plex.url().as_str());
    let list = b.get("/api/plex/servers").await.json();
    assert_eq!(list[0]["preferredUri"], w.plex.url().as_str());

    let body = format!(r#"{{"serverId":"{mid}"}}"#).into_bytes();
    let cur = b
        .request(
            reqwest::Method::POST,
            "/api/plex/servers/current",
            &ct,
            Some(body),
            true,
        )
        .await;
    assert_eq!(cur.json()["message"], "Current server updated");
    b.request(
        reqwest::Method::POST,
        "/api/plex/servers/current",
        &ct,
        Some(br#"{"serverId":"nope"}"#.to_vec()),
        true,
    )
    .await
    .assert_error(404, "server_not_found");
    b.request(
        reqwest::Method::POST,
        "/api/plex/servers/current",
        &ct,
        Some(br#"{}"#.to_vec()),
        true,
    )
    .await
    .assert_error(400, "missing_server_id");
}

#[tokio::test]
async fn sessions_expire_by_idle_and_absolute_time() {
    let w = World::start(&[]).await;
    let canary = w.canary();
    let mut b = Browser::new(&w.origin(), &canary);
    login(&mut b).await;
    assert_eq!(
        b.get("/api/auth/session").await.json()["authenticated"],
        true
    );
    let db = w.app.running.state().db().clone();
    // Time travel in the stored row: unused for 25 hours.
    db.write(|c| {
        Ok(c.execute(
            "UPDATE sessions SET last_seen_at = last_seen_at - 25 * 3600",
            [],
        )?)
    })
    .await
    .unwrap();
    assert_eq!(
        b.get("/api/auth/session").await.json()["authenticated"],
        false
    );
    b.get("/api/auth/validate")
        .await
        .assert_error(401, "unauthorized");

    let mut b2 = Browser::new(&w.origin(), &canary);
    login(&mut b2).await;
    db.write(|c| {
        Ok(c.execute(
            "UPDATE sessions SET expires_at = strftime('%s','now') - 1",
            [],
        )?)
    })
    .await
    .unwrap();
    assert_eq!(
        b2.get("/api/auth/session").await.json()["authenticated"],
        false
    );
}

#[tokio::test]
async fn csrf_cors_and_rate_limit() {
    let w = World::start(&[
        ("server.cors_origins", "https://app.example.com"),
        ("auth.pin_requests_per_minute", "3"),
    ])
    .await;
    let c = client();
    let url = |p: &str| format!("{}{p}", w.origin());

    // A state-changing request from a foreign site is refused; from the allowed origin it works.
    let r = c
        .post(url("/api/auth/logout"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    crate::support::assert_error(r, 403, "csrf_rejected").await;
    let r = c.post(url("/api/auth/logout")).send().await.unwrap();
    crate::support::assert_error(r, 403, "csrf_rejected").await;
    let r = c
        .post(url("/api/auth/logout"))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert_eq!(r.headers()["access-control-allow-credentials"], "true");

    // Preflight with credentials.
    let pre = c
        .request(reqwest::Method::OPTIONS, url("/api/auth/plex/pin"))
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(pre.status(), 204);
    let h = pre.headers();
    assert_eq!(h["access-control-allow-origin"], "https://app.example.com");
    assert_eq!(h["access-control-allow-credentials"], "true");
    for m in ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        assert!(
            h["access-control-allow-methods"]
                .to_str()
                .unwrap()
                .contains(m)
        );
    }
    for hd in [
        "Content-Type",
        "Authorization",
        "X-Requested-With",
        "trakt-api-key",
        "trakt-api-version",
    ] {
        assert!(
            h["access-control-allow-headers"]
                .to_str()
                .unwrap()
                .contains(hd)
        );
    }
    let pre = c
        .request(reqwest::Method::OPTIONS, url("/api/auth/plex/pin"))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    crate::support::assert_error(pre, 403, "cors_origin_not_allowed").await;
    let plain = c
        .get(url("/health"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(!plain.headers().contains_key("access-control-allow-origin"));

    // PIN routes: 3 per minute per IP, then 429 with Retry-After (these polls carry no pin
    // cookie, so each is a 404 until the limit answers first).
    for _ in 0..3 {
        let r = c
            .get(url("/api/auth/plex/pin/1?clientId=x"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
    }
    let r = c
        .get(url("/api/auth/plex/pin/1?clientId=x"))
        .send()
        .await
        .unwrap();
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    crate::support::assert_error(r, 429, "rate_limited").await;
}

#[tokio::test]
async fn a_second_user_cannot_touch_the_first_users_sessions() {
    let w = World::start(&[]).await;
    let canary = w.canary();
    let mut alice = Browser::new(&w.origin(), &canary);
    login(&mut alice).await;
    let stream = alice.get("/api/plex/stream/101").await;
    assert_eq!(stream.status, 200, "{}", stream.text());
    let session = stream.json()["sessionId"].as_str().unwrap().to_string();
    // The transcode starts when the player first fetches the URL.
    let url = stream.json()["url"].as_str().unwrap().to_string();
    assert_eq!(alice.get(&url).await.status, 200);

    // Bob: a different plex.tv account sharing the same server.
    let state = w.app.running.state().clone();
    let secrets = state.secrets().clone();
    let bob_id = state
        .db()
        .write(move |c| {
            let u = plexgate::db::users::upsert_user(
                c,
                &plexgate::db::users::NewUser {
                    plex_id: 888,
                    username: "bob",
                    email: None,
                    thumb: None,
                    title: None,
                    has_password: false,
                    subscription: None,
                    plex_token: "bob-account-token-1234",
                },
                &secrets,
                1,
            )?;
            Ok(u.id)
        })
        .await
        .unwrap();
    let (cookie, _) = state.logins().create(bob_id, None, None).await.unwrap();
    let mut bob = Browser::new(&w.origin(), &canary);
    bob.cookie = Some(format!("plex.sid={cookie}"));
    bob.post(&format!("/api/plex/stream/{session}/stop"))
        .await
        .assert_error(404, "session_not_found");
    assert_eq!(
        bob.get("/api/auth/servers").await.json(),
        serde_json::json!([])
    );
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(
        w.plex.live_transcode_sessions().len(),
        1,
        "alice's transcode is untouched"
    );
}

#[tokio::test]
async fn a_cross_site_link_cannot_start_or_replace_a_playback() {
    let w = World::start(&[]).await;
    let canary = w.canary();
    let mut victim = Browser::new(&w.origin(), &canary);
    login(&mut victim).await;
    let mine = victim.get("/api/plex/stream/101").await.json();
    let url = mine["url"].as_str().unwrap().to_string();

    // What a browser sends for a link on another site, an <img>, and a fetch from a foreign page.
    for headers in [
        &[
            ("sec-fetch-mode", "navigate"),
            ("sec-fetch-site", "cross-site"),
        ][..],
        &[
            ("sec-fetch-mode", "no-cors"),
            ("sec-fetch-site", "cross-site"),
        ][..],
        &[
            ("origin", "https://evil.example"),
            ("sec-fetch-mode", "cors"),
        ][..],
        &[("sec-fetch-mode", "navigate"), ("sec-fetch-site", "none")][..],
    ] {
        victim
            .get_with("/api/plex/stream/101?quality=300", headers)
            .await
            .assert_error(403, "csrf_rejected");
    }
    // The victim's own playback was neither replaced nor stopped.
    assert_eq!(victim.get(&url).await.status, 200);
    // The app itself (same origin, fetch) still starts playback.
    let same = victim
        .get_with(
            "/api/plex/stream/101",
            &[
                ("sec-fetch-site", "same-origin"),
                ("sec-fetch-mode", "cors"),
            ],
        )
        .await;
    assert_eq!(same.status, 200, "{}", same.text());
}

#[tokio::test]
async fn tickets_die_with_their_login_session() {
    let w = World::start(&[("auth.session_purge_secs", "1")]).await;
    let canary = w.canary();
    let mut b = Browser::new(&w.origin(), &canary);
    login(&mut b).await;
    let base = b.get("/api/auth/servers").await.json()[0]["baseUrl"]
        .as_str()
        .unwrap()
        .to_string();
    let stream = b.get("/api/plex/stream/101").await.json();
    let url = stream["url"].as_str().unwrap().to_string();
    assert!(stream["expiresAt"].as_i64().unwrap() <= plexgate::util::unix_now() + 7 * 86400);
    assert_eq!(b.get(&url).await.status, 200);
    assert_eq!(w.plex.live_transcode_sessions().len(), 1);
    assert_eq!(
        b.get(&format!("{base}/library/metadata/101")).await.status,
        200
    );

    // The login expires by idleness (25 hours unused); nobody calls logout.
    let db = w.app.running.state().db().clone();
    db.write(|c| {
        Ok(c.execute(
            "UPDATE sessions SET last_seen_at = last_seen_at - 25 * 3600",
            [],
        )?)
    })
    .await
    .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let gone = db
            .read(|c| Ok(c.query_row("SELECT count(*) FROM sessions", [], |r| r.get::<_, i64>(0))?))
            .await
            .unwrap()
            == 0;
        if gone {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the expired session was never purged"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    b.get_without_cookie(&format!("{base}/library/metadata/101"))
        .await
        .assert_error(403, "ticket_revoked");
    b.get_without_cookie(&url)
        .await
        .assert_error(403, "ticket_revoked");
    assert!(
        w.plex.live_transcode_sessions().is_empty(),
        "its transcode was stopped on Plex"
    );
}

#[tokio::test]
async fn a_pin_created_in_another_browser_cannot_sign_this_one_in() {
    let w = World::start(&[]).await;
    let canary = w.canary();
    let mut victim = Browser::new(&w.origin(), &canary);
    login(&mut victim).await;
    let me = victim.get("/api/auth/session").await.json();
    assert_eq!(me["authenticated"], true);

    // The attacker starts a sign-in in their own browser and approves it with their account.
    let mut attacker = Browser::new(&w.origin(), &canary);
    let pin = attacker
        .request(
            reqwest::Method::POST,
            "/api/auth/plex/pin",
            &[("content-type", "application/json")],
            Some(br#"{"clientId":"attacker-1"}"#.to_vec()),
            true,
        )
        .await;
    assert_eq!(pin.status, 200, "{}", pin.text());
    let set = pin.header("set-cookie").unwrap().to_string();
    assert!(
        set.starts_with("plex.pin=") && set.contains("HttpOnly") && set.contains("SameSite=Lax"),
        "{set}"
    );
    let poll = format!(
        "/api/auth/plex/pin/{}?clientId=attacker-1",
        pin.json()["id"].as_i64().unwrap()
    );

    // The victim's browser is made to poll it (a link, an <img>, a script): refused, and the
    // victim stays signed in as themselves.
    for _ in 0..4 {
        victim.get(&poll).await.assert_error(404, "pin_not_found");
    }
    assert_eq!(victim.get("/api/auth/session").await.json(), me);
    // No pin cookie at all: the same.
    let mut bare = Browser::new(&w.origin(), &canary);
    bare.get(&poll).await.assert_error(404, "pin_not_found");
    // The browser that created the PIN completes it (after the fake's 3 polls), and the spent
    // pin cookie is dropped.
    let mut last = None;
    for _ in 0..3 {
        last = Some(attacker.get(&poll).await);
    }
    let done = last.unwrap();
    assert_eq!(done.json()["authenticated"], true, "{}", done.text());
    assert!(attacker.has_cookie("plex.sid") && !attacker.has_cookie("plex.pin"));
}

const FRIEND_TOKEN: &str = "friend-token-9f8e7d6c5b4a";
const STRANGER_TOKEN: &str = "stranger-token-1a2b3c4d5e6f";

/// A PIN sign-in from a fresh browser, approved as whichever account the fake approves as;
/// returns the browser and the final poll's answer.
async fn pin_sign_in<'c>(
    w: &World,
    canary: &'c Canary,
    client_id: &str,
) -> (Browser<'c>, crate::support::browser::Seen) {
    let mut b = Browser::new(&w.origin(), canary);
    let body = format!(r#"{{"clientId":"{client_id}"}}"#).into_bytes();
    let pin = b
        .request(
            reqwest::Method::POST,
            "/api/auth/plex/pin",
            &[("content-type", "application/json")],
            Some(body),
            true,
        )
        .await;
    let poll = format!(
        "/api/auth/plex/pin/{}?clientId={client_id}",
        pin.json()["id"].as_i64().unwrap()
    );
    for _ in 0..2 {
        assert_eq!(b.get(&poll).await.json()["authenticated"], false);
    }
    let last = b.get(&poll).await;
    (b, last)
}

/// A fake plex.tv that knows three accounts: the owner (777, owns "Home"), a friend "Friend"
/// the owner shares Home with, and a stranger who sees no server of the owner's.
async fn three_accounts(extra: &[(&str, &str)]) -> World {
    let w = World::start(extra).await;
    w.plextv
        .add_account(901, "Friend", FRIEND_TOKEN, &[w.plex.machine_identifier()]);
    w.plextv.add_account(902, "stranger", STRANGER_TOKEN, &[]);
    w
}

fn canary_of_all(w: &World) -> Canary {
    Canary::new(&[ACCOUNT_TOKEN, w.plex.token(), FRIEND_TOKEN, STRANGER_TOKEN])
}

async fn stored_plex_ids(w: &World) -> Vec<i64> {
    w.app
        .running
        .state()
        .db()
        .read(|c| {
            let mut s = c.prepare("SELECT plex_id FROM users ORDER BY plex_id")?;
            let ids = s
                .query_map([], |r| r.get(0))?
                .collect::<Result<Vec<i64>, _>>()?;
            Ok(ids)
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn only_the_owner_and_the_people_it_shares_a_server_with_may_sign_in() {
    let w = three_accounts(&[]).await;
    let canary = canary_of_all(&w);
    // The first account to sign in becomes the owner.
    let (_owner, r) = pin_sign_in(&w, &canary, "owner-browser").await;
    assert_eq!(r.json()["authenticated"], true, "{}", r.text());

    // A friend with a shared server is admitted.
    w.plextv.approve_as(Some(FRIEND_TOKEN));
    let (mut friend, r) = pin_sign_in(&w, &canary, "friend-browser").await;
    assert_eq!(r.json()["authenticated"], true, "{}", r.text());
    assert_eq!(
        friend.get("/api/auth/session").await.json()["authenticated"],
        true
    );

    // A stranger is refused with a reason, gets no session, and nothing of theirs is stored.
    w.plextv.approve_as(Some(STRANGER_TOKEN));
    let (stranger, r) = pin_sign_in(&w, &canary, "stranger-browser").await;
    r.assert_error(403, "signin_not_allowed");
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("share")
    );
    assert!(!stranger.has_cookie("plex.sid"));
    assert_eq!(stored_plex_ids(&w).await, vec![777, 901]);
    // Signing in again as the owner still works.
    w.plextv.approve_as(None);
    let (_again, r) = pin_sign_in(&w, &canary, "owner-browser-2").await;
    assert_eq!(r.json()["authenticated"], true, "{}", r.text());
}

#[tokio::test]
async fn the_operator_lists_decide_over_shares_and_a_pinned_owner_decides_who_is_first() {
    // The stranger is allowed by name, the friend denied by id; the owner is pinned by username.
    let w = three_accounts(&[
        ("auth.owner", "user777"),
        ("auth.allowed_users", "STRANGER"),
        ("auth.denied_users", "901"),
    ])
    .await;
    let canary = canary_of_all(&w);
    // Pinned owner: the friend signing in first does not become the owner (and is denied).
    w.plextv.approve_as(Some(FRIEND_TOKEN));
    let (_f, r) = pin_sign_in(&w, &canary, "friend-browser").await;
    r.assert_error(403, "signin_not_allowed");
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("denied")
    );
    w.plextv.approve_as(Some(STRANGER_TOKEN));
    let (_s, r) = pin_sign_in(&w, &canary, "stranger-browser").await;
    assert_eq!(r.json()["authenticated"], true, "{}", r.text());
    w.plextv.approve_as(None);
    let (_o, r) = pin_sign_in(&w, &canary, "owner-browser").await;
    assert_eq!(r.json()["authenticated"], true, "{}", r.text());
    assert_eq!(stored_plex_ids(&w).await, vec![777, 902]);
}
