//! Tokenless streaming end to end against the embedded demo Plex: the facade the Flixor player
//! drives itself, `/api/plex/stream`, the segment proxy, revocation, and the leak canary over
//! every byte the browser receives.

use std::time::Duration;

use crate::support::browser::Browser;
use crate::support::canary::Canary;
use crate::support::{raw_get, test_config};
use plexgate::app::demo::Demo;

struct World {
    demo: Demo,
    _dir: tempfile::TempDir,
}

impl World {
    async fn start(extra: &[(&str, &str)]) -> World {
        let dir = tempfile::tempdir().unwrap();
        let config = test_config(dir.path(), extra);
        let demo = Demo::start(config).await.expect("demo starts");
        World { demo, _dir: dir }
    }

    fn plex(&self) -> &plexgate::demo::DemoPlex {
        self.demo.embedded_plex().unwrap()
    }

    fn token(&self) -> String {
        self.plex().token().to_string()
    }

    /// Asserts every request plexgate made to Plex carried the token as a header, never in the
    /// URL, and plexgate's own identity instead of the browser's.
    fn assert_upstream_hygiene(&self) {
        let token = self.token();
        let requests = self.plex().requests();
        assert!(!requests.is_empty());
        for r in requests {
            if r.path == "/identity" {
                continue;
            }
            let q = r.query.clone().unwrap_or_default();
            assert!(!q.contains(&token), "token in upstream query of {}", r.path);
            assert!(
                !q.to_ascii_lowercase().contains("x-plex-token"),
                "{} {q}",
                r.path
            );
            assert_eq!(r.header("x-plex-token"), Some(token.as_str()), "{}", r.path);
            // One token and one name, plexgate's: nothing the browser sent (its ticket as
            // `X-Plex-Token`, its User-Agent) rides along as a second value.
            assert_eq!(
                r.headers.get_all("x-plex-token").iter().count(),
                1,
                "{}",
                r.path
            );
            let agents: Vec<_> = r.headers.get_all("user-agent").iter().collect();
            assert_eq!(agents.len(), 1, "{}: {agents:?}", r.path);
            assert!(
                agents[0].as_bytes().starts_with(b"plexgate/"),
                "{}: {agents:?}",
                r.path
            );
            assert_eq!(r.header("x-plex-product"), Some("plexgate"), "{}", r.path);
            assert_eq!(r.header("x-plex-platform"), Some("Chrome"), "{}", r.path);
            assert_eq!(r.header("x-plex-device"), Some("Web"), "{}", r.path);
            assert!(r.header("x-plex-client-identifier").is_some(), "{}", r.path);
            assert_ne!(
                r.header("x-plex-client-identifier"),
                Some("browser-client-id")
            );
            assert!(
                !q.contains("browser-client-id"),
                "browser identity forwarded: {q}"
            );
        }
    }
}

async fn signed_in<'c>(world: &World, canary: &'c Canary) -> (Browser<'c>, String, String) {
    let mut b = Browser::new(&world.demo.url(), canary);
    let login = b.post("/api/auth/demo-login").await;
    assert_eq!(login.status, 200, "{}", login.text());
    assert!(b.cookie.as_deref().unwrap_or("").starts_with("plex.sid="));
    let servers = b.get("/api/auth/servers").await;
    assert_eq!(servers.status, 200, "{}", servers.text());
    let s = &servers.json()[0];
    let base = s["baseUrl"].as_str().unwrap().to_string();
    let token = s["token"].as_str().unwrap().to_string();
    assert!(base.starts_with("/api/plex/proxy/"), "{base}");
    assert!(base.ends_with(&token), "baseUrl embeds the facade ticket");
    assert_eq!(s["clientIdentifier"], world.plex().machine_identifier());
    for c in s["connections"].as_array().unwrap() {
        assert_eq!(
            c["uri"],
            base.as_str(),
            "connections point at the facade too"
        );
    }
    (b, base, token)
}

/// Identity the Flixor player appends to every facade call (it must be replaced, not forwarded).
fn player_identity(ticket: &str) -> String {
    format!(
        "X-Plex-Product=Flixor&X-Plex-Version=1.0.0&X-Plex-Client-Identifier=browser-client-id\
         &X-Plex-Platform=Web&X-Plex-Device=Chrome&X-Plex-Token={ticket}"
    )
}

