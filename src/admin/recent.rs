//! The last upstream failures, for the owner page: a tracing layer that keeps the most recent
//! WARN/ERROR events with target `plexgate::upstream` in a small ring.
//!
//! Why a layer and not a call at each failure site: the `upstream` module already logs every
//! failure once with its cause; listening to that log means the page shows exactly what the
//! log says and no failure site can forget to report. The ring is process-wide because the
//! tracing subscriber is; it holds at most [`CAPACITY`] events, so it costs nothing to keep.
//!
//! Must never: keep a token. Every field is passed through the log redaction before it is
//! stored, the same second line of defence the log lines get.

use std::collections::VecDeque;
use std::fmt::Debug;
use std::sync::{Mutex, OnceLock};

use serde::Serialize;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

use crate::logging::redact;
use crate::util::unix_now;

/// How many events the ring keeps.
pub const CAPACITY: usize = 50;

/// The target upstream failures are logged with.
pub const TARGET: &str = "plexgate::upstream";

/// One upstream failure as it was logged.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct UpstreamEvent {
    /// When, epoch seconds.
    pub at: i64,
    /// `WARN` or `ERROR`.
    pub level: String,
    /// Which upstream (`plex`, `plextv`, `tmdb`, `trakt`, `image`), when the event says.
    pub upstream: Option<String>,
    /// Why (`dns`, `refused`, `tls`, `timeout`, `status`, …), when the event says.
    pub cause: Option<String>,
    /// The upstream's HTTP status, when there was one.
    pub status: Option<String>,
    /// The event's message and any other fields, `name=value`, redacted.
    pub message: String,
}

fn ring() -> &'static Mutex<VecDeque<UpstreamEvent>> {
    static RING: OnceLock<Mutex<VecDeque<UpstreamEvent>>> = OnceLock::new();
    RING.get_or_init(|| Mutex::new(VecDeque::with_capacity(CAPACITY)))
}

/// The recorded events, newest first.
pub fn recent() -> Vec<UpstreamEvent> {
    let ring = ring().lock().unwrap_or_else(|p| p.into_inner());
    ring.iter().rev().cloned().collect()
}

fn push(event: UpstreamEvent) {
    let mut ring = ring().lock().unwrap_or_else(|p| p.into_inner());
    if ring.len() == CAPACITY {
        ring.pop_front();
    }
    ring.push_back(event);
}

/// The layer that fills the ring; installed beside the log output by `logging::init`.
#[derive(Debug, Clone, Copy, Default)]
pub struct RecentUpstreamErrors;

impl<S: Subscriber> Layer<S> for RecentUpstreamErrors {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        // ERROR < WARN in tracing's order: this keeps WARN and ERROR.
        if *meta.level() > Level::WARN || !meta.target().starts_with(TARGET) {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        push(UpstreamEvent {
            at: unix_now(),
            level: meta.level().to_string(),
            upstream: fields.upstream,
            cause: fields.cause,
            status: fields.status,
            message: fields.text.join(" "),
        });
    }
}

#[derive(Default)]
struct Fields {
    upstream: Option<String>,
    cause: Option<String>,
    status: Option<String>,
    text: Vec<String>,
}

impl Fields {
    fn keep(&mut self, field: &Field, value: String) {
        // Redacted with its name, so a field named like a token is masked whatever it holds.
        let clean = |s: String| redact(&s).into_owned();
        match field.name() {
            "upstream" => self.upstream = Some(clean(value)),
            "cause" => self.cause = Some(clean(value)),
            "status" => self.status = Some(clean(value)),
            "message" => self.text.insert(0, clean(value)),
            // An empty field (a failure before any path was known) says nothing to the owner.
            _ if value.is_empty() => {}
            name => self.text.push(clean(format!("{name}={value}"))),
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.keep(field, value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.keep(field, format!("{value:?}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn keeps_the_newest_upstream_warnings_redacted_and_nothing_else() {
        let subscriber = tracing_subscriber::registry().with(RecentUpstreamErrors);
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(target: "plexgate::other", "not an upstream event");
            tracing::info!(target: "plexgate::upstream", "not a failure");
            for i in 0..CAPACITY + 10 {
                tracing::warn!(
                    target: "plexgate::upstream",
                    upstream = "tmdb",
                    cause = "status",
                    status = 503,
                    url = "https://x/?X-Plex-Token=secret-abc",
                    route = "",
                    "failure {i}"
                );
            }
        });
        let kept = recent();
        assert_eq!(kept.len(), CAPACITY);
        assert_eq!(
            kept[0].message.split(' ').take(2).collect::<Vec<_>>(),
            ["failure", "59"]
        );
        assert_eq!(kept[CAPACITY - 1].message.split(' ').nth(1), Some("10"));
        let e = &kept[0];
        assert_eq!(e.level, "WARN");
        assert_eq!(e.upstream.as_deref(), Some("tmdb"));
        assert_eq!(e.cause.as_deref(), Some("status"));
        assert_eq!(e.status.as_deref(), Some("503"));
        assert!(!e.message.contains("secret-abc"), "{}", e.message);
        assert!(
            !e.message.contains("route="),
            "an empty field is left out: {}",
            e.message
        );
        assert!(kept.iter().all(|e| e.message.starts_with("failure")));
    }
}
