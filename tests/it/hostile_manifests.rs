//! A hostile Plex server (the scriptable fake in `support/odd_plex.rs`) against the manifest
//! rewrite: the server token hidden anywhere in a playlist or MPD, in any encoding, is refused
//! with 502 `upstream_manifest_leak` and never reaches the browser or a log line; a playlist
//! whose rewrite would pass the output cap, or that is over the read limit, is refused with 502
//! `upstream_manifest_too_large`.

use crate::support::browser::Browser;
use crate::support::canary::Canary;
use crate::support::odd_plex::OddPlex;
use crate::support::services::LogCapture;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use plexgate::util::percent_encode as pct;

/// Characters that change under percent-encoding and base64, so every form differs from the
/// raw value.
const TOKEN: &str = "odd-plex+token=8c41f27e";

const HLS: &str = "application/vnd.apple.mpegurl";
const SESSION: &str = "/video/:/transcode/universal/session/s1/base";

fn playlist(extra: &str) -> String {
    format!("#EXTM3U\n#EXT-X-TARGETDURATION:2\n{extra}#EXTINF:2.0,\n00000.ts\n#EXT-X-ENDLIST\n")
}

/// plexgate in front of `odd`, a signed-in browser and the facade base URL.
async fn facade<'c>(
    odd: &OddPlex,
    dir: &std::path::Path,
    canary: &'c Canary,
) -> (plexgate::app::demo::Demo, Browser<'c>, String) {
    let demo = odd.plexgate(dir).await;
    let mut b = Browser::new(&demo.url(), canary);
    assert_eq!(b.post("/api/auth/demo-login").await.status, 200);
    let base = b.facade_base().await;
    (demo, b, base)
}

#[tokio::test]
async fn a_manifest_carrying_the_server_token_is_refused_in_every_form() {
    let log = LogCapture::install();
    let odd = OddPlex::start(TOKEN).await;
    let dir = tempfile::tempdir().unwrap();
    let canary = Canary::new(&[TOKEN]);
    let (demo, mut b, base) = facade(&odd, dir.path(), &canary).await;

    let hostile = [
        (
            "session-data.m3u8",
            playlist(&format!(
                "#EXT-X-SESSION-DATA:DATA-ID=\"com.plex.x\",VALUE=\"{TOKEN}\"\n"
            )),
        ),
        (
            "segment.m3u8",
            playlist(&format!("#EXTINF:2.0,\n{TOKEN}/00001.ts\n")),
        ),
        (
            "query.m3u8",
            playlist(&format!(
                "#EXTINF:2.0,\n00001.ts?xPlexToken={}\n",
                pct(TOKEN)
            )),
        ),
        (
            "twice.m3u8",
            playlist(&format!("#EXTINF:2.0,\n00001.ts?t={}\n", pct(&pct(TOKEN)))),
        ),
        (
            "base64.m3u8",
            playlist(&format!(
                "#EXT-X-SESSION-DATA:DATA-ID=\"a\",VALUE=\"{}\"\n",
                STANDARD.encode(TOKEN)
            )),
        ),
    ];
    for (file, body) in &hostile {
        odd.serve(&format!("{SESSION}/{file}"), HLS, body);
        b.get(&format!("{base}{SESSION}/{file}"))
            .await
            .assert_error(502, "upstream_manifest_leak");
    }

    let mpd = format!(
        "<?xml version=\"1.0\"?>\n<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" type=\"static\" \
         mediaPresentationDuration=\"PT10S\" minBufferTime=\"PT2S\" \
         profiles=\"urn:mpeg:dash:profile:isoff-live:2011\"><Period><AdaptationSet \
         mimeType=\"video/mp4\"><SegmentTemplate duration=\"2\" \
         media=\"{}/$Number$.m4s\" initialization=\"init.mp4\"/><Representation id=\"v\" \
         bandwidth=\"1000\"/></AdaptationSet></Period></MPD>\n",
        URL_SAFE_NO_PAD.encode(TOKEN)
    );
    odd.serve("/library/parts/1/1/leak.mpd", "application/dash+xml", &mpd);
    b.get(&format!("{base}/library/parts/1/1/leak.mpd"))
        .await
        .assert_error(502, "upstream_manifest_leak");

    // The same manifests without the secret are served: the guard looks for the value.
    odd.serve(&format!("{SESSION}/clean.m3u8"), HLS, &playlist(""));
    let clean = b.get(&format!("{base}{SESSION}/clean.m3u8")).await;
    assert_eq!(clean.status, 200, "{}", clean.text());

    let text = log.text();
    assert!(
        text.contains("refused a manifest that carries a Plex token"),
        "the refusal is logged"
    );
    if let Some(found) = canary.find(text.as_bytes()) {
        panic!("LEAK in the log: {found}");
    }
    assert!(canary.scanned() > 10, "the browser's view was scanned");
    demo.shutdown().await;
}