/// The direct-play part key of the demo movie, read through the facade as the player does.
async fn movie_part_key(b: &mut Browser<'_>, base: &str) -> String {
    let meta = b.get(&format!("{base}/library/metadata/101")).await.json();
    meta["MediaContainer"]["Metadata"][0]["Media"][0]["Part"][0]["key"]
        .as_str()
        .unwrap()
        .to_string()
}

fn uris_in_mpd(mpd: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["media=\"", "initialization=\""] {
        for part in mpd.split(attr).skip(1) {
            out.push(part.split('"').next().unwrap().replace("&amp;", "&"));
        }
    }
    out
}

fn uris_in_m3u8(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') {
            if let Some(rest) = line.split("URI=\"").nth(1) {
                out.push(rest.split('"').next().unwrap().to_string());
            }
        } else if !line.trim().is_empty() {
            out.push(line.trim().to_string());
        }
    }
    out
}

#[tokio::test]
async fn facade_drives_dash_decision_start_segments_timeline_stop() {
    let world = World::start(&[]).await;
    let canary = Canary::new(&[&world.token()]);
    let (mut b, base, ticket) = signed_in(&world, &canary).await;
    let id = player_identity(&ticket);

    let meta = b.get(&format!("{base}/library/metadata/101?{id}")).await;
    assert_eq!(meta.status, 200, "{}", meta.text());
    assert_eq!(
        meta.json()["MediaContainer"]["Metadata"][0]["ratingKey"],
        "101"
    );

    let params = "hasMDE=1&path=%2Flibrary%2Fmetadata%2F101&mediaIndex=0&partIndex=0&protocol=dash\
                  &fastSeek=1&directPlay=0&directStream=1&session=flixor-sess-1";
    let decision = b
        .get_with(
            &format!("{base}/video/:/transcode/universal/decision?{params}&{id}"),
            &[
                ("accept", "application/json"),
                ("x-plex-token", &ticket),
                (
                    "user-agent",
                    "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36",
                ),
            ],
        )
        .await;
    assert_eq!(decision.status, 200, "{}", decision.text());
    let start = b
        .get_without_cookie(&format!(
            "{base}/video/:/transcode/universal/start.mpd?{params}&{id}"
        ))
        .await;
    assert_eq!(start.status, 200, "{}", start.text());
    assert_eq!(start.header("content-type"), Some("application/dash+xml"));
    let mpd = start.text();
    let uris = uris_in_mpd(&mpd);
    assert!(uris.len() >= 4, "{mpd}");
    for u in &uris {
        assert!(
            u.starts_with(&format!(
                "{base}/video/:/transcode/universal/session/flixor-sess-1/"
            )),
            "{u}"
        );
    }
    // Fetch init and first two segments of every representation, as dash.js would (no cookie).
    for template in uris.iter().filter(|u| u.contains("$Number$")) {
        for rep in ["0", "1", "2"] {
            let t = template.replace("$RepresentationID$", rep);
            for n in 0..2 {
                let seg = b
                    .get_without_cookie(&t.replace("$Number$", &n.to_string()))
                    .await;
                assert_eq!(seg.status, 200, "{t} #{n}");
                assert_eq!(seg.header("content-type"), Some("video/mp4"));
                assert!(seg.body.len() > 100);
            }
        }
    }
    let init = uris
        .iter()
        .find(|u| u.ends_with("/header"))
        .unwrap()
        .replace("$RepresentationID$", "0");
    let header = b.get_without_cookie(&init).await;
    assert_eq!(&header.body[4..8], b"ftyp");

    let timeline = b
        .request(
            reqwest::Method::POST,
            &format!("{base}/:/timeline?ratingKey=101&key=%2Flibrary%2Fmetadata%2F101&state=playing&time=61000&duration=10000&{id}"),
            &[],
            None,
            true,
        )
        .await;
    assert_eq!(timeline.status, 200, "{}", timeline.text());
    let stop = b
        .get(&format!(
            "{base}/video/:/transcode/universal/stop?session=flixor-sess-1&{id}"
        ))
        .await;
    assert_eq!(stop.status, 200);
    assert!(
        !world
            .plex()
            .live_transcode_sessions()
            .contains(&"flixor-sess-1".to_string())
    );
    world.assert_upstream_hygiene();
    // The browser never talked to the Plex port.
    let plex_port = world.plex().addr().port().to_string();
    assert!(b.urls.iter().all(|u| !u.contains(&format!(":{plex_port}"))));
    assert!(canary.scanned() > 20);
}

