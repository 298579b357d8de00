//! The client for everything `stream::proxy` forwards to Plex (facade calls, manifests, parts
//! and segments): hyper-util's pooled HTTP/1.1 client with its buffers sized here.
//!
//! Why not reqwest, which every other upstream uses: reqwest sizes neither hyper's read buffer
//! nor the socket. hyper's adaptive read buffer grows to ~400 KiB on a fast upstream, each read
//! becomes a frame that waits in the server's write queue behind a slow player, and the kernel
//! autotunes the socket's receive buffer to several MiB. With 200 slow players that was ~1.1 MiB
//! of plexgate's memory per stream, plus ~4 MiB per stream queued in the kernel and thrown away
//! at every seek. Here a read is at most [`READ_BUFFER`] (so is every frame a player waits on)
//! and the receive buffer is [`SOCKET_RECV_BUFFER`].
//!
//! TLS is the same as reqwest's: rustls with the process's ring provider and the platform
//! verifier (the system's roots). No redirects are followed (hyper never does), no proxy from
//! the environment is used, and the connect timeout is the one the other clients use.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// The most hyper reads from Plex at once, and so the largest frame a player's connection holds
/// (nginx's `proxy_buffer_size` habit). Large enough that copying stays cheap per byte.
pub const READ_BUFFER: usize = 64 << 10;

/// `SO_RCVBUF` for Plex connections (Linux doubles it for bookkeeping). It bounds what the kernel
/// reads ahead of a paused or slow player, and so what a seek throws away; at 1 MiB effective it
/// still carries ~280 Mbit/s to a server 30 ms away, more than any Plex stream needs.
pub const SOCKET_RECV_BUFFER: usize = 512 << 10;

/// A request body sent to Plex (empty for GET and HEAD).
pub type MediaBody = Full<Bytes>;

/// The pooled client; cheap to clone (the pool is shared).
#[derive(Clone, Debug)]
pub struct MediaClient {
    inner: Client<HttpsConnector<HttpConnector>, MediaBody>,
    /// Plain-HTTP GETs whose bodies are spliced (`crate::relay`).
    #[cfg(target_os = "linux")]
    plain: super::plain::PlainClient,
}

/// Why a request to Plex got no response.
pub type MediaError = hyper_util::client::legacy::Error;

impl MediaClient {
    /// A client with plexgate's connect timeout, keep-alive pool and bounded buffers.
    pub fn new() -> Result<MediaClient, rustls::Error> {
        // Several crates may link rustls; install our provider once, ignore "already installed".
        let _ = rustls::crypto::ring::default_provider().install_default();
        let tls = <rustls::ClientConfig as rustls_platform_verifier::ConfigVerifierExt>::with_platform_verifier()?;
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(Duration::from_secs(5)));
        tcp.set_recv_buffer_size(Some(SOCKET_RECV_BUFFER));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        let inner = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(32)
            .http1_read_buf_exact_size(READ_BUFFER)
            .build(connector);
        Ok(MediaClient {
            inner,
            #[cfg(target_os = "linux")]
            plain: super::plain::PlainClient::default(),
        })
    }

    /// Sends `req`; resolves when Plex's response headers arrived (the body streams after).
    pub async fn send(
        &self,
        req: http::Request<MediaBody>,
    ) -> Result<http::Response<hyper::body::Incoming>, MediaError> {
        self.inner.request(req).await
    }

    /// The client for GETs whose bodies are relayed by `splice(2)`.
    #[cfg(target_os = "linux")]
    pub fn plain(&self) -> &super::plain::PlainClient {
        &self.plain
    }
}
