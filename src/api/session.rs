//! The signed-in browser: requiring a session, starting one (the cookie), the user object the
//! frontend reads, and how Plex sees calls made for this browser.
//!
//! Why shared: every handler family (auth, plex, external, ops) needs the session, and the PIN
//! and demo sign-ins must start it identically (cookie scope, fixation rules).

use http::header::SET_COOKIE;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::json;

use super::respond::json_response;
use super::state::AppState;
use crate::auth::cookie::{self, Attributes};
use crate::auth::{AuthSession, SESSION_ABSOLUTE_TTL};
use crate::config::SameSite;
use crate::db::{self, users::User};
use crate::http::{ApiError, Body, RequestContext};

/// The signed-in session, or 401 JSON.
pub async fn require_session(
    req: &Request<Incoming>,
    state: &AppState,
) -> Result<AuthSession, ApiError> {
    state
        .logins()
        .authenticate(req.headers())
        .await?
        .ok_or_else(|| ApiError::unauthorized("sign in first"))
}

/// How Plex sees calls made for this browser's login session: its own client identifier and a
/// device name with the browser and the user, so Plex never mixes two browsers up.
pub async fn login_identity(
    headers: &http::HeaderMap,
    state: &AppState,
    login: &AuthSession,
) -> Result<crate::plex::ClientIdentity, ApiError> {
    let user_id = login.user_id;
    let user = state
        .db()
        .read(move |conn| db::users::get_user(conn, user_id))
        .await?;
    let agent = headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let name = crate::plex::identity_headers::device_name(
        agent,
        user.as_ref().map(|u| u.username.as_str()),
    );
    Ok(state.identity().for_login(&login.hash, name))
}

/// Cookie scope: configured, or derived from how the request arrived and the public URL.
pub fn cookie_attributes(req: &Request<Incoming>, state: &AppState) -> Attributes {
    let https_request = req
        .extensions()
        .get::<RequestContext>()
        .is_some_and(|c| c.scheme == "https");
    let https_public = state
        .config()
        .server
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"));
    let auth = &state.config().auth;
    let secure = auth.cookie_secure.unwrap_or(https_request || https_public);
    let same_site = auth.cookie_same_site.unwrap_or(
        if https_public && !state.config().server.cors_origins.is_empty() {
            SameSite::None
        } else {
            SameSite::Lax
        },
    );
    Attributes { secure, same_site }
}

/// The user object the frontend reads (`id`, `username`, `email`, `thumb`, `subscription`).
pub fn user_json(user: &User) -> serde_json::Value {
    json!({
        "id": user.id.to_string(),
        "plexId": user.plex_id,
        "username": user.username,
        "email": user.email,
        "thumb": user.thumb,
        "title": user.title,
        "subscription": user.subscription,
    })
}

/// The stored user `user_id`, if any.
pub async fn load_user(state: &AppState, user_id: i64) -> Result<Option<User>, ApiError> {
    Ok(state
        .db()
        .read(move |conn| db::users::get_user(conn, user_id))
        .await?)
}

/// Starts a login session for `user` and answers `{authenticated:true, user}` with the cookie.
pub async fn signed_in_response(
    req: &Request<Incoming>,
    state: &AppState,
    user: &User,
) -> Result<Response<Body>, ApiError> {
    let client_ip = req
        .extensions()
        .get::<RequestContext>()
        .map(|c| c.client_ip.to_string());
    let ua = req
        .headers()
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(200).collect());
    let (value, _) = state.logins().create(user.id, ua, client_ip).await?;
    let mut resp = json_response(
        StatusCode::OK,
        &json!({"authenticated": true, "user": user_json(user)}),
    );
    resp.headers_mut().insert(
        SET_COOKIE,
        cookie::set(&value, SESSION_ABSOLUTE_TTL, cookie_attributes(req, state)),
    );
    Ok(resp)
}