#[tokio::test]
async fn facade_hls_ts_and_fmp4_play_through_rewritten_playlists() {
    let world = World::start(&[]).await;
    let canary = Canary::new(&[&world.token()]);
    let (mut b, base, ticket) = signed_in(&world, &canary).await;
    let id = player_identity(&ticket);
    for (session, container, magic) in
        [("hls-ts", "mpegts", &[0x47u8][..]), ("hls-mp4", "mp4", b"")]
    {
        let params = format!(
            "hasMDE=1&path=%2Flibrary%2Fmetadata%2F101&protocol=hls&directPlay=0&directStream=1&container={container}&session={session}"
        );
        let d = b
            .get(&format!(
                "{base}/video/:/transcode/universal/decision?{params}&{id}"
            ))
            .await;
        assert_eq!(d.status, 200, "{}", d.text());
        let master = b
            .get(&format!(
                "{base}/video/:/transcode/universal/start.m3u8?{params}&{id}"
            ))
            .await;
        assert_eq!(master.status, 200, "{}", master.text());
        assert_eq!(
            master.header("content-type"),
            Some("application/vnd.apple.mpegurl")
        );
        let variants = uris_in_m3u8(&master.text());
        assert!(!variants.is_empty());
        for v in &variants {
            assert!(v.starts_with(&base), "{v}");
            let media = b.get(v).await;
            assert_eq!(media.status, 200, "{v}: {}", media.text());
            let segs = uris_in_m3u8(&media.text());
            assert!(segs.len() >= 5, "{}", media.text());
            for s in segs.iter().take(3) {
                assert!(s.starts_with(&base), "{s}");
                let seg = b.get(s).await;
                assert_eq!(seg.status, 200, "{s}");
                if !magic.is_empty() {
                    assert_eq!(&seg.body[..1], magic, "{s}");
                }
            }
        }
    }
    world.assert_upstream_hygiene();
}

#[tokio::test]
async fn direct_play_part_honours_range_head_and_416() {
    let world = World::start(&[]).await;
    let canary = Canary::new(&[&world.token()]);
    let (mut b, base, ticket) = signed_in(&world, &canary).await;
    let part = movie_part_key(&mut b, &base).await;
    let url = format!("{base}{part}?X-Plex-Token={ticket}");
    let file = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/media/movie.mp4"
    ))
    .unwrap();

    let whole = b.get(&url).await;
    assert_eq!(whole.status, 200);
    assert_eq!(whole.body.len(), file.len());
    assert_eq!(whole.header("accept-ranges"), Some("bytes"));

    let r = b.get_with(&url, &[("range", "bytes=100-1123")]).await;
    assert_eq!(r.status, 206);
    assert_eq!(
        r.header("content-range"),
        Some(format!("bytes 100-1123/{}", file.len()).as_str())
    );
    assert_eq!(&r.body[..], &file[100..1124]);

    let suffix = b.get_with(&url, &[("range", "bytes=-500")]).await;
    assert_eq!(suffix.status, 206);
    assert_eq!(&suffix.body[..], &file[file.len() - 500..]);

    let past = b
        .get_with(&url, &[("range", &format!("bytes={}-", file.len() + 10))])
        .await;
    assert_eq!(past.status, 416);
    assert_eq!(
        past.header("content-range"),
        Some(format!("bytes */{}", file.len()).as_str())
    );

    let head = b
        .request(reqwest::Method::HEAD, &url, &[], None, true)
        .await;
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("content-length"),
        Some(file.len().to_string().as_str())
    );
    assert!(head.body.is_empty());

    // Conditional: If-Range with a stale validator gives the whole file.
    let etag = whole.header("etag").map(str::to_string);
    if let Some(etag) = etag {
        let ir = b
            .get_with(&url, &[("range", "bytes=0-9"), ("if-range", &etag)])
            .await;
        assert_eq!(ir.status, 206);
        let stale = b
            .get_with(&url, &[("range", "bytes=0-9"), ("if-range", "\"stale\"")])
            .await;
        assert_eq!(stale.status, 200);
    }
    world.assert_upstream_hygiene();
}

