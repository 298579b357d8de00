//! Reading a body plexgate needs whole (JSON, XML), never more than a limit.
//!
//! The check comes before the bytes: a `Content-Length` over the limit is refused without
//! reading, and a body without one (or lying about it) is refused as soon as the bytes streamed
//! so far pass the limit, so memory stays bounded by the limit plus one chunk.

use bytes::{Bytes, BytesMut};

use super::{Cause, Error, Upstream};

/// Collects `resp`'s body, refusing more than `limit` bytes. `route` (a path, no query) names
/// the request in the WARN line.
pub async fn read_bounded(
    upstream: Upstream,
    mut resp: reqwest::Response,
    limit: usize,
    route: &str,
) -> Result<Bytes, Error> {
    let status = Some(resp.status().as_u16());
    let too_large = || Error::new(upstream, Cause::BodyTooLarge, status, route);
    let limit64 = u64::try_from(limit).unwrap_or(u64::MAX);
    if resp.content_length().is_some_and(|n| n > limit64) {
        return Err(too_large());
    }
    let mut buf = BytesMut::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if buf.len() + chunk.len() > limit {
                    return Err(too_large());
                }
                buf.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(buf.freeze()),
            Err(e) => return Err(Error::new(upstream, Cause::of(&e), status, route)),
        }
    }
}
