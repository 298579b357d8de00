//! Counters for `GET /metrics` (Prometheus text format), kept as atomics so the hot path pays
//! one relaxed add. Labels are small fixed sets (outcomes, error kinds): never a user, a path,
//! a ticket or anything else unbounded or secret.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Ticket verification outcomes, in exposition order.
pub const TICKET_OUTCOMES: &[&str] = &[
    "ok",
    "malformed",
    "unknown_key",
    "bad_signature",
    "expired",
    "revoked",
    "method",
    "bad_path",
    "scope",
];

/// Upstream failure kinds, in exposition order.
pub const UPSTREAM_ERRORS: &[&str] = &[
    "connect",
    "timeout",
    "status_4xx",
    "status_5xx",
    "bad_manifest",
    "body_aborted",
];

const TTFB_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// The process-wide counters.
#[derive(Debug)]
pub struct Metrics {
    tickets: Vec<AtomicU64>,
    upstream_errors: Vec<AtomicU64>,
    proxied_bytes: AtomicU64,
    ttfb_buckets: Vec<AtomicU64>,
    ttfb_count: AtomicU64,
    ttfb_sum_micros: AtomicU64,
    sessions_started: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        let zeros = |n: usize| (0..n).map(|_| AtomicU64::new(0)).collect();
        Metrics {
            tickets: zeros(TICKET_OUTCOMES.len()),
            upstream_errors: zeros(UPSTREAM_ERRORS.len()),
            proxied_bytes: AtomicU64::new(0),
            ttfb_buckets: zeros(TTFB_BUCKETS.len()),
            ttfb_count: AtomicU64::new(0),
            ttfb_sum_micros: AtomicU64::new(0),
            sessions_started: AtomicU64::new(0),
        }
    }
}

fn bump(counters: &[AtomicU64], names: &[&str], name: &str, by: u64) {
    if let Some(i) = names.iter().position(|n| *n == name) {
        counters[i].fetch_add(by, Ordering::Relaxed);
    }
}

impl Metrics {
    /// Counts one ticket verification with `outcome` (one of [`TICKET_OUTCOMES`]).
    pub fn ticket(&self, outcome: &str) {
        bump(&self.tickets, TICKET_OUTCOMES, outcome, 1);
    }

    /// Counts one upstream failure of `kind` (one of [`UPSTREAM_ERRORS`]).
    pub fn upstream_error(&self, kind: &str) {
        bump(&self.upstream_errors, UPSTREAM_ERRORS, kind, 1);
    }

    /// Adds bytes sent to browsers from upstream bodies.
    pub fn proxied_bytes(&self, n: u64) {
        self.proxied_bytes.fetch_add(n, Ordering::Relaxed);
    }

    /// Records an upstream time to first byte (response headers).
    pub fn ttfb(&self, d: Duration) {
        let secs = d.as_secs_f64();
        for (i, bound) in TTFB_BUCKETS.iter().enumerate() {
            if secs <= *bound {
                self.ttfb_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.ttfb_count.fetch_add(1, Ordering::Relaxed);
        self.ttfb_sum_micros
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }

    /// Counts a playback session start.
    pub fn session_started(&self) {
        self.sessions_started.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition; `active_sessions` is read from the session keeper.
    pub fn render(&self, active_sessions: usize) -> String {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut out = String::with_capacity(2048);
        let _ = writeln!(
            out,
            "# HELP plexgate_ticket_verifications_total Ticket verifications by outcome."
        );
        let _ = writeln!(out, "# TYPE plexgate_ticket_verifications_total counter");
        for (name, c) in TICKET_OUTCOMES.iter().zip(&self.tickets) {
            let _ = writeln!(
                out,
                "plexgate_ticket_verifications_total{{outcome=\"{name}\"}} {}",
                load(c)
            );
        }
        let _ = writeln!(
            out,
            "# HELP plexgate_active_playback_sessions Live ticket sessions (facade and playback)."
        );
        let _ = writeln!(out, "# TYPE plexgate_active_playback_sessions gauge");
        let _ = writeln!(out, "plexgate_active_playback_sessions {active_sessions}");
        let _ = writeln!(
            out,
            "# HELP plexgate_playback_sessions_started_total Playback sessions started."
        );
        let _ = writeln!(
            out,
            "# TYPE plexgate_playback_sessions_started_total counter"
        );
        let _ = writeln!(
            out,
            "plexgate_playback_sessions_started_total {}",
            load(&self.sessions_started)
        );
        let _ = writeln!(
            out,
            "# HELP plexgate_proxied_bytes_total Body bytes streamed from Plex to browsers."
        );
        let _ = writeln!(out, "# TYPE plexgate_proxied_bytes_total counter");
        let _ = writeln!(
            out,
            "plexgate_proxied_bytes_total {}",
            load(&self.proxied_bytes)
        );
        let _ = writeln!(
            out,
            "# HELP plexgate_upstream_ttfb_seconds Time from sending a request to Plex to its response headers."
        );
        let _ = writeln!(out, "# TYPE plexgate_upstream_ttfb_seconds histogram");
        for (bound, c) in TTFB_BUCKETS.iter().zip(&self.ttfb_buckets) {
            let _ = writeln!(
                out,
                "plexgate_upstream_ttfb_seconds_bucket{{le=\"{bound}\"}} {}",
                load(c)
            );
        }
        let count = load(&self.ttfb_count);
        let _ = writeln!(
            out,
            "plexgate_upstream_ttfb_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "plexgate_upstream_ttfb_seconds_sum {}",
            load(&self.ttfb_sum_micros) as f64 / 1e6
        );
        let _ = writeln!(out, "plexgate_upstream_ttfb_seconds_count {count}");
        let _ = writeln!(
            out,
            "# HELP plexgate_upstream_errors_total Failed upstream requests by kind."
        );
        let _ = writeln!(out, "# TYPE plexgate_upstream_errors_total counter");
        for (name, c) in UPSTREAM_ERRORS.iter().zip(&self.upstream_errors) {
            let _ = writeln!(
                out,
                "plexgate_upstream_errors_total{{kind=\"{name}\"}} {}",
                load(c)
            );
        }
        out
    }
}
