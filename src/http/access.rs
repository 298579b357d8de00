//! The access line: one event per request, written when its body ends (or is dropped), with the
//! route pattern, status, bytes, duration and, for an error answer, its `code`.
//!
//! Why here and not in the accept loop: the line waits for the body, so it lives in a body
//! wrapper, and that wrapper is also where the request's span is entered while the body is
//! polled (a streaming proxy body logs inside its request). Must never log a raw path or a
//! query: a path may carry a ticket and a query a secret.
//!
//! Media transfers (a segment, a part) are the bulk of requests while something plays; their
//! lines go to DEBUG unless they fail, and playback sessions get one INFO line at start and end
//! instead (`stream::session`).

use std::borrow::Cow;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::{Method, StatusCode};
use http_body::{Body as HttpBody, Frame, SizeHint};

use super::connections::Busy;
use crate::body::{Body, BoxError};

/// Response extension: this response is one transfer of a media stream (a segment, a part), so
/// its access line is DEBUG when it succeeds. Handlers set it; the transport reads it.
#[derive(Debug, Clone, Copy)]
pub struct MediaTransfer;

/// What the access line says about one request.
#[derive(Debug)]
pub(super) struct AccessLine {
    pub method: Method,
    pub route: &'static str,
    pub status: StatusCode,
    /// The error `code` of a JSON error answer.
    pub code: Option<Cow<'static, str>>,
    pub request_id: String,
    pub client_ip: std::net::IpAddr,
    pub started: Instant,
    pub media: bool,
    pub bytes: u64,
}

/// One macro for both levels, so the INFO and DEBUG lines can never drift apart.
macro_rules! access_event {
    ($level:expr, $line:expr, $complete:expr) => {
        tracing::event!(
            target: "plexgate::access",
            $level,
            method = %$line.method,
            route = $line.route,
            status = $line.status.as_u16(),
            code = $line.code.as_deref(),
            bytes = $line.bytes,
            duration_ms = round_ms($line.started),
            request_id = %$line.request_id,
            client = %$line.client_ip,
            complete = $complete,
            "request"
        )
    };
}

impl AccessLine {
    fn emit(self, complete: bool) {
        let failed = !complete || self.status.is_client_error() || self.status.is_server_error();
        if self.media && !failed {
            access_event!(tracing::Level::DEBUG, self, complete);
        } else {
            access_event!(tracing::Level::INFO, self, complete);
        }
    }
}

/// Milliseconds since `started`, rounded to 0.01 ms: more digits are noise in a log line.
fn round_ms(started: Instant) -> f64 {
    (started.elapsed().as_secs_f64() * 100_000.0).round() / 100.0
}

/// Passes frames through untouched, polling them inside the request's span, and writes the
/// access line once the body ends or is dropped. Until then the connection counts as busy (a
/// streaming body is never idle).
pub(super) struct AccessLogBody {
    pub inner: Body,
    pub line: Option<AccessLine>,
    pub span: tracing::Span,
    pub _busy: Busy,
}

impl HttpBody for AccessLogBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let polled = {
            let _entered = this.span.enter();
            Pin::new(&mut this.inner).poll_frame(cx)
        };
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), Some(line)) = (frame.data_ref(), this.line.as_mut()) {
                    line.bytes += data.len() as u64;
                }
            }
            Poll::Ready(None) => {
                if let Some(line) = this.line.take() {
                    line.emit(true);
                }
            }
            Poll::Ready(Some(Err(_))) => {
                if let Some(line) = this.line.take() {
                    line.emit(false);
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for AccessLogBody {
    fn drop(&mut self) {
        if let Some(line) = self.line.take() {
            let complete = self.inner.is_end_stream();
            line.emit(complete);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::round_ms;
    use std::time::{Duration, Instant};

    #[test]
    fn durations_keep_two_decimals() {
        let started = Instant::now() - Duration::from_micros(12_345_678);
        let ms = round_ms(started);
        assert!(ms >= 12345.68, "{ms}");
        let decimals = ms.to_string().split('.').nth(1).map_or(0, str::len);
        assert!(decimals <= 2, "{ms}");
    }
}