#[tokio::test]
async fn facade_refuses_what_is_out_of_scope_and_bad_tickets() {
    let world = World::start(&[]).await;
    let canary = Canary::new(&[&world.token()]);
    let (mut b, base, ticket) = signed_in(&world, &canary).await;
    world.plex().clear_requests();
    b.get(&format!("{base}/:/prefs"))
        .await
        .assert_error(403, "ticket_scope");
    b.get(&format!("{base}/library/sections/1/refresh"))
        .await
        .assert_error(403, "ticket_scope");
    b.request(
        reqwest::Method::DELETE,
        &format!("{base}/library/metadata/101"),
        &[],
        None,
        true,
    )
    .await
    .assert_error(403, "ticket_method");
    // Sent raw: an HTTP client library would normalise these before sending.
    for path in [
        format!("{base}/library/%2e%2e/%2e%2e/:/prefs"),
        format!("{base}/library/../:/prefs"),
        format!("{base}/library/metadata%2F101"),
        format!("{base}/library//metadata/101"),
        format!("{base}/library/metadata/101%5c..%5c"),
    ] {
        let answer = raw_get(&world.demo.url(), &path).await;
        assert!(answer.starts_with("HTTP/1.1 403"), "{path}: {answer}");
        assert!(answer.contains("\"ticket_bad_path\""), "{path}: {answer}");
    }
    let photo = format!("{base}/photo/:/transcode?width=10&url=http%3A%2F%2F127.0.0.1%3A9%2Fx.jpg");
    b.get(&photo).await.assert_error(403, "ticket_scope");

    // Tampered, truncated and foreign tickets.
    let mut bytes = ticket.clone().into_bytes();
    let i = bytes.len() / 2;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(bytes).unwrap();
    b.get(&format!("/api/plex/proxy/{tampered}/library/metadata/101"))
        .await
        .assert_error(403, "ticket_bad_signature");
    b.get("/api/plex/proxy/not-a-ticket/library/metadata/101")
        .await
        .assert_error(403, "ticket_malformed");
    assert!(
        world.plex().requests().is_empty(),
        "refused requests never reach Plex"
    );
}

#[tokio::test]
async fn stream_route_plays_dash_without_cookies_and_stop_revokes() {
    let world = World::start(&[]).await;
    let canary = Canary::new(&[&world.token()]);
    let (mut b, _base, _ticket) = signed_in(&world, &canary).await;
    let r = b
        .get("/api/plex/stream/101?quality=2000&audioStreamID=402")
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    let url = j["url"].as_str().unwrap().to_string();
    assert!(
        url.ends_with(".mpd") && url.contains("/api/plex/proxy/"),
        "{url}"
    );
    assert_eq!(j["ratingKey"], "101");
    assert_eq!(j["options"]["quality"], "2000");
    let session_id = j["sessionId"].as_str().unwrap().to_string();
    assert!(
        world.plex().live_transcode_sessions().is_empty(),
        "nothing starts before the URL is fetched"
    );

    let mpd = b.get_without_cookie(&url).await;
    assert_eq!(mpd.status, 200, "{}", mpd.text());
    let live = world.plex().live_transcode_sessions();
    assert_eq!(live.len(), 1, "plexgate started exactly one transcode");
    let again = b.get_without_cookie(&url).await;
    assert_eq!(
        again.body, mpd.body,
        "the start manifest is served again, not re-started"
    );
    assert_eq!(world.plex().live_transcode_sessions().len(), 1);
    let uris = uris_in_mpd(&mpd.text());
    let media = uris.iter().find(|u| u.contains("$Number$")).unwrap();
    let seg_url = media
        .replace("$RepresentationID$", "0")
        .replace("$Number$", "0");
    assert_eq!(b.get_without_cookie(&seg_url).await.status, 200);

    // Out of its scope: a playback ticket reaches only its own transcode session.
    let ticket = url.split('/').nth(4).unwrap().to_string();
    b.get_without_cookie(&format!("/api/plex/proxy/{ticket}/library/metadata/101"))
        .await
        .assert_error(403, "ticket_scope");

    let stop = b.post(&format!("/api/plex/stream/{session_id}/stop")).await;
    assert_eq!(stop.status, 200, "{}", stop.text());
    b.get_without_cookie(&seg_url)
        .await
        .assert_error(403, "ticket_revoked");
    assert!(
        world.plex().live_transcode_sessions().is_empty(),
        "transcode stopped on Plex"
    );
    world.assert_upstream_hygiene();

    // What plexgate sent to decision and start.
    let reqs = world.plex().requests();
    let decision = reqs.iter().find(|r| r.path.ends_with("/decision")).unwrap();
    assert_eq!(
        decision.query_param("maxVideoBitrate").as_deref(),
        Some("2000")
    );
    assert_eq!(
        decision.query_param("audioStreamID").as_deref(),
        Some("402")
    );
    assert!(
        decision
            .query_param("X-Plex-Client-Profile-Extra")
            .unwrap()
            .contains("add-transcode-target")
    );
    assert_eq!(
        decision.header("x-plex-session-identifier"),
        Some(session_id.as_str())
    );
    let start = reqs
        .iter()
        .find(|r| r.path.ends_with("/start.mpd"))
        .unwrap();
    assert_eq!(
        start.query_param("session"),
        decision.query_param("session")
    );
}

