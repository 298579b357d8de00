//! The owner page and `/api/admin/…`: only the owner gets answers (signed out 401, anyone else
//! 403 `not_owner`), the owner sees servers with reachability, live playback sessions and the
//! recent upstream errors, and a revoke from the owner really cuts a stream in flight. `/` is
//! the owner page without a web root and a redirect to `/demo` in demo mode.

use std::time::Duration;

use crate::support::browser::Browser;
use crate::support::plex_world::{LoopbackServer, PlexWorld, store_server};
use crate::support::services::LogCapture;
use crate::support::{TestApp, client};

const GETS: [&str; 4] = [
    "/api/admin/status",
    "/api/admin/servers",
    "/api/admin/sessions",
    "/api/admin/errors",
];

/// The first URI line of a playlist at `url`, resolved against it.
fn first_uri(url: &str, playlist: &str) -> String {
    let line = playlist
        .lines()
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or_else(|| panic!("no URI in {playlist}"));
    url::Url::parse(url)
        .unwrap()
        .join(line)
        .unwrap()
        .to_string()
}

/// Starts an HLS playback for `b` and returns (session id, a media segment URL).
async fn playing(w: &PlexWorld, b: &mut Browser<'_>) -> (String, String) {
    let s = b.get("/api/plex/stream/101?protocol=hls").await;
    assert_eq!(s.status, 200, "{}", s.text());
    let j = s.json();
    let start = format!("{}{}", w.demo.url(), j["url"].as_str().unwrap());
    let mut url = start;
    // Master → media playlist → segment.
    for _ in 0..3 {
        let r = b.get(&url).await;
        assert_eq!(r.status, 200, "{url}: {}", r.text());
        if !r.text().starts_with("#EXTM3U") {
            break;
        }
        url = first_uri(&url, &r.text());
    }
    (j["sessionId"].as_str().unwrap().to_string(), url)
}

