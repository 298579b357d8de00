//! Forwarding one request to Plex and bringing the answer back (design §4).
//!
//! Segment and part bodies are never buffered: the upstream body (from the [`MediaClient`],
//! whose reads and socket buffers are bounded) becomes the response body frame by frame, so
//! `Bytes` move without copying and backpressure is TCP's.
//! Only manifests are read whole (bounded), validated and rewritten. The server token is set as
//! a header here and nowhere else on this path; nothing here logs a URL with a query.
//!
//! Timeouts count only upstream silence while plexgate waits for it (design §4): waiting for
//! response headers, and a body's next frame once hyper asks for it. The timer is armed only
//! when the upstream body is `Pending` (the way linkerd2-proxy's `stream-timeouts` body does),
//! so a paused player that stops reading for an hour resumes where it left off.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode};
use http_body::{Body as HttpBody, Frame, SizeHint};

use super::manifest::{self, LeakGuard, ManifestKind, RewriteError, UriMapper};
use super::scope::CanonicalPath;
use super::session::LiveSession;
use crate::body::{Body, BoxError};
use crate::metrics::Metrics;
use crate::metrics::upstream::{upstream_error, upstream_ttfb};
use crate::plex::ServerAccess;
use crate::upstream::media::{MediaBody, MediaClient};
use crate::upstream::{self, Cause, Upstream};

// Built at compile time: a `&str` name is parsed and validated again on every insert.
const X_PLEX_TOKEN: header::HeaderName = header::HeaderName::from_static("x-plex-token");

/// Largest manifest plexgate reads (a 10,000-segment playlist is about 1 MB). It bounds the
/// memory of one rewrite together with [`manifest::MAX_OUTPUT_BYTES`].
pub const MAX_MANIFEST_BYTES: usize = 8 << 20;

/// Why a proxied request failed.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// Plex could not be reached.
    #[error("Plex server is unreachable")]
    Unreachable,
    /// Plex did not send response headers in time.
    #[error("Plex server did not answer in time")]
    Timeout,
    /// Plex rejected the server token plexgate holds.
    #[error("Plex server rejected plexgate's server token")]
    Unauthorized,
    /// Plex answered an error status.
    #[error("Plex server answered HTTP {0}")]
    Status(u16, Option<HeaderValue>),
    /// The manifest was not a manifest, or pointed somewhere it must not.
    #[error(transparent)]
    Manifest(#[from] RewriteError),
    /// The manifest body broke off or was too large.
    #[error("the manifest could not be read: {0}")]
    ManifestBody(&'static str),
}

/// Shared pieces every forwarded request uses.
#[derive(Debug, Clone)]
pub struct Proxy {
    /// The upstream client for the calls plexgate reads itself (starting a playback).
    pub client: reqwest::Client,
    /// The client for what is forwarded (a connect timeout, no read timeout, no total deadline).
    pub media: MediaClient,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// How long Plex may stay silent while plexgate waits for it.
    pub idle_timeout: Duration,
    /// Relay plain-HTTP media bodies with `splice(2)` where the connection allows it.
    pub zero_copy: bool,
}

/// One request to forward.
#[derive(Debug)]
pub struct Forward<'a> {
    /// Method (GET, HEAD, PUT, POST).
    pub method: Method,
    /// Canonical upstream path.
    pub path: &'a CanonicalPath,
    /// Cleaned query (no ticket, no browser identity, no token).
    pub query: Option<String>,
    /// The browser's headers that may cross (see [`Forward::crossing`]).
    pub browser_headers: HeaderMap,
    /// Request body for PUT/POST.
    pub body: Option<Bytes>,
    /// What every request of this ticket session starts with (`headers::session_headers`,
    /// kept by its `LiveSession`): how Plex sees the browser behind it.
    pub session_headers: &'a HeaderMap,
}

