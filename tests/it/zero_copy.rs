//! Parts relayed with splice(2) (`stream.zero_copy`, Linux): the player gets Plex's bytes
//! exactly, never the placeholders the relay stands them in with; everything the relay cannot
//! carry (HTTP/2 players, `zero_copy = false`) is copied; and a relayed body fails the way a
//! copied one does: Plex going silent or closing short, or the session being revoked while the
//! player is paused, ends it with an error, never a clean short end.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::browser::demo_browser;
use crate::support::canary::Canary;
use crate::support::demo_against;
use crate::support::odd_plex::{OddPlex, pattern};

const PART: &str = "/library/parts/9/1/file.mp4";

/// `plexgate_spliced_bytes_total` from `/metrics`.
async fn spliced_bytes(demo: &plexgate::app::demo::Demo) -> u64 {
    let text = crate::support::client()
        .get(format!("{}/metrics", demo.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("plexgate_spliced_bytes_total "))
        .expect("the spliced bytes counter")
        .trim()
        .parse()
        .unwrap()
}

async fn odd_with_part(token: &str, len: usize, content_type: &'static str) -> OddPlex {
    let odd = OddPlex::start(token).await;
    odd.serve_large_as(PART, pattern(len), content_type);
    odd
}

#[tokio::test]
async fn parts_are_spliced_byte_exact_and_copied_when_turned_off() {
    let len = 8 << 20;
    let odd = odd_with_part("odd-plex-token-splice-1", len, "video/mp4").await;
    for (zero_copy, spliced) in [("true", true), ("false", false)] {
        let dir = tempfile::tempdir().unwrap();
        let demo = demo_against(
            &odd.url(),
            &odd.token,
            dir.path(),
            &[("metrics.enabled", "true"), ("stream.zero_copy", zero_copy)],
        )
        .await;
        let canary = Canary::new(&[&odd.token]);
        let (_b, facade) = demo_browser(&demo, &canary).await;
        let url = format!("{}{facade}{PART}", demo.url());
        // Twice over one player connection: the second answer reuses Plex's connection.
        let client = crate::support::client();
        for _ in 0..2 {
            let body = client
                .get(&url)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            assert!(
                body == pattern(len),
                "zero_copy={zero_copy}: the bytes differ"
            );
        }
        let counted = spliced_bytes(&demo).await;
        if spliced {
            // All but what came along with Plex's response head.
            assert!(counted > 2 * (len as u64 - (64 << 10)), "spliced {counted}");
        } else {
            assert_eq!(counted, 0, "zero_copy=false still spliced");
        }
        demo.shutdown().await;
    }
}

#[tokio::test]
async fn an_http2_player_gets_the_bytes_not_placeholders() {
    let len = 3 << 20;
    let odd = odd_with_part("odd-plex-token-splice-2", len, "video/mp4").await;
    let dir = tempfile::tempdir().unwrap();
    let demo = demo_against(
        &odd.url(),
        &odd.token,
        dir.path(),
        &[("metrics.enabled", "true")],
    )
    .await;
    let canary = Canary::new(&[&odd.token]);
    let (_b, facade) = demo_browser(&demo, &canary).await;
    let h2 = reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let resp = h2
        .get(format!("{}{facade}{PART}", demo.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    let body = resp.bytes().await.unwrap();
    assert!(body == pattern(len), "an HTTP/2 player got other bytes");
    assert_eq!(spliced_bytes(&demo).await, 0, "HTTP/2 frames are copied");
    demo.shutdown().await;
}

#[tokio::test]
async fn a_text_part_to_a_gzip_player_is_neither_compressed_nor_placeholders() {
    // Subtitles and other sidecars are text: the compression layer would encode them, reading
    // the body's frames, which for a spliced body are placeholders.
    let len = 1 << 20;
    let odd = odd_with_part("odd-plex-token-splice-3", len, "text/plain").await;
    let dir = tempfile::tempdir().unwrap();
    let demo = demo_against(
        &odd.url(),
        &odd.token,
        dir.path(),
        &[("metrics.enabled", "true")],
    )
    .await;
    let canary = Canary::new(&[&odd.token]);
    let (_b, facade) = demo_browser(&demo, &canary).await;
    let resp = crate::support::client()
        .get(format!("{}{facade}{PART}", demo.url()))
        .header("accept-encoding", "gzip, br")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers().get("content-encoding"), None);
    let body = resp.bytes().await.unwrap();
    assert!(body == pattern(len), "the text part's bytes differ");
    assert!(
        spliced_bytes(&demo).await > 0,
        "the text part was not spliced"
    );
    demo.shutdown().await;
}

/// Reads `url` to its end: `Ok(bytes)` for a clean end, `Err(bytes)` when cut off.
async fn read_to_end(url: &str) -> Result<usize, usize> {
    let mut resp = crate::support::client().get(url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    tokio::time::timeout(Duration::from_secs(30), async {
        let mut got = 0;
        loop {
            match resp.chunk().await {
                Ok(Some(c)) => got += c.len(),
                Ok(None) => return Ok(got),
                Err(_) => return Err(got),
            }
        }
    })
    .await
    .expect("a failing upstream must not hang the player")
}

#[tokio::test]
async fn plex_going_silent_or_closing_short_cuts_a_spliced_part() {
    let odd = OddPlex::start("odd-plex-token-splice-4").await;
    let dir = tempfile::tempdir().unwrap();
    let demo = demo_against(
        &odd.url(),
        &odd.token,
        dir.path(),
        &[("stream.upstream_idle_timeout_secs", "1")],
    )
    .await;
    let canary = Canary::new(&[&odd.token]);
    let (_b, facade) = demo_browser(&demo, &canary).await;
    // Both promise a MiB; a cut body is an error, never a clean (short) end.
    let silent = format!("{}{facade}/library/parts/7/1/stall-sized.mp4", demo.url());
    assert_eq!(read_to_end(&silent).await, Err(65536));
    let short = read_to_end(&format!(
        "{}{facade}/library/parts/7/1/short.mp4",
        demo.url()
    ))
    .await;
    assert!(
        matches!(short, Err(n) if n <= 100 << 10),
        "a part Plex closed short ended {short:?}"
    );
    demo.shutdown().await;
}

#[tokio::test]
async fn a_paused_player_is_cut_off_when_its_session_is_revoked() {
    let len = 64 << 20;
    let odd = odd_with_part("odd-plex-token-splice-5", len, "video/mp4").await;
    let dir = tempfile::tempdir().unwrap();
    let demo = demo_against(&odd.url(), &odd.token, dir.path(), &[]).await;
    let canary = Canary::new(&[&odd.token]);
    let (mut b, facade) = demo_browser(&demo, &canary).await;
    let addr = demo.url().trim_start_matches("http://").to_string();
    let mut player = tokio::net::TcpStream::connect(addr).await.unwrap();
    player
        .write_all(format!("GET {facade}{PART} HTTP/1.1\r\nhost: plexgate\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = vec![0u8; 64 << 10];
    let mut read = 0;
    while read < (1 << 20) {
        let n = player.read(&mut buf).await.unwrap();
        assert!(n > 0, "the body ended after {read} bytes");
        read += n;
    }
    // Paused: the player reads nothing while the user signs out.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(b.post("/api/auth/logout").await.status, 200);
    // Resuming, it finds the connection closed well before the part's end.
    let rest = tokio::time::timeout(Duration::from_secs(10), async {
        let mut more = 0;
        loop {
            match player.read(&mut buf).await {
                Ok(0) | Err(_) => return more,
                Ok(n) => more += n,
            }
        }
    })
    .await
    .expect("a revoked relay must close the player's connection");
    assert!(
        read + rest < len,
        "the whole part reached a player whose session was revoked"
    );
    demo.shutdown().await;
}
