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
            PlexError::Status { status: 400, .. } => (StatusCode::BAD_GATEWAY, "plex_bad_request"),
            PlexError::Status { status: 404, .. } => (StatusCode::NOT_FOUND, "plex_not_found"),
            PlexError::Status { status: 503, .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, "plex_unavailable")
            }
            PlexError::Status { .. } => (StatusCode::BAD_GATEWAY, "plex_error"),
            PlexError::BadBody { .. } => (StatusCode::BAD_GATEWAY, "plex_bad_response"),
        };
        if status.is_server_error() {
            // The full error (with the server address) stays in the log.
            tracing::warn!(error = %e, "Plex request failed");
        }
        ApiError::new(status, code, e.public_message())
    }
}

impl From<crate::stream::ticket::TicketError> for ApiError {
    fn from(e: crate::stream::ticket::TicketError) -> Self {
        ApiError::forbidden(e.code(), e.to_string())
    }
}

impl From<crate::plex::AccessError> for ApiError {
    fn from(e: crate::plex::AccessError) -> Self {
        use crate::plex::AccessError;
        match e {
            AccessError::UnknownServer => ApiError::new(
                StatusCode::NOT_FOUND,
                "server_not_found",
                "that Plex server is not set up for this account",
            ),
            AccessError::Unreachable => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "plex_unreachable",
                "none of the Plex server's addresses answers",
            ),
            AccessError::NoAddress => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "server_no_address",
                "the Plex server has no known address; sync servers again",
            ),
            AccessError::Db(db) => db.into(),
        }
    }
}

impl From<crate::stream::proxy::ProxyError> for ApiError {
    fn from(e: crate::stream::proxy::ProxyError) -> Self {
        use crate::stream::manifest::RewriteError;
        use crate::stream::proxy::ProxyError;
        let message = e.to_string();
        match e {
            ProxyError::Unreachable => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "plex_unreachable", message)
            }
            ProxyError::Timeout => {
                ApiError::new(StatusCode::GATEWAY_TIMEOUT, "plex_timeout", message)
            }
            ProxyError::Unauthorized => {
                ApiError::new(StatusCode::BAD_GATEWAY, "plex_unauthorized", message)
            }
            ProxyError::Status(status, retry_after) => {
                let (st, code) = match status {
                    400 => (StatusCode::BAD_REQUEST, "plex_bad_request"),
                    403 => (StatusCode::FORBIDDEN, "plex_forbidden"),
                    404 => (StatusCode::NOT_FOUND, "plex_not_found"),
                    503 => (StatusCode::SERVICE_UNAVAILABLE, "plex_unavailable"),
                    _ => (StatusCode::BAD_GATEWAY, "plex_error"),
                };
                let err = ApiError::new(st, code, message);
                match retry_after {
                    Some(v) if st == StatusCode::SERVICE_UNAVAILABLE => {
                        err.with_header(http::header::RETRY_AFTER, v)
                    }
                    _ => err,
                }
            }
            ProxyError::Manifest(RewriteError::BadManifest { .. })
            | ProxyError::ManifestBody(_) => {
                ApiError::new(StatusCode::BAD_GATEWAY, "upstream_bad_manifest", message)
            }
            ProxyError::Manifest(other) => {
                ApiError::new(StatusCode::BAD_GATEWAY, other.code(), message)
            }
        }
    }
}

impl From<crate::stream::playback::PlaybackError> for ApiError {
    fn from(e: crate::stream::playback::PlaybackError) -> Self {
        use crate::stream::playback::PlaybackError;
        match e {
            PlaybackError::Plex(e) => e.into(),
            PlaybackError::Db(e) => e.into(),
            PlaybackError::Manifest(e) => crate::stream::proxy::ProxyError::from(e).into(),
            PlaybackError::CannotPlay(_) => {
                ApiError::new(StatusCode::BAD_GATEWAY, "plex_cannot_play", e.to_string())
            }
            PlaybackError::Unavailable => ApiError::new(
                StatusCode::NOT_FOUND,
                "start_manifest_unavailable",
                e.to_string(),
            ),
            PlaybackError::BadAddress => {
                ApiError::new(StatusCode::BAD_GATEWAY, "plex_bad_address", e.to_string())
            }
        }
    }
}
