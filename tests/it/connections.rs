//! Connections that never speak, and too many connections: the real plexgate on loopback,
//! spoken to over raw TCP so that a test controls every byte (or the lack of one).
//!
//! A connection that sends no request head used to be held forever (hyper's header timer starts
//! at the first byte), so enough of them used up the file descriptors and `/health` stopped
//! answering. These tests pin the fixes: silent and idle connections are closed after
//! `server.header_read_timeout_secs`, and connections over `server.max_connections` /
//! `server.max_connections_per_ip` are closed at once while the open ones keep working.

use std::time::{Duration, Instant};

use crate::support::TestApp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Far longer than any close this file waits for; a test that reaches it failed.
const PATIENCE: Duration = Duration::from_secs(30);

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.running.addr()).await.unwrap()
}

/// Sends `GET /health` on `tcp` (keep-alive) and returns the status line and body.
async fn health(tcp: &mut TcpStream) -> String {
    tcp.write_all(b"GET /health HTTP/1.1\r\nhost: t\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(PATIENCE, tcp.read(&mut chunk))
            .await
            .expect("an answer")
            .expect("readable");
        assert!(
            n > 0,
            "closed before answering: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .expect("content-length");
            if body.len() >= len {
                let status = head.lines().next().unwrap_or_default();
                return format!("{status} {body}");
            }
        }
    }
}

/// Asserts that the server closes `tcp` (`why` names the case) without answering anything.
async fn closed_without_answer(tcp: &mut TcpStream, why: &str) {
    let sent = closed_by_server(tcp).await.expect(why);
    assert!(sent.is_empty(), "{why}: answered {sent:?}");
}

/// Waits until the server closes `tcp`; returns what it sent before closing, or `None` if it
/// was still open after [`PATIENCE`].
async fn closed_by_server(tcp: &mut TcpStream) -> Option<String> {
    let mut seen = Vec::new();
    let mut chunk = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match tokio::time::timeout_at(deadline, tcp.read(&mut chunk)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(String::from_utf8_lossy(&seen).into_owned()),
            Ok(Ok(n)) => seen.extend_from_slice(&chunk[..n]),
        }
    }
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_after_the_header_timeout() {
    let app = TestApp::start(&[("server.header_read_timeout_secs", "1")]).await;

    let started = Instant::now();
    let mut silent = connect(&app).await;
    closed_without_answer(&mut silent, "a silent connection is closed").await;
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "closed by the timeout, not refused at accept"
    );

    // Half a request head is no better than none.
    let mut partial = connect(&app).await;
    partial
        .write_all(b"GET /health HTTP/1.1\r\nhost: t\r\n")
        .await
        .unwrap();
    let sent = closed_by_server(&mut partial)
        .await
        .expect("an incomplete head is closed");
    assert!(!sent.contains("200"), "{sent:?}");

    // A keep-alive connection is served, then closed once it idles past the timeout.
    let mut idle = connect(&app).await;
    assert!(health(&mut idle).await.starts_with("HTTP/1.1 200"));
    assert!(health(&mut idle).await.starts_with("HTTP/1.1 200"));
    closed_by_server(&mut idle)
        .await
        .expect("an idle keep-alive connection is closed");
}

#[tokio::test]
async fn connections_over_the_cap_are_closed_while_health_answers_on_an_open_one() {
    let app = TestApp::start(&[
        ("server.max_connections", "3"),
        ("server.header_read_timeout_secs", "120"),
    ])
    .await;
    let mut open = connect(&app).await;
    assert!(health(&mut open).await.contains("\"ok\""));
    // Two silent connections fill the cap (accepted in the order they connected).
    let mut silent = vec![connect(&app).await, connect(&app).await];

    let mut over = connect(&app).await;
    closed_without_answer(&mut over, "the fourth connection is closed at once").await;
    assert!(
        health(&mut open).await.contains("\"ok\""),
        "the open connection still answers"
    );

    // A freed slot is usable again.
    drop(silent.pop());
    let deadline = Instant::now() + PATIENCE;
    loop {
        let mut next = connect(&app).await;
        next.write_all(b"GET /health HTTP/1.1\r\nhost: t\r\n\r\n")
            .await
            .unwrap();
        let mut answer = [0u8; 12];
        if let Ok(Ok(12)) = tokio::time::timeout(PATIENCE, next.read_exact(&mut answer)).await
            && &answer == b"HTTP/1.1 200"
        {
            break;
        }
        assert!(Instant::now() < deadline, "the slot was never freed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn one_address_cannot_take_every_connection_unless_it_is_a_trusted_proxy() {
    // Loopback is not a trusted proxy here, so the per-address cap applies to the test client.
    let app = TestApp::start(&[
        ("server.trusted_proxies", "192.0.2.1/32"),
        ("server.max_connections_per_ip", "2"),
        ("server.header_read_timeout_secs", "120"),
    ])
    .await;
    let mut open = connect(&app).await;
    assert!(health(&mut open).await.contains("\"ok\""));
    let _silent = connect(&app).await;
    let mut over = connect(&app).await;
    closed_without_answer(&mut over, "the third connection from one address is closed").await;
    assert!(health(&mut open).await.contains("\"ok\""));

    // Behind a reverse proxy every client shares the proxy's address: no per-address cap.
    let proxied = TestApp::start(&[
        ("server.trusted_proxies", "127.0.0.1/32"),
        ("server.max_connections_per_ip", "1"),
    ])
    .await;
    let mut conns = Vec::new();
    for _ in 0..3 {
        let mut c = connect(&proxied).await;
        assert!(health(&mut c).await.contains("\"ok\""));
        conns.push(c);
    }
}