/// Asserts a 502 `upstream_manifest_too_large` without dumping a 50 MB body if it is not.
fn assert_too_large(r: &crate::support::browser::Seen) {
    let text = r.text();
    let head: String = text.chars().take(300).collect();
    assert_eq!(r.status.as_u16(), 502, "{head}");
    assert_eq!(
        r.json()["error"]["code"],
        "upstream_manifest_too_large",
        "{head}"
    );
}

#[tokio::test]
async fn a_manifest_too_large_to_rewrite_is_refused_with_502() {
    let odd = OddPlex::start("odd-plex-token-2b7d90aa").await;
    let dir = tempfile::tempdir().unwrap();
    let canary = Canary::new(&[&odd.token]);
    let (demo, mut b, base) = facade(&odd, dir.path(), &canary).await;

    // 4 MB of one-letter segment URLs in a deep directory: each grows by the proxy prefix
    // (ticket included) and the directory to some 300 bytes, so the rewrite would pass 32 MiB.
    let dir_path = format!("/library/parts/1/1/{}", "d".repeat(160));
    let mut mpd = String::from(
        "<?xml version=\"1.0\"?>\n<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" type=\"static\" \
         mediaPresentationDuration=\"PT10S\" minBufferTime=\"PT2S\" \
         profiles=\"urn:mpeg:dash:profile:isoff-live:2011\"><Period><AdaptationSet \
         mimeType=\"video/mp4\"><Representation id=\"v\" bandwidth=\"1000\">\
         <SegmentList duration=\"1\">",
    );
    while mpd.len() < 4 << 20 {
        mpd.push_str("<SegmentURL media=\"a\"/>");
    }
    mpd.push_str("</SegmentList></Representation></AdaptationSet></Period></MPD>\n");
    odd.serve(
        &format!("{dir_path}/amplify.mpd"),
        "application/dash+xml",
        &mpd,
    );
    assert_too_large(&b.get(&format!("{base}{dir_path}/amplify.mpd")).await);

    // A playlist of more lines than plexgate validates.
    let mut lines = String::from("#EXTM3U\n#EXT-X-TARGETDURATION:1\n");
    for _ in 0..=plexgate::stream::manifest::MAX_PLAYLIST_LINES / 2 {
        lines.push_str("#EXTINF:1,\na\n");
    }
    lines.push_str("#EXT-X-ENDLIST\n");
    odd.serve(&format!("{SESSION}/lines.m3u8"), HLS, &lines);
    assert_too_large(&b.get(&format!("{base}{SESSION}/lines.m3u8")).await);

    // Over the read limit: refused before anything is parsed.
    let mut long = String::from("#EXTM3U\n#EXT-X-TARGETDURATION:1\n");
    while long.len() <= plexgate::stream::proxy::MAX_MANIFEST_BYTES {
        long.push_str("#EXTINF:1,\n");
        long.push_str(&"s".repeat(1000));
        long.push_str(".ts\n");
    }
    odd.serve(&format!("{SESSION}/long.m3u8"), HLS, &long);
    assert_too_large(&b.get(&format!("{base}{SESSION}/long.m3u8")).await);

    // A normal playlist through the same ticket still plays.
    odd.serve(&format!("{SESSION}/fine.m3u8"), HLS, &playlist(""));
    assert_eq!(
        b.get(&format!("{base}{SESSION}/fine.m3u8")).await.status,
        200
    );
    demo.shutdown().await;
}
