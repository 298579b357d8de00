//! Upstream failures by upstream and cause, and time to first byte for every upstream.
//!
//! Process-wide on purpose: the calls happen deep in the domains (`plex`, `tmdb`, `trakt`,
//! `image`, `stream`), which hold a `reqwest::Client` but no metrics handle, and a free function
//! per event keeps each call site one line. The label values are the shared vocabulary of the
//! upstream WARN lines (`upstream`, `cause`), so a log line and a series can be matched.

use std::fmt::Write;
use std::sync::LazyLock;
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Who plexgate was calling.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum Upstream {
    /// A Plex Media Server.
    Plex,
    /// plex.tv (sign-in, resources, Discover).
    PlexTv,
    /// The TMDB API.
    Tmdb,
    /// The Trakt API.
    Trakt,
    /// An image host (TMDB images, remote posters).
    Image,
}

impl Upstream {
    /// The label value, as in the upstream WARN lines.
    pub fn as_str(self) -> &'static str {
        match self {
            Upstream::Plex => "plex",
            Upstream::PlexTv => "plextv",
            Upstream::Tmdb => "tmdb",
            Upstream::Trakt => "trakt",
            Upstream::Image => "image",
        }
    }
}

/// Why an upstream call failed.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum Cause {
    /// The name did not resolve.
    Dns,
    /// Nothing listened (or a reset while connecting).
    Refused,
    /// The TLS handshake failed.
    Tls,
    /// Connect, answer or body took too long.
    Timeout,
    /// The upstream answered with an error status.
    Status,
    /// The body was larger than plexgate reads.
    BodyTooLarge,
    /// The body did not parse (JSON, XML, a manifest), or ended early.
    Decode,
    /// Anything else.
    Other,
}

impl EncodeLabelValue for Upstream {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> std::fmt::Result {
        encoder.write_str(self.as_str())
    }
}

impl EncodeLabelValue for Cause {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> std::fmt::Result {
        encoder.write_str(self.as_str())
    }
}

impl Cause {
    /// The label value, as in the upstream WARN lines.
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Dns => "dns",
            Cause::Refused => "refused",
            Cause::Tls => "tls",
            Cause::Timeout => "timeout",
            Cause::Status => "status",
            Cause::BodyTooLarge => "body_too_large",
            Cause::Decode => "decode",
            Cause::Other => "other",
        }
    }

    /// Classifies a reqwest error by walking its sources (reqwest names only timeout, connect,
    /// status and decode itself; DNS, refusal and TLS are in the chain below it).
    pub fn of(e: &reqwest::Error) -> Cause {
        if e.is_timeout() {
            return Cause::Timeout;
        }
        if e.is_status() {
            return Cause::Status;
        }
        if e.is_decode() {
            return Cause::Decode;
        }
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(err) = source {
            if let Some(io) = err.downcast_ref::<std::io::Error>() {
                match io.kind() {
                    std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::ConnectionReset => {
                        return Cause::Refused;
                    }
                    std::io::ErrorKind::TimedOut => return Cause::Timeout,
                    _ => {}
                }
            }
            if err.downcast_ref::<rustls::Error>().is_some() {
                return Cause::Tls;
            }
            // hyper-util's resolver error is private; its message is stable ("dns error").
            if err.to_string().starts_with("dns error") {
                return Cause::Dns;
            }
            source = err.source();
        }
        if e.is_connect() {
            Cause::Refused
        } else {
            Cause::Other
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    upstream: Upstream,
    cause: Cause,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabel {
    upstream: Upstream,
}

/// Seconds from sending a request to its response headers: LAN Plex to slow transcoder starts.
const TTFB_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

fn ttfb_histogram() -> Histogram {
    Histogram::new(TTFB_BUCKETS)
}

type TtfbFamily = Family<UpstreamLabel, Histogram, fn() -> Histogram>;

static ERRORS: LazyLock<Family<ErrorLabels, Counter>> = LazyLock::new(Family::default);
static TTFB: LazyLock<TtfbFamily> =
    LazyLock::new(|| Family::new_with_constructor(ttfb_histogram as fn() -> Histogram));

/// Counts one failed call to `upstream`.
pub fn upstream_error(upstream: Upstream, cause: Cause) {
    ERRORS.get_or_create(&ErrorLabels { upstream, cause }).inc();
}

/// Records how long `upstream` took to send response headers.
pub fn upstream_ttfb(upstream: Upstream, took: Duration) {
    TTFB.get_or_create(&UpstreamLabel { upstream })
        .observe(took.as_secs_f64());
}

/// Records the outcome of one `send()` started at `started`: its time to first byte when
/// headers came, a `status` failure for an error status, its cause when it failed.
pub fn record_send(
    upstream: Upstream,
    started: std::time::Instant,
    result: &Result<reqwest::Response, reqwest::Error>,
) {
    match result {
        Ok(resp) => {
            upstream_ttfb(upstream, started.elapsed());
            if is_failure(resp.status()) {
                upstream_error(upstream, Cause::Status);
            }
        }
        Err(e) => upstream_error(upstream, Cause::of(e)),
    }
}

/// An answer that means the upstream failed us: 5xx, or 401/403/429 (plexgate's credentials or
/// its rate were refused). A 404 is an answer ("no such item"), not a failure.
pub fn is_failure(status: reqwest::StatusCode) -> bool {
    status.is_server_error() || matches!(status.as_u16(), 401 | 403 | 429)
}

/// Adds the process-wide upstream families to a server's registry (shared, not copied).
pub(super) fn register(registry: &mut Registry) {
    registry.register(
        "plexgate_upstream_errors",
        "Failed upstream calls by upstream and cause",
        ERRORS.clone(),
    );
    registry.register(
        "plexgate_upstream_ttfb_seconds",
        "Time from sending a request upstream to its response headers",
        TTFB.clone(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refused_and_dns_are_told_apart() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::new();
        // A port nothing listens on: bind, read the port, close.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = client
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(Cause::of(&e), Cause::Refused, "{e:?}");
        let e = client
            .get("http://plexgate-no-such-host.invalid/")
            .send()
            .await
            .unwrap_err();
        assert_eq!(Cause::of(&e), Cause::Dns, "{e:?}");
    }
}