impl Forward<'_> {
    /// The allowlisted subset of a browser's request headers: only these are kept per request.
    pub fn crossing(browser: &HeaderMap) -> HeaderMap {
        super::headers::upstream_request_headers(browser)
    }
}

impl Proxy {
    /// Sends `fwd` to the server behind `access` and returns Plex's response (headers only).
    pub async fn send(
        &self,
        access: &ServerAccess,
        fwd: &Forward<'_>,
        manifest_expected: bool,
    ) -> Result<http::Response<hyper::body::Incoming>, ProxyError> {
        let (uri, headers, route) = self.upstream_request(access, fwd, manifest_expected)?;
        let mut req = http::Request::new(MediaBody::new(fwd.body.clone().unwrap_or_default()));
        *req.method_mut() = fwd.method.clone();
        *req.uri_mut() = uri;
        *req.headers_mut() = headers;
        let started = Instant::now();
        let resp = match tokio::time::timeout(self.idle_timeout, self.media.send(req)).await {
            Ok(Ok(resp)) => resp,
            Ok(Err(e)) => {
                let e = upstream::Error::from_media(Upstream::Plex, &e, &route);
                return Err(if e.is_timeout() {
                    ProxyError::Timeout
                } else {
                    ProxyError::Unreachable
                });
            }
            Err(_) => {
                upstream::Error::new(Upstream::Plex, Cause::Timeout, None, &route);
                return Err(ProxyError::Timeout);
            }
        };
        upstream_ttfb(Upstream::Plex, started.elapsed());
        refuse(resp.status(), resp.headers(), &route)?;
        Ok(resp)
    }

    /// The address and headers of `fwd` as Plex gets them, and the route to log (no query).
    pub(super) fn upstream_request(
        &self,
        access: &ServerAccess,
        fwd: &Forward<'_>,
        manifest_expected: bool,
    ) -> Result<(http::Uri, HeaderMap, String), ProxyError> {
        let (route, uri) =
            super::target::upstream_uri(&access.base, fwd.path, fwd.query.as_deref());
        let (Some(uri), Some(token)) = (uri, access.token_header()) else {
            upstream::Error::new(Upstream::Plex, Cause::Other, None, &route);
            return Err(ProxyError::Unreachable);
        };
        // The session's headers go first: the browser's never carry an identity name or a
        // User-Agent (`Forward::crossing`), so appending them doubles neither.
        let mut headers = fwd.session_headers.clone();
        headers.reserve(fwd.browser_headers.len() + 3);
        for (name, value) in &fwd.browser_headers {
            headers.append(name.clone(), value.clone());
        }
        if manifest_expected {
            // Manifests are rewritten, so ask for them uncompressed.
            headers.insert(
                header::ACCEPT_ENCODING,
                HeaderValue::from_static("identity"),
            );
        }
        headers
            .entry(header::ACCEPT)
            .or_insert(HeaderValue::from_static("*/*"));
        headers.insert(X_PLEX_TOKEN, token.clone());
        Ok((uri, headers, route))
    }

    /// Streams an upstream body to the browser: allowlisted headers, status kept (206 stays
    /// 206), body frames moved as they arrive, cut off when `live` is revoked.
    pub fn stream(
        &self,
        resp: http::Response<hyper::body::Incoming>,
        live: Option<Arc<LiveSession>>,
    ) -> Response<Body> {
        let (parts, inner) = resp.into_parts();
        let status = parts.status;
        let mut headers = super::headers::client_response_headers(&parts.headers);
        // Ticketed media is for this browser only: no shared cache may keep a copy.
        headers
            .entry(header::CACHE_CONTROL)
            .or_insert(HeaderValue::from_static("private"));
        let body = ProxyBody {
            inner,
            idle: self.idle_timeout,
            idle_timer: Box::pin(tokio::time::sleep(self.idle_timeout)),
            idle_armed: false,
            sent: 0,
            cancelled: revocation(live.as_ref()),
            live,
            metrics: self.metrics.clone(),
        };
        let mut out = Response::new(Body::new(body));
        *out.status_mut() = status;
        *out.headers_mut() = headers;
        out
    }

