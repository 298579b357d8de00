//! Logging: `tracing` to stderr as pretty or JSON lines, behind a redaction pass, through a
//! non-blocking writer. Every line inside a request carries its `request_id` (the `request`
//! span opened by `http::server`).
//!
//! Callers must never put a token in a field; this module is the second line of defence for
//! when one slips anyway (a formatted upstream URL, a debug print of a header map, a panic
//! message). Every finished line goes through [`redact`] before it reaches the writer, which
//! masks the value after anything named like a token (`X-Plex-Token=…`, `token: …`,
//! `"accessToken":"…"`, percent-encoded `X-Plex-Token%3D…`).

use std::borrow::Cow;
use std::io::{self, Write};
use std::sync::Arc;

use tracing::Dispatch;
use tracing_subscriber::filter::{EnvFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{LogConfig, LogFormat};

/// What replaces a secret in a log line.
pub const MASK: &str = "[redacted]";

/// Flushes the lines still queued for stderr when dropped: hold it until the process exits.
pub type LogGuard = tracing_appender::non_blocking::WorkerGuard;

/// Installs the global subscriber writing redacted lines to stderr, and a panic hook that logs
/// panics through it. Returns an error if a subscriber is already installed.
///
/// Lines are handed to a writer thread (`tracing-appender`), so a request never waits for
/// stderr (a slow terminal or a full pipe to journald). The queue is not lossy: when it is full
/// (128k lines behind) requests wait rather than losing the lines that explain a failure.
pub fn init(config: &LogConfig) -> Result<LogGuard, String> {
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("plexgate-log")
        .finish(io::stderr());
    init_with_writer(config, writer)?;
    Ok(guard)
}

/// Like [`init`], with a custom writer (tests capture output this way).
pub fn init_with_writer<W>(config: &LogConfig, make_writer: W) -> Result<(), String>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    subscriber(config, make_writer)?
        .try_init()
        .map_err(|e| e.to_string())?;
    install_panic_hook();
    Ok(())
}

/// The output (filtered by `log.level`) and, beside it with its own filter, the owner page's
/// recent upstream errors: `log.level = "error"` must not empty that page, so the ring listens
/// to WARN and ERROR of `plexgate::upstream` whatever the output shows.
fn subscriber<W>(config: &LogConfig, make_writer: W) -> Result<Dispatch, String>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(&config.level).map_err(|e| e.to_string())?;
    let writer = Redacting::new(make_writer);
    let recent = crate::admin::recent::RecentUpstreamErrors.with_filter(
        Targets::new().with_target(crate::admin::recent::TARGET, tracing::Level::WARN),
    );
    let registry = tracing_subscriber::registry().with(recent);
    let output = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_target(true);
    Ok(match config.format {
        LogFormat::Pretty => registry
            .with(output.with_ansi(false).with_filter(filter))
            .into(),
        // The current span is the request (`span.request_id`) for every line inside one.
        LogFormat::Json => registry
            .with(
                output
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_filter(filter),
            )
            .into(),
    })
}

/// Panics are logged as one error event (redacted like any other line) instead of the default
/// stderr message, so they reach the same log pipeline with the same protection.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let payload = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "non-string panic payload".to_string());
        tracing::error!(target: "plexgate::panic", %location, message = %payload, "panic");
    }));
}

/// A `MakeWriter` whose writers buffer one event and write it redacted when dropped.
#[derive(Debug, Clone)]
pub struct Redacting<W> {
    inner: Arc<W>,
}

impl<W> Redacting<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        Redacting {
            inner: Arc::new(inner),
        }
    }
}

impl<'a, W> MakeWriter<'a> for Redacting<W>
where
    W: MakeWriter<'a> + 'a,
{
    type Writer = RedactingWriter<W::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter {
            buf: Vec::with_capacity(256),
            inner: self.inner.make_writer(),
        }
    }
}

/// Buffers one formatted event; see [`Redacting`].
#[derive(Debug)]
pub struct RedactingWriter<W: Write> {
    buf: Vec<u8>,
    inner: W,
}

impl<W: Write> Write for RedactingWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<W: Write> Drop for RedactingWriter<W> {
    fn drop(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&self.buf);
        let clean = redact(&text);
        let _ = self.inner.write_all(clean.as_bytes());
        let _ = self.inner.flush();
    }
}