#[tokio::test]
async fn stream_route_hls_and_quality_switch_replaces_the_session() {
    let world = World::start(&[]).await;
    let canary = Canary::new(&[&world.token()]);
    let (mut b, _, _) = signed_in(&world, &canary).await;
    let first = b.get("/api/plex/stream/101?protocol=hls").await.json();
    let url1 = first["url"].as_str().unwrap().to_string();
    assert!(url1.ends_with(".m3u8"));
    let master = b.get(&url1).await;
    assert_eq!(master.status, 200, "{}", master.text());
    let variant = uris_in_m3u8(&master.text())[0].clone();
    assert_eq!(b.get(&variant).await.status, 200);

    let second = b
        .get("/api/plex/stream/101?protocol=hls&quality=300")
        .await
        .json();
    let url2 = second["url"].as_str().unwrap().to_string();
    assert_ne!(url1, url2);
    b.get(&variant).await.assert_error(403, "ticket_revoked");
    let master2 = b.get(&url2).await.text();
    assert_eq!(
        uris_in_m3u8(&master2).len(),
        1,
        "quality cap leaves the low rendition: {master2}"
    );
    assert_eq!(
        world.plex().live_transcode_sessions().len(),
        1,
        "old transcode stopped"
    );
}

#[tokio::test]
async fn stream_route_validates_options_and_direct_mode_is_off_by_default() {
    let world = World::start(&[]).await;
    let canary = Canary::new(&[&world.token()]);
    let (mut b, _, _) = signed_in(&world, &canary).await;
    b.get("/api/plex/stream/101?mode=direct")
        .await
        .assert_error(403, "direct_mode_disabled");
    b.get("/api/plex/stream/101?quality=fast")
        .await
        .assert_error(400, "invalid_parameter");
    b.get("/api/plex/stream/101?protocol=rtmp")
        .await
        .assert_error(400, "invalid_parameter");
    b.get("/api/plex/stream/abc")
        .await
        .assert_error(400, "invalid_rating_key");
    // An unknown item: the route answers from local state; Plex's 404 comes with the first
    // fetch of the URL.
    let unknown = b.get("/api/plex/stream/999999").await;
    assert_eq!(unknown.status, 200, "{}", unknown.text());
    let url = unknown.json()["url"].as_str().unwrap().to_string();
    b.get_without_cookie(&url)
        .await
        .assert_error(404, "plex_not_found");
    let mut anon = Browser::new(&world.demo.url(), &canary);
    anon.get("/api/plex/stream/101")
        .await
        .assert_error(401, "unauthorized");
}

#[tokio::test]
async fn direct_mode_when_allowed_hands_out_the_token_and_the_canary_sees_it() {
    let world = World::start(&[("stream.allow_direct", "true")]).await;
    let canary = Canary::new(&[&world.token()]);
    let quiet = Canary::new(&["unrelated-secret-value"]);
    let mut b = Browser::new(&world.demo.url(), &quiet);
    assert_eq!(b.post("/api/auth/demo-login").await.status, 200);
    let r = b.get("/api/plex/stream/101?mode=direct").await;
    assert_eq!(r.status, 200);
    assert!(
        canary.find(&r.body).is_some(),
        "the canary must be able to fail: direct mode puts the token in the URL"
    );
    let url = r.json()["url"].as_str().unwrap().to_string();
    assert!(url.starts_with(&world.plex().url()));
    // The classic URL really plays: decision made, identity in the query.
    let mpd = crate::support::client().get(&url).send().await.unwrap();
    assert_eq!(mpd.status(), 200);
    assert!(mpd.text().await.unwrap().contains("<MPD"));
}

