//! `/api/tmdb/*`: TMDB v3 JSON passed through unchanged, behind plexgate's key, rate-limit queue
//! and cache; and the per-user key routes (`validate-key`, `key-info`, `key`, `usage`).
//!
//! A session is optional on the data routes; with one, the user's own key is used if they saved
//! one. `/movie/popular`, `/movie/upcoming` and `/tv/popular` are real list routes honouring
//! `page` and `region` (the Express router answered them with the details route). Cached answers
//! carry `X-Cache: HIT|MISS` and `X-Cache-Bucket: tmdb`; `Cache-Control: no-cache` from the
//! browser refetches. What must never happen: the TMDB key in a response or an error message.

use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::auth::require_session;
use super::errors::json_response;
use crate::cache::{Entry, Hit};
use crate::http::body::full;
use crate::http::json::read_json;
use crate::http::{ApiError, Body, PathParams};
use crate::tmdb::{Endpoint, EndpointError, KeyOwner, Query, TmdbError, endpoints};

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
            TmdbError::Timeout => ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "tmdb_timeout",
                "TMDB did not answer in time",
            ),
            TmdbError::Unreachable => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "tmdb_unreachable",
                "TMDB cannot be reached",
            ),
            TmdbError::Upstream { status } => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "tmdb_error",
                format!("TMDB answered HTTP {status}"),
            ),
            TmdbError::BadBody => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "tmdb_bad_response",
                "TMDB sent a response plexgate cannot use",
            ),
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

/// A cached JSON body as a response: `X-Cache`, `X-Cache-Bucket` and a private max-age of what
/// is left of the entry's life.
pub(crate) fn cached_json(entry: &Entry, hit: Hit, bucket: &'static str) -> Response<Body> {
    let mut resp = Response::new(full(entry.body.clone()));
    let left = entry
        .ttl
        .saturating_sub(entry.stored_at.elapsed())
        .as_secs_f64()
        .ceil() as u64;
    let headers = resp.headers_mut();
    if let Ok(ct) = HeaderValue::from_str(&entry.content_type) {
        headers.insert(CONTENT_TYPE, ct);
    }
    headers.insert("x-cache", HeaderValue::from_static(hit.as_str()));
    headers.insert("x-cache-bucket", HeaderValue::from_static(bucket));
    if let Ok(cc) = HeaderValue::from_str(&format!("private, max-age={left}")) {
        headers.insert(CACHE_CONTROL, cc);
    }
    resp
}

fn param<'r>(req: &'r Request<Incoming>, name: &str) -> &'r str {
    req.extensions()
        .get::<PathParams>()
        .and_then(|p| p.get(name))
        .unwrap_or("")
}

fn query(req: &Request<Incoming>) -> Result<Query, ApiError> {
    Ok(Query::parse(req.uri().query())?)
}

/// Answers `endpoint` with the caller's key (their own when signed in and saved, else the
/// default), through the cache.
async fn serve(
    req: &Request<Incoming>,
    state: &AppState,
    endpoint: Result<Endpoint, EndpointError>,
) -> Result<Response<Body>, ApiError> {
    let endpoint = endpoint?;
    let user_id = state
        .logins()
        .authenticate(req.headers())
        .await?
        .map(|s| s.user_id);
    let key = state.tmdb().key_for(user_id).await?;
    let bypass = req
        .headers()
        .get(CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("no-cache"));
    let (entry, hit) = state.tmdb().get(&endpoint, &key, bypass).await?;
    Ok(cached_json(&entry, hit, "tmdb"))
}

/// `GET /api/tmdb/trending/{media}/{window}?page`.
pub async fn trending(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    let q = query(&req)?;
    let e = endpoints::trending(param(&req, "media"), param(&req, "window"), &q);
    serve(&req, &state, e).await
}

/// `GET /api/tmdb/search/{kind}?query&page[&year]`.
pub async fn search(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    let q = query(&req)?;
    let e = endpoints::search(param(&req, "kind"), &q);
    serve(&req, &state, e).await
}

/// `GET /api/tmdb/discover/{kind}?…`.
pub async fn discover(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    let q = query(&req)?;
    let e = endpoints::discover(param(&req, "kind"), &q);
    serve(&req, &state, e).await
}

/// `GET /api/tmdb/{media}/{id}[?append_to_response]` (details), or a list such as
/// `/api/tmdb/movie/top_rated?page`.
pub async fn details(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    let q = query(&req)?;
    let e = endpoints::details(param(&req, "media"), param(&req, "id"), &q);
    serve(&req, &state, e).await
}

