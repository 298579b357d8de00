//! The one place outbound clients are configured, so every upstream gets the same TLS
//! provider, connect timeout, user agent and no-redirect policy.
//!
//! No total or read timeout here: media bodies stream for as long as a movie plays and a paused
//! player must not be timed; metadata calls set their own `.timeout()` per request.

use std::time::Duration;

/// A client builder with plexgate's shared settings; callers add what is theirs (pool sizes,
/// a resolver) and build.
pub fn builder() -> reqwest::ClientBuilder {
    // Several crates may link rustls; install our provider once, ignore "already installed".
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        // A redirect could carry a token-bearing request to another host.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("plexgate/", env!("CARGO_PKG_VERSION")))
}
