//! Parts relayed with splice(2) (`stream.zero_copy`, Linux): the player gets Plex's bytes
//! exactly, never the placeholders the relay stands them in with; everything the relay cannot
//! carry (HTTP/2 players, `zero_copy = false`) is copied; a revoked session cuts a relayed
//! body even while its player is paused, and only that session's: a second viewer relaying at
//! the same time gets its part whole. (Plex going silent or closing short mid-part is in
//! `playback_life`, for both paths.)

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

/// The whole body of a GET of `url` (any failure fails the test: the bytes are the point).
async fn fetch(client: &reqwest::Client, url: &str) -> bytes::Bytes {
    client.get(url).send().await.unwrap().bytes().await.unwrap()
}

/// A Plex serving `len` pattern bytes at [`PART`] as `content_type`, plexgate in front with
/// `extra` settings, and the facade base of a signed-in demo browser.
async fn start(
    token: &str,
    len: usize,
    content_type: &'static str,
    extra: &[(&str, &str)],
) -> (
    OddPlex,
    plexgate::app::demo::Demo,
    tempfile::TempDir,
    String,
) {
    let odd = OddPlex::start(token).await;
    odd.serve_large_as(PART, pattern(len), content_type);
    let dir = tempfile::tempdir().unwrap();
    let demo = demo_against(&odd.url(), &odd.token, dir.path(), extra).await;
    let canary = Canary::new(&[&odd.token]);
    let (_b, facade) = demo_browser(&demo, &canary).await;
    (odd, demo, dir, facade)
}

