//! How much of Plex's answer waits in plexgate for a player that stopped reading (a pause, a
//! full player buffer): at most the receive buffer plexgate sets on its Plex connections. What
//! waits there is thrown away when the player seeks; with reqwest, whose sockets we could not
//! size, the kernel autotuned that buffer to several MiB per stream (~12 % of what 200 seeking
//! players read from Plex).

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::browser::demo_browser;
use crate::support::canary::Canary;
use crate::support::demo_against;
use crate::support::odd_plex::{OddPlex, pattern};

/// What the kernel may queue in plexgate's socket from Plex while nobody reads it: the 512 KiB
/// plexgate asks for, which Linux doubles to 1 MiB, plus a quarter for what Linux lets through
/// before it prunes. Measured: 0.65–1.0 MiB with the bound; 0.95–2.6 MiB before it (autotuned).
const MOST_QUEUED: u64 = 5 << 18;

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_player_leaves_at_most_a_mebibyte_queued_from_plex() {
    let odd = OddPlex::start("odd-plex-token-ahead-1").await;
    let len = 64 << 20;
    odd.serve_large("/library/parts/5/1/file.mp4", pattern(len));
    let dir = tempfile::tempdir().unwrap();
    let demo = demo_against(&odd.url(), &odd.token, dir.path(), &[]).await;
    let canary = Canary::new(&[&odd.token]);
    let (_b, facade) = demo_browser(&demo, &canary).await;
    let addr = demo.url().trim_start_matches("http://").to_string();

    // A player with a small receive buffer of its own, so its kernel holds little.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(64 << 10).unwrap();
    let mut player = socket.connect(addr.parse().unwrap()).await.unwrap();
    let path = format!("{facade}/library/parts/5/1/file.mp4");
    player
        .write_all(format!("GET {path} HTTP/1.1\r\nhost: plexgate\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = vec![0u8; 64 << 10];
    let mut read: u64 = 0;
    while read < (24 << 20) {
        let n = player.read(&mut buf).await.unwrap();
        assert!(n > 0, "the body ended after {read} bytes");
        read += n as u64;
    }

    // The player stops reading. Wait for Plex's side to stall: no progress for half a second.
    let sent = &odd.large_sent;
    let stalled = async {
        let mut last = sent.load(Ordering::SeqCst);
        let mut quiet = 0;
        while quiet < 10 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let now = sent.load(Ordering::SeqCst);
            quiet = if now == last { quiet + 1 } else { 0 };
            last = now;
        }
        last
    };
    let sent = tokio::time::timeout(Duration::from_secs(20), stalled)
        .await
        .expect("Plex's side never stalled: plexgate kept reading for a player that stopped");
    assert!(
        (sent as usize) < len,
        "the whole part was read for a paused player"
    );
    let queued = crate::support::receive_queues_to(odd.addr.unwrap());
    eprintln!(
        "queued in plexgate's socket from Plex: {queued:?}; Plex handed over {} bytes more than the player read",
        sent - read
    );
    assert!(
        !queued.is_empty(),
        "no connection from plexgate to Plex found"
    );
    for q in queued {
        assert!(
            q <= MOST_QUEUED,
            "{q} bytes from Plex wait in plexgate's socket for a paused player (at most {MOST_QUEUED})"
        );
    }
    drop(player);
    demo.shutdown().await;
}
