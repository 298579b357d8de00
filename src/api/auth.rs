//! `/api/auth`: who is signed in, signing out, the demo sign-in, and the servers list that hands
//! out the PMS facade instead of tokens.

use http::header::SET_COOKIE;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::json;

use super::AppState;
use super::errors::json_response;
use crate::auth::cookie::{self, Attributes};
use crate::auth::{AuthSession, SESSION_ABSOLUTE_TTL};
use crate::config::SameSite;
use crate::db::{self, users::User};
use crate::http::{ApiError, Body, RequestContext};
use crate::stream::facade;

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

async fn load_user(state: &AppState, user_id: i64) -> Result<Option<User>, ApiError> {
    Ok(state
        .db()
        .read(move |conn| db::users::get_user(conn, user_id))
        .await?)
}

/// `GET /api/auth/session`: always 200; `{authenticated:false}` when signed out.
pub async fn session(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    let Some(s) = state.logins().authenticate(req.headers()).await? else {
        return Ok(json_response(
            StatusCode::OK,
            &json!({"authenticated": false}),
        ));
    };
    match load_user(&state, s.user_id).await? {
        Some(user) => Ok(json_response(
            StatusCode::OK,
            &json!({"authenticated": true, "user": user_json(&user)}),
        )),
        None => {
            // The user row is gone: the session is meaningless.
            state.logins().destroy(s.hash).await?;
            Ok(json_response(
                StatusCode::OK,
                &json!({"authenticated": false}),
            ))
        }
    }
}

/// `GET /api/auth/validate`: 200 with the user, or 401.
pub async fn validate(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    let s = require_session(&req, &state).await?;
    let user = load_user(&state, s.user_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("sign in first"))?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"valid": true, "user": {"id": user.id.to_string(), "plexId": user.plex_id, "username": user.username}}),
    ))
}

/// `POST /api/auth/logout`: ends the session, revokes every ticket it minted (facade and
/// playback, aborting their live bodies) and clears the cookie.
pub async fn logout(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    if let Some(s) = state.logins().authenticate(req.headers()).await? {
        let revoked = state.keeper().revoke_login(s.hash, "logout").await?;
        state.logins().destroy(s.hash).await?;
        tracing::info!(user_id = s.user_id, revoked, "signed out");
    }
    let mut resp = json_response(StatusCode::OK, &json!({"success": true}));
    resp.headers_mut()
        .insert(SET_COOKIE, cookie::clear(cookie_attributes(&req, &state)));
    Ok(resp)
}

/// `POST /api/auth/demo-login` (demo mode only): signs in as the demo user.
pub async fn demo_login(
    req: Request<Incoming>,
    state: AppState,
) -> Result<Response<Body>, ApiError> {
    if !state.demo_mode() {
        return Err(ApiError::not_found());
    }
    let user = state
        .db()
        .read(|conn| db::users::get_user_by_plex_id(conn, crate::app::demo::DEMO_PLEX_ID))
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "demo_not_seeded",
                "the demo user does not exist",
            )
        })?;
    signed_in_response(&req, &state, &user).await
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

/// `GET /api/auth/servers`: the user's servers with `baseUrl` = the facade URL and `token` = the
/// facade ticket. Real connection URIs appear only as labels, never as something to call.
pub async fn servers(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    let s = require_session(&req, &state).await?;
    let user_id = s.user_id;
    // Fresh from plex.tv like the Express backend, but the stored list still answers when
    // plex.tv is down (the demo has no plex.tv account at all).
    let synced = if state.demo_mode() {
        None
    } else {
        match super::servers::sync_for(&state, user_id).await {
            Ok(list) => Some(list),
            Err(e) => {
                tracing::warn!(user_id, error = %e.message(), "server sync failed; answering the stored list");
                None
            }
        }
    };
    let servers = match synced {
        Some(list) => list,
        None => {
            state
                .db()
                .read(move |conn| db::servers::list_servers(conn, user_id))
                .await?
        }
    };
    let prefix = state.url_prefix();
    let ttl = state.config().stream.facade_ttl.as_secs() as i64;
    let identity = login_identity(req.headers(), &state, &s).await?;
    let mut out = Vec::with_capacity(servers.len());
    for server in servers {
        let f = facade::mint(
            state.keeper(),
            state.tickets(),
            facade::Owner {
                user_id,
                server_id: server.id,
                login: Some((s.hash, s.expires_at)),
                identity: identity.clone(),
            },
            ttl,
            &prefix,
        )
        .await?;
        let connections: Vec<_> = server
            .connections
            .iter()
            .map(|c| {
                json!({
                    "uri": f.base_url,
                    "label": label(&c.uri),
                    "local": c.local,
                    "relay": c.relay,
                    "protocol": c.protocol,
                })
            })
            .collect();
        out.push(json!({
            "id": server.id.to_string(),
            "name": server.name,
            "clientIdentifier": server.machine_identifier,
            "owned": server.owned,
            "baseUrl": f.base_url,
            "token": f.ticket,
            "connections": connections,
        }));
    }
    Ok(json_response(StatusCode::OK, &out))
}

/// `scheme://host:port` without credentials, query or path, for display only.
fn label(uri: &str) -> String {
    let (scheme, rest) = uri.split_once("://").unwrap_or(("http", uri));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    format!("{scheme}://{host}")
}
