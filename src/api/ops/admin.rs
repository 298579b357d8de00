//! `/api/admin/…`: what the owner page shows and the one thing it does (revoke a playback).
//!
//! Owner only: signed out is 401, any other signed-in user 403 `not_owner`, the same JSON error
//! shape as every route. The owner is the account `auth.owner` names, else the first to sign
//! in (`auth::admission`). What is listed comes from the `admin` domain; this file checks who
//! asks and renders.

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::json;

use crate::admin::{recent, servers, sessions};
use crate::api::extract::path_param;
use crate::api::respond::json_response;
use crate::api::session::{load_user, require_session};
use crate::api::state::AppState;
use crate::auth::admission;
use crate::db::users::User;
use crate::http::{ApiError, Body};

/// The signed-in owner, or 401 (signed out) / 403 (someone else).
async fn require_owner(req: &Request<Incoming>, state: &AppState) -> Result<User, ApiError> {
    let login = require_session(req, state).await?;
    let user = load_user(state, login.user_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("sign in first"))?;
    if !admission::is_owner(state.db(), &state.config().auth, &user).await? {
        return Err(ApiError::forbidden(
            "not_owner",
            "only the owner of this plexgate may see this; you are signed in, there is nothing \
             here for you to administer",
        ));
    }
    Ok(user)
}

/// `GET /api/admin/status` → `{version, startedAt, uptimeSecs, owner}`.
pub async fn status(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    let owner = require_owner(&req, &state).await?;
    let uptime = state.started().elapsed().as_secs() as i64;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "version": env!("CARGO_PKG_VERSION"),
            "startedAt": crate::util::unix_now() - uptime,
            "uptimeSecs": uptime,
            "owner": owner.username,
        }),
    ))
}

/// `GET /api/admin/servers` → `{servers: [{name, address, reachable, latencyMs, …}]}`.
pub async fn servers(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    let owner = require_owner(&req, &state).await?;
    let list = servers::status(state.db(), state.upstream(), owner.id).await?;
    Ok(json_response(StatusCode::OK, &json!({ "servers": list })))
}

/// `GET /api/admin/sessions` → `{sessions: [{id, user, title, protocol, bytes, …}]}`.
pub async fn sessions(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    require_owner(&req, &state).await?;
    let list = sessions::open(sessions::Sources {
        db: state.db(),
        keeper: state.keeper(),
        client: state.upstream(),
        identity: state.identity(),
        servers: state.servers(),
    })
    .await?;
    Ok(json_response(StatusCode::OK, &json!({ "sessions": list })))
}

/// `POST /api/admin/sessions/{id}/revoke`: ends the playback now, on Plex too; 404 when no
/// open playback session has this id.
pub async fn revoke(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    let owner = require_owner(&req, &state).await?;
    let id = path_param(&req, "id").to_string();
    let key = id.clone();
    let open = state
        .db()
        .read(move |conn| crate::db::playback::get(conn, &key))
        .await?
        .is_some_and(|s| s.kind == "playback" && s.ended_at.is_none());
    if !open {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "session_not_found",
            "no playback session with this id is running",
        ));
    }
    state.keeper().revoke(&id, "revoked_by_owner").await?;
    tracing::info!(session = %id, owner = owner.id, "the owner revoked a playback session");
    Ok(json_response(StatusCode::OK, &json!({ "revoked": true })))
}

/// `GET /api/admin/errors` → `{errors: [{at, level, upstream, cause, status, message}], capacity}`,
/// newest first.
pub async fn errors(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    require_owner(&req, &state).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "errors": recent::recent(), "capacity": recent::CAPACITY }),
    ))
}
