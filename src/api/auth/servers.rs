//! Server management: sync from plex.tv, the stored list, connection candidates, a preferred
//! endpoint, and the current server (`/api/auth/servers/sync`, `/api/plex/servers*`).
//!
//! A preferred endpoint is saved only after it answers `/identity` as this very server, so the
//! server token is never sent to an address that is not that server (the Express backend saved
//! first and tested after).

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::Deserialize;
use serde_json::json;

use crate::api::respond::json_response;
use crate::api::session::require_session;
use crate::api::state::AppState;
use crate::db::{self, servers::Server};
use crate::http::json::read_json;
use crate::http::{ApiError, Body, PathParams};
use crate::plex::sync::sync_user;

/// `POST /api/auth/servers/sync` → `{saved, servers:[{id, name}]}`.
pub async fn sync(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    let s = require_session(&req, &state).await?;
    let servers = sync_user(
        state.db(),
        state.secrets(),
        state.plextv(),
        state.servers(),
        s.user_id,
        state.identity().client_identifier(),
    )
    .await?;
    let list: Vec<_> = servers
        .iter()
        .map(|s| json!({"id": s.machine_identifier, "name": s.name}))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({"saved": servers.len(), "servers": list}),
    ))
}

fn split(uri: &str) -> (String, String, u16) {
    let (scheme, rest) = uri.split_once("://").unwrap_or(("http", uri));
    let authority = rest.split('/').next().unwrap_or(rest);
    let default = if scheme == "https" { 443 } else { 32400 };
    match authority.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => (
            scheme.to_string(),
            h.to_string(),
            p.parse().unwrap_or(default),
        ),
        _ => (scheme.to_string(), authority.to_string(), default),
    }
}

/// `GET /api/plex/servers`.
pub async fn list(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    let s = require_session(&req, &state).await?;
    let user_id = s.user_id;
    let (servers, current) = state
        .db()
        .read(move |conn| {
            Ok((
                db::servers::list_servers(conn, user_id)?,
                db::servers::current_server_id(conn, user_id)?,
            ))
        })
        .await?;
    let out: Vec<_> = servers
        .iter()
        .map(|srv| {
            let base = srv
                .preferred_uri
                .clone()
                .or(srv.current_uri.clone())
                .or_else(|| srv.connections.first().map(|c| c.uri.clone()))
                .unwrap_or_default();
            let (protocol, host, port) = split(&base);
            let mut v = json!({
                "id": srv.machine_identifier,
                "name": srv.name,
                "host": host,
                "port": port,
                "protocol": protocol,
                "owned": srv.owned,
                "publicAddress": srv.connections.iter().find(|c| !c.local && !c.relay).map(|c| c.address.clone()),
                "localAddresses": srv.connections.iter().filter(|c| c.local).map(|c| c.address.clone()).collect::<Vec<_>>(),
                "isActive": current == Some(srv.id),
            });
            if let Some(p) = &srv.preferred_uri {
                v["preferredUri"] = json!(p);
            }
            v
        })
        .collect();
    Ok(json_response(StatusCode::OK, &out))
}

async fn server_param(
    req: &Request<Incoming>,
    state: &AppState,
    user_id: i64,
) -> Result<Server, ApiError> {
    let id = req
        .extensions()
        .get::<PathParams>()
        .and_then(|p| p.get("id"))
        .unwrap_or("")
        .to_string();
    find(state, user_id, id).await
}

async fn find(
    state: &AppState,
    user_id: i64,
    machine_identifier: String,
) -> Result<Server, ApiError> {
    if machine_identifier.is_empty() || machine_identifier.len() > 128 {
        return Err(ApiError::bad_request(
            "invalid_server_id",
            "the server id is not valid",
        ));
    }
    state
        .db()
        .read(move |conn| {
            db::servers::get_server_by_machine_identifier(conn, user_id, &machine_identifier)
        })
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "server_not_found",
                "no such server for this account",
            )
        })
}

