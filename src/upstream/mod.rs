//! Outbound HTTP that every upstream shares: the one client builder, the one bounded body
//! reader, the one error type, and the send → read → classify step five modules used to copy.
//!
//! Why it exists: plex.tv, Discover, TMDB, Trakt and the PMS metadata calls all send a request,
//! read `Retry-After`, read the body and sort failures into "timeout / unreachable / bad answer".
//! Each copy read whole bodies before checking their size and logged (or did not) in its own
//! way. Here a body is refused as soon as its `Content-Length` or the bytes streamed so far pass
//! the limit, and every failure is logged once, at WARN, with target `plexgate::upstream`.
//!
//! What must never happen: a URL with a query, a header value or a token in an [`Error`], its
//! `Display` or a log line (reqwest's own errors name the URL, so only their kind is kept); a
//! body buffered whole before its size is checked. Streamed media bodies do not come here
//! (`stream::proxy` moves them frame by frame, sent by the [`media`] client); this is for
//! bodies plexgate itself reads.

mod body;
mod client;
mod error;
pub mod media;
#[cfg(target_os = "linux")]
pub mod plain;
#[cfg(target_os = "linux")]
mod replay;

pub use body::read_bounded;
pub use client::builder;
pub use error::{Cause, Error, Upstream};

use bytes::Bytes;

/// An answered request, whatever its status: what the domain needs to classify it.
#[derive(Debug)]
pub struct Answer {
    /// Which upstream answered.
    pub upstream: Upstream,
    /// The HTTP status.
    pub status: u16,
    /// `Retry-After` in whole seconds, when sent in that form.
    pub retry_after: Option<u64>,
    /// The body, at most the limit passed to [`exchange`].
    pub body: Bytes,
    /// The request path (never the query): what the WARN line names.
    pub route: String,
}

impl Answer {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..=299).contains(&self.status)
    }

    /// The error for a status the domain does not expect (logged here, once).
    pub fn unexpected_status(&self) -> Error {
        Error::new(self.upstream, Cause::Status, Some(self.status), &self.route)
    }

    /// The error for a body the domain cannot use (not JSON, not the shape expected).
    pub fn undecodable(&self) -> Error {
        Error::new(self.upstream, Cause::Decode, Some(self.status), &self.route)
    }
}

/// Sends `req` and reads its body, refusing more than `limit` bytes. Any status is an
/// [`Answer`]; only transport failures and oversized bodies are errors.
pub async fn exchange(
    upstream: Upstream,
    req: reqwest::RequestBuilder,
    limit: usize,
) -> Result<Answer, Error> {
    let (client, req) = req.build_split();
    let req = req.map_err(|e| Error::from_reqwest(upstream, &e, ""))?;
    let route = req.url().path().to_string();
    let started = std::time::Instant::now();
    let resp = client
        .execute(req)
        .await
        .map_err(|e| Error::from_reqwest(upstream, &e, &route))?;
    crate::metrics::upstream::upstream_ttfb(upstream, started.elapsed());
    let status = resp.status().as_u16();
    let retry_after = retry_after(resp.headers());
    let body = read_bounded(upstream, resp, limit, &route).await?;
    Ok(Answer {
        upstream,
        status,
        retry_after,
        body,
        route,
    })
}

/// `Retry-After` as delay-seconds (the HTTP-date form is rare upstream and treated as absent).
pub fn retry_after(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
}
