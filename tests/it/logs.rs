//! Logs that explain failures (issue 14 item 6): every line inside a request carries its
//! `request_id`, an error's access line its `code`, segments and parts log at DEBUG unless they
//! fail, and a playback session gets one INFO line when it starts and one when it ends.
//!
//! The capture is the binary-wide subscriber at DEBUG (`LogCapture`): other tests log into it
//! too, so every assertion first picks its own lines by request id or session id.

use std::time::Duration;

use crate::support::browser::demo_browser;
use crate::support::canary::Canary;
use crate::support::client;
use crate::support::odd_plex::stalling_demo;
use crate::support::plex_world::PlexWorld;
use crate::support::services::LogCapture;

/// The first captured line that `pick` accepts, awaited: an access line is written when the
/// server sees the end of the body, which may be just after the client has read all of it.
async fn line(log: &LogCapture, what: &str, pick: impl Fn(&str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(l) = log.text().lines().find(|l| pick(l)) {
            return l.to_string();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never logged: {what}\n{}",
            log.text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn access_line_of(id: &str) -> impl Fn(&str) -> bool + '_ {
    move |l: &str| l.contains("plexgate::access") && l.contains(&format!("request_id={id}"))
}

fn assert_clean(log: &LogCapture, canary: &Canary) {
    if let Some(found) = canary.find(log.text().as_bytes()) {
        panic!("LEAK in the log: {found}");
    }
}

#[tokio::test]
async fn lines_inside_a_request_carry_its_request_id_and_sessions_log_start_and_end() {
    let log = LogCapture::install();
    let world = PlexWorld::start(&[]).await;
    let canary = world.canary();
    let mut b = world.alice(&canary).await;

    let r = b.get("/api/plex/stream/101?protocol=dash").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let id = r.header("x-request-id").expect("x-request-id").to_string();
    let session = r.json()["sessionId"].as_str().unwrap().to_string();

    let start = line(&log, "the session start line", |l| {
        l.contains("playback session started") && l.contains(&session)
    })
    .await;
    assert!(start.contains(" INFO "), "{start}");
    assert!(
        start.contains(&format!("request{{request_id={id}}}")),
        "logged inside its request's span: {start}"
    );
    for field in ["rating_key=\"101\"", "protocol=\"dash\"", "user_id="] {
        assert!(start.contains(field), "{field} missing: {start}");
    }
    let access = line(&log, "the access line", access_line_of(&id)).await;
    assert!(
        access.contains("route=\"/api/plex/stream/{id}\""),
        "{access}"
    );
    // Every line naming that request names no other (no span of another request around it).
    for l in log
        .text()
        .lines()
        .filter(|l| l.contains(&format!("request_id={id}")))
    {
        assert_eq!(l.matches("request_id=").count(), 1, "{l}");
    }

    // The player fetches the manifest and a segment, then stops.
    let url = r.json()["url"].as_str().unwrap().to_string();
    assert_eq!(b.get_without_cookie(&url).await.status, 200);
    let stop = b.post(&format!("/api/plex/stream/{session}/stop")).await;
    assert_eq!(stop.status, 200, "{}", stop.text());
    let end = line(&log, "the session end line", |l| {
        l.contains("playback session ended") && l.contains(&session)
    })
    .await;
    assert!(end.contains(" INFO "), "{end}");
    for field in [
        "rating_key=\"101\"",
        "protocol=\"dash\"",
        "bytes=",
        "duration_secs=",
        "reason=\"stopped\"",
    ] {
        assert!(end.contains(field), "{field} missing: {end}");
    }
    assert_clean(&log, &canary);
}

#[tokio::test]
async fn an_error_access_line_carries_its_code() {
    let log = LogCapture::install();
    let world = PlexWorld::start(&[]).await;
    let canary = world.canary();
    let mut b = world.alice(&canary).await;
    let r = b
        .get("/api/plex/proxy/garbage-ticket/library/sections")
        .await;
    r.assert_error(403, "ticket_malformed");
    let id = r.header("x-request-id").unwrap().to_string();
    let access = line(&log, "the access line", access_line_of(&id)).await;
    assert!(access.contains(" INFO "), "{access}");
    assert!(access.contains("status=403"), "{access}");
    assert!(access.contains("code=\"ticket_malformed\""), "{access}");
    assert!(
        !access.contains("garbage-ticket"),
        "the raw path is never logged: {access}"
    );
    let duration = access
        .split("duration_ms=")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .unwrap();
    let decimals = duration.split('.').nth(1).map_or(0, str::len);
    assert!(decimals <= 2, "duration_ms rounded to 0.01: {duration}");

    let ok = b.get("/health").await;
    let id = ok.header("x-request-id").unwrap().to_string();
    let access = line(&log, "the /health access line", access_line_of(&id)).await;
    assert!(!access.contains("code="), "a success has no code: {access}");
}

#[tokio::test]
async fn a_part_fetch_logs_at_debug_unless_it_fails() {
    let log = LogCapture::install();
    let world = PlexWorld::start(&[]).await;
    let canary = world.canary();
    let mut b = world.alice(&canary).await;
    let base = b.facade_base().await;
    let meta = b.get(&format!("{base}/library/metadata/101")).await;
    let meta_id = meta.header("x-request-id").unwrap().to_string();
    let part = meta.json()["MediaContainer"]["Metadata"][0]["Media"][0]["Part"][0]["key"]
        .as_str()
        .unwrap()
        .to_string();

    let r = b
        .get_with(&format!("{base}{part}"), &[("range", "bytes=0-1023")])
        .await;
    assert_eq!(r.status, 206);
    let id = r.header("x-request-id").unwrap().to_string();
    let access = line(&log, "the part's access line", access_line_of(&id)).await;
    assert!(access.contains(" DEBUG "), "a part is DEBUG: {access}");

    // Metadata through the same facade is not media: INFO.
    let access = line(&log, "the metadata access line", access_line_of(&meta_id)).await;
    assert!(access.contains(" INFO "), "{access}");

    // A part that fails (Plex answers 503) is INFO again.
    world.plex.faults().fail_nth(1, 503);
    let r = b.get(&format!("{base}{part}")).await;
    assert!(r.status.is_server_error(), "{}", r.status);
    let id = r.header("x-request-id").unwrap().to_string();
    let access = line(&log, "the failed part's access line", access_line_of(&id)).await;
    assert!(access.contains(" INFO "), "a failed part is INFO: {access}");
    assert_clean(&log, &canary);
}

/// The WARN line for a body Plex cut short names the request, whichever path carried the body:
/// a spliced body is relayed while hyper writes to the player, outside the handler's future
/// and outside the body's frames, where no span is entered by itself.
#[tokio::test]
async fn a_body_plex_cuts_short_is_logged_with_its_request_id_spliced_or_copied() {
    let log = LogCapture::install();
    let (odd, demo, _dir) = stalling_demo("odd-plex-token-logs-1").await;
    let canary = Canary::new(&[&odd.token]);
    let (_b, base) = demo_browser(&demo, &canary).await;
    // Silent after 64 KiB with a Content-Length (spliced where the platform can), the same
    // chunked (copied), and closed 100 KiB into the MiB it promised (spliced).
    for name in ["stall-sized.mp4", "stall.mp4", "short.mp4"] {
        let url = format!("{}{base}/library/parts/7/1/{name}", demo.url());
        let mut resp = client().get(url).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{name}");
        let id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
        while let Ok(Some(_)) = resp.chunk().await {}
        let warn = line(&log, &format!("{name}'s warning"), |l| {
            l.contains("cut short") && l.contains(&format!("request{{request_id={id}}}"))
        })
        .await;
        assert!(warn.contains(" WARN "), "{warn}");
    }
    assert_clean(&log, &canary);
    demo.shutdown().await;
}
