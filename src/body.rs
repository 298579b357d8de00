//! The response body type every layer agrees on, and constructors for our own bodies.
//!
//! A leaf: `http`, `stream` and `api` all build responses with it, and it imports nothing of the
//! crate, so `stream` can hand out bodies without depending on the transport. Upstream bodies
//! (reqwest) are boxed into the same type without copying a frame.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};

/// Boxed error type used across the tower stack.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of every response plexgate sends.
pub type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;

/// A body holding `bytes` in one frame.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// An empty body (HEAD, 204, 304).
pub fn empty() -> Body {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// Boxes any data-`Bytes` body whose errors convert to [`BoxError`].
pub fn boxed<B>(body: B) -> Body
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    body.map_err(Into::into).boxed_unsync()
}
