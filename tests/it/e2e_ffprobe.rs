//! Real clients through plexgate: ffprobe decodes every frame of HLS (TS and fMP4) and DASH
//! fetched only from plexgate's proxy URLs, the way a player would: the `/api/plex/stream` URL,
//! and the facade the Flixor player drives. Needs ffprobe (Debian package ffmpeg); run with
//! `cargo test --features e2e`. A missing ffprobe fails loudly.
#![cfg(feature = "e2e")]

use crate::support::browser::Browser;
use crate::support::canary::Canary;
use crate::support::test_config;
use plexgate::app::demo::Demo;

fn ffprobe(url: &str) -> String {
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-allowed_extensions", "ALL", "-count_frames"])
        .args([
            "-show_entries",
            "stream=codec_name,nb_read_frames:format=duration",
        ])
        .args(["-of", "default=nw=1", url])
        .output()
        .unwrap_or_else(|e| {
            panic!("ffprobe must be installed for the e2e suite (apt-get install ffmpeg): {e}")
        });
    assert!(
        out.status.success(),
        "ffprobe failed on {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn assert_decodes(report: &str, what: &str) {
    assert!(report.contains("codec_name=h264"), "{what}: {report}");
    assert!(
        report.contains("nb_read_frames=250"),
        "{what}: every video frame: {report}"
    );
    assert!(report.contains("codec_name=aac"), "{what}: {report}");
    let duration: f64 = report
        .lines()
        .find_map(|l| l.strip_prefix("duration="))
        .and_then(|d| d.parse().ok())
        .unwrap_or(0.0);
    assert!(
        (9.5..=10.6).contains(&duration),
        "{what}: duration {duration}: {report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffprobe_plays_stream_urls_and_the_facade_through_plexgate_only() {
    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::start(test_config(dir.path(), &[])).await.unwrap();
    let plex = demo.embedded_plex().unwrap();
    let canary = Canary::new(&[plex.token()]);
    let mut b = Browser::new(&demo.url(), &canary);
    assert_eq!(b.post("/api/auth/demo-login").await.status, 200);

    // The frontend's way: ask /api/plex/stream, hand the URL to the player.
    for protocol in ["hls", "dash"] {
        let j = b
            .get(&format!("/api/plex/stream/101?protocol={protocol}"))
            .await
            .json();
        let url = format!("{}{}", demo.url(), j["url"].as_str().unwrap());
        let report = tokio::task::spawn_blocking(move || ffprobe(&url))
            .await
            .unwrap();
        assert_decodes(&report, protocol);
    }

    // The Flixor player's way: baseUrl + token, decision, then start.* in the player.
    let servers = b.get("/api/auth/servers").await.json();
    let base = servers[0]["baseUrl"].as_str().unwrap().to_string();
    for (session, start, protocol, extra) in [
        ("ff-ts", "start.m3u8", "hls", ""),
        ("ff-fmp4", "start.m3u8", "hls", "&container=mp4"),
        ("ff-dash", "start.mpd", "dash", ""),
    ] {
        let q = format!(
            "hasMDE=1&path=%2Flibrary%2Fmetadata%2F101&mediaIndex=0&partIndex=0&protocol={protocol}&fastSeek=1&directPlay=0&directStream=1&session={session}{extra}"
        );
        let d = b
            .get(&format!("{base}/video/:/transcode/universal/decision?{q}"))
            .await;
        assert_eq!(d.status, 200, "{}", d.text());
        let url = format!(
            "{}{base}/video/:/transcode/universal/{start}?{q}",
            demo.url()
        );
        let report = tokio::task::spawn_blocking(move || ffprobe(&url))
            .await
            .unwrap();
        assert_decodes(&report, session);
    }

    // Every request Plex saw came from plexgate with the token as a header only.
    for r in plex.requests() {
        let q = r.query.clone().unwrap_or_default();
        assert!(!q.contains(plex.token()), "token in a URL: {}", r.path);
        if r.path != "/identity" {
            assert_eq!(r.header("x-plex-token"), Some(plex.token()));
        }
    }
    demo.shutdown().await;
}
