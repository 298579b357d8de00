//! The one error shape every route answers with: `{"error":{"code","message"}}`.
//!
//! Domains never build responses; they return their own error enums, and `api` converts them
//! into [`ApiError`] with `From`. The message is written for the person reading the browser's
//! network tab: it must never carry a token, a ticket or an upstream URL with a query.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use http::{Response, StatusCode};

use crate::body::{Body, full};

/// Response extension naming the `code` of a JSON error answer, for the access line.
#[derive(Debug, Clone)]
pub struct ErrorCode(pub Cow<'static, str>);

/// An error answered to the client as JSON with a stable machine-readable `code`.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    code: Cow<'static, str>,
    message: Cow<'static, str>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl ApiError {
    /// An error with an explicit status, code and message.
    pub fn new(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        ApiError {
            status,
            code: code.into(),
            message: message.into(),
            headers: Vec::new(),
        }
    }

    /// 400 with the given code.
    pub fn bad_request(
        code: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 401 `unauthorized`.
    pub fn unauthorized(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 403 with the given code.
    pub fn forbidden(
        code: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    /// 404 `not_found` for a path no route serves. The path is not echoed: it may carry a
    /// ticket or a token someone pasted, and the error body is something the browser shows.
    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no route matches this path",
        )
    }

    /// 405 `method_not_allowed` with the `Allow` header listing what the route serves.
    pub fn method_not_allowed(allowed: &[http::Method]) -> Self {
        let allow = allowed
            .iter()
            .map(http::Method::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        let message = format!("this route allows {allow}");
        let mut err = Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            message,
        );
        if let Ok(v) = HeaderValue::from_str(&allow) {
            err.headers.push((http::header::ALLOW, v));
        }
        err
    }

    /// 413 `payload_too_large`.
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request body is larger than the limit of {limit} bytes"),
        )
    }

    /// 500 `internal_error`; the request id lets an operator find the log line.
    pub fn internal(request_id: &str) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            format!("internal error; quote request id {request_id} when reporting it"),
        )
    }

    /// 503 `overloaded`, answered by load shedding.
    pub fn overloaded() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "plexgate is at its concurrency limit; retry shortly",
        )
        .with_header(http::header::RETRY_AFTER, HeaderValue::from_static("1"))
    }

    /// 504 `timeout`, when a handler did not produce response headers in time.
    pub fn timeout() -> Self {
        Self::new(
            StatusCode::GATEWAY_TIMEOUT,
            "timeout",
            "the request took too long to start answering",
        )
    }

    /// Adds a header to the error response (e.g. `Retry-After`, `Allow`).
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The machine-readable code.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Renders the JSON response.
    pub fn into_response(self) -> Response<Body> {
        let json = serde_json::json!({
            "error": { "code": self.code, "message": self.message }
        });
        let mut resp = Response::new(full(Bytes::from(json.to_string())));
        resp.extensions_mut().insert(ErrorCode(self.code));
        *resp.status_mut() = self.status;
        let headers = resp.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(
            http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        );
        for (name, value) in self.headers {
            headers.append(name, value);
        }
        resp
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for ApiError {}
