//! What `GET /metrics` exposes (Prometheus text format 0.0.4), through `prometheus-client`.
//!
//! Recording is one atomic add on the hot path (the families' label sets are small and fixed:
//! route *patterns*, status codes, outcomes, upstream names and failure causes); scrape-time
//! values (sessions, process CPU/RSS/fds) are read when rendered. A label is never a user, a raw
//! path, a ticket, a query or anything else unbounded or secret.
//!
//! Per server: one [`Metrics`] in the application state. Upstream errors and time to first byte
//! ([`upstream`]) are process-wide instead, recorded by free functions from call sites deep in
//! the domains that hold no handle; production runs one server per process, so both agree.

mod process;
pub mod upstream;

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

pub use upstream::{Cause, Upstream, upstream_error, upstream_ttfb};

/// The `Content-Type` of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Request latency buckets, seconds: sub-millisecond cached reads to slow upstream calls.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteStatus {
    route: &'static str,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SessionKind {
    kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Version {
    version: &'static str,
}

/// Live ticket sessions by kind, read from the session keeper at scrape time.
#[derive(Debug, Clone, Copy, Default)]
pub struct SessionCounts {
    /// Facade sessions (one per login session and server).
    pub facade: usize,
    /// Playback sessions (`/api/plex/stream`).
    pub playback: usize,
}

/// One server's metrics and the registry that renders them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RouteStatus, Counter>,
    durations: Family<RouteLabel, Histogram>,
    tickets: Family<Outcome, Counter>,
    proxied_bytes: Counter,
    spliced_bytes: Counter,
    sessions_started: Counter,
    active: Gauge,
    sessions: Family<SessionKind, Gauge>,
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RouteStatus, Counter>::default();
        registry.register(
            "plexgate_http_requests",
            "HTTP requests answered, by route pattern and status",
            requests.clone(),
        );
        let durations =
            Family::<RouteLabel, Histogram>::new_with_constructor(latency_histogram as fn() -> _);
        registry.register(
            "plexgate_http_request_duration_seconds",
            "Time until response headers, by route pattern (bodies may stream far longer)",
            durations.clone(),
        );
        let tickets = Family::<Outcome, Counter>::default();
        registry.register(
            "plexgate_ticket_verifications",
            "Ticket verifications by outcome",
            tickets.clone(),
        );
        let proxied_bytes = Counter::default();
        registry.register(
            "plexgate_proxied_bytes",
            "Body bytes streamed from Plex to browsers",
            proxied_bytes.clone(),
        );
        let spliced_bytes = Counter::default();
        registry.register(
            "plexgate_spliced_bytes",
            "Of the proxied bytes, those relayed with splice(2) (stream.zero_copy), never copied",
            spliced_bytes.clone(),
        );
        let sessions_started = Counter::default();
        registry.register(
            "plexgate_playback_sessions_started",
            "Playback sessions started",
            sessions_started.clone(),
        );
        let active = Gauge::default();
        registry.register(
            "plexgate_active_playback_sessions",
            "Live ticket sessions (facade and playback)",
            active.clone(),
        );
        let sessions = Family::<SessionKind, Gauge>::default();
        registry.register(
            "plexgate_sessions",
            "Live ticket sessions by kind",
            sessions.clone(),
        );
        registry.register(
            "plexgate_build",
            "The running plexgate version",
            Info::new(Version {
                version: env!("CARGO_PKG_VERSION"),
            }),
        );
        upstream::register(&mut registry);
        registry.register_collector(Box::new(process::Process));
        Metrics {
            registry,
            requests,
            durations,
            tickets,
            proxied_bytes,
            spliced_bytes,
            sessions_started,
            active,
            sessions,
        }
    }
}

impl Metrics {
    /// Counts one answered request on `route` (the matched pattern, `unmatched` for none) and
    /// how long its headers took.
    pub fn request(&self, route: &'static str, status: u16, took: Duration) {
        self.requests
            .get_or_create(&RouteStatus { route, status })
            .inc();
        self.durations
            .get_or_create(&RouteLabel { route })
            .observe(took.as_secs_f64());
    }

    /// Counts one ticket verification with `outcome` (`ok` or the ticket error's reason).
    pub fn ticket(&self, outcome: &'static str) {
        self.tickets.get_or_create(&Outcome { outcome }).inc();
    }

    /// Adds bytes sent to browsers from upstream bodies.
    pub fn proxied_bytes(&self, n: u64) {
        self.proxied_bytes.inc_by(n);
    }

    /// Adds bytes relayed to browsers by splicing (also counted in [`Metrics::proxied_bytes`]).
    pub fn spliced_bytes(&self, n: u64) {
        self.spliced_bytes.inc_by(n);
    }

    /// Counts a playback session start.
    pub fn session_started(&self) {
        self.sessions_started.inc();
    }

    /// The Prometheus text exposition, with the live sessions counted by the caller.
    pub fn render(&self, sessions: SessionCounts) -> String {
        let gauge = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.active.set(gauge(sessions.facade + sessions.playback));
        for (kind, n) in [("facade", sessions.facade), ("playback", sessions.playback)] {
            self.sessions
                .get_or_create(&SessionKind { kind })
                .set(gauge(n));
        }
        let mut out = String::with_capacity(8192);
        // Writing into a String cannot fail; an encoder error would be a bug in a collector,
        // and a partial page is still more use to an operator than none.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        out
    }
}