#[tokio::test]
async fn admin_routes_answer_the_owner_only() {
    let w = PlexWorld::start(&[]).await;
    let canary = w.canary();
    let mut anon = Browser::new(&w.demo.url(), &canary);
    let mut alice = w.alice(&canary).await;
    let mut bob = w.bob(&canary).await;

    for path in GETS {
        anon.get(path).await.assert_error(401, "unauthorized");
        bob.get(path).await.assert_error(403, "not_owner");
        let r = alice.get(path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        assert_eq!(r.header("cache-control"), Some("no-store"), "{path}");
    }
    let revoke = "/api/admin/sessions/00112233445566778899aabbccddeeff/revoke";
    anon.post(revoke).await.assert_error(401, "unauthorized");
    bob.post(revoke).await.assert_error(403, "not_owner");
    alice
        .post(revoke)
        .await
        .assert_error(404, "session_not_found");
    alice
        .post("/api/admin/sessions/not-a-session/revoke")
        .await
        .assert_error(404, "session_not_found");
    // A revoke is a state change: a cross-site form cannot trigger it.
    let forged = alice
        .request(
            reqwest::Method::POST,
            revoke,
            &[("origin", "https://evil.example")],
            None,
            true,
        )
        .await;
    assert_eq!(forged.status, 403, "{}", forged.text());

    let status = alice.get("/api/admin/status").await.json();
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(status["owner"], "demo");
    assert!(status["uptimeSecs"].as_i64().unwrap() >= 0);
    let servers = alice.get("/api/admin/servers").await.json();
    let s = &servers["servers"][0];
    assert_eq!(s["reachable"], true, "{servers}");
    assert_eq!(s["address"], w.plex.url().as_str());
    assert_eq!(s["machineIdentifier"], w.plex.machine_identifier());
    assert!(s["latencyMs"].is_u64(), "{s}");
    let sessions = alice.get("/api/admin/sessions").await.json();
    assert_eq!(sessions["sessions"], serde_json::json!([]));
}

#[tokio::test]
async fn the_owner_sees_a_live_session_and_revoking_it_cuts_the_stream() {
    let w = PlexWorld::start(&[]).await;
    let canary = w.canary();
    let mut alice = w.alice(&canary).await;
    let mut bob = w.bob(&canary).await;
    let (id, segment) = playing(&w, &mut bob).await;

    let list = alice.get("/api/admin/sessions").await.json();
    let rows = list["sessions"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{list}");
    let row = &rows[0];
    assert_eq!(row["id"], id.as_str());
    assert_eq!(row["user"], "bob");
    assert_eq!(row["protocol"], "hls");
    assert_eq!(row["ratingKey"], "101");
    assert!(
        !row["title"].as_str().unwrap().starts_with("item "),
        "{row}"
    );
    assert!(row["bytes"].as_u64().unwrap() > 0, "{row}");
    assert!(row["lastActivityAt"].as_i64() >= row["startedAt"].as_i64());

    // A segment in flight, slowed down so the revoke lands mid-body.
    w.plex.faults().throttle(Some(8 * 1024));
    let mut resp = client()
        .get(&segment)
        .header("cookie", bob.cookie.clone().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let _ = resp.chunk().await.unwrap();
    let r = alice
        .post(&format!("/api/admin/sessions/{id}/revoke"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["revoked"], true);
    let ended = crate::support::how_body_ends(&mut resp, Duration::from_secs(10)).await;
    assert_eq!(ended, "error", "a revoked body must not look complete");
    w.plex.faults().throttle(None);

    bob.get(&segment).await.assert_error(403, "ticket_revoked");
    assert!(
        w.plex.requests().iter().any(|r| r.path.ends_with("/stop")),
        "the transcode was stopped on Plex"
    );
    let list = alice.get("/api/admin/sessions").await.json();
    assert_eq!(list["sessions"], serde_json::json!([]));
    // Revoking it again: it is gone.
    alice
        .post(&format!("/api/admin/sessions/{id}/revoke"))
        .await
        .assert_error(404, "session_not_found");
}

#[tokio::test]
async fn an_unreachable_server_shows_as_such_and_its_failure_is_a_recent_error() {
    let _logs = LogCapture::install();
    let w = PlexWorld::start(&[]).await;
    let canary = w.canary();
    let mut alice = w.alice(&canary).await;
    // A second server of the owner's whose only address refuses connections.
    let dead = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let state = w.demo.state().clone();
    let secrets = state.secrets().clone();
    let uri = dead.clone();
    state
        .db()
        .write(move |c| {
            let owner =
                plexgate::db::users::get_user_by_plex_id(c, plexgate::app::demo::DEMO_PLEX_ID)?
                    .unwrap();
            let basement = LoopbackServer {
                machine: "gone-server-0001",
                name: "Basement",
                owned: true,
                token: "basement-token-not-used",
                uri: &uri,
            };
            store_server(c, &secrets, owner.id, &basement)?;
            Ok(())
        })
        .await
        .unwrap();

    let servers = alice.get("/api/admin/servers").await.json();
    let list = servers["servers"].as_array().unwrap();
    let basement = list.iter().find(|s| s["name"] == "Basement").unwrap();
    assert_eq!(basement["reachable"], false, "{basement}");
    assert_eq!(basement["address"], dead.as_str());
    assert!(
        basement["problem"]
            .as_str()
            .unwrap()
            .contains("unreachable")
    );
    assert!(list.iter().any(|s| s["reachable"] == true), "{servers}");

    let errors = alice.get("/api/admin/errors").await.json();
    let found = errors["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["message"].as_str().unwrap_or("").contains(&dead))
        .unwrap_or_else(|| panic!("no recent error names {dead}: {errors}"))
        .clone();
    assert_eq!(found["level"], "WARN");
    assert_eq!(found["upstream"], "plex");
    assert_eq!(found["cause"], "refused");
    assert!(found["message"].as_str().unwrap().contains("Basement"));
    assert!(
        !found["message"]
            .as_str()
            .unwrap()
            .contains("basement-token")
    );
}

#[tokio::test]
async fn slash_is_the_owner_page_without_a_web_root_and_the_demo_in_demo_mode() {
    let app = TestApp::start(&[]).await;
    let c = client();
    let page = c.get(app.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let h = page.headers().clone();
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    assert_eq!(h["cache-control"], "no-cache");
    assert!(
        h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("connect-src 'self'")
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("Sign in with Plex"));
    let mut named = 0;
    for part in html.split("owner/assets/").skip(1) {
        let file = part.split(['"', '?']).next().unwrap();
        let r = c
            .get(app.url(&format!("/owner/assets/{file}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{file}");
        assert_eq!(
            r.headers()["cache-control"],
            "public, max-age=31536000, immutable"
        );
        named += 1;
    }
    assert_eq!(named, 4, "favicon, two style sheets and the script");
    let r = c
        .get(app.url("/owner/assets/nope.js"))
        .send()
        .await
        .unwrap();
    crate::support::assert_error(r, 404, "not_found").await;
    // The page's JSON: signed out is 401 JSON, so the page offers to sign in.
    let r = c.get(app.url("/api/admin/status")).send().await.unwrap();
    crate::support::assert_error(r, 401, "unauthorized").await;

    // Under a base path the page's URL must end in '/' for its relative URLs to resolve.
    let based = TestApp::start(&[("server.base_path", "/plexgate")]).await;
    let r = c.get(based.url("/plexgate")).send().await.unwrap();
    assert_eq!(r.status(), 301);
    assert_eq!(r.headers()["location"], "plexgate/");
    let r = c.get(based.url("/plexgate/")).send().await.unwrap();
    assert_eq!(r.status(), 200);

    let w = PlexWorld::start(&[]).await;
    let r = c.get(format!("{}/", w.demo.url())).send().await.unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()["location"], "demo");
    // `/demo/` goes to `/demo`, whose relative asset URLs then resolve.
    let r = c
        .get(format!("{}/demo/", w.demo.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 301);
    assert_eq!(r.headers()["location"], "../demo");
}