    /// Reads a manifest (bounded), validates it and rewrites every URI through `mapper`; the
    /// output must not contain what `guard` looks for.
    pub async fn manifest(
        &self,
        resp: http::Response<hyper::body::Incoming>,
        kind: ManifestKind,
        mapper: &UriMapper,
        guard: &LeakGuard,
    ) -> Result<Response<Body>, ProxyError> {
        let status = resp.status();
        if status != StatusCode::OK {
            // 304 and friends carry no manifest body; pass the status and validators through.
            return Ok(self.stream(resp, None));
        }
        let body = tokio::time::timeout(self.idle_timeout, read_bounded(resp))
            .await
            .unwrap_or(Err(ProxyError::ManifestBody("Plex stopped sending it")))
            .inspect_err(|_| upstream_error(Upstream::Plex, Cause::Decode))?;
        self.rewrite(&body, kind, mapper, guard)
    }

    /// Validates and rewrites manifest text already in memory (the stored start manifest).
    pub fn rewrite(
        &self,
        body: &[u8],
        kind: ManifestKind,
        mapper: &UriMapper,
        guard: &LeakGuard,
    ) -> Result<Response<Body>, ProxyError> {
        let checked = match kind {
            ManifestKind::Hls => manifest::validate_hls(body),
            ManifestKind::Dash => manifest::validate_mpd(body),
        };
        let text = checked
            .and_then(|()| {
                std::str::from_utf8(body).map_err(|_| RewriteError::BadManifest {
                    kind,
                    reason: "not UTF-8",
                })
            })
            .inspect_err(|_| upstream_error(Upstream::Plex, Cause::Decode))?;
        let mut out = String::with_capacity(text.len() + text.len() / 2);
        match kind {
            ManifestKind::Hls => manifest::rewrite_hls(text, mapper, &mut out),
            ManifestKind::Dash => manifest::rewrite_mpd(text, mapper, &mut out),
        }
        .inspect_err(|_| upstream_error(Upstream::Plex, Cause::Decode))?;
        if let Some(form) = guard.find(&out) {
            // Which form, never the value or an address: enough to tell a hostile server.
            tracing::warn!(%kind, form, "refused a manifest that carries a Plex token");
            upstream_error(Upstream::Plex, Cause::Decode);
            return Err(RewriteError::SecretLeak.into());
        }
        let etag = etag_of(out.as_bytes());
        let len = out.len();
        let mut resp = Response::new(crate::body::full(out));
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(kind.content_type()),
        );
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        if let Ok(v) = HeaderValue::from_str(&etag) {
            h.insert(header::ETAG, v);
        }
        Ok(resp)
    }
}

