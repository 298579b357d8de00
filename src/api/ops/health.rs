//! `GET /health` (liveness: the process answers) and `GET /ready` (readiness: the database
//! answers and the Plex servers plexgate knows can be reached).

use std::time::Duration;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::json;

use crate::api::respond::json_response;
use crate::api::state::AppState;
use crate::http::{ApiError, Body};

const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Liveness: never touches storage or upstreams, so a slow Plex cannot make it fail.
pub async fn health(_req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "status": "ok",
            "version": env!("CARGO_PKG_VERSION"),
            "uptimeSeconds": state.started().elapsed().as_secs(),
        }),
    ))
}

/// Readiness: 200 when the database answers and, if any Plex server is known, at least one of
/// them answers `/identity` as the server it should be; 503 otherwise. Each check is reported.
pub async fn ready(_req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    let database = match state.db().ping().await {
        Ok(()) => json!({"status": "ok"}),
        Err(e) => json!({"status": "error", "message": e.to_string()}),
    };
    let database_ok = database["status"] == "ok";

    let endpoints = if database_ok {
        state
            .db()
            .read(crate::db::servers::list_endpoints)
            .await
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    // Probes run concurrently so one dead server costs one timeout, not one per server.
    let mut probes = tokio::task::JoinSet::new();
    for ep in endpoints {
        let client = state.upstream().clone();
        probes.spawn(async move {
            let result = crate::plex::probe_identity(&client, &ep.uri, PROBE_TIMEOUT).await;
            let (status, message) = match result {
                Ok(id) if id.machine_identifier == ep.machine_identifier => ("ok", None),
                Ok(_) => (
                    "error",
                    Some("a different server answers at this address".to_string()),
                ),
                Err(e) => ("error", Some(e.public_message())),
            };
            json!({
                "name": ep.name,
                "machineIdentifier": ep.machine_identifier,
                "status": status,
                "message": message,
            })
        });
    }
    let mut plex: Vec<serde_json::Value> = probes.join_all().await;
    plex.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    let plex_ok = plex.is_empty() || plex.iter().any(|p| p["status"] == "ok");
    let ready = database_ok && plex_ok;
    Ok(json_response(
        if ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        &json!({
            "status": if ready { "ready" } else { "unavailable" },
            "checks": { "database": database, "plex": plex },
        }),
    ))
}
