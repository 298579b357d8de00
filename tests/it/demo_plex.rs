//! The embedded demo Plex over real HTTP: auth, shapes, transcoder rules, Range, sessions,
//! fault knobs and the request log (protocol reference §3–§9).

use std::time::{Duration, Instant};

use plexgate::demo::{DemoPlex, DemoPlexOptions};
use reqwest::{Client, RequestBuilder, Response, StatusCode};
use serde_json::Value;

const UNAUTHORIZED: &str = "<html><head><script>window.location = window.location.href.match(/(^.+\\/)[^\\/]*$/)[1] + 'web/index.html';</script><title>Unauthorized</title></head><body><h1>401 Unauthorized</h1></body></html>";
const UNIVERSAL: &str = "/video/:/transcode/universal";
const CLIENT_ID: &str = "demo-test-client";

async fn start() -> DemoPlex {
    start_with(DemoPlexOptions::default()).await
}

async fn start_with(opts: DemoPlexOptions) -> DemoPlex {
    DemoPlex::start(opts).await.expect("demo plex starts")
}

fn client() -> Client {
    // reqwest is built with `rustls-no-provider` (shared with the main crate): pick ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

/// Percent-encodes a query component.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn query(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// GET `path` with the token header.
fn get(plex: &DemoPlex, path: &str) -> RequestBuilder {
    client()
        .get(format!("{}{path}", plex.url()))
        .header("X-Plex-Token", plex.token())
}

/// Adds the identity headers PMS ≥ 1.40 requires on the transcoder.
fn ident(rb: RequestBuilder) -> RequestBuilder {
    rb.header("X-Plex-Product", "plexgate")
        .header("X-Plex-Platform", "Chrome")
        .header("X-Plex-Device", "Web")
        .header("X-Plex-Client-Identifier", CLIENT_ID)
}

fn transcode_query(session: &str, protocol: &str, extra: &[(&str, &str)]) -> String {
    let mut pairs = vec![
        ("hasMDE", "1"),
        ("path", "/library/metadata/101"),
        ("mediaIndex", "0"),
        ("partIndex", "0"),
        ("protocol", protocol),
        ("fastSeek", "1"),
        ("directPlay", "0"),
        ("directStream", "1"),
        ("session", session),
    ];
    pairs.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
    pairs.extend_from_slice(extra);
    query(&pairs)
}

async fn decide(plex: &DemoPlex, session: &str, protocol: &str, extra: &[(&str, &str)]) -> Value {
    let q = transcode_query(session, protocol, extra);
    let resp = ident(get(plex, &format!("{UNIVERSAL}/decision?{q}")))
        .header("Accept", "application/json")
        .send()
        .await
        .expect("decision");
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.expect("decision json")
}

async fn start_hls(plex: &DemoPlex, session: &str, extra: &[(&str, &str)]) -> String {
    decide(plex, session, "hls", extra).await;
    let q = transcode_query(session, "hls", extra);
    let resp = ident(get(plex, &format!("{UNIVERSAL}/start.m3u8?{q}")))
        .send()
        .await
        .expect("start");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(ctype(&resp), "application/vnd.apple.mpegurl");
    resp.text().await.expect("master")
}

fn ctype(resp: &Response) -> String {
    header(resp, "content-type")
}

fn header(resp: &Response, name: &str) -> String {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

async fn status_of(rb: RequestBuilder) -> StatusCode {
    rb.send().await.expect("request").status()
}

#[tokio::test]
async fn identity_is_open_and_everything_else_needs_the_token() {
    let plex = start().await;
    let c = client();
    let resp = c
        .get(format!("{}/identity", plex.url()))
        .header("Accept", "application/json")
        .send()
        .await
        .expect("identity");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(header(&resp, "x-plex-protocol"), "1.0");
    let id: Value = resp.json().await.expect("json");
    assert_eq!(
        id["MediaContainer"]["machineIdentifier"],
        plex.machine_identifier()
    );
    assert_eq!(plex.machine_identifier().len(), 40);
    assert_eq!(plex.token().len(), 20);

    let paths = [
        "/".to_owned(),
        "/library/sections".to_owned(),
        "/library/metadata/101".to_owned(),
        "/library/parts/301/1716000000/file.mp4".to_owned(),
        format!("{UNIVERSAL}/decision"),
        format!("{UNIVERSAL}/session/abc/base/index.m3u8"),
        "/no/such/path".to_owned(),
    ];
    for path in &paths {
        let resp = c
            .get(format!("{}{path}", plex.url()))
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(header(&resp, "x-plex-protocol"), "1.0");
        assert_eq!(header(&resp, "cache-control"), "no-cache");
        assert_eq!(ctype(&resp), "text/html");
        assert_eq!(resp.text().await.expect("body"), UNAUTHORIZED, "{path}");
        let wrong = c
            .get(format!("{}{path}", plex.url()))
            .header("X-Plex-Token", "not-the-token")
            .send()
            .await
            .expect("send");
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    // The token in the query works too; an unknown path with a token is a 404 HTML page.
    let by_query = c
        .get(format!(
            "{}/library/sections?X-Plex-Token={}",
            plex.url(),
            plex.token()
        ))
        .send()
        .await
        .expect("send");
    assert_eq!(by_query.status(), StatusCode::OK);
    let missing = get(&plex, "/no/such/path").send().await.expect("send");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(
        missing
            .text()
            .await
            .expect("body")
            .contains("<h1>404 Not Found</h1>")
    );
}

#[tokio::test]
async fn json_with_accept_and_xml_by_default() {
    let plex = start().await;
    let resp = get(&plex, "/library/metadata/101")
        .header("Accept", "application/json")
        .send()
        .await
        .expect("metadata");
    assert_eq!(ctype(&resp), "application/json");
    let doc: Value = resp.json().await.expect("json");
    let m = &doc["MediaContainer"]["Metadata"][0];
    assert_eq!(m["ratingKey"], "101");
    assert_eq!(m["key"], "/library/metadata/101");
    assert_eq!(m["type"], "movie");
    assert_eq!(m["duration"], 10_000);
    assert!(m["guid"].is_string() && m["Guid"].is_array());
    assert!(m["rating"].is_number() && m["Rating"].is_array());
    assert_eq!(m["thumb"], "/library/metadata/101/thumb/1716000000");
    let part = &m["Media"][0]["Part"][0];
    assert_eq!(part["key"], "/library/parts/301/1716000000/file.mp4");
    assert!(part["size"].as_u64().expect("size") > 100_000);
    let streams = part["Stream"].as_array().expect("streams");
    let types: Vec<u64> = streams
        .iter()
        .filter_map(|s| s["streamType"].as_u64())
        .collect();
    assert_eq!(types, vec![1, 2, 3]);
    assert_eq!(streams[2]["key"], "/library/streams/403");

    let xml = get(&plex, "/library/metadata/101")
        .send()
        .await
        .expect("xml");
    assert_eq!(ctype(&xml), "text/xml;charset=utf-8");
    let body = xml.text().await.expect("body");
    assert!(body.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<MediaContainer"));
    assert!(body.contains("<Video ") && body.contains("ratingKey=\"101\""));
    assert!(body.contains("<Stream ") && body.contains("<Guid id=\"imdb://"));

    let sections = get(&plex, "/library/sections")
        .header("Accept", "application/json")
        .send()
        .await
        .expect("sections");
    let s: Value = sections.json().await.expect("json");
    assert_eq!(s["MediaContainer"]["Directory"][0]["key"], "1");
    let xml = get(&plex, "/library/sections").send().await.expect("xml");
    assert!(xml.text().await.expect("body").contains("<Directory "));
    assert_eq!(
        status_of(get(&plex, "/library/metadata/999")).await,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn section_listing_paginates_by_header_or_query() {
    let plex = start().await;
    let json = |rb: RequestBuilder| rb.header("Accept", "application/json");
    let resp = json(get(&plex, "/library/sections/1/all"))
        .send()
        .await
        .expect("all");
    assert_eq!(header(&resp, "x-plex-container-start"), "0");
    assert_eq!(header(&resp, "x-plex-container-total-size"), "4");
    let all: Value = resp.json().await.expect("json");
    let c = &all["MediaContainer"];
    assert_eq!(
        (
            c["size"].as_u64(),
            c["totalSize"].as_u64(),
            c["offset"].as_u64()
        ),
        (Some(4), Some(4), Some(0))
    );
    let item = &c["Metadata"][0];
    assert_eq!(item["ratingKey"], "101");
    assert!(
        item.get("Guid").is_none(),
        "list items carry Guid only with includeGuids=1"
    );
    assert!(item["Media"][0]["Part"][0].get("Stream").is_none());

    // size=0 by header: only the totals.
    let resp = json(get(&plex, "/library/sections/1/all"))
        .header("X-Plex-Container-Start", "0")
        .header("X-Plex-Container-Size", "0")
        .send()
        .await
        .expect("size 0");
    let v: Value = resp.json().await.expect("json");
    assert_eq!(v["MediaContainer"]["size"], 0);
    assert_eq!(v["MediaContainer"]["totalSize"], 4);
    assert!(v["MediaContainer"].get("Metadata").is_none());

    // Start past the end by query.
    let resp = json(get(
        &plex,
        "/library/sections/1/all?X-Plex-Container-Start=4&X-Plex-Container-Size=10&includeGuids=1",
    ))
    .send()
    .await
    .expect("page 2");
    assert_eq!(header(&resp, "x-plex-container-start"), "4");
    let v: Value = resp.json().await.expect("json");
    assert_eq!(
        (
            v["MediaContainer"]["size"].as_u64(),
            v["MediaContainer"]["offset"].as_u64()
        ),
        (Some(0), Some(4))
    );
    let guids = json(get(&plex, "/library/sections/1/all?includeGuids=1"))
        .send()
        .await
        .expect("guids");
    let v: Value = guids.json().await.expect("json");
    assert!(v["MediaContainer"]["Metadata"][0]["Guid"].is_array());

    assert_eq!(
        status_of(get(
            &plex,
            "/library/sections/1/all?X-Plex-Container-Size=x"
        ))
        .await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        status_of(get(&plex, "/library/sections/9/all")).await,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn hls_ts_round_trip_decision_master_playlist_segment() {
    let plex = start().await;
    let decision = decide(&plex, "s-ts", "hls", &[]).await;
    let c = &decision["MediaContainer"];
    assert_eq!(c["generalDecisionCode"], 1001);
    assert_eq!(c["directPlayDecisionCode"], 3000);
    let part = &c["Metadata"][0]["Media"][0]["Part"][0];
    assert_eq!(part["decision"], "transcode");
    assert_eq!(part["container"], "mpegts");
    assert_eq!(part["Stream"][0]["location"], "segments-av");
    assert_eq!(part["Stream"][0]["decision"], "copy");
    assert!(
        plex.live_transcode_sessions().is_empty(),
        "a decision alone starts nothing"
    );

    let q = transcode_query("s-ts", "hls", &[]);
    let master = ident(get(&plex, &format!("{UNIVERSAL}/start.m3u8?{q}")))
        .send()
        .await
        .expect("start");
    assert_eq!(master.status(), StatusCode::OK);
    let master_url = master.url().clone();
    let text = master.text().await.expect("master");
    assert!(text.starts_with("#EXTM3U\n"));
    assert_eq!(text.matches("#EXT-X-STREAM-INF:").count(), 2);
    assert!(text.contains("\nsession/s-ts/base/index.m3u8\n"));
    assert!(text.contains("\nsession/s-ts/base-low/index.m3u8\n"));
    assert!(!text.contains(plex.token()) && !text.contains("X-Plex-Token"));
    assert_eq!(plex.live_transcode_sessions(), vec!["s-ts".to_owned()]);

    // Resolve the relative URI like a player does, then carry the token as a header.
    let playlist_url = master_url
        .join("session/s-ts/base/index.m3u8")
        .expect("join");
    assert_eq!(
        playlist_url.path(),
        "/video/:/transcode/universal/session/s-ts/base/index.m3u8"
    );
    let pl = client()
        .get(playlist_url.clone())
        .header("X-Plex-Token", plex.token())
        .send()
        .await
        .expect("playlist");
    assert_eq!(ctype(&pl), "application/vnd.apple.mpegurl");
    let pl = pl.text().await.expect("playlist");
    assert!(
        pl.contains("#EXT-X-TARGETDURATION:2")
            && pl.contains("\n00000.ts\n")
            && pl.contains("#EXT-X-ENDLIST")
    );
    let seg = client()
        .get(playlist_url.join("00000.ts").expect("join"))
        .header("X-Plex-Token", plex.token())
        .send()
        .await
        .expect("segment");
    assert_eq!(seg.status(), StatusCode::OK);
    assert_eq!(ctype(&seg), "video/mp2t");
    let bytes = seg.bytes().await.expect("bytes");
    assert_eq!(bytes[0], 0x47);
    assert_eq!(bytes.len() % 188, 0);
    // Range on a segment; far-ahead segment numbers 404.
    let part = get(
        &plex,
        &format!("{UNIVERSAL}/session/s-ts/base-low/00001.ts"),
    )
    .header("Range", "bytes=0-187")
    .send()
    .await
    .expect("range");
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.bytes().await.expect("bytes").len(), 188);
    assert_eq!(
        status_of(get(
            &plex,
            &format!("{UNIVERSAL}/session/s-ts/base/02848.ts")
        ))
        .await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        status_of(get(&plex, &format!("{UNIVERSAL}/session/s-ts/base/header"))).await,
        StatusCode::NOT_FOUND
    );

    let sessions = get(&plex, "/transcode/sessions")
        .header("Accept", "application/json")
        .send()
        .await
        .expect("sessions");
    let v: Value = sessions.json().await.expect("json");
    assert_eq!(v["MediaContainer"]["TranscodeSession"][0]["key"], "s-ts");
    assert_eq!(
        v["MediaContainer"]["TranscodeSession"][0]["container"],
        "mpegts"
    );
}

#[tokio::test]
async fn hls_fmp4_with_segmented_subtitles() {
    let plex = start().await;
    let extra = [
        ("container", "mp4"),
        ("subtitles", "segmented"),
        ("subtitleStreamID", "403"),
    ];
    let decision = decide(&plex, "s-fmp4", "hls", &extra).await;
    let part = &decision["MediaContainer"]["Metadata"][0]["Media"][0]["Part"][0];
    assert_eq!(part["container"], "mp4");
    assert_eq!(part["Stream"][2]["location"], "segments-subs");
    let master = start_hls(&plex, "s-fmp4", &extra).await;
    assert!(
        master.contains("#EXT-X-MEDIA:TYPE=SUBTITLES,")
            && master.contains("URI=\"session/s-fmp4/vtt-base/index.m3u8\"")
    );
    assert!(master.contains("SUBTITLES=\"subs\""));
    let base = format!("{UNIVERSAL}/session/s-fmp4");
    let pl = get(&plex, &format!("{base}/base/index.m3u8"))
        .send()
        .await
        .expect("pl")
        .text()
        .await
        .expect("text");
    assert!(pl.contains("#EXT-X-MAP:URI=\"header\"") && pl.contains("\n00000.m4s\n"));
    let init = get(&plex, &format!("{base}/base/header"))
        .send()
        .await
        .expect("init");
    assert_eq!(ctype(&init), "video/mp4");
    assert_eq!(&init.bytes().await.expect("bytes")[4..8], b"ftyp");
    let seg = get(&plex, &format!("{base}/base-low/00004.m4s"))
        .send()
        .await
        .expect("seg");
    assert_eq!(seg.status(), StatusCode::OK);
    assert_eq!(
        status_of(get(&plex, &format!("{base}/base/00000.ts"))).await,
        StatusCode::NOT_FOUND
    );
    let subs = get(&plex, &format!("{base}/vtt-base/index.m3u8"))
        .send()
        .await
        .expect("subs")
        .text()
        .await
        .expect("text");
    assert!(subs.contains("\n0.vtt\n"));
    let vtt = get(&plex, &format!("{base}/vtt-base/0.vtt"))
        .send()
        .await
        .expect("vtt");
    assert_eq!(ctype(&vtt), "text/vtt");
    assert!(
        vtt.text()
            .await
            .expect("text")
            .starts_with("WEBVTT\nX-TIMESTAMP-MAP=")
    );
}

#[tokio::test]
async fn max_video_bitrate_drops_the_high_rendition() {
    let plex = start().await;
    let extra = [("maxVideoBitrate", "200")];
    let decision = decide(&plex, "s-low", "hls", &extra).await;
    let media = &decision["MediaContainer"]["Metadata"][0]["Media"][0];
    assert_eq!(media["width"], 320);
    assert_eq!(media["Part"][0]["Stream"][0]["decision"], "transcode");
    let master = start_hls(&plex, "s-low", &extra).await;
    assert_eq!(master.matches("#EXT-X-STREAM-INF:").count(), 1);
    assert!(master.contains("session/s-low/base-low/index.m3u8") && !master.contains("/base/"));
    assert_eq!(
        status_of(get(
            &plex,
            &format!("{UNIVERSAL}/session/s-low/base/index.m3u8")
        ))
        .await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        status_of(get(
            &plex,
            &format!("{UNIVERSAL}/session/s-low/base-low/index.m3u8")
        ))
        .await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn transcoder_requires_identity_and_a_prior_decision() {
    let plex = start().await;
    let q = transcode_query("s-rules", "hls", &[]);
    // start without decision → 400 HTML.
    let resp = ident(get(&plex, &format!("{UNIVERSAL}/start.m3u8?{q}")))
        .send()
        .await
        .expect("start");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(
        resp.text()
            .await
            .expect("body")
            .contains("<h1>400 Bad Request</h1>")
    );
    let resp = ident(get(
        &plex,
        &format!(
            "{UNIVERSAL}/start.mpd?{}",
            transcode_query("s-rules", "dash", &[])
        ),
    ))
    .send()
    .await
    .expect("start.mpd");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    // Each identity header missing → 400, on decision and start.
    let all = [
        ("X-Plex-Product", "plexgate"),
        ("X-Plex-Platform", "Chrome"),
        ("X-Plex-Device", "Web"),
    ];
    for skip in 0..all.len() {
        for endpoint in ["decision", "start.m3u8"] {
            let mut rb = get(&plex, &format!("{UNIVERSAL}/{endpoint}?{q}"));
            for (i, (k, v)) in all.iter().enumerate() {
                if i != skip {
                    rb = rb.header(*k, *v);
                }
            }
            assert_eq!(
                status_of(rb).await,
                StatusCode::BAD_REQUEST,
                "{endpoint} without {}",
                all[skip].0
            );
        }
    }
    // The query form of the identity is accepted; a rejected platform is not.
    let with_query = format!("{q}&{}", query(&all));
    assert_eq!(
        status_of(get(&plex, &format!("{UNIVERSAL}/decision?{with_query}"))).await,
        StatusCode::OK
    );
    let linux = format!(
        "{q}&{}",
        query(&[
            ("X-Plex-Product", "p"),
            ("X-Plex-Platform", "Linux"),
            ("X-Plex-Device", "d")
        ])
    );
    assert_eq!(
        status_of(get(&plex, &format!("{UNIVERSAL}/decision?{linux}"))).await,
        StatusCode::BAD_REQUEST
    );
    // Now that s-rules has a decision, start works; without require_decision no decision is needed.
    assert_eq!(
        status_of(ident(get(&plex, &format!("{UNIVERSAL}/start.m3u8?{q}")))).await,
        StatusCode::OK
    );
    let lax = start_with(DemoPlexOptions {
        require_decision: false,
        ..Default::default()
    })
    .await;
    assert_eq!(
        status_of(ident(get(&lax, &format!("{UNIVERSAL}/start.m3u8?{q}")))).await,
        StatusCode::OK
    );
    // Bad parameters.
    let bad = transcode_query("s-bad", "smoke-signals", &[]);
    assert_eq!(
        status_of(ident(get(&plex, &format!("{UNIVERSAL}/decision?{bad}")))).await,
        StatusCode::BAD_REQUEST
    );
    let unknown = query(&[("path", "/library/metadata/999"), ("protocol", "hls")]);
    assert_eq!(
        status_of(ident(get(
            &plex,
            &format!("{UNIVERSAL}/decision?{unknown}")
        )))
        .await,
        StatusCode::NOT_FOUND
    );
    let bad_id = transcode_query("has space", "hls", &[]);
    assert_eq!(
        status_of(ident(get(&plex, &format!("{UNIVERSAL}/decision?{bad_id}")))).await,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn dash_mpd_init_and_media_segments() {
    let plex = start().await;
    let decision = decide(&plex, "s-dash", "dash", &[]).await;
    let streams = &decision["MediaContainer"]["Metadata"][0]["Media"][0]["Part"][0]["Stream"];
    assert_eq!(streams[0]["location"], "segments-video");
    assert_eq!(streams[1]["location"], "segments-audio");
    let q = transcode_query("s-dash", "dash", &[]);
    let resp = ident(get(&plex, &format!("{UNIVERSAL}/start.mpd?{q}")))
        .send()
        .await
        .expect("mpd");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(ctype(&resp), "application/dash+xml");
    let mpd = resp.text().await.expect("mpd");
    assert!(mpd.contains("startNumber=\"0\""));
    assert!(mpd.contains("initialization=\"session/s-dash/$RepresentationID$/header\""));
    assert!(mpd.contains("media=\"session/s-dash/$RepresentationID$/$Number$.m4s\""));
    assert!(
        mpd.contains("<Representation id=\"0\"")
            && mpd.contains("<Representation id=\"1\"")
            && mpd.contains("<Representation id=\"2\"")
    );
    assert!(!mpd.contains(plex.token()));
    let base = format!("{UNIVERSAL}/session/s-dash");
    for path in [
        "0/header", "0/0.m4s", "0/4.m4s", "1/header", "1/0.m4s", "2/0.m4s",
    ] {
        let resp = get(&plex, &format!("{base}/{path}"))
            .send()
            .await
            .expect("seg");
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        assert_eq!(ctype(&resp), "video/mp4");
        let bytes = resp.bytes().await.expect("bytes");
        if path.ends_with("header") {
            assert_eq!(&bytes[4..8], b"ftyp");
        } else {
            assert!(
                bytes.windows(4).any(|w| w == b"moof"),
                "{path} is a fragment"
            );
        }
    }
    assert_eq!(
        status_of(get(&plex, &format!("{base}/0/99.m4s"))).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        status_of(get(&plex, &format!("{base}/base/index.m3u8"))).await,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn direct_play_part_honours_range_head_and_conditionals() {
    let plex = start().await;
    let decision = decide(&plex, "s-dp", "http", &[("directPlay", "1")]).await;
    let c = &decision["MediaContainer"];
    assert_eq!(
        (
            c["directPlayDecisionCode"].as_u64(),
            c["generalDecisionCode"].as_u64()
        ),
        (Some(1000), Some(1000))
    );
    assert_eq!(
        c["Metadata"][0]["Media"][0]["Part"][0]["decision"],
        "directplay"
    );
    let path = "/library/parts/301/1716000000/file.mp4";

    let full = ident(get(&plex, path)).send().await.expect("full");
    assert_eq!(full.status(), StatusCode::OK);
    assert_eq!(ctype(&full), "video/mp4");
    assert_eq!(header(&full, "accept-ranges"), "bytes");
    let etag = header(&full, "etag");
    assert!(etag.starts_with('"') && !header(&full, "last-modified").is_empty());
    let all = full.bytes().await.expect("bytes");
    let len = all.len();
    assert_eq!(&all[4..8], b"ftyp");

    let r = ident(get(&plex, path))
        .header("Range", "bytes=100-199")
        .send()
        .await
        .expect("range");
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(header(&r, "content-range"), format!("bytes 100-199/{len}"));
    assert_eq!(header(&r, "content-length"), "100");
    assert_eq!(r.bytes().await.expect("bytes"), all.slice(100..200));

    let r = ident(get(&plex, path))
        .header("Range", "bytes=-500")
        .send()
        .await
        .expect("suffix");
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        header(&r, "content-range"),
        format!("bytes {}-{}/{len}", len - 500, len - 1)
    );
    assert_eq!(r.bytes().await.expect("bytes"), all.slice(len - 500..));

    let r = ident(get(&plex, path))
        .header("Range", format!("bytes={len}-"))
        .send()
        .await
        .expect("416");
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(header(&r, "content-range"), format!("bytes */{len}"));

    let head = ident(
        client()
            .head(format!("{}{path}", plex.url()))
            .header("X-Plex-Token", plex.token()),
    )
    .send()
    .await
    .expect("head");
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(header(&head, "content-length"), len.to_string());
    assert!(head.bytes().await.expect("bytes").is_empty());

    let not_modified = ident(get(&plex, path))
        .header("If-None-Match", etag.as_str())
        .send()
        .await
        .expect("304");
    assert_eq!(not_modified.status(), StatusCode::NOT_MODIFIED);
    let stale = ident(get(&plex, path))
        .header("Range", "bytes=0-9")
        .header("If-Range", "\"other\"")
        .send()
        .await
        .expect("if-range");
    assert_eq!(stale.status(), StatusCode::OK);

    // After a transcode decision for this client, the part answers 503 (PMS: no usable decision).
    decide(&plex, "s-dp2", "hls", &[]).await;
    assert_eq!(
        status_of(ident(get(&plex, path))).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        status_of(get(&plex, "/library/parts/999/1/file.mp4")).await,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn idle_sessions_are_reaped_and_stop_ends_them() {
    let opts = DemoPlexOptions {
        session_idle_timeout: Duration::from_millis(1000),
        ..Default::default()
    };
    let plex = start_with(opts).await;
    start_hls(&plex, "s-idle", &[]).await;
    start_hls(&plex, "s-stop", &[]).await;
    let ping = |id: &str| get(&plex, &format!("{UNIVERSAL}/ping?session={id}"));
    // Activity keeps a session alive past the idle window.
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(status_of(ping("s-stop")).await, StatusCode::OK);
    }
    assert_eq!(plex.live_transcode_sessions(), vec!["s-stop".to_owned()]);
    let idle = format!("{UNIVERSAL}/session/s-idle");
    assert_eq!(
        status_of(get(&plex, &format!("{idle}/base/index.m3u8"))).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        status_of(get(&plex, &format!("{idle}/base/00000.ts"))).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(status_of(ping("s-idle")).await, StatusCode::NOT_FOUND);
    assert_eq!(
        status_of(get(&plex, &format!("{UNIVERSAL}/stop?session=s-idle"))).await,
        StatusCode::NOT_FOUND
    );

    assert_eq!(
        status_of(get(&plex, &format!("{UNIVERSAL}/stop?session=s-stop"))).await,
        StatusCode::OK
    );
    assert!(plex.live_transcode_sessions().is_empty());
    assert_eq!(
        status_of(get(
            &plex,
            &format!("{UNIVERSAL}/session/s-stop/base/00000.ts")
        ))
        .await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(status_of(ping("s-stop")).await, StatusCode::NOT_FOUND);
    assert_eq!(
        status_of(get(&plex, &format!("{UNIVERSAL}/stop?session=s-stop"))).await,
        StatusCode::NOT_FOUND
    );
    // A reaped session needs a new decision before start.
    let q = transcode_query("s-idle", "hls", &[]);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        status_of(ident(get(&plex, &format!("{UNIVERSAL}/start.m3u8?{q}")))).await,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn fault_throttle_slows_but_completes() {
    let plex = start().await;
    let path = format!("{UNIVERSAL}/session/s/base/00000.ts");
    start_hls(&plex, "s", &[]).await;
    let len = get(&plex, &path)
        .send()
        .await
        .expect("seg")
        .bytes()
        .await
        .expect("bytes")
        .len();
    plex.faults().throttle(Some(100_000));
    let t0 = Instant::now();
    let slow = get(&plex, &path)
        .send()
        .await
        .expect("seg")
        .bytes()
        .await
        .expect("bytes");
    let took = t0.elapsed();
    assert_eq!(slow.len(), len);
    let expected = Duration::from_secs_f64(len as f64 / 100_000.0);
    assert!(
        took >= expected.mul_f64(0.8),
        "took {took:?}, expected about {expected:?}"
    );
    plex.faults().throttle(None);
    let fast = get(&plex, &path)
        .send()
        .await
        .expect("seg")
        .bytes()
        .await
        .expect("bytes");
    assert_eq!(fast.len(), len, "unthrottled again");
}

#[tokio::test]
async fn fault_reset_mid_body_is_a_client_error() {
    let plex = start().await;
    let path = "/library/parts/301/1716000000/file.mp4";
    plex.faults().reset_mid_body(Some(10_000));
    let resp = get(&plex, path).send().await.expect("headers arrive");
    assert_eq!(resp.status(), StatusCode::OK);
    let mut resp = resp;
    let mut got = 0;
    let err = loop {
        match resp.chunk().await {
            Ok(Some(c)) => got += c.len(),
            Ok(None) => panic!("a reset body must not end cleanly (got {got} bytes)"),
            Err(e) => break e,
        }
    };
    assert_eq!(got, 10_000, "the bytes before the reset arrive: {err}");
    // Small bodies under the budget are unaffected; turning it off restores full bodies.
    let small = get(&plex, path)
        .header("Range", "bytes=0-99")
        .send()
        .await
        .expect("small");
    assert_eq!(small.bytes().await.expect("small body").len(), 100);
    plex.faults().reset_mid_body(None);
    assert!(
        get(&plex, path)
            .send()
            .await
            .expect("ok")
            .bytes()
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn fault_fail_nth_ignore_range_and_delay() {
    let plex = start().await;
    plex.faults().fail_nth(2, 503);
    assert_eq!(
        status_of(get(&plex, "/library/sections")).await,
        StatusCode::OK
    );
    let failed = get(&plex, "/library/sections").send().await.expect("send");
    assert_eq!(failed.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ctype(&failed), "text/html");
    assert!(
        failed
            .text()
            .await
            .expect("body")
            .contains("<h1>503 Service Unavailable</h1>")
    );
    assert_eq!(
        status_of(get(&plex, "/library/sections")).await,
        StatusCode::OK
    );

    let path = "/library/metadata/101/thumb/1716000000";
    plex.faults().ignore_range(true);
    let resp = get(&plex, path)
        .header("Range", "bytes=0-9")
        .send()
        .await
        .expect("range");
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers().get("content-range").is_none());
    assert!(resp.bytes().await.expect("bytes").len() > 10);
    plex.faults().ignore_range(false);
    assert_eq!(
        status_of(get(&plex, path).header("Range", "bytes=0-9")).await,
        StatusCode::PARTIAL_CONTENT
    );

    plex.faults().delay(Some(Duration::from_millis(300)));
    let t0 = Instant::now();
    assert_eq!(
        status_of(client().get(format!("{}/identity", plex.url()))).await,
        StatusCode::OK
    );
    assert!(t0.elapsed() >= Duration::from_millis(300));
    plex.faults().clear();
}

#[tokio::test]
async fn request_log_records_method_path_query_headers_body_and_status() {
    let plex = start().await;
    plex.clear_requests();
    get(&plex, "/library/sections?includeGuids=1")
        .header("X-Custom", "seen")
        .send()
        .await
        .expect("send");
    client()
        .get(format!("{}/library/sections", plex.url()))
        .send()
        .await
        .expect("send");
    client()
        .post(format!(
            "{}/:/timeline?ratingKey=101&state=playing&time=1000",
            plex.url()
        ))
        .header("X-Plex-Token", plex.token())
        .header("X-Plex-Client-Identifier", CLIENT_ID)
        .body("ping")
        .send()
        .await
        .expect("send");
    let log = plex.requests();
    assert_eq!(log.len(), 3);
    assert_eq!(log[0].method, reqwest::Method::GET);
    assert_eq!(log[0].path, "/library/sections");
    assert_eq!(log[0].query.as_deref(), Some("includeGuids=1"));
    assert_eq!(log[0].query_param("includeGuids").as_deref(), Some("1"));
    assert_eq!(log[0].header("x-plex-token"), Some(plex.token()));
    assert_eq!(log[0].header("x-custom"), Some("seen"));
    assert_eq!(log[0].status, 200);
    assert_eq!((log[1].header("x-plex-token"), log[1].status), (None, 401));
    assert_eq!(
        (log[2].method.as_str(), &log[2].body[..], log[2].status),
        ("POST", &b"ping"[..], 200)
    );
    plex.clear_requests();
    assert!(plex.requests().is_empty());
}

#[tokio::test]
async fn timeline_scrobble_rate_and_stream_selection_change_later_reads() {
    let plex = start().await;
    let meta = || async {
        let v: Value = get(&plex, "/library/metadata/101")
            .header("Accept", "application/json")
            .send()
            .await
            .expect("metadata")
            .json()
            .await
            .expect("json");
        v["MediaContainer"]["Metadata"][0].clone()
    };
    let tl = |q: &str| {
        get(&plex, &format!("/:/timeline?{q}")).header("X-Plex-Client-Identifier", CLIENT_ID)
    };
    let ok =
        tl("ratingKey=101&key=%2Flibrary%2Fmetadata%2F101&state=paused&time=4000&duration=10000");
    assert_eq!(status_of(ok).await, StatusCode::OK);
    let m = meta().await;
    assert_eq!(m["viewOffset"], 4000);
    assert!(m["lastViewedAt"].is_number());
    assert_eq!(
        status_of(tl("ratingKey=101&state=dancing&time=1")).await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        status_of(tl("ratingKey=101&state=playing")).await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        status_of(get(&plex, "/:/timeline?ratingKey=101&state=playing&time=1")).await,
        StatusCode::BAD_REQUEST
    );
    plex.faults()
        .terminate_timeline(Some((2006, "Admin Terminated Playback.".into())));
    let resp = tl("ratingKey=101&state=playing&time=5000")
        .header("Accept", "application/json")
        .send()
        .await
        .expect("tl");
    let v: Value = resp.json().await.expect("json");
    assert_eq!(v["MediaContainer"]["terminationCode"], 2006);
    plex.faults().terminate_timeline(None);

    let scrobble = client()
        .put(format!(
            "{}/:/scrobble?key=101&identifier=com.plexapp.plugins.library",
            plex.url()
        ))
        .header("X-Plex-Token", plex.token());
    assert_eq!(status_of(scrobble).await, StatusCode::OK);
    let m = meta().await;
    assert_eq!(m["viewCount"], 1);
    assert!(m.get("viewOffset").is_none());
    assert_eq!(
        status_of(get(
            &plex,
            "/:/unscrobble?key=101&identifier=com.plexapp.plugins.library"
        ))
        .await,
        StatusCode::OK
    );
    assert!(meta().await.get("viewCount").is_none());
    assert_eq!(
        status_of(get(
            &plex,
            "/:/scrobble?key=999&identifier=com.plexapp.plugins.library"
        ))
        .await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        status_of(get(&plex, "/:/scrobble")).await,
        StatusCode::BAD_REQUEST
    );

    assert_eq!(
        status_of(get(
            &plex,
            "/:/rate?key=101&identifier=com.plexapp.plugins.library&rating=11"
        ))
        .await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        status_of(get(
            &plex,
            "/:/rate?key=101&identifier=com.plexapp.plugins.library&rating=8"
        ))
        .await,
        StatusCode::OK
    );
    assert_eq!(meta().await["userRating"], 8.0);

    let put = |q: &str| {
        client()
            .put(format!("{}/library/parts/301?{q}", plex.url()))
            .header("X-Plex-Token", plex.token())
    };
    assert_eq!(
        status_of(put("subtitleStreamID=403&allParts=1")).await,
        StatusCode::OK
    );
    assert_eq!(
        meta().await["Media"][0]["Part"][0]["Stream"][2]["selected"],
        true
    );
    assert_eq!(
        status_of(put("subtitleStreamID=402")).await,
        StatusCode::BAD_REQUEST,
        "an audio id is not a subtitle"
    );
    assert_eq!(
        status_of(put("audioStreamID=999")).await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(status_of(put("subtitleStreamID=0")).await, StatusCode::OK);
    assert!(
        meta().await["Media"][0]["Part"][0]["Stream"][2]
            .get("selected")
            .is_none()
    );
    let unknown = client()
        .put(format!(
            "{}/library/parts/999?audioStreamID=402",
            plex.url()
        ))
        .header("X-Plex-Token", plex.token());
    assert_eq!(status_of(unknown).await, StatusCode::NOT_FOUND);
    // Stopping past 90 % marks the item watched; absurd positions are not a crash.
    assert_eq!(
        status_of(tl("ratingKey=101&state=stopped&time=9500")).await,
        StatusCode::OK
    );
    let m = meta().await;
    assert_eq!(m["viewCount"], 1);
    assert!(m.get("viewOffset").is_none());
    let huge = format!("ratingKey=101&state=stopped&time={}", u64::MAX);
    assert_eq!(status_of(tl(&huge)).await, StatusCode::OK);
}

#[tokio::test]
async fn images_photo_transcode_and_sidecar_subtitles() {
    let plex = start().await;
    let thumb = get(&plex, "/library/metadata/101/thumb/1716000000")
        .send()
        .await
        .expect("thumb");
    assert_eq!(ctype(&thumb), "image/jpeg");
    assert_eq!(&thumb.bytes().await.expect("bytes")[..2], &[0xFF, 0xD8]);
    let art = get(&plex, "/library/metadata/101/art/1716000000")
        .send()
        .await
        .expect("art");
    assert_eq!(art.status(), StatusCode::OK);
    assert_eq!(
        status_of(get(&plex, "/library/metadata/999/thumb/1")).await,
        StatusCode::NOT_FOUND
    );

    let url = enc("/library/metadata/101/thumb/1716000000");
    let photo = get(
        &plex,
        &format!("/photo/:/transcode?url={url}&width=200&height=300&minSize=1&upscale=1"),
    )
    .send()
    .await
    .expect("photo");
    assert_eq!(photo.status(), StatusCode::OK);
    assert_eq!(ctype(&photo), "image/jpeg");
    assert_eq!(header(&photo, "x-demo-size"), "200x300");
    assert_eq!(
        status_of(get(&plex, "/photo/:/transcode?width=10&height=10")).await,
        StatusCode::BAD_REQUEST
    );
    let absolute = enc("https://metadata-static.plex.tv/x.jpg");
    let resp = get(
        &plex,
        &format!("/photo/:/transcode?url={absolute}&width=1&height=1"),
    )
    .send()
    .await
    .expect("abs");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(header(&resp, "x-demo-source"), "absolute-placeholder");
    assert_eq!(
        status_of(get(
            &plex,
            &format!("/photo/:/transcode?url={}", enc("/nope"))
        ))
        .await,
        StatusCode::NOT_FOUND
    );

    let vtt = get(&plex, "/library/streams/403")
        .send()
        .await
        .expect("vtt");
    assert_eq!(ctype(&vtt), "text/vtt");
    assert!(vtt.text().await.expect("text").starts_with("WEBVTT"));
    assert_eq!(
        status_of(get(&plex, "/library/streams/401")).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        status_of(get(&plex, "/library/streams/7")).await,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn capabilities_and_shutdown() {
    let plex = start().await;
    let root: Value = get(&plex, "/")
        .header("Accept", "application/json")
        .send()
        .await
        .expect("root")
        .json()
        .await
        .expect("json");
    assert_eq!(
        root["MediaContainer"]["machineIdentifier"],
        plex.machine_identifier()
    );
    assert!(root["MediaContainer"]["transcoderVideoBitrates"].is_string());
    let addr = plex.addr();
    plex.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn http2_prior_knowledge_works() {
    let plex = start().await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let h2 = Client::builder()
        .http2_prior_knowledge()
        .build()
        .expect("h2 client");
    let resp = h2
        .get(format!(
            "{}/library/metadata/101/thumb/1716000000",
            plex.url()
        ))
        .header("X-Plex-Token", plex.token())
        .header("Range", "bytes=0-1")
        .send()
        .await
        .expect("h2 request");
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(&resp.bytes().await.expect("bytes")[..], &[0xFF, 0xD8]);
}

/// ffprobe decodes every frame of each packaging through the demo server (needs ffprobe).
#[cfg(feature = "e2e")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffprobe_decodes_hls_ts_hls_fmp4_and_dash() {
    let plex = start().await;
    let cases = [
        ("e2e-ts", "start.m3u8", "hls", vec![]),
        ("e2e-fmp4", "start.m3u8", "hls", vec![("container", "mp4")]),
        ("e2e-dash", "start.mpd", "dash", vec![]),
    ];
    for (session, endpoint, protocol, extra) in cases {
        decide(&plex, session, protocol, &extra).await;
        let q = transcode_query(session, protocol, &extra);
        let identity = query(&[
            ("X-Plex-Product", "plexgate"),
            ("X-Plex-Platform", "Chrome"),
            ("X-Plex-Device", "Web"),
        ]);
        let url = format!("{}{UNIVERSAL}/{endpoint}?{q}&{identity}", plex.url());
        let headers = format!("X-Plex-Token: {}\r\n", plex.token());
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new("ffprobe")
                .args(["-v", "error", "-headers", &headers])
                .args(["-allowed_extensions", "ALL"])
                .args([
                    "-count_frames",
                    "-show_entries",
                    "stream=codec_name,nb_read_frames",
                ])
                .args(["-of", "csv=p=0", &url])
                .output()
        })
        .await
        .expect("join")
        .expect("ffprobe runs (install ffmpeg)");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{session}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains("h264,250"),
            "{session}: every video frame decodes: {stdout}"
        );
        assert!(
            stdout.contains("aac,"),
            "{session}: audio present: {stdout}"
        );
    }
    let log = plex.requests();
    let errors: Vec<String> = log
        .iter()
        .filter(|r| r.status >= 400)
        // ffmpeg's DASH reader probes one segment past the end (10 s / 2 s = 0..4) and takes the
        // 404 as end of stream, as it would from PMS.
        .filter(|r| !(r.status == 404 && r.path.ends_with("/e2e-dash/0/5.m4s")))
        .map(|r| format!("{} {} -> {}", r.method, r.path, r.status))
        .collect();
    assert!(errors.is_empty(), "ffprobe hit errors: {errors:?}");
    assert!(log.iter().any(|r| r.path.ends_with("/00004.ts")));
    assert!(log.iter().any(|r| r.path.ends_with("/0/4.m4s")));
}
