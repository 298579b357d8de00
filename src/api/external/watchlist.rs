//! `/api/plextv/watchlist`: the user's plex.tv (Discover) watchlist, with the account token.
//!
//! The list keeps Discover's `MediaContainer` wrapper (the frontend reads
//! `MediaContainer.Metadata[]`) and is cached per user for 60 s. Writes resolve whatever id the
//! frontend sends to the Discover ratingKey (see [`crate::plex::discover::WatchlistId`]) and use
//! Discover's `actions/addToWatchlist` / `removeFromWatchlist`; they invalidate only this user's
//! watchlist cache (the Express backend flushed every user's Plex cache). A Discover 429 on the
//! list is answered 429 with `retryAfter`, as the contract says. What must never happen: the
//! account token anywhere but the `X-Plex-Token` header toward the Discover providers.

use std::time::Duration;

use http::header::{HeaderValue, RETRY_AFTER};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::json;

use crate::api::respond::json_response;
use crate::api::session::require_session;
use crate::api::state::AppState;
use crate::cache::{Entry, user_prefix};
use crate::db::{self, DbError};
use crate::http::{ApiError, Body, PathParams};
use crate::plex::discover::{DiscoverError, Kind, WatchlistId};

/// How long a user's watchlist page is served from memory.
const WATCHLIST_TTL: Duration = Duration::from_secs(60);
/// Largest page the browser may ask for.
const MAX_PAGE: u32 = 500;

/// The user's plex.tv account token (only ever sent to plex.tv and Discover, as a header).
pub async fn account_token(state: &AppState, user_id: i64) -> Result<String, ApiError> {
    let secrets = state.secrets().clone();
    match state
        .db()
        .read(move |c| db::users::user_plex_token(c, user_id, &secrets))
        .await
    {
        Ok(token) => Ok(token),
        Err(DbError::NotFound(_)) => Err(ApiError::unauthorized("sign in first")),
        Err(e) => Err(e.into()),
    }
}

fn query_u32(req: &Request<Incoming>, name: &str) -> Result<Option<u32>, ApiError> {
    let raw = req.uri().query().unwrap_or("").split('&').find_map(|kv| {
        kv.split_once('=')
            .filter(|(k, _)| *k == name)
            .map(|(_, v)| v)
    });
    match raw.filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v.parse::<u32>().map(Some).map_err(|_| {
            ApiError::bad_request("invalid_paging", format!("{name} must be a whole number"))
        }),
    }
}

/// `GET /api/plextv/watchlist?start&size`.
pub async fn watchlist(
    req: Request<Incoming>,
    state: AppState,
) -> Result<Response<Body>, ApiError> {
    let s = require_session(&req, &state).await?;
    let start = query_u32(&req, "start")?.unwrap_or(0);
    let size = query_u32(&req, "size")?.unwrap_or(200);
    if size > MAX_PAGE || start > 1_000_000 {
        return Err(ApiError::bad_request(
            "invalid_paging",
            format!("size must be at most {MAX_PAGE}"),
        ));
    }
    let key = format!("{}plextv:watchlist:{start}:{size}", user_prefix(s.user_id));
    let user_id = s.user_id;
    let outcome = state
        .caches()
        .general
        .get_or_fetch(key, || async {
            let token = account_token(&state, user_id).await.map_err(Fetch::Api)?;
            state
                .discover()
                .watchlist(&token, start, size)
                .await
                .map(|body| Entry::json(body, WATCHLIST_TTL))
                .map_err(Fetch::Discover)
        })
        .await;
    match outcome {
        Ok((entry, hit)) => Ok(crate::api::respond::cached(
            &entry,
            hit,
            "general",
            crate::api::respond::BrowserCaching::PrivateRemaining,
        )),
        Err(shared) => match &*shared {
            Fetch::Discover(DiscoverError::RateLimited { retry_after }) => {
                Ok(rate_limited(*retry_after))
            }
            Fetch::Discover(e) => Err(e.clone().into()),
            Fetch::Api(e) => Err(e.clone()),
        },
    }
}

/// Why a watchlist fetch failed (shared between coalesced callers).
enum Fetch {
    Api(ApiError),
    Discover(DiscoverError),
}

