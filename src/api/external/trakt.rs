//! `/api/trakt/*`: public charts (cached 30 min), the device-code sign-in, and the signed-in
//! user's Trakt data and watchlist writes. Bodies are Trakt's JSON unchanged.
//!
//! Device-token polling stays always-200 `{ok, tokens|error}` as the frontend expects; the
//! `tokens` it returns carry Trakt's real `created_at`/`expires_in` (the frontend decides
//! "connected" from them) but placeholders instead of the access and refresh tokens, which stay
//! sealed on the server. Without a configured Trakt application every route answers 503
//! `trakt_not_configured` (polling: 200 `{ok:false, error:"invalid_client"}`, which the frontend
//! treats as final). What must never happen: a Trakt token or the client secret in a response.

use http::header::HeaderValue;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::respond::json_response;
use crate::api::session::require_session;
use crate::api::state::AppState;
use crate::body::full;
use crate::http::json::{read_body, read_json};
use crate::http::{ApiError, Body, PathParams};
use crate::trakt::{DevicePoll, TraktError};

fn param<'r>(req: &'r Request<Incoming>, name: &str) -> Option<&'r str> {
    req.extensions()
        .get::<PathParams>()
        .and_then(|p| p.get(name))
}

fn media(req: &Request<Incoming>) -> Result<&'static str, ApiError> {
    match param(req, "media") {
        Some("movies") => Ok("movies"),
        Some("shows") => Ok("shows"),
        _ => Err(ApiError::bad_request(
            "invalid_media_type",
            "media must be movies or shows",
        )),
    }
}

/// `?limit=` as 1–100, if given.
fn limit(req: &Request<Incoming>) -> Result<Option<u32>, ApiError> {
    let raw = req
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .find_map(|kv| kv.strip_prefix("limit="));
    match raw.filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => match v.parse::<u32>() {
            Ok(n) if (1..=100).contains(&n) => Ok(Some(n)),
            _ => Err(ApiError::bad_request(
                "invalid_limit",
                "limit must be a whole number from 1 to 100",
            )),
        },
    }
}

fn with_limit(path: String, limit: Option<u32>) -> String {
    match limit {
        Some(n) => format!("{path}?limit={n}"),
        None => path,
    }
}

fn limit_key(limit: Option<u32>) -> String {
    limit.map_or_else(|| "all".to_string(), |n| n.to_string())
}

fn raw_json(body: bytes::Bytes) -> Response<Body> {
    let mut resp = Response::new(full(body));
    let headers = resp.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    headers.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    resp
}

async fn chart(
    state: &AppState,
    path: String,
    cache_key: String,
) -> Result<Response<Body>, ApiError> {
    let (entry, hit) = state.trakt().chart(&path, cache_key).await?;
    Ok(crate::api::respond::cached(
        &entry,
        hit,
        "trakt",
        crate::api::respond::BrowserCaching::PrivateRemaining,
    ))
}

/// `GET /api/trakt/trending/{media}?limit`.
pub async fn trending(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    let (media, limit) = (media(&req)?, limit(&req)?);
    let key = format!("trakt:trending:{media}:{}", limit_key(limit));
    chart(&state, with_limit(format!("/{media}/trending"), limit), key).await
}

/// `GET /api/trakt/popular/{media}?limit`.
pub async fn popular(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    let (media, limit) = (media(&req)?, limit(&req)?);
    let key = format!("trakt:popular:{media}:{}", limit_key(limit));
    chart(&state, with_limit(format!("/{media}/popular"), limit), key).await
}

/// `GET /api/trakt/{media}/watched/{period}?limit`.
pub async fn watched(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    let (media, limit) = (media(&req)?, limit(&req)?);
    let period = match param(&req, "period") {
        Some(p @ ("daily" | "weekly" | "monthly" | "yearly" | "all")) => p,
        _ => {
            return Err(ApiError::bad_request(
                "invalid_period",
                "period must be daily, weekly, monthly, yearly or all",
            ));
        }
    };
    let key = format!("trakt:watched:{media}:{period}:{}", limit_key(limit));
    chart(
        &state,
        with_limit(format!("/{media}/watched/{period}"), limit),
        key,
    )
    .await
}

/// `GET /api/trakt/{media}/anticipated?limit`.
pub async fn anticipated(
    req: Request<Incoming>,
    state: AppState,
) -> Result<Response<Body>, ApiError> {
    let (media, limit) = (media(&req)?, limit(&req)?);
    let key = format!("trakt:anticipated:{media}:{}", limit_key(limit));
    chart(
        &state,
        with_limit(format!("/{media}/anticipated"), limit),
        key,
    )
    .await
}

/// `POST /api/trakt/oauth/device/code`: Trakt's `{device_code, user_code, verification_url,
/// expires_in, interval}` unchanged; the code is bound to this user.
pub async fn device_code(
    req: Request<Incoming>,
    state: AppState,
) -> Result<Response<Body>, ApiError> {
    let s = require_session(&req, &state).await?;
    let body = state.trakt().device_code(s.user_id).await?;
    Ok(raw_json(body))
}

#[derive(Deserialize, Default)]
struct CodeBody {
    code: Option<String>,
}

fn poll_answer(error: &str, description: &str) -> Response<Body> {
    json_response(
        StatusCode::OK,
        &json!({"ok": false, "error": error, "error_description": description}),
    )
}

