//! How each accepted connection's socket is set up: no Nagle delay, and a bounded send buffer.
//!
//! Both are set once, on the listening socket: Linux copies them to every socket it accepts
//! (as nginx's `listen … sndbuf=` relies on), which keeps two system calls per connection off
//! the way to its first byte. Where that cannot be done, each accepted connection is tuned
//! instead ([`tune`]).
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

use tokio::net::{TcpListener, TcpStream};

/// Sets `TCP_NODELAY` and, when `send_buffer` is given, `SO_SNDBUF` on the listening socket, for
/// every connection it accepts to inherit. Returns whether that worked; if not (or off Linux,
/// where inheriting them is not promised), each accepted connection needs [`tune`].
pub fn tune_listener(listener: &TcpListener, send_buffer: Option<usize>) -> bool {
    #[cfg(target_os = "linux")]
    match set(listener, send_buffer) {
        Ok(()) => true,
        Err(e) => {
            tracing::debug!(error = %e, "could not tune the listener; tuning each connection");
            false
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (listener, send_buffer);
        false
    }
}

/// Sets `TCP_NODELAY` (a response head must not wait for its body) and, when `send_buffer` is
/// given, `SO_SNDBUF`. A failure costs only speed, so it is logged at DEBUG and ignored.
pub fn tune(tcp: &TcpStream, send_buffer: Option<usize>) {
    #[cfg(target_os = "linux")]
    if let Err(e) = set(tcp, send_buffer) {
        tracing::debug!(error = %e, "could not tune a client connection");
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = send_buffer;
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY on a client connection");
        }
    }
}

/// The two options, on any socket: a listener (whose accepted sockets inherit them) or one
/// accepted connection.
#[cfg(target_os = "linux")]
fn set(socket: impl std::os::fd::AsFd, send_buffer: Option<usize>) -> rustix::io::Result<()> {
    use rustix::net::sockopt;
    sockopt::set_tcp_nodelay(&socket, true)?;
    match send_buffer {
        Some(bytes) => sockopt::set_socket_send_buffer_size(&socket, bytes),
        None => Ok(()),
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    async fn accepted_pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        accepted_from(&listener).await
    }

    async fn accepted_from(listener: &TcpListener) -> (TcpStream, TcpStream) {
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

    #[tokio::test]
    async fn accepted_connections_inherit_the_listeners_tuning() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        assert!(tune_listener(&listener, Some(64 << 10)));
        // Two connections: the options stay on the listener, not just its first accept.
        for _ in 0..2 {
            let (server, _client) = accepted_from(&listener).await;
            assert!(server.nodelay().unwrap());
            assert_eq!(send_buffer(&server), 128 << 10);
        }
    }

    #[tokio::test]
    async fn a_listener_without_a_size_leaves_the_send_buffer_to_the_kernel() {
        let (plain, _c1) = accepted_pair().await;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        assert!(tune_listener(&listener, None));
        let (server, _c2) = accepted_from(&listener).await;
        assert!(server.nodelay().unwrap());
        assert_eq!(send_buffer(&server), send_buffer(&plain));
    }
}
