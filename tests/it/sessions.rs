//! Playback session lifecycle: keep-alive pings hold a paused transcode open, idle sessions are
//! stopped and revoked, revocations survive a restart, and hostile or broken upstream manifests
//! fail closed without plexgate fetching anything elsewhere.

use std::time::Duration;

use crate::support::browser::Browser;
use crate::support::canary::Canary;
use crate::support::odd_plex::OddPlex;
use crate::support::{demo_against, test_config};
use plexgate::app::demo::Demo;
use plexgate::demo::{DemoPlex, DemoPlexOptions};

#[tokio::test]
async fn keepalive_holds_a_paused_transcode_and_idle_sessions_are_stopped() {
    let plex = DemoPlex::start(DemoPlexOptions {
        session_idle_timeout: Duration::from_secs(2),
        ..DemoPlexOptions::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let demo = demo_against(
        &plex.url(),
        plex.token(),
        dir.path(),
        &[
            ("stream.keepalive_secs", "1"),
            ("stream.client_gone_secs", "5"),
        ],
    )
    .await;
    let canary = Canary::new(&[plex.token()]);
    let mut b = Browser::new(&demo.url(), &canary);
    assert_eq!(b.post("/api/auth/demo-login").await.status, 200);
    let j = b.get("/api/plex/stream/101?protocol=hls").await.json();
    let url = j["url"].as_str().unwrap().to_string();
    assert_eq!(b.get(&url).await.status, 200);

    // "Paused": no requests for longer than Plex's own idle reaping (2 s here).
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_eq!(
        plex.live_transcode_sessions().len(),
        1,
        "pings kept the transcode alive"
    );
    let pings = plex
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/ping"))
        .count();
    assert!(pings >= 2, "plexgate pinged the transcoder ({pings})");

    // Past the client-gone window (5 s) without a sign of life the session is stopped on Plex
    // and its ticket revoked.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !plex.live_transcode_sessions().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "idle transcode never stopped"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(plex.requests().iter().any(|r| r.path.ends_with("/stop")));
    b.get(&url).await.assert_error(403, "ticket_revoked");
    demo.shutdown().await;
}

#[tokio::test]
async fn revocations_survive_a_restart() {
    let plex = DemoPlex::start(DemoPlexOptions::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("plexgate.sqlite");
    let canary = Canary::new(&[plex.token()]);

    // Demo uses a fresh temporary database each time; this test needs one that persists, so
    // it runs plexgate itself on a fixed database and seeds it through the demo's first run.
    let config = |d: &std::path::Path| {
        test_config(
            d,
            &[
                ("demo.plex_url", &plex.url()),
                ("demo.plex_token", plex.token()),
            ],
        )
    };
    let first = Demo::start(config(dir.path())).await.unwrap();
    let mut b = Browser::new(&first.url(), &canary);
    assert_eq!(b.post("/api/auth/demo-login").await.status, 200);
    let j = b.get("/api/plex/stream/101").await.json();
    let url = j["url"].as_str().unwrap().to_string();
    let session = j["sessionId"].as_str().unwrap().to_string();
    assert_eq!(b.get(&url).await.status, 200);
    assert_eq!(
        b.post(&format!("/api/plex/stream/{session}/stop"))
            .await
            .status,
        200
    );
    // Copy the database and key out before the demo removes its temporary directory.
    let data = first.data_dir().to_path_buf();
    for f in ["plexgate.sqlite", "plexgate.key"] {
        let _ = std::fs::copy(data.join(f), dir.path().join(f));
    }
    for f in ["plexgate.sqlite-wal", "plexgate.sqlite-shm"] {
        let _ = std::fs::copy(data.join(f), dir.path().join(f));
    }
    first.shutdown().await;

    let second = plexgate::app::start(test_config(dir.path(), &[]))
        .await
        .unwrap();
    assert!(db.exists());
    let mut b2 = Browser::new(&second.url(), &canary);
    b2.get(&url).await.assert_error(403, "ticket_revoked");
    second.shutdown().await;
}

#[tokio::test]
async fn broken_and_hostile_manifests_fail_closed() {
    let odd = OddPlex::start("odd-plex-token-123456").await;
    let elsewhere = OddPlex::start("elsewhere-token-123456").await;
    let dir = tempfile::tempdir().unwrap();
    let demo = demo_against(&odd.url(), &odd.token, dir.path(), &[]).await;
    let canary = Canary::new(&[&odd.token]);
    let mut b = Browser::new(&demo.url(), &canary);
    assert_eq!(b.post("/api/auth/demo-login").await.status, 200);
    let base = b.get("/api/auth/servers").await.json()[0]["baseUrl"]
        .as_str()
        .unwrap()
        .to_string();
    let u = "/video/:/transcode/universal";

    odd.serve(
        &format!("{u}/session/s1/base/index.m3u8"),
        "application/vnd.apple.mpegurl",
        "<html><body>Transcoder crashed</body></html>",
    );
    b.get(&format!("{base}{u}/session/s1/base/index.m3u8"))
        .await
        .assert_error(502, "upstream_bad_manifest");

    odd.serve(
        &format!("{u}/session/s1/base/evil.m3u8"),
        "application/vnd.apple.mpegurl",
        &format!(
            "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\n{}/segment.ts\n#EXT-X-ENDLIST\n",
            elsewhere.url()
        ),
    );
    let r = b.get(&format!("{base}{u}/session/s1/base/evil.m3u8")).await;
    assert_eq!(r.status, 502, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "manifest_foreign_host");

    odd.serve(
        &format!("{u}/session/s1/base/token.m3u8"),
        "application/vnd.apple.mpegurl",
        &format!("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\n00000.ts?X-Plex-Token={}\n#EXT-X-ENDLIST\n", odd.token),
    );
    let r = b
        .get(&format!("{base}{u}/session/s1/base/token.m3u8"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.text()
            .contains(&format!("{base}{u}/session/s1/base/00000.ts")),
        "{}",
        r.text()
    );

    odd.serve(
        "/library/parts/1/1/broken.mpd",
        "application/dash+xml",
        "<?xml version=\"1.0\"?><MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\"><Period",
    );
    b.get(&format!("{base}/library/parts/1/1/broken.mpd"))
        .await
        .assert_error(502, "upstream_bad_manifest");

    assert!(
        elsewhere.seen.lock().unwrap().is_empty(),
        "nothing was fetched from another host"
    );
    demo.shutdown().await;
}

#[tokio::test]
async fn a_client_that_goes_away_closes_the_upstream_body() {
    let odd = OddPlex::start("odd-plex-token-654321").await;
    let dir = tempfile::tempdir().unwrap();
    let demo = demo_against(&odd.url(), &odd.token, dir.path(), &[]).await;
    let canary = Canary::new(&[&odd.token]);
    let mut b = Browser::new(&demo.url(), &canary);
    assert_eq!(b.post("/api/auth/demo-login").await.status, 200);
    let base = b.get("/api/auth/servers").await.json()[0]["baseUrl"]
        .as_str()
        .unwrap()
        .to_string();
    let url = format!(
        "{}{base}/video/:/transcode/universal/session/e1/base/endless.ts",
        demo.url()
    );
    let mut resp = crate::support::client().get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    for _ in 0..3 {
        assert!(resp.chunk().await.unwrap().is_some());
    }
    assert_eq!(
        odd.endless_dropped
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );
    drop(resp);
    let mut closed = false;
    for _ in 0..50 {
        if odd
            .endless_dropped
            .load(std::sync::atomic::Ordering::SeqCst)
            == 1
        {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        closed,
        "the upstream body must be dropped when the browser goes away"
    );
    demo.shutdown().await;
}
