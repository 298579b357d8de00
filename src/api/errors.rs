//! Every domain error into the HTTP error, in one place.
//!
//! Statuses follow design §7: 400 bad input, 401 no session, 403 ticket/scope/CSRF, 404,
//! 502 upstream said something wrong, 503 upstream down, 504 upstream timeout. Storage and
//! crypto failures are the server's fault (500) and their details stay in the log.

use http::StatusCode;
use http::header::{HeaderValue, RETRY_AFTER};

use crate::db::DbError;
use crate::http::ApiError;
use crate::image::codec::CodecError;
use crate::image::fetch::FetchError;
use crate::plex::PlexError;
use crate::plex::discover::DiscoverError;
use crate::plex::plextv::PlexTvError;
use crate::plex::sync::SyncError;
use crate::tmdb::{EndpointError, TmdbError};
use crate::trakt::TraktError;
use crate::upstream;

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

/// The one mapping of an upstream failure: the status says whose fault (504 it was slow, 503 it
/// is down, 502 it answered wrongly), the code names the upstream (`tmdb_timeout`, …). The WARN
/// line was written when the error was made.
impl From<upstream::Error> for ApiError {
    fn from(e: upstream::Error) -> Self {
        let (status, suffix) = match e.cause() {
            upstream::Cause::Timeout => (StatusCode::GATEWAY_TIMEOUT, "timeout"),
            upstream::Cause::Status => (StatusCode::BAD_GATEWAY, "error"),
            upstream::Cause::BodyTooLarge => (StatusCode::BAD_GATEWAY, "response_too_large"),
            upstream::Cause::Decode => (StatusCode::BAD_GATEWAY, "bad_response"),
            upstream::Cause::Dns
            | upstream::Cause::Refused
            | upstream::Cause::Tls
            | upstream::Cause::Other => (StatusCode::SERVICE_UNAVAILABLE, "unreachable"),
        };
        let code = format!("{}_{suffix}", e.upstream().name());
        ApiError::new(status, code, e.to_string())
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
            // The WARN line was written by `upstream` when the call failed; this one adds the
            // server's address, which the browser's message leaves out.
            tracing::debug!(error = %e, "Plex request failed");
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

impl From<PlexTvError> for ApiError {
    fn from(e: PlexTvError) -> Self {
        match e {
            PlexTvError::RateLimited { retry_after } => {
                let err = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "plextv_rate_limited",
                    "plex.tv is rate limiting sign-ins; retry shortly",
                );
                match retry_after {
                    Some(s) => err.with_header(RETRY_AFTER, HeaderValue::from(s)),
                    None => err,
                }
            }
            PlexTvError::Unauthorized => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "plextv_unauthorized",
                "plex.tv refused the account token; sign in again",
            ),
            PlexTvError::PinGone => ApiError::new(
                StatusCode::NOT_FOUND,
                "pin_expired",
                "the PIN is unknown or expired",
            ),
            // The sign-in page shows one "plex.tv is unavailable" for any status it sends.
            PlexTvError::Upstream(e) if e.is_status() => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "plextv_unavailable",
                format!("plex.tv is unavailable: HTTP {}", e.status().unwrap_or(0)),
            ),
            PlexTvError::Upstream(e) => e.into(),
            PlexTvError::Unavailable(why) => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "plextv_unavailable",
                format!("plex.tv is unavailable: {why}"),
            ),
        }
    }
}

impl From<SyncError> for ApiError {
    fn from(e: SyncError) -> Self {
        match e {
            SyncError::PlexTv(e) => e.into(),
            SyncError::Db(e) => e.into(),
        }
    }
}

impl From<FetchError> for ApiError {
    fn from(e: FetchError) -> Self {
        let message = e.to_string();
        match e {
            FetchError::Invalid => ApiError::bad_request("invalid_image_url", message),
            FetchError::NotAllowed => ApiError::bad_request("image_url_not_allowed", message),
            FetchError::NotFound => {
                ApiError::new(StatusCode::NOT_FOUND, "image_not_found", message)
            }
            FetchError::TooLarge => {
                ApiError::new(StatusCode::BAD_GATEWAY, "image_too_large", message)
            }
            FetchError::Status(_) | FetchError::Unreachable => {
                ApiError::new(StatusCode::BAD_GATEWAY, "image_upstream_error", message)
            }
        }
    }
}

impl From<CodecError> for ApiError {
    fn from(e: CodecError) -> Self {
        let status = match e {
            CodecError::TooLarge { .. } => {
                return ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "image_too_large",
                    e.to_string(),
                );
            }
            CodecError::Decode(_) | CodecError::Encode(_) => StatusCode::BAD_GATEWAY,
        };
        ApiError::new(status, "image_unreadable", e.to_string())
    }
}