/// The contract's 429: `{"ok":false,"error":"rate_limited","retryAfter":"<s>"}`, here with the
/// error as plexgate's `{code,message}` object and `retryAfter` beside it.
fn rate_limited(retry_after: Option<u64>) -> Response<Body> {
    let secs = retry_after.unwrap_or(30);
    let mut resp = json_response(
        StatusCode::TOO_MANY_REQUESTS,
        &json!({
            "ok": false,
            "error": {"code": "rate_limited", "message": "plex.tv is rate limiting requests; retry shortly"},
            "retryAfter": secs.to_string(),
        }),
    );
    resp.headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(secs));
    resp
}

/// `PUT /api/plextv/watchlist/{id}[?type=movie|show]`.
pub async fn add(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    change(req, state, true).await
}

/// `DELETE /api/plextv/watchlist/{id}[?type=movie|show]`.
pub async fn remove(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    change(req, state, false).await
}

async fn change(
    req: Request<Incoming>,
    state: AppState,
    add: bool,
) -> Result<Response<Body>, ApiError> {
    let s = require_session(&req, &state).await?;
    let raw = req
        .extensions()
        .get::<PathParams>()
        .and_then(|p| p.get("id"))
        .and_then(|v| crate::util::percent_decode(v, false))
        .unwrap_or_default();
    let id = WatchlistId::parse(&raw).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_watchlist_id",
            "the id must be a plex:// guid, a Discover id, tmdb://, imdb://, tvdb:// or a library ratingKey",
        )
    })?;
    let kind =
        match req
            .uri()
            .query()
            .unwrap_or("")
            .split('&')
            .find_map(|kv| kv.strip_prefix("type="))
        {
            None | Some("") => None,
            Some(t) => Some(Kind::parse(t).ok_or_else(|| {
                ApiError::bad_request("invalid_type", "type must be movie or show")
            })?),
        };
    let token = account_token(&state, s.user_id).await?;
    let rating_key = resolve(&state, s.user_id, &token, id, kind, add).await?;
    let status = state
        .discover()
        .set_watchlisted(&token, &rating_key, add)
        .await?;
    state
        .caches()
        .general
        .invalidate_prefix(&format!("{}plextv:", user_prefix(s.user_id)));
    tracing::info!(user_id = s.user_id, add, "watchlist changed on plex.tv");
    Ok(json_response(
        StatusCode::OK,
        &json!({"ok": true, "status": status}),
    ))
}

/// The Discover ratingKey for what the frontend sent.
async fn resolve(
    state: &AppState,
    user_id: i64,
    token: &str,
    id: WatchlistId,
    kind: Option<Kind>,
    add: bool,
) -> Result<String, ApiError> {
    let (kind, ids) = match id {
        WatchlistId::Discover(key) => return Ok(key),
        external @ WatchlistId::External { .. } => (kind, vec![external]),
        WatchlistId::Library(rk) => {
            let access = library_access(state, user_id).await?;
            let (item_kind, ids) = state.discover().library_item(&access, &rk).await?;
            (kind.or(item_kind), ids)
        }
    };
    // A plex:// guid wins; otherwise the first external id Plex's catalogue matches.
    if let Some(WatchlistId::Discover(key)) =
        ids.iter().find(|i| matches!(i, WatchlistId::Discover(_)))
    {
        return Ok(key.clone());
    }
    for id in ids {
        let WatchlistId::External { scheme, id } = id else {
            continue;
        };
        let mut candidates = state
            .discover()
            .match_external(token, scheme, &id, kind)
            .await?;
        if candidates.len() > 1 && !add {
            // Removing: the one actually on the watchlist is meant.
            let listed = state.discover().watchlist_keys(token, MAX_PAGE).await?;
            candidates.retain(|c| listed.contains(c));
        }
        match candidates.len() {
            0 => continue,
            1 => return Ok(candidates.remove(0)),
            _ => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "watchlist_id_ambiguous",
                    "this id names both a movie and a show; add ?type=movie or ?type=show",
                ));
            }
        }
    }
    Err(DiscoverError::UnknownId("Plex's catalogue has no item with this id").into())
}

/// The user's current Plex server (or their first), for turning a library ratingKey into ids.
async fn library_access(
    state: &AppState,
    user_id: i64,
) -> Result<crate::plex::ServerAccess, ApiError> {
    let server_id = state
        .db()
        .read(move |c| {
            Ok(match db::servers::current_server_id(c, user_id)? {
                Some(id) => Some(id),
                None => db::servers::list_servers(c, user_id)?.first().map(|s| s.id),
            })
        })
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "watchlist_id_unknown",
                "a library ratingKey needs a Plex server; sync servers first",
            )
        })?;
    Ok(state.servers().access(user_id, server_id).await?)
}