#[tokio::test]
async fn parts_are_spliced_byte_exact_and_copied_when_turned_off() {
    let len = 8 << 20;
    for (zero_copy, spliced) in [("true", true), ("false", false)] {
        let extra = [("metrics.enabled", "true"), ("stream.zero_copy", zero_copy)];
        let (_odd, demo, _dir, facade) =
            start("odd-plex-token-splice-1", len, "video/mp4", &extra).await;
        let url = format!("{}{facade}{PART}", demo.url());
        // Twice over one player connection: the second answer reuses Plex's connection.
        let client = crate::support::client();
        for _ in 0..2 {
            let body = fetch(&client, &url).await;
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
    let extra = [("metrics.enabled", "true")];
    let (_odd, demo, _dir, facade) =
        start("odd-plex-token-splice-2", len, "video/mp4", &extra).await;
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
    let extra = [("metrics.enabled", "true")];
    let (_odd, demo, _dir, facade) =
        start("odd-plex-token-splice-3", len, "text/plain", &extra).await;
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

/// A player on a raw connection that asks for `path` under `facade`, reads 1 MiB of it and
/// then pauses (reads nothing more until the caller resumes it).
async fn paused_player(demo: &plexgate::app::demo::Demo, path: &str) -> tokio::net::TcpStream {
    let addr = demo.url().trim_start_matches("http://").to_string();
    let mut player = tokio::net::TcpStream::connect(addr).await.unwrap();
    player
        .write_all(format!("GET {path} HTTP/1.1\r\nhost: plexgate\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = vec![0u8; 64 << 10];
    let mut read = 0;
    while read < (1 << 20) {
        let n = player.read(&mut buf).await.unwrap();
        assert!(n > 0, "the body ended after {read} bytes");
        read += n;
    }
    player
}

/// Resumes a paused player: the bytes it still gets before its connection ends (bounded by
/// 10 s, so a relay that never ends fails the test instead of hanging it).
async fn bytes_until_closed(player: &mut tokio::net::TcpStream) -> usize {
    let mut buf = vec![0u8; 64 << 10];
    tokio::time::timeout(Duration::from_secs(10), async {
        let mut more = 0;
        loop {
            match player.read(&mut buf).await {
                Ok(0) | Err(_) => return more,
                Ok(n) => more += n,
            }
        }
    })
    .await
    .expect("a revoked relay must close the player's connection")
}

#[tokio::test]
async fn a_paused_player_is_cut_off_when_its_session_is_revoked() {
    let len = 64 << 20;
    let odd = OddPlex::start("odd-plex-token-splice-5").await;
    odd.serve_large(PART, pattern(len));
    let dir = tempfile::tempdir().unwrap();
    let demo = demo_against(&odd.url(), &odd.token, dir.path(), &[]).await;
    let canary = Canary::new(&[&odd.token]);
    let (mut b, facade) = demo_browser(&demo, &canary).await;
    let mut player = paused_player(&demo, &format!("{facade}{PART}")).await;
    // Paused: the player reads nothing while the user signs out.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(b.post("/api/auth/logout").await.status, 200);
    // Resuming, it finds the connection closed well before the part's end.
    let rest = bytes_until_closed(&mut player).await;
    assert!(
        (1 << 20) + rest < len,
        "the whole part reached a player whose session was revoked"
    );
    demo.shutdown().await;
}

#[tokio::test]
async fn two_viewers_relay_at_once_and_a_sign_out_cuts_only_its_own() {
    let len = 32 << 20;
    let odd = OddPlex::start("odd-plex-token-splice-8").await;
    odd.serve_large(PART, pattern(len));
    let dir = tempfile::tempdir().unwrap();
    let extra = [("metrics.enabled", "true")];
    let demo = demo_against(&odd.url(), &odd.token, dir.path(), &extra).await;
    let canary = Canary::new(&[&odd.token]);
    let (mut leaving, facade_leaving) = demo_browser(&demo, &canary).await;
    let (_staying, facade_staying) = demo_browser(&demo, &canary).await;
    // Both viewers are mid-part on their own connections, both spliced.
    let mut gone = paused_player(&demo, &format!("{facade_leaving}{PART}")).await;
    let staying = crate::support::client()
        .get(format!("{}{facade_staying}{PART}", demo.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(staying.status(), 200);
    let mut staying = staying;
    let mut got = Vec::with_capacity(len);
    while got.len() < (1 << 20) {
        got.extend_from_slice(&staying.chunk().await.unwrap().expect("more of the part"));
    }
    assert_eq!(leaving.post("/api/auth/logout").await.status, 200);
    let rest = bytes_until_closed(&mut gone).await;
    assert!(
        (1 << 20) + rest < len,
        "the signed-out viewer got the whole part"
    );
    // The other viewer's part goes on to the end, byte-exact.
    while let Some(chunk) = staying.chunk().await.unwrap() {
        got.extend_from_slice(&chunk);
    }
    assert!(
        got == pattern(len),
        "the staying viewer's part arrived changed"
    );
    assert!(
        spliced_bytes(&demo).await > len as u64 / 2,
        "the parts were not spliced"
    );
    demo.shutdown().await;
}

#[tokio::test]
async fn small_parts_and_whole_parts_reuse_one_plex_connection() {
    let len = 1 << 20;
    let (odd, demo, _dir, facade) = start("odd-plex-token-splice-6", len, "video/mp4", &[]).await;
    // A body that arrives whole with Plex's head, as a player's first small range does.
    let small = "/library/parts/9/2/file.mp4";
    odd.serve_large(small, pattern(1000));
    let client = crate::support::client();
    let before = crate::support::receive_queues_to(odd.addr.unwrap()).len();
    for i in 0..6 {
        let (path, want) = if i % 2 == 0 {
            (small, 1000)
        } else {
            (PART, len)
        };
        let body = fetch(&client, &format!("{}{facade}{path}", demo.url())).await;
        assert_eq!(body.len(), want);
    }
    let after = crate::support::receive_queues_to(odd.addr.unwrap()).len();
    assert!(
        after <= before + 1,
        "{} new connections to Plex for six requests one after another",
        after - before
    );
    demo.shutdown().await;
}

#[tokio::test]
async fn one_player_connection_relays_bodies_of_every_size_byte_exact() {
    // The connection keeps its pipe from body to body: bytes left in it would shift the next
    // answer, which the pattern would show.
    let (odd, demo, _dir, facade) =
        start("odd-plex-token-splice-7", 3 << 20, "video/mp4", &[]).await;
    let sizes = [
        ("/library/parts/9/2/file.mp4", 60 << 10), // spliced through the default-size pipe
        (PART, 3 << 20),                           // the same pipe, grown
        ("/library/parts/9/3/file.mp4", 1000),     // came whole with Plex's head
        ("/library/parts/9/4/file.mp4", 300 << 10),
    ];
    for (path, len) in &sizes[..] {
        if *path != PART {
            odd.serve_large(path, pattern(*len));
        }
    }
    let client = crate::support::client();
    for (path, len) in sizes.iter().chain(sizes.iter().rev()) {
        let body = fetch(&client, &format!("{}{facade}{path}", demo.url())).await;
        assert!(
            body == pattern(*len),
            "{path} ({len} bytes) arrived changed"
        );
    }
    demo.shutdown().await;
}

#[tokio::test]
async fn transcoder_segments_are_spliced_and_never_asked_for_twice() {
    // A segment's GET has effects on Plex's transcoder: whatever its framing, Plex sees it once.
    let (odd, demo, _dir, facade) = start(
        "odd-plex-token-splice-9",
        1 << 20,
        "video/mp4",
        &[("metrics.enabled", "true")],
    )
    .await;
    let session = "/video/:/transcode/universal/session/0ddba11/0";
    let sized = format!("{session}/1.ts");
    let chunked = format!("{session}/2.ts");
    let chunked_part = "/library/parts/9/5/file.mp4";
    odd.serve_large_as(&sized, pattern(2 << 20), "video/mp2t");
    odd.serve_chunked(&chunked, pattern(3 << 20));
    odd.serve_chunked(chunked_part, pattern(1 << 20));
    let client = crate::support::client();
    let mut spliced = spliced_bytes(&demo).await;
    for (path, len, splices) in [
        (sized.as_str(), 2 << 20, true),
        (chunked.as_str(), 3 << 20, false),
        (chunked_part, 1 << 20, false),
    ] {
        let resp = client
            .get(format!("{}{facade}{path}", demo.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let body = resp.bytes().await.unwrap();
        assert!(body == pattern(len), "{path} arrived changed");
        assert_eq!(
            odd.asked(path),
            1,
            "{path} was asked for {} times",
            odd.asked(path)
        );
        let now = spliced_bytes(&demo).await;
        assert_eq!(
            now > spliced,
            splices,
            "{path}: spliced {} bytes",
            now - spliced
        );
        spliced = now;
    }
    demo.shutdown().await;
}

/// The body of `path` fetched on a connection of its own, which plexgate closes after the
/// answer (`Connection: close`), read until that close.
async fn fetch_on_new_connection(demo: &plexgate::app::demo::Demo, path: &str) -> Vec<u8> {
    let addr = demo.url().trim_start_matches("http://").to_string();
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!("GET {path} HTTP/1.1\r\nhost: plexgate\r\nconnection: close\r\n\r\n");
    conn.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut answer))
        .await
        .expect("the answer ends with the connection")
        .unwrap();
    let end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    assert!(answer.starts_with(b"HTTP/1.1 200"), "{path}: not a 200");
    answer.split_off(end + 4)
}

/// Returns once Plex's bytes queue up in plexgate's socket (≥ 256 KiB): the relay has stopped
/// taking them, so a paused player's pipe holds bytes of its body.
async fn plex_side_backs_up(odd: &OddPlex) {
    let plex = odd.addr.unwrap();
    tokio::time::timeout(Duration::from_secs(10), async {
        while !crate::support::receive_queues_to(plex)
            .iter()
            .any(|queued| *queued >= 256 << 10)
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the relay never stopped reading from Plex for a paused player");
}

#[tokio::test]
async fn pipes_left_by_closed_connections_serve_new_ones_byte_exact() {
    // A closed connection's emptied pipe serves the next connection's first spliced body; one
    // cut off mid-body must not, or its leftover bytes would shift another player's answer.
    let (odd, demo, _dir, facade) =
        start("odd-plex-token-splice-9", 3 << 20, "video/mp4", &[]).await;
    let other = "/library/parts/9/5/file.mp4";
    odd.serve_large(other, pattern(700 << 10));
    // Larger than what the sockets between plexgate and a paused player hold.
    let long = "/library/parts/9/6/file.mp4";
    odd.serve_large(long, pattern(48 << 20));
    for round in 0..3 {
        let body = fetch_on_new_connection(&demo, &format!("{facade}{PART}")).await;
        assert!(
            body == pattern(3 << 20),
            "round {round}: the part arrived changed"
        );
        // A player that leaves mid-body, with bytes still in its pipe.
        let cut = paused_player(&demo, &format!("{facade}{long}")).await;
        plex_side_backs_up(&odd).await;
        drop(cut);
        let body = fetch_on_new_connection(&demo, &format!("{facade}{other}")).await;
        assert!(
            body == pattern(700 << 10),
            "round {round}: the next part arrived changed"
        );
    }
    demo.shutdown().await;
}
