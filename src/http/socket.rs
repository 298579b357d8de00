//! How each accepted connection's socket is set up: no Nagle delay, and a bounded send buffer.
//!
//! Why the send buffer: left alone, Linux autotunes a connection's send buffer up to
//! `net.ipv4.tcp_wmem`'s maximum (4 MiB by default). A part relayed with splice(2) lands in the
//! socket in pipe-sized chunks, far more than the player's receive window takes, so most of it
//! waits in the queue and goes out later, in bursts, from the receiver's ACK processing. On
//! loopback, where a front proxy on the same box is the receiver, that is the front proxy's
//! CPU. With the buffer bounded, the relay waits for room instead and what it sends goes out at
//! once. In `benches/compare.sh`'s cells 256 KiB gave +11 % req/s at 2 MiB with one connection
//! and +40 to +50 % at 16 and 64, with less CPU per request for plexgate and its client alike
//! (benches/README.md, 2026-12-05 morning). It also bounds the kernel memory a paused player's
//! connection holds.
//!
//! The cost: a connection has at most about twice the value in flight (Linux doubles it for
//! its bookkeeping, and caps it at `net.core.wmem_max`), ~130 Mbit/s at 30 ms of round trip
//! with the default. `server.send_buffer_bytes = 0` gives autotuning back, for players far
//! away that need more per stream. Linux only, like the relay it is for: elsewhere the
//! kernel's default stays.

use tokio::net::TcpStream;

/// Sets `TCP_NODELAY` (a response head must not wait for its body) and, when `send_buffer` is
/// given, `SO_SNDBUF`. A failure costs only speed, so it is logged at DEBUG and ignored.
pub fn tune(tcp: &TcpStream, send_buffer: Option<usize>) {
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(error = %e, "could not set TCP_NODELAY on a client connection");
    }
    #[cfg(target_os = "linux")]
    if let Some(bytes) = send_buffer
        && let Err(e) = rustix::net::sockopt::set_socket_send_buffer_size(tcp, bytes)
    {
        tracing::debug!(error = %e, bytes, "could not bound a client connection's send buffer");
    }
    #[cfg(not(target_os = "linux"))]
    let _ = send_buffer;
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    async fn accepted_pair() -> (TcpStream, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (server, client)
    }

    fn send_buffer(tcp: &TcpStream) -> usize {
        rustix::net::sockopt::socket_send_buffer_size(tcp).unwrap()
    }

    #[tokio::test]
    async fn bounds_the_send_buffer_and_disables_nagle() {
        let (server, _client) = accepted_pair().await;
        // Below any `net.core.wmem_max`, so the kernel keeps it (doubled, on Linux).
        tune(&server, Some(64 << 10));
        assert!(server.nodelay().unwrap());
        assert_eq!(send_buffer(&server), 128 << 10);
    }

    #[tokio::test]
    async fn without_a_size_the_kernel_keeps_autotuning() {
        let (server, _client) = accepted_pair().await;
        let before = send_buffer(&server);
        tune(&server, None);
        assert!(server.nodelay().unwrap());
        assert_eq!(send_buffer(&server), before);
    }
}
