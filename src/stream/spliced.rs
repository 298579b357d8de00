//! Forwarding a part or segment with `splice(2)` (`crate::relay`): plexgate sends the GET on a
//! connection it owns, reads only Plex's response head, and hands the connection to the
//! player's connection to relay the body in the kernel.
//!
//! A media GET (a part, a transcoder segment) to a plain-HTTP Plex answering 200/206 with a
//! Content-Length is relayed. An https Plex is not asked here at all ([`Relayed::NotSent`]).
//! Any other answer (chunked, 304/416, a manifest where media was expected) is handed on as
//! hyper reads it ([`Relayed::Copy`]) for the copying path to forward: Plex is never asked
//! twice, which matters for a segment, whose request has effects on the transcoder. Errors,
//! statuses, the idle timeout, revocation, byte counts and log lines are the copying path's
//! (`super::proxy`).

use std::sync::Arc;
use std::time::Instant;

use http::header::{self, HeaderValue};
use http::{Response, StatusCode};

use super::manifest;
use super::proxy::{Forward, Proxy, ProxyError, refuse, revocation};
use super::session::LiveSession;
use crate::body::Body;
use crate::metrics::Metrics;
use crate::metrics::upstream::{upstream_error, upstream_ttfb};
use crate::plex::ServerAccess;
use crate::relay::{Observer, Slot, Source, Spliced, SplicedBody};
use crate::upstream::plain::PlainError;
use crate::upstream::{self, Cause, Upstream};

/// What [`Proxy::send_spliced`] did with a media GET.
#[derive(Debug)]
pub enum Relayed {
    /// The answer, its body spliced by the player's connection.
    Spliced(Response<Body>),
    /// Plex's answer, which cannot be spliced: forward it by copying.
    Copy(http::Response<hyper::body::Incoming>),
    /// Nothing was sent (an https Plex): send it by the copying path.
    NotSent,
}

impl Proxy {
    /// Sends `fwd` (a GET of media) on a connection plexgate owns and, if Plex's answer can be
    /// relayed, answers with a body the player's connection (`slot`) splices.
    pub async fn send_spliced(
        &self,
        access: &ServerAccess,
        fwd: &Forward<'_>,
        slot: Slot,
        live: &Arc<LiveSession>,
    ) -> Result<Relayed, ProxyError> {
        let (uri, headers, route) = self.upstream_request(access, fwd, false)?;
        if uri.scheme() != Some(&http::uri::Scheme::HTTP) {
            return Ok(Relayed::NotSent);
        }
        let plain = self.media.plain();
        let started = Instant::now();
        let answer = match tokio::time::timeout(self.idle_timeout, plain.get(&uri, &headers)).await
        {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => {
                upstream::Error::new(Upstream::Plex, cause_of(&e), None, &route);
                return Err(ProxyError::Unreachable);
            }
            Err(_) => {
                upstream::Error::new(Upstream::Plex, Cause::Timeout, None, &route);
                return Err(ProxyError::Timeout);
            }
        };
        upstream_ttfb(Upstream::Plex, started.elapsed());
        refuse(answer.status, &answer.headers, &route)?;
        let content_type = answer
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let relayable = matches!(answer.status, StatusCode::OK | StatusCode::PARTIAL_CONTENT)
            && manifest::kind_of(fwd.path.as_str(), content_type).is_none();
        let whole = answer.early.len() as u64;
        let pipe = match answer.content_length.filter(|len| relayable && whole <= *len) {
            // A small range came whole with the head (a player probing a file's index).
            Some(len) if len == whole => Ok(None),
            Some(len) => slot.pipe().map(|pipe| Some((len - whole, pipe))).map_err(|e| {
                // Out of file descriptors for the pipe, most likely: copying still works.
                tracing::warn!(error = %e, "could not set up a zero-copy relay; copying instead");
            }),
            None => Err(()),
        };
        let Ok(pipe) = pipe else {
            return match answer.into_response(&uri).await {
                Ok(resp) => Ok(Relayed::Copy(resp)),
                Err(e) => {
                    upstream::Error::new(Upstream::Plex, cause_of(&e), None, &route);
                    Err(ProxyError::Unreachable)
                }
            };
        };
        let early = answer.early;
        // The bytes that came with the head are copied; the rest is spliced.
        self.metrics.proxied_bytes(early.len() as u64);
        live.add_bytes(early.len() as u64);
        let watch = Watch {
            live: live.clone(),
            metrics: self.metrics.clone(),
            sent: early.len() as u64,
            request: tracing::Span::current(),
        };
        let release = answer
            .reusable
            .then(|| uri.authority().map(|a| plain.releaser(a.to_string())))
            .flatten();
        let mut headers = super::headers::client_response_headers(&answer.headers);
        headers
            .entry(header::CACHE_CONTROL)
            .or_insert(HeaderValue::from_static("private"));
        let Some((rest, pipe)) = pipe else {
            // Nothing to splice, and the connection is free again at once.
            if let Some(release) = release {
                release(answer.conn);
            }
            let mut resp = Response::new(crate::body::full(early));
            *resp.status_mut() = answer.status;
            *resp.headers_mut() = headers;
            return Ok(Relayed::Spliced(resp));
        };
        let source = Source::new(
            answer.conn,
            pipe,
            rest,
            self.idle_timeout,
            Box::new(watch),
            release,
            revocation(Some(live)),
        );
        let body = SplicedBody::new(early, source, rest, slot);
        let mut resp = Response::new(Body::new(body));
        *resp.status_mut() = answer.status;
        *resp.headers_mut() = headers;
        resp.extensions_mut().insert(Spliced);
        Ok(Relayed::Spliced(resp))
    }
}

fn cause_of(e: &PlainError) -> Cause {
    match e {
        PlainError::Connect(io) => match io.kind() {
            std::io::ErrorKind::TimedOut => Cause::Timeout,
            std::io::ErrorKind::NotFound => Cause::Dns,
            _ => Cause::Refused,
        },
        PlainError::Io(_) => Cause::Other,
        PlainError::Malformed(_) => Cause::Decode,
    }
}

/// Counts a relayed body's bytes for the session and metrics, and says when Plex cut it short
/// (the same WARN line and counter as a copied body).
struct Watch {
    live: Arc<LiveSession>,
    metrics: Arc<Metrics>,
    sent: u64,
    /// The request's span, entered for the warning: the relay runs while hyper writes to the
    /// player, outside the handler's future and the body's frames, so no span is current then.
    request: tracing::Span,
}

impl Observer for Watch {
    fn sent(&mut self, n: u64) {
        self.sent += n;
        self.metrics.proxied_bytes(n);
        self.metrics.spliced_bytes(n);
        self.live.add_bytes(n);
    }

    fn upstream_failed(&mut self, error: &std::io::Error) {
        let _request = self.request.enter();
        if error.kind() == std::io::ErrorKind::TimedOut {
            upstream_error(Upstream::Plex, Cause::Timeout);
            tracing::warn!(
                session = %self.live.id,
                bytes = self.sent,
                cause = %error,
                "a proxied body was cut short: the player got a truncated body"
            );
        } else {
            upstream_error(Upstream::Plex, Cause::Decode);
            tracing::warn!(
                session = %self.live.id,
                bytes = self.sent,
                cause = %error,
                "a proxied body was cut short by Plex: the player got a truncated body"
            );
        }
    }
}
