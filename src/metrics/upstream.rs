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

pub use crate::upstream::{Cause, Upstream};

impl EncodeLabelValue for Upstream {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> std::fmt::Result {
        encoder.write_str(self.name())
    }
}

impl EncodeLabelValue for Cause {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> std::fmt::Result {
        encoder.write_str(self.name())
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
