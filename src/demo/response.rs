//! Response builders of the demo Plex: the PMS HTML error pages, `MediaContainer` documents in
//! JSON or XML, and the body type.
//!
//! Why: PMS errors are tiny HTML pages whatever `Accept` says (protocol §8), and documents are XML
//! unless JSON is asked for (§0.3). Keeping both in one place keeps every handler honest. This
//! module never puts a token in a body or header.

use std::convert::Infallible;

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use serde_json::Value;

use super::request::Req;
use super::xml;

/// Error type of demo bodies (a media body fails on purpose to abort the connection).
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Body of every demo response.
pub(crate) type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;
/// A demo response.
pub(crate) type Resp = Response<Body>;

/// The body of a real PMS 401 (protocol §8).
pub(crate) const UNAUTHORIZED_HTML: &str = "<html><head><script>window.location = window.location.href.match(/(^.+\\/)[^\\/]*$/)[1] + 'web/index.html';</script><title>Unauthorized</title></head><body><h1>401 Unauthorized</h1></body></html>";

/// A one-frame body.
pub(crate) fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed_unsync()
}

/// An empty body.
pub(crate) fn empty() -> Body {
    Empty::<Bytes>::new()
        .map_err(|never: Infallible| match never {})
        .boxed_unsync()
}

/// A response with a fixed body, its type and length.
pub(crate) fn bytes(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Resp {
    let body: Bytes = body.into();
    let mut resp = Response::new(empty());
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp.headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    *resp.body_mut() = full(body);
    resp
}

/// The small PMS HTML page for `status`, e.g. `<h1>404 Not Found</h1>`.
pub(crate) fn html_error(status: StatusCode) -> Resp {
    let reason = status.canonical_reason().unwrap_or("Error");
    let code = status.as_u16();
    let page = format!(
        "<html><head><title>{reason}</title></head><body><h1>{code} {reason}</h1></body></html>"
    );
    bytes(status, "text/html", page)
}

/// The real PMS 401: exact body, `Cache-Control: no-cache`.
pub(crate) fn unauthorized() -> Resp {
    let mut resp = bytes(StatusCode::UNAUTHORIZED, "text/html", UNAUTHORIZED_HTML);
    resp.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// Shorthands for the errors handlers answer.
pub(crate) fn bad_request() -> Resp {
    html_error(StatusCode::BAD_REQUEST)
}

/// 404 HTML.
pub(crate) fn not_found() -> Resp {
    html_error(StatusCode::NOT_FOUND)
}

/// 200 with an empty body (PMS answers actions like scrobble this way).
pub(crate) fn ok_empty() -> Resp {
    bytes(StatusCode::OK, "text/html", Bytes::new())
}

/// Wraps `container` (the attributes and child arrays of a `MediaContainer`) into a document,
/// JSON when the request asked for it, XML otherwise.
pub(crate) fn container(req: &Req, container: Value) -> Resp {
    let doc = serde_json::json!({ "MediaContainer": container });
    if req.wants_json() {
        bytes(StatusCode::OK, "application/json", doc.to_string())
    } else {
        bytes(
            StatusCode::OK,
            "text/xml;charset=utf-8",
            xml::document(&doc),
        )
    }
}

pub(crate) use crate::util::http_date;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(1_716_000_000), "Sat, 18 May 2024 02:40:00 GMT");
        assert_eq!(http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
    }

    #[test]
    fn unauthorized_body_is_the_real_one() {
        assert!(UNAUTHORIZED_HTML.len() > 180 && UNAUTHORIZED_HTML.len() < 200);
        assert!(UNAUTHORIZED_HTML.contains("<h1>401 Unauthorized</h1>"));
    }
}
