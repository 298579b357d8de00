//! `/api/tmdb/*`: TMDB v3 JSON passed through unchanged, behind plexgate's key, rate-limit queue
//! and cache; and the per-user key routes (`validate-key`, `key-info`, `key`, `usage`).
//!
//! A session is optional on the data routes; with one, the user's own key is used if they saved
//! one. `/movie/popular`, `/movie/upcoming` and `/tv/popular` are real list routes honouring
//! `page` and `region` (the Express router answered them with the details route). Cached answers
//! carry `X-Cache: HIT|MISS` and `X-Cache-Bucket: tmdb`; `Cache-Control: no-cache` from the
//! browser refetches. What must never happen: the TMDB key in a response or an error message.

use http::header::CACHE_CONTROL;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::Deserialize;
use serde_json::json;

use crate::api::respond::{BrowserCaching, cached, json_response};
use crate::api::session::require_session;
use crate::api::state::AppState;
use crate::http::json::read_json;
use crate::http::{ApiError, Body, PathParams};
use crate::tmdb::{Endpoint, EndpointError, KeyOwner, Query, endpoints};

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
    Ok(cached(
        &entry,
        hit,
        "tmdb",
        BrowserCaching::PrivateRemaining,
    ))
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