/// `GET /api/tmdb/movie/popular?page&region`.
pub async fn movie_popular(
    req: Request<Incoming>,
    state: AppState,
) -> Result<Response<Body>, ApiError> {
    let q = query(&req)?;
    serve(&req, &state, endpoints::details("movie", "popular", &q)).await
}

/// `GET /api/tmdb/movie/upcoming?page&region`.
pub async fn movie_upcoming(
    req: Request<Incoming>,
    state: AppState,
) -> Result<Response<Body>, ApiError> {
    let q = query(&req)?;
    serve(&req, &state, endpoints::details("movie", "upcoming", &q)).await
}

/// `GET /api/tmdb/tv/popular?page`.
pub async fn tv_popular(
    req: Request<Incoming>,
    state: AppState,
) -> Result<Response<Body>, ApiError> {
    let q = query(&req)?;
    serve(&req, &state, endpoints::details("tv", "popular", &q)).await
}

/// `GET /api/tmdb/{media}/{id}/{sub}`: credits, recommendations, similar, images (`language` →
/// `include_image_language`), videos, external_ids; `person/{id}/combined_credits`.
pub async fn sub_resource(
    req: Request<Incoming>,
    state: AppState,
) -> Result<Response<Body>, ApiError> {
    let q = query(&req)?;
    let e = endpoints::sub_resource(
        param(&req, "media"),
        param(&req, "id"),
        param(&req, "sub"),
        &q,
    );
    serve(&req, &state, e).await
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct KeyBody {
    api_key: Option<String>,
}

/// `POST /api/tmdb/validate-key {apiKey}`: checks the key against TMDB's `/configuration` and
/// saves it (sealed) when TMDB accepts it. `{valid:false}` (200) when TMDB refuses it.
pub async fn validate_key(
    req: Request<Incoming>,
    state: AppState,
) -> Result<Response<Body>, ApiError> {
    let s = require_session(&req, &state).await?;
    let body: KeyBody = read_json(req).await?;
    let key = body.api_key.unwrap_or_default();
    let key = key.trim();
    if key.is_empty() {
        return Err(ApiError::bad_request(
            "missing_api_key",
            "apiKey is required",
        ));
    }
    if key.len() > 1024 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Ok(json_response(
            StatusCode::OK,
            &json!({"valid": false, "message": "Invalid API key"}),
        ));
    }
    if !state.tmdb().check_key(s.user_id, key).await? {
        return Ok(json_response(
            StatusCode::OK,
            &json!({"valid": false, "message": "Invalid API key"}),
        ));
    }
    state
        .tmdb()
        .save_user_key(s.user_id, key.to_string())
        .await?;
    tracing::info!(user_id = s.user_id, "saved the user's own TMDB key");
    Ok(json_response(
        StatusCode::OK,
        &json!({"valid": true, "message": "API key validated and saved"}),
    ))
}

fn rate_limit_json(state: &AppState) -> serde_json::Value {
    let limiter = state.tmdb().limiter();
    let window = limiter.window();
    let window = if window.subsec_millis() == 0 {
        json!(window.as_secs())
    } else {
        json!(window.as_secs_f64())
    };
    json!({
        "requests": limiter.limit(),
        "window": window,
        "unit": "second",
        "scope": "shared by all users",
        "queued": limiter.waiting(),
    })
}

/// `GET /api/tmdb/key-info`: whether the user's own key is in use, its usage and the limit.
pub async fn key_info(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    let s = require_session(&req, &state).await?;
    let custom = state.tmdb().user_key(s.user_id).await?.is_some();
    let owner = if custom {
        KeyOwner::User(s.user_id)
    } else {
        KeyOwner::Default
    };
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "hasCustomKey": custom,
            "isUsingDefault": !custom,
            "hasDefaultKey": state.tmdb().has_default_key(),
            "stats": state.tmdb().usage(owner).snapshot(),
            "rateLimit": rate_limit_json(&state),
        }),
    ))
}

/// `DELETE /api/tmdb/key`: forgets the user's own key.
pub async fn delete_key(
    req: Request<Incoming>,
    state: AppState,
) -> Result<Response<Body>, ApiError> {
    let s = require_session(&req, &state).await?;
    let removed = state.tmdb().remove_user_key(s.user_id).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "message": "Custom API key removed. Using default key.",
            "removed": removed,
        }),
    ))
}

/// `GET /api/tmdb/usage`: the usage counters of the key the user's requests use.
pub async fn usage(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    let s = require_session(&req, &state).await?;
    let owner = if state.tmdb().user_key(s.user_id).await?.is_some() {
        KeyOwner::User(s.user_id)
    } else {
        KeyOwner::Default
    };
    Ok(json_response(
        StatusCode::OK,
        &state.tmdb().usage(owner).snapshot(),
    ))
}
