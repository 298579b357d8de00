//! `/api/plex` home rows and the connection test (contract #21–#23, #30): On Deck, Continue
//! Watching, Recently Added as bare `Metadata` arrays, and `/test` with the server's
//! transcoder capabilities.
//!
//! Why a file of their own: these rows are the most per-user data plexgate serves (every entry
//! carries the user's `viewOffset`), with the shortest TTLs, and they are what a write
//! invalidates. Must never: serve one user's rows to another (keys come from [`Ctx::key`]).

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::{Value, json};

use super::{Ctx, cached_json, cached_response, ctx, ttl};
use crate::api::respond::json_response;
use crate::api::respond::{container, container_array};
use crate::api::session::require_session;
use crate::api::state::AppState;
use crate::cache::{Entry, user_prefix};
use crate::db;
use crate::http::{ApiError, Body};
use crate::plex::client::{PlexClient, Query};

async fn metadata_row(
    state: &AppState,
    c: &Ctx,
    name: &str,
    path: &str,
    ttl: std::time::Duration,
) -> Result<Response<Body>, ApiError> {
    let (entry, hit) = cached_json(state, c.key(name), ttl, || async {
        let doc = c.client(state).await?.get_json(path, &Query::new()).await?;
        Ok(container_array(doc, "Metadata"))
    })
    .await?;
    Ok(cached_response(&entry, hit))
}

/// `GET /api/plex/ondeck`: `/library/onDeck` items.
pub async fn on_deck(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    let c = ctx(&req, &state).await?;
    metadata_row(&state, &c, "ondeck", "/library/onDeck", ttl::ONDECK).await
}

/// `GET /api/plex/continue`: `/hubs/home/continueWatching` items.
pub async fn continue_watching(
    req: Request<Incoming>,
    state: AppState,
) -> Result<Response<Body>, ApiError> {
    let c = ctx(&req, &state).await?;
    metadata_row(
        &state,
        &c,
        "continue",
        "/hubs/home/continueWatching",
        ttl::CONTINUE,
    )
    .await
}

/// `GET /api/plex/recent[?library=<section>]`: recently added items.
pub async fn recent(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    let c = ctx(&req, &state).await?;
    let q = Query::passthrough(req.uri().query(), &[]);
    let library = match q.get("library").map(str::trim).filter(|l| !l.is_empty()) {
        None => None,
        Some(l) => Some(crate::api::extract::section_key(l)?),
    };
    match library {
        Some(id) => {
            metadata_row(
                &state,
                &c,
                &format!("recent:{id}"),
                &format!("/library/sections/{id}/recentlyAdded"),
                ttl::RECENT,
            )
            .await
        }
        None => {
            metadata_row(
                &state,
                &c,
                "recent:all",
                "/library/recentlyAdded",
                ttl::RECENT,
            )
            .await
        }
    }
}

/// The eight capability fields the contract copies from PMS `GET /`.
const CAPABILITIES: &[&str] = &[
    "version",
    "platform",
    "platformVersion",
    "transcoderVideo",
    "transcoderAudio",
    "transcoderVideoBitrates",
    "transcoderVideoQualities",
    "transcoderVideoResolutions",
];

/// `GET /api/plex/test[?serverId=<id or machine identifier>]`: `{connected, server,
/// capabilities}`. Connectivity is checked uncached; the capabilities are cached an hour.
pub async fn test(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    let q = Query::passthrough(req.uri().query(), &[]);
    let wanted = q
        .get("serverId")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let (user_id, server_id, name) = match wanted {
        None => {
            let c = ctx(&req, &state).await?;
            let (uid, sid) = (c.user_id(), c.server_id);
            let server = state
                .db()
                .read(move |conn| db::servers::get_server(conn, uid, sid))
                .await?;
            (uid, sid, server.map(|s| s.name).unwrap_or_default())
        }
        Some(id) => {
            if id.len() > 100 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                return Err(ApiError::bad_request(
                    "invalid_server_id",
                    "serverId must be a server id or machine identifier",
                ));
            }
            let uid = require_session(&req, &state).await?.user_id;
            let server = state
                .db()
                .read(move |conn| {
                    let by_machine = db::servers::get_server_by_machine_identifier(conn, uid, &id)?;
                    match by_machine {
                        Some(s) => Ok(Some(s)),
                        None => match id.parse::<i64>() {
                            Ok(n) => db::servers::get_server(conn, uid, n),
                            Err(_) => Ok(None),
                        },
                    }
                })
                .await?
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::NOT_FOUND,
                        "server_not_found",
                        "that Plex server is not set up for this account",
                    )
                })?;
            (uid, server.id, server.name)
        }
    };
    let client = PlexClient::connect(
        state.upstream(),
        state.identity(),
        state.servers(),
        user_id,
        server_id,
    )
    .await;
    let root = match client {
        Ok(mut client) => client.get_json("/", &Query::new()).await.ok(),
        Err(_) => None,
    };
    let Some(root) = root else {
        return Ok(json_response(
            StatusCode::OK,
            &json!({"connected": false, "server": name, "capabilities": null}),
        ));
    };
    let mc = container(root);
    let mut caps = serde_json::Map::new();
    for field in CAPABILITIES {
        if let Some(v) = mc.get(*field) {
            caps.insert((*field).to_string(), v.clone());
        }
    }
    let caps = Value::Object(caps);
    let key = format!("{}s{server_id}:capabilities", user_prefix(user_id));
    if let Ok(bytes) = serde_json::to_vec(&caps) {
        state
            .caches()
            .plex
            .insert(key, Entry::json(bytes, ttl::CAPABILITIES))
            .await;
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({"connected": true, "server": name, "capabilities": caps}),
    ))
}
