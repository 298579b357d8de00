//! Domain errors into HTTP errors, and JSON success responses.
//!
//! Statuses follow design §7: 400 bad input, 401 no session, 403 ticket/scope/CSRF, 404,
//! 502 upstream said something wrong, 503 upstream down, 504 upstream timeout. Storage and
//! crypto failures are the server's fault (500) and their details stay in the log.

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use http::{Response, StatusCode};

use crate::db::DbError;
use crate::http::body::full;
use crate::http::{ApiError, Body};
use crate::plex::PlexError;

/// Serializes `value` as a JSON response with `status`.
pub fn json_response(status: StatusCode, value: &impl serde::Serialize) -> Response<Body> {
    let bytes = serde_json::to_vec(value).unwrap_or_else(|_| b"null".to_vec());
    let mut resp = Response::new(full(Bytes::from(bytes)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        tracing::error!(error = %e, "storage error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "storage_error",
            "the database could not complete the request",
        )
    }
}

impl From<PlexError> for ApiError {
    fn from(e: PlexError) -> Self {
        let (status, code) = match &e {
            PlexError::Unreachable { .. } => (StatusCode::SERVICE_UNAVAILABLE, "plex_unreachable"),
            PlexError::Timeout { .. } => (StatusCode::GATEWAY_TIMEOUT, "plex_timeout"),
            PlexError::Unauthorized { .. } => (StatusCode::BAD_GATEWAY, "plex_unauthorized"),
            PlexError::Status { status: 404, .. } => (StatusCode::NOT_FOUND, "plex_not_found"),
            PlexError::Status { status: 503, .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, "plex_unavailable")
            }
            PlexError::Status { .. } => (StatusCode::BAD_GATEWAY, "plex_error"),
            PlexError::BadBody { .. } => (StatusCode::BAD_GATEWAY, "plex_bad_response"),
        };
        ApiError::new(status, code, e.to_string())
    }
}