/// `GET /api/plex/servers/:id/connections`.
pub async fn connections(
    req: Request<Incoming>,
    state: AppState,
) -> Result<Response<Body>, ApiError> {
    let s = require_session(&req, &state).await?;
    let srv = server_param(&req, &state, s.user_id).await?;
    let ranked = crate::plex::connect::ranked(
        &srv.connections,
        srv.preferred_uri.as_deref(),
        srv.owned,
        srv.https_required,
    );
    let list: Vec<_> = ranked
        .iter()
        .map(|uri| {
            json!({
                "uri": uri,
                "isCurrent": srv.current_uri.as_deref() == Some(uri.as_str()),
                "isPreferred": srv.preferred_uri.as_deref() == Some(uri.as_str()),
            })
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({"serverId": srv.machine_identifier, "connections": list}),
    ))
}

#[derive(Deserialize)]
struct EndpointBody {
    uri: Option<String>,
}

/// `POST /api/plex/servers/:id/endpoint` `{uri}`: verified, then saved as preferred and current.
pub async fn set_endpoint(
    req: Request<Incoming>,
    state: AppState,
) -> Result<Response<Body>, ApiError> {
    let s = require_session(&req, &state).await?;
    let srv = server_param(&req, &state, s.user_id).await?;
    let body: EndpointBody = read_json(req).await?;
    let uri = body
        .uri
        .map(|u| u.trim().trim_end_matches('/').to_string())
        .filter(|u| !u.is_empty())
        .ok_or_else(|| ApiError::bad_request("missing_uri", "uri is required"))?;
    let parsed = url::Url::parse(&uri)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .filter(|u| u.username().is_empty() && u.password().is_none())
        .filter(|u| u.query().is_none() && u.fragment().is_none() && u.path() == "/")
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_uri",
                "uri must be http(s)://host[:port] without a path or credentials",
            )
        })?;
    if srv.https_required && parsed.scheme() != "https" {
        return Err(ApiError::bad_request(
            "https_required",
            "this server only accepts https",
        ));
    }
    let identity =
        crate::plex::probe_identity(state.upstream(), &uri, crate::plex::connect::PROBE_TIMEOUT)
            .await;
    match identity {
        Ok(id) if id.machine_identifier == srv.machine_identifier => {}
        Ok(_) => {
            return Err(ApiError::bad_request(
                "endpoint_wrong_server",
                "a different Plex server answers at that address",
            ));
        }
        Err(_) => {
            return Err(ApiError::bad_request(
                "endpoint_unreachable",
                "the endpoint does not answer",
            ));
        }
    }
    let (user_id, server_id, saved) = (s.user_id, srv.id, uri.clone());
    state
        .db()
        .write(move |conn| {
            let now = crate::util::unix_now();
            db::servers::set_preferred_uri(conn, user_id, server_id, Some(&saved), now)?;
            db::servers::set_current_uri(conn, user_id, server_id, Some(&saved), now)
        })
        .await?;
    state.servers().invalidate(s.user_id, srv.id);
    let (protocol, host, port) = split(&uri);
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "message": "Endpoint updated",
            "server": {"id": srv.machine_identifier, "host": host, "port": port, "protocol": protocol, "preferredUri": uri},
        }),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CurrentBody {
    server_id: Option<String>,
}

/// `POST /api/plex/servers/current` `{serverId}`.
pub async fn set_current(
    req: Request<Incoming>,
    state: AppState,
) -> Result<Response<Body>, ApiError> {
    let s = require_session(&req, &state).await?;
    let body: CurrentBody = read_json(req).await?;
    let id = body
        .server_id
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::bad_request("missing_server_id", "serverId is required"))?;
    let srv = find(&state, s.user_id, id).await?;
    let (user_id, server_id) = (s.user_id, srv.id);
    state
        .db()
        .write(move |conn| {
            db::servers::set_current_server(conn, user_id, Some(server_id), crate::util::unix_now())
        })
        .await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"message": "Current server updated", "serverId": srv.machine_identifier}),
    ))
}