impl From<DiscoverError> for ApiError {
    fn from(e: DiscoverError) -> Self {
        match e {
            DiscoverError::Unauthorized => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "plextv_unauthorized",
                "plex.tv refused the account token; sign in again",
            ),
            DiscoverError::RateLimited { retry_after } => {
                let err = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    "plex.tv is rate limiting requests; retry shortly",
                );
                match retry_after {
                    Some(s) => err.with_header(RETRY_AFTER, HeaderValue::from(s)),
                    None => err,
                }
            }
            DiscoverError::NotFound => ApiError::new(
                StatusCode::NOT_FOUND,
                "plextv_not_found",
                "Plex's catalogue has no such item",
            ),
            DiscoverError::UnknownId(why) => {
                ApiError::new(StatusCode::NOT_FOUND, "watchlist_id_unknown", why)
            }
            DiscoverError::Upstream(e) => e.into(),
            DiscoverError::BadBody => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "plextv_bad_response",
                "plex.tv sent a response plexgate cannot use",
            ),
        }
    }
}

impl From<TmdbError> for ApiError {
    fn from(e: TmdbError) -> Self {
        let retry =
            |err: ApiError, secs: u64| err.with_header(RETRY_AFTER, HeaderValue::from(secs));
        match e {
            TmdbError::NotConfigured => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "tmdb_not_configured",
                "no TMDB key is configured on this server; save your own key in Settings",
            ),
            TmdbError::Unauthorized { user_key: true } => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "tmdb_unauthorized",
                "TMDB refused your saved API key; save a valid key or remove it to use the default",
            ),
            TmdbError::Unauthorized { user_key: false } => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "tmdb_unauthorized",
                "TMDB refused this server's API key",
            ),
            TmdbError::NotFound => ApiError::new(
                StatusCode::NOT_FOUND,
                "tmdb_not_found",
                "TMDB has no such resource",
            ),
            TmdbError::BadRequest { .. } => ApiError::new(
                StatusCode::BAD_REQUEST,
                "tmdb_bad_request",
                "TMDB refused the request parameters",
            ),
            TmdbError::RateLimited { retry_after } => retry(
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "tmdb_rate_limited",
                    format!("TMDB is rate limiting requests; retry in {retry_after} s"),
                ),
                retry_after,
            ),
            TmdbError::Busy { retry_after } => retry(
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "tmdb_busy",
                    format!("too many TMDB requests are queued; retry in {retry_after} s"),
                ),
                retry_after,
            ),
            TmdbError::Upstream(e) => e.into(),
            TmdbError::Storage(db) => {
                tracing::error!(error = %db, "reading a stored TMDB key failed");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "storage_error",
                    "the database could not complete the request",
                )
            }
        }
    }
}

impl From<EndpointError> for ApiError {
    fn from(e: EndpointError) -> Self {
        ApiError::bad_request(e.code, e.message)
    }
}

impl From<TraktError> for ApiError {
    fn from(e: TraktError) -> Self {
        match e {
            TraktError::NotConfigured => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "trakt_not_configured",
                "Trakt is not configured on this server (trakt.client_id and trakt.client_secret)",
            ),
            TraktError::NotAuthenticated => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "trakt_not_authenticated",
                "Trakt not authenticated; connect Trakt in Settings",
            ),
            TraktError::AppRejected => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "trakt_unauthorized",
                "Trakt refused this server's client id (trakt.client_id)",
            ),
            TraktError::RateLimited { retry_after } => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "trakt_rate_limited",
                format!("Trakt is rate limiting requests; retry in {retry_after} s"),
            )
            .with_header(RETRY_AFTER, HeaderValue::from(retry_after)),
            TraktError::NotFound => ApiError::new(
                StatusCode::NOT_FOUND,
                "trakt_not_found",
                "Trakt has no such resource",
            ),
            TraktError::Rejected { status } => ApiError::new(
                StatusCode::BAD_REQUEST,
                "trakt_bad_request",
                format!("Trakt refused the request (HTTP {status})"),
            ),
            TraktError::LimitExceeded => ApiError::new(
                StatusCode::CONFLICT,
                "trakt_limit_exceeded",
                "a Trakt account limit was reached (for example a full watchlist)",
            ),
            TraktError::Upstream(e) => e.into(),
            TraktError::BadBody => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "trakt_bad_response",
                "Trakt sent a response plexgate cannot use",
            ),
            TraktError::Storage(db) => {
                tracing::error!(error = %db, "reading or writing stored Trakt tokens failed");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "storage_error",
                    "the database could not complete the request",
                )
            }
        }
    }
}