async fn read_bounded(resp: http::Response<hyper::body::Incoming>) -> Result<Vec<u8>, ProxyError> {
    use http_body_util::BodyExt;
    let declared = resp
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_MANIFEST_BYTES as u64) {
        return Err(RewriteError::TooLarge.into());
    }
    let mut body = resp.into_body();
    let mut buf = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| ProxyError::ManifestBody("the body broke off"))?;
        let Ok(chunk) = frame.into_data() else {
            continue;
        };
        if buf.len() + chunk.len() > MAX_MANIFEST_BYTES {
            return Err(RewriteError::TooLarge.into());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

/// Plex's answer as the browser's error, unless it passes through (success, 304, 416).
pub(super) fn refuse(
    status: StatusCode,
    headers: &HeaderMap,
    route: &str,
) -> Result<(), ProxyError> {
    let passthrough = status.is_success()
        || status == StatusCode::NOT_MODIFIED
        || status == StatusCode::RANGE_NOT_SATISFIABLE;
    if passthrough {
        return Ok(());
    }
    if status.is_server_error() || status == StatusCode::UNAUTHORIZED {
        // Plex's own 4xx (a missing part, a bad range) is the browser's answer, not a failure.
        upstream::Error::new(Upstream::Plex, Cause::Status, Some(status.as_u16()), route);
    }
    if status == StatusCode::UNAUTHORIZED {
        return Err(ProxyError::Unauthorized);
    }
    let retry_after = headers.get(header::RETRY_AFTER).cloned();
    Err(ProxyError::Status(status.as_u16(), retry_after))
}

/// Resolves when `live` is revoked (a forwarded body then ends with an error).
pub(super) fn revocation(
    live: Option<&Arc<LiveSession>>,
) -> Option<Pin<Box<dyn Future<Output = ()> + Send>>> {
    live.map(|l| {
        let mut rx = l.cancelled();
        Box::pin(async move {
            let _ = rx.wait_for(|revoked| *revoked).await;
        }) as Pin<Box<dyn Future<Output = ()> + Send>>
    })
}

fn etag_of(bytes: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(bytes);
    format!("\"{}\"", crate::util::hex(&digest[..12]))
}

/// The error a revoked session's body ends with.
#[derive(Debug, thiserror::Error)]
#[error("the ticket session was revoked")]
pub struct Revoked;

/// Why an upstream body ended early.
#[derive(Debug, thiserror::Error)]
#[error("Plex sent nothing for {0:?} while plexgate waited for the next bytes")]
pub struct UpstreamIdle(Duration);

/// An upstream body on its way to the browser: frames pass through untouched; bytes are
/// counted for the session and metrics; a revocation or upstream silence while waiting ends it
/// with an error (never a clean end, so the player cannot mistake a cut stream for a complete
/// one), logged at WARN with its cause.
struct ProxyBody {
    inner: hyper::body::Incoming,
    idle: Duration,
    /// Reused across waits (reset, not reallocated); meaningful only while `idle_armed`.
    idle_timer: Pin<Box<tokio::time::Sleep>>,
    idle_armed: bool,
    sent: u64,
    cancelled: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    live: Option<Arc<LiveSession>>,
    metrics: Arc<Metrics>,
}

impl ProxyBody {
    fn session(&self) -> &str {
        self.live.as_ref().map_or("-", |l| l.id.as_str())
    }
}

impl HttpBody for ProxyBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(cancelled) = self.cancelled.as_mut()
            && cancelled.as_mut().poll(cx).is_ready()
        {
            self.cancelled = None;
            return Poll::Ready(Some(Err(Box::new(Revoked))));
        }
        // The inner body first: the timer only measures time spent waiting for Plex.
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match polled {
            Poll::Pending => {
                let this = &mut *self;
                if !this.idle_armed {
                    this.idle_armed = true;
                    let deadline = tokio::time::Instant::now() + this.idle;
                    this.idle_timer.as_mut().reset(deadline);
                }
                if this.idle_timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                upstream_error(Upstream::Plex, Cause::Timeout);
                let err = UpstreamIdle(this.idle);
                tracing::warn!(
                    session = %this.session(),
                    bytes = this.sent,
                    cause = %err,
                    "a proxied body was cut short: the player got a truncated body"
                );
                Poll::Ready(Some(Err(Box::new(err))))
            }
            Poll::Ready(Some(Ok(frame))) => {
                self.idle_armed = false;
                if let Some(data) = frame.data_ref() {
                    let n = data.len() as u64;
                    self.sent += n;
                    self.metrics.proxied_bytes(n);
                    if let Some(live) = &self.live {
                        live.add_bytes(n);
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                // hyper's errors name no URL; the log gets the cause.
                self.idle_armed = false;
                upstream_error(Upstream::Plex, Cause::Decode);
                tracing::warn!(
                    session = %self.session(),
                    bytes = self.sent,
                    cause = %e,
                    "a proxied body was cut short by Plex: the player got a truncated body"
                );
                Poll::Ready(Some(Err(BoxError::from(e))))
            }
            Poll::Ready(None) => {
                self.idle_armed = false;
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