#[tokio::test]
async fn logout_revokes_facade_and_aborts_a_live_body() {
    let world = World::start(&[]).await;
    let canary = Canary::new(&[&world.token()]);
    let (mut b, base, _) = signed_in(&world, &canary).await;
    let part = movie_part_key(&mut b, &base).await;
    // A slow body in flight when the user signs out.
    world.plex().faults().throttle(Some(64 * 1024));
    let client = crate::support::client();
    let url = format!("{}{base}{part}", world.demo.url());
    let mut resp = client.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let _ = resp.chunk().await.unwrap();
    let logout = b.post("/api/auth/logout").await;
    assert_eq!(logout.status, 200);
    assert!(logout.header("set-cookie").unwrap().contains("Max-Age=0"));
    // Within 2 s of logout.
    let ended = crate::support::how_body_ends(&mut resp, Duration::from_secs(2)).await;
    assert_eq!(ended, "error", "a revoked body must not look complete");
    world.plex().faults().throttle(None);
    b.get(&format!("{base}/library/metadata/101"))
        .await
        .assert_error(403, "ticket_revoked");
    let session = b.get("/api/auth/session").await.json();
    assert_eq!(session["authenticated"], false);
}

#[tokio::test]
async fn upstream_reset_mid_body_is_an_error_not_a_short_success() {
    let world = World::start(&[]).await;
    let canary = Canary::new(&[&world.token()]);
    let (mut b, base, _) = signed_in(&world, &canary).await;
    let part = movie_part_key(&mut b, &base).await;
    world.plex().faults().reset_mid_body(Some(100_000));
    let resp = crate::support::client()
        .get(format!("{}{base}{part}", world.demo.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.bytes().await.is_err(), "client must see the failure");
}

#[tokio::test]
async fn upstream_errors_become_json_errors() {
    let world = World::start(&[]).await;
    let canary = Canary::new(&[&world.token()]);
    let (mut b, base, _) = signed_in(&world, &canary).await;
    world.plex().faults().fail_nth(1, 503);
    b.get(&format!("{base}/library/metadata/101"))
        .await
        .assert_error(503, "plex_unavailable");
    b.get(&format!("{base}/library/metadata/424242"))
        .await
        .assert_error(404, "plex_not_found");
    // A transcoder start without a decision: Plex says 400, the browser gets JSON.
    b.get(&format!("{base}/video/:/transcode/universal/start.mpd?session=never-decided&path=%2Flibrary%2Fmetadata%2F101&protocol=dash"))
        .await
        .assert_error(400, "plex_bad_request");
}

#[tokio::test]
async fn metrics_count_verifications_and_bytes() {
    let world = World::start(&[("metrics.enabled", "true")]).await;
    let canary = Canary::new(&[&world.token()]);
    let (mut b, base, _) = signed_in(&world, &canary).await;
    b.get(&format!("{base}/library/metadata/101")).await;
    b.get("/api/plex/proxy/garbage-ticket/x").await;
    let m = b.get("/metrics").await.text();
    assert!(
        m.contains("plexgate_ticket_verifications_total{outcome=\"ok\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("plexgate_ticket_verifications_total{outcome=\"malformed\"} 1"),
        "{m}"
    );
    assert!(m.contains("plexgate_active_playback_sessions 1"), "{m}");
    assert!(!m.contains("plexgate_proxied_bytes_total 0\n"), "{m}");
}

#[tokio::test]
async fn progress_sent_through_the_facade_invalidates_cached_metadata() {
    let world = World::start(&[]).await;
    let canary = Canary::new(&[&world.token()]);
    let (mut b, base, _) = signed_in(&world, &canary).await;
    assert_eq!(
        b.get("/api/plex/metadata/101").await.header("x-cache"),
        Some("MISS")
    );
    assert_eq!(
        b.get("/api/plex/metadata/101").await.header("x-cache"),
        Some("HIT")
    );
    let t = b
        .post(&format!(
            "{base}/:/timeline?ratingKey=101&key=%2Flibrary%2Fmetadata%2F101&state=paused&time=4000&duration=10000"
        ))
        .await;
    assert_eq!(t.status, 200, "{}", t.text());
    assert_eq!(
        b.get("/api/plex/metadata/101").await.header("x-cache"),
        Some("MISS")
    );
}