/// Masks the value that follows any name containing `token` (case-insensitive) and a
/// separator: `=`, `:`, `%3D`, optionally quoted, as in `X-Plex-Token=abc`,
/// `token: "abc"`, `"authToken":"abc"` or `X-Plex-Token%3Dabc`.
pub fn redact(line: &str) -> Cow<'_, str> {
    let lower = line.to_ascii_lowercase();
    let bytes = line.as_bytes();
    let mut out = String::new();
    let mut copied = 0;
    let mut search = 0;
    while let Some(found) = lower[search..].find("token") {
        let name_end = search + found + "token".len();
        search = name_end;
        let Some((value_start, value_end)) = value_span(bytes, &lower, name_end) else {
            continue;
        };
        if value_end == value_start {
            continue;
        }
        out.push_str(&line[copied..value_start]);
        out.push_str(MASK);
        copied = value_end;
        search = value_end;
    }
    if copied == 0 {
        Cow::Borrowed(line)
    } else {
        out.push_str(&line[copied..]);
        Cow::Owned(out)
    }
}

/// After a token-ish name ending at `i`: skip the rest of an identifier, quotes and a separator,
/// and return the span of the value.
fn value_span(bytes: &[u8], lower: &str, mut i: usize) -> Option<(usize, usize)> {
    // The rest of the name: `token_present`, `tokens`, `X-Plex-Token"`…
    while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
        i += 1;
    }
    while i < bytes.len() && matches!(bytes[i], b'"' | b'\'' | b'\\' | b' ') {
        i += 1;
    }
    if lower[i..].starts_with("%3d") {
        i += 3;
    } else if i < bytes.len() && matches!(bytes[i], b'=' | b':') {
        i += 1;
    } else {
        return None;
    }
    while i < bytes.len() && matches!(bytes[i], b'"' | b'\'' | b'\\' | b' ') {
        i += 1;
    }
    let start = i;
    while i < bytes.len() && !is_value_end(bytes[i]) && !lower[i..].starts_with("%26") {
        i += 1;
    }
    Some((start, i))
}

fn is_value_end(b: u8) -> bool {
    matches!(
        b,
        b'&' | b' '
            | b'"'
            | b'\''
            | b','
            | b';'
            | b'}'
            | b')'
            | b']'
            | b'\\'
            | b'<'
            | b'>'
            | b'\n'
            | b'\r'
            | b'\t'
    )
}

#[cfg(test)]
mod tests {
    use super::redact;

    /// A writer into a shared buffer.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn upstream_failures_reach_the_owner_page_whatever_the_log_level() {
        use crate::config::{LogConfig, LogFormat};
        let out = Captured::default();
        let config = LogConfig {
            format: LogFormat::Json,
            level: "error".into(),
        };
        let writer = out.clone();
        let dispatch = super::subscriber(&config, move || writer.clone()).unwrap();
        tracing::dispatcher::with_default(&dispatch, || {
            tracing::warn!(
                target: "plexgate::upstream",
                upstream = "plex",
                cause = "refused",
                route = "/owner-page-level-test",
                "upstream request failed"
            );
            tracing::warn!(target: "plexgate::other", "not an upstream failure");
            tracing::error!("an error the output shows");
        });
        let recent = crate::admin::recent::recent();
        assert!(
            recent
                .iter()
                .any(|e| e.message.contains("/owner-page-level-test")),
            "{recent:?}"
        );
        assert!(!recent.iter().any(|e| e.message.contains("not an upstream")));
        // The output keeps its own level: only the ERROR line.
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains("an error the output shows"), "{text}");
    }

    #[test]
    fn masks_common_forms() {
        let cases = [
            (
                "GET /x?X-Plex-Token=abc123&y=1",
                "GET /x?X-Plex-Token=[redacted]&y=1",
            ),
            ("token=abc", "token=[redacted]"),
            (
                r#"{"authToken":"abc","x":1}"#,
                r#"{"authToken":"[redacted]","x":1}"#,
            ),
            (
                r#"{"fields":{"plex_token":"abc"}}"#,
                r#"{"fields":{"plex_token":"[redacted]"}}"#,
            ),
            (
                "url=%2Fa%3FX-Plex-Token%3Dabc%26b",
                "url=%2Fa%3FX-Plex-Token%3D[redacted]%26b",
            ),
            ("x-plex-token: abc def", "x-plex-token: [redacted] def"),
            (
                r#"headers={"x-plex-token": "abc"}"#,
                r#"headers={"x-plex-token": "[redacted]"}"#,
            ),
        ];
        for (input, want) in cases {
            assert_eq!(redact(input), want, "input {input}");
        }
    }

    #[test]
    fn leaves_innocent_lines_alone() {
        for line in [
            "a missing token is 401",
            "no secrets here",
            "tokens are rotated",
        ] {
            assert_eq!(redact(line), line);
        }
    }
}
