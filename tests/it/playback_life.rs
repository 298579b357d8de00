//! Playback as real players and real users drive it (design §4–§5): a pause longer than any
//! timeout, a stream URL never fetched, a player that never calls stop, a logout while Plex is
//! still thinking, and two browsers at once. Timeouts are configured short so each runs in
//! seconds; conditions are awaited, never slept for.

use std::future::Future;
use std::time::Duration;

use crate::support::browser::{Browser, demo_browser as browser};
use crate::support::canary::Canary;
use crate::support::demo_against;
use crate::support::odd_plex::{OddPlex, pattern, pattern_byte, stalling_demo};
use plexgate::demo::{DemoPlex, DemoPlexOptions};
use serde_json::json;

const U: &str = "/video/:/transcode/universal";

/// Polls `check` every 50 ms until it holds; fails after `within` (a hang guard, not a timing
/// assertion: each caller's condition is expected within a window several times shorter).
async fn eventually<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn progress(b: &mut Browser<'_>, rating_key: &str, state: &str) {
    let body = json!({"ratingKey": rating_key, "time": 1000, "duration": 60000, "state": state});
    let r = b
        .request(
            reqwest::Method::POST,
            "/api/plex/progress",
            &[("content-type", "application/json")],
            Some(body.to_string().into_bytes()),
            true,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
}

/// Starts a DASH transcode of item 101 the way Flixor's player does: decision, then start.mpd,
/// through the facade.
async fn facade_transcode(b: &mut Browser<'_>, base: &str, session: &str) {
    let params = format!(
        "hasMDE=1&path=%2Flibrary%2Fmetadata%2F101&mediaIndex=0&partIndex=0&protocol=dash\
         &fastSeek=1&directPlay=0&directStream=1&session={session}"
    );
    let d = b.get(&format!("{base}{U}/decision?{params}")).await;
    assert_eq!(d.status, 200, "{}", d.text());
    let s = b.get(&format!("{base}{U}/start.mpd?{params}")).await;
    assert_eq!(s.status, 200, "{}", s.text());
}

fn transcoder_calls(plex: &DemoPlex) -> Vec<String> {
    plex.requests()
        .into_iter()
        .filter(|r| r.path.starts_with(U))
        .map(|r| r.path)
        .collect()
}

fn stopped(plex: &DemoPlex, session: &str) -> bool {
    plex.requests().iter().any(|r| {
        r.path == format!("{U}/stop") && r.query_param("session").as_deref() == Some(session)
    })
}

#[tokio::test]
async fn a_pause_longer_than_the_idle_timeout_resumes_and_gets_every_byte() {
    // `PLEXGATE_PAUSE_TEST=<part MiB>,<pause s>,<idle timeout s>` reproduces the field report
    // (300 MiB, a 40 s pause, the default 30 s) by hand; the default runs in seconds.
    let knobs: Vec<u64> = std::env::var("PLEXGATE_PAUSE_TEST")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .filter(|v: &Vec<u64>| v.len() == 3)
        .unwrap_or_else(|| vec![48, 3, 1]);
    let (mib, pause, idle) = (knobs[0] as usize, knobs[1], knobs[2].to_string());
    let odd = OddPlex::start("odd-plex-token-pause-1").await;
    // Far more than every socket buffer between Plex and the player, so a pause stalls Plex.
    let len = mib << 20;
    odd.serve_large("/library/parts/7/1/file.mp4", pattern(len));
    let dir = tempfile::tempdir().unwrap();
    let demo = demo_against(
        &odd.url(),
        &odd.token,
        dir.path(),
        &[("stream.upstream_idle_timeout_secs", &idle)],
    )
    .await;
    let canary = Canary::new(&[&odd.token]);
    let (_b, base) = browser(&demo, &canary).await;
    let url = format!("{}{base}/library/parts/7/1/file.mp4", demo.url());
    let mut resp = crate::support::client().get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut got: usize = 0;
    let check = |chunk: &[u8], at: usize| {
        for (i, b) in chunk.iter().enumerate() {
            assert_eq!(*b, pattern_byte(at + i), "byte {}", at + i);
        }
    };
    while got < (4 << 20) {
        let c = resp.chunk().await.unwrap().unwrap();
        check(&c, got);
        got += c.len();
    }
    // The player's buffer is full: it stops reading for longer than the idle timeout.
    tokio::time::sleep(Duration::from_secs(pause)).await;
    while let Some(c) = resp
        .chunk()
        .await
        .unwrap_or_else(|e| panic!("body cut after {got} bytes: {e}"))
    {
        check(&c, got);
        got += c.len();
    }
    assert_eq!(got, len, "every byte arrived after the pause");
    demo.shutdown().await;
}

#[tokio::test]
async fn an_upstream_that_goes_silent_or_closes_short_mid_body_is_cut_not_hung() {
    let (odd, demo, _dir) = stalling_demo("odd-plex-token-stall-1").await;
    let canary = Canary::new(&[&odd.token]);
    let (_b, base) = browser(&demo, &canary).await;
    let part = |name: &str| format!("{}{base}/library/parts/7/1/{name}", demo.url());
    // A cut body is an error, never a clean (short) end: chunked (copied) and with a
    // Content-Length of 1 MiB (spliced where the platform can).
    for name in ["stall.mp4", "stall-sized.mp4"] {
        let outcome = crate::support::body_outcome(&part(name)).await;
        assert_eq!(outcome, Err(65536), "{name}");
    }
    // Plex closing the connection 100 KiB into the MiB it promised.
    let short = crate::support::body_outcome(&part("short.mp4")).await;
    assert!(
        matches!(short, Err(n) if n <= 100 << 10),
        "a part Plex closed short ended {short:?}"
    );
    demo.shutdown().await;
}

#[tokio::test]
async fn the_stream_route_costs_plex_nothing_until_its_url_is_fetched() {
    let plex = DemoPlex::start(DemoPlexOptions::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let demo = demo_against(
        &plex.url(),
        plex.token(),
        dir.path(),
        &[
            ("stream.client_gone_secs", "1"),
            ("stream.keepalive_secs", "1"),
        ],
    )
    .await;
    let canary = Canary::new(&[plex.token()]);
    let (mut b, _base) = browser(&demo, &canary).await;

    // Bad input is still refused at once.
    b.get("/api/plex/stream/101?quality=abc")
        .await
        .assert_error(400, "invalid_parameter");

    let j = b.get("/api/plex/stream/101?protocol=dash").await.json();
    let unused = j["url"].as_str().unwrap().to_string();
    let session = j["sessionId"].as_str().unwrap().to_string();
    assert!(unused.ends_with("/start.mpd"), "{unused}");
    assert!(j["expiresAt"].as_i64().unwrap() > 0);
    assert_eq!(j["options"]["protocol"], "dash");
    assert!(transcoder_calls(&plex).is_empty(), "no decision, no start");

    // Never fetched: past the client-gone window the session ends with no call to Plex at all.
    let db = demo.state().db().clone();
    eventually("the unused session ends", Duration::from_secs(20), || {
        let (db, id) = (db.clone(), session.clone());
        async move {
            db.read(move |c| plexgate::db::playback::get(c, &id))
                .await
                .unwrap()
                .is_some_and(|r| r.end_reason.as_deref() == Some("client_gone"))
        }
    })
    .await;
    assert!(
        transcoder_calls(&plex).is_empty(),
        "an unused URL cost Plex a call: {:?}",
        transcoder_calls(&plex)
    );
    b.get(&unused).await.assert_error(403, "ticket_revoked");

    // Fetched twice at once: one decision, one start, the same manifest for both.
    let j = b.get("/api/plex/stream/101?protocol=dash").await.json();
    let url = j["url"].as_str().unwrap().to_string();
    let mut b2 = Browser::new(&demo.url(), &canary);
    let (one, two) = tokio::join!(b.get_without_cookie(&url), b2.get_without_cookie(&url));
    assert_eq!(one.status, 200, "{}", one.text());
    assert_eq!(one.body, two.body);
    let calls = transcoder_calls(&plex);
    let count = |leaf: &str| calls.iter().filter(|p| p.ends_with(leaf)).count();
    assert_eq!(
        (count("/decision"), count("/start.mpd")),
        (1, 1),
        "{calls:?}"
    );
    demo.shutdown().await;
}

#[tokio::test]
async fn a_transcode_lives_while_its_player_reports_and_ends_when_it_goes_quiet() {
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
            ("stream.client_gone_secs", "2"),
            ("stream.keepalive_secs", "1"),
        ],
    )
    .await;
    let canary = Canary::new(&[plex.token()]);
    let (mut b, base) = browser(&demo, &canary).await;
    facade_transcode(&mut b, &base, "flixor-life-1").await;

    // Paused: no segment requests, only the player's progress reports, for longer than both
    // Plex's reaping (2 s) and the client-gone window (2 s).
    let paused_until = tokio::time::Instant::now() + Duration::from_secs(5);
    while tokio::time::Instant::now() < paused_until {
        progress(&mut b, "101", "paused").await;
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    assert!(
        plex.live_transcode_sessions()
            .contains(&"flixor-life-1".to_string()),
        "a paused player that reports keeps its transcode"
    );
    assert!(!stopped(&plex, "flixor-life-1"));

    // The tab closes: no report, no stop call. plexgate stops the transcode itself.
    eventually(
        "the transcode is stopped",
        Duration::from_secs(20),
        || async { stopped(&plex, "flixor-life-1") },
    )
    .await;
    assert!(
        !plex
            .live_transcode_sessions()
            .contains(&"flixor-life-1".to_string())
    );
    // The facade (the login) lives on.
    assert_eq!(
        b.get(&format!("{base}/library/metadata/101")).await.status,
        200
    );
    demo.shutdown().await;
}

#[tokio::test]
async fn a_stopped_report_ends_every_transcode_of_the_item_at_once() {
    let plex = DemoPlex::start(DemoPlexOptions::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    // The default client-gone window (90 s): only the report can end these in time.
    let demo = demo_against(&plex.url(), plex.token(), dir.path(), &[]).await;
    let canary = Canary::new(&[plex.token()]);
    let (mut b, base) = browser(&demo, &canary).await;
    facade_transcode(&mut b, &base, "flixor-stop-1").await;
    let j = b.get("/api/plex/stream/101?protocol=hls").await.json();
    let url = j["url"].as_str().unwrap().to_string();
    assert_eq!(b.get(&url).await.status, 200);
    assert_eq!(plex.live_transcode_sessions().len(), 2);

    progress(&mut b, "101", "stopped").await;
    eventually("both transcodes end", Duration::from_secs(10), || async {
        plex.live_transcode_sessions().is_empty()
    })
    .await;
    assert!(stopped(&plex, "flixor-stop-1"));
    b.get(&url).await.assert_error(403, "ticket_revoked");
    assert_eq!(demo.state().keeper().active_transcodes(), 0);
    demo.shutdown().await;
}

#[tokio::test]
async fn a_logout_cuts_a_request_still_waiting_for_plex() {
    let odd = OddPlex::start("odd-plex-token-slow-1").await;
    odd.serve_large("/library/parts/9/1/file.mp4", pattern(1 << 20));
    let dir = tempfile::tempdir().unwrap();
    let demo = demo_against(&odd.url(), &odd.token, dir.path(), &[]).await;
    let canary = Canary::new(&[&odd.token]);
    let (mut b, base) = browser(&demo, &canary).await;
    odd.delay_headers(Some(Duration::from_secs(3)));
    let url = format!("{}{base}/library/parts/9/1/file.mp4", demo.url());
    let waiting = tokio::spawn(async move {
        let resp = crate::support::client().get(&url).send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.bytes().await.map(|b| b.len()))
    });
    eventually(
        "plex is asked for the part",
        Duration::from_secs(10),
        || async {
            odd.seen
                .lock()
                .unwrap()
                .iter()
                .any(|p| p == "/library/parts/9/1/file.mp4")
        },
    )
    .await;
    let logout = std::time::Instant::now();
    assert_eq!(b.post("/api/auth/logout").await.status, 200);
    let (status, body) = waiting.await.unwrap();
    // For the record (not asserted): how long after the logout the waiting request ended.
    eprintln!(
        "revoked while waiting: answered {:?} after the logout",
        logout.elapsed()
    );
    assert_eq!(
        status, 403,
        "the revoked request must not stream ({body:?})"
    );
    demo.shutdown().await;
}

#[tokio::test]
async fn two_browsers_are_two_plex_clients_and_never_disturb_each_other() {
    let plex = DemoPlex::start(DemoPlexOptions::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let demo = demo_against(&plex.url(), plex.token(), dir.path(), &[]).await;
    let canary = Canary::new(&[plex.token()]);
    let (mut a, base_a) = browser(&demo, &canary).await;
    let (mut b, base_b) = browser(&demo, &canary).await;
    let meta = a
        .get(&format!("{base_a}/library/metadata/101"))
        .await
        .json();
    let part = meta["MediaContainer"]["Metadata"][0]["Media"][0]["Part"][0]["key"]
        .as_str()
        .unwrap()
        .to_string();
    let range = [("range", "bytes=0-1023")];
    assert_eq!(
        a.get_with(&format!("{base_a}{part}"), &range).await.status,
        206
    );

    // B transcodes the same movie; A keeps direct-playing.
    facade_transcode(&mut b, &base_b, "flixor-b-1").await;
    let again = a.get_with(&format!("{base_a}{part}"), &range).await;
    assert_eq!(again.status, 206, "A's direct play survives B's transcode");

    let ids = |path_end: &str| -> Vec<String> {
        plex.requests()
            .iter()
            .filter(|r| r.path.ends_with(path_end))
            .filter_map(|r| r.header("x-plex-client-identifier").map(str::to_string))
            .collect()
    };
    let a_ids = ids("file.mp4");
    let b_ids = ids("/decision");
    assert!(!a_ids.is_empty() && !b_ids.is_empty());
    assert!(
        a_ids.iter().all(|id| id == &a_ids[0]),
        "one identifier per browser"
    );
    assert_ne!(a_ids[0], b_ids[0], "Plex sees two clients");
    let names: Vec<String> = plex
        .requests()
        .iter()
        .filter_map(|r| r.header("x-plex-device-name").map(str::to_string))
        .collect();
    assert!(
        names.iter().any(|n| n.starts_with("plexgate · Chrome")),
        "{names:?}"
    );

    // B stops: only B's transcode ends, with B's identity; A plays on.
    progress(&mut b, "101", "stopped").await;
    eventually("B's transcode ends", Duration::from_secs(10), || async {
        stopped(&plex, "flixor-b-1")
    })
    .await;
    let stop = plex
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/stop"))
        .unwrap();
    assert_eq!(
        stop.header("x-plex-client-identifier"),
        Some(b_ids[0].as_str())
    );
    assert_eq!(
        a.get_with(&format!("{base_a}{part}"), &range).await.status,
        206
    );
    demo.shutdown().await;
}
