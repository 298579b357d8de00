//! `/api/auth`: who is signed in, signing out, the demo sign-in, and the servers list that hands
//! out the PMS facade instead of tokens.

use http::header::SET_COOKIE;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::json;

use crate::api::respond::json_response;
use crate::api::session::{
    cookie_attributes, load_user, login_identity, require_session, signed_in_response, user_json,
};
use crate::api::state::AppState;
use crate::auth::cookie::{self};
use crate::db::{self};
use crate::http::{ApiError, Body};
use crate::plex::sync::sync_user;
use crate::stream::facade;

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
        .read(|conn| db::users::get_user_by_plex_id(conn, crate::auth::DEMO_PLEX_ID))
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
        match sync_user(
            state.db(),
            state.secrets(),
            state.plextv(),
            state.servers(),
            user_id,
            state.identity().client_identifier(),
        )
        .await
        {
            Ok(list) => Some(list),
            Err(e) => {
                tracing::warn!(user_id, error = %e, "server sync failed; answering the stored list");
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