/// `POST /api/trakt/oauth/device/token {code}`: always 200 (401 without a session).
pub async fn device_token(
    req: Request<Incoming>,
    state: AppState,
) -> Result<Response<Body>, ApiError> {
    let s = require_session(&req, &state).await?;
    let code = match read_body(req).await {
        Ok(bytes) => serde_json::from_slice::<CodeBody>(&bytes)
            .ok()
            .and_then(|b| b.code)
            .unwrap_or_default(),
        Err(_) => String::new(),
    };
    if !state.trakt().is_configured() {
        return Ok(json_response(
            StatusCode::OK,
            &json!({"ok": false, "error": "invalid_client", "code": "trakt_not_configured",
                    "error_description": "Trakt is not configured on this server"}),
        ));
    }
    match state.trakt().device_token(s.user_id, code.trim()).await {
        Ok(DevicePoll::Connected(tokens)) => Ok(json_response(
            StatusCode::OK,
            &json!({"ok": true, "tokens": tokens.public_view()}),
        )),
        Ok(DevicePoll::NotYet(error, description)) => Ok(poll_answer(error, description)),
        Err(e) => {
            tracing::warn!(user_id = s.user_id, error = %e, "Trakt device token poll failed");
            Ok(poll_answer(
                "server_error",
                "Trakt could not be asked; plexgate will retry on the next poll",
            ))
        }
    }
}

/// `POST /api/trakt/oauth/token`: the frontend's "refresh". plexgate refreshes server-side when
/// due and answers the token object (placeholders, real times).
pub async fn refresh(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    let s = require_session(&req, &state).await?;
    if !state.trakt().is_configured() {
        return Err(TraktError::NotConfigured.into());
    }
    let tokens = state.trakt().fresh_tokens(s.user_id).await?;
    Ok(json_response(StatusCode::OK, &tokens.public_view()))
}

/// `POST /api/trakt/oauth/revoke`: disconnects Trakt (revoked at Trakt, forgotten here).
pub async fn revoke(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    let s = require_session(&req, &state).await?;
    let had = state.trakt().disconnect(s.user_id).await?;
    tracing::info!(user_id = s.user_id, had, "Trakt disconnected");
    Ok(json_response(
        StatusCode::OK,
        &json!({"ok": true, "revoked": had}),
    ))
}

async fn user_get(
    req: &Request<Incoming>,
    state: &AppState,
    path: String,
) -> Result<Response<Body>, ApiError> {
    let s = require_session(req, state).await?;
    Ok(raw_json(state.trakt().user_get(s.user_id, &path).await?))
}

/// `GET /api/trakt/recommendations/{media}?limit`.
pub async fn recommendations(
    req: Request<Incoming>,
    state: AppState,
) -> Result<Response<Body>, ApiError> {
    let (media, limit) = (media(&req)?, limit(&req)?);
    user_get(
        &req,
        &state,
        with_limit(format!("/recommendations/{media}"), limit),
    )
    .await
}

/// `GET /api/trakt/users/me`.
pub async fn me(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    user_get(&req, &state, "/users/me".to_string()).await
}

fn list_media(req: &Request<Incoming>) -> Result<Option<&'static str>, ApiError> {
    match param(req, "media") {
        None => Ok(None),
        Some(m) => match m {
            "movies" => Ok(Some("movies")),
            "shows" => Ok(Some("shows")),
            "seasons" => Ok(Some("seasons")),
            "episodes" => Ok(Some("episodes")),
            _ => Err(ApiError::bad_request(
                "invalid_media_type",
                "media must be movies, shows, seasons or episodes",
            )),
        },
    }
}

/// `GET /api/trakt/users/me/watchlist[/{media}]`.
pub async fn watchlist(
    req: Request<Incoming>,
    state: AppState,
) -> Result<Response<Body>, ApiError> {
    let path = match list_media(&req)? {
        Some(m) => format!("/users/me/watchlist/{m}"),
        None => "/users/me/watchlist".to_string(),
    };
    user_get(&req, &state, path).await
}

/// `GET /api/trakt/users/me/history[/{media}]?limit`.
pub async fn history(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    let path = match list_media(&req)? {
        Some(m) => format!("/users/me/history/{m}"),
        None => "/users/me/history".to_string(),
    };
    let limit = limit(&req)?;
    user_get(&req, &state, with_limit(path, limit)).await
}

/// A Trakt sync payload: an object of `movies`/`shows`/`seasons`/`episodes` arrays.
fn sync_payload(body: Value) -> Result<Value, ApiError> {
    let bad = || {
        ApiError::bad_request(
            "invalid_sync_payload",
            "the body must be an object of movies, shows, seasons or episodes arrays",
        )
    };
    let obj = body.as_object().ok_or_else(bad)?;
    let mut items = 0;
    for (k, v) in obj {
        let list = v.as_array().ok_or_else(bad)?;
        if !["movies", "shows", "seasons", "episodes"].contains(&k.as_str()) {
            return Err(bad());
        }
        items += list.len();
    }
    if items == 0 || items > 1000 {
        return Err(bad());
    }
    Ok(body)
}

async fn sync_write(
    req: Request<Incoming>,
    state: AppState,
    path: &str,
) -> Result<Response<Body>, ApiError> {
    let s = require_session(&req, &state).await?;
    if !state.trakt().is_configured() {
        return Err(TraktError::NotConfigured.into());
    }
    let body = sync_payload(read_json::<Value>(req).await?)?;
    Ok(raw_json(
        state.trakt().user_post(s.user_id, path, &body).await?,
    ))
}

/// `POST /api/trakt/watchlist` (Trakt `/sync/watchlist`).
pub async fn watchlist_add(
    req: Request<Incoming>,
    state: AppState,
) -> Result<Response<Body>, ApiError> {
    sync_write(req, state, "/sync/watchlist").await
}

/// `POST /api/trakt/watchlist/remove` (Trakt `/sync/watchlist/remove`).
pub async fn watchlist_remove(
    req: Request<Incoming>,
    state: AppState,
) -> Result<Response<Body>, ApiError> {
    sync_write(req, state, "/sync/watchlist/remove").await
}
