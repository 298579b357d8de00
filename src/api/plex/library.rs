//! `/api/plex` library reads (contract #13–#20): sections, section listings with paging and
//! forwarded filters, secondary directories, `/dir/*`, item metadata with its include flags,
//! search and find-by-guid — each cached per user and server, each unwrapped exactly as the
//! frontend expects (§3.2.4): arrays for `libraries`/`search`, the `MediaContainer` object for
//! listings, `dir` and `findByGuid`, the bare first `Metadata` object for `metadata`.
//!
//! Must never: forward an `X-Plex-*` or token parameter from the browser, reach a PMS path
//! outside `/library/…`, or splice an unvalidated id into an upstream path.

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::{Value, json};

use super::{Ctx, cached_json, cached_response, ctx, metadata_item, ttl};
use crate::api::extract::{library_path, path_param, rating_key, section_key};
use crate::api::respond::{container, container_array};
use crate::api::session::require_session;
use crate::api::state::AppState;
use crate::cache::{Entry, Hit};
use crate::http::{ApiError, Body};
use crate::plex::client::Query;

fn param(query: &Query, name: &str) -> Option<String> {
    query
        .get(name)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

fn number_param(query: &Query, name: &str, default: u64, max: u64) -> Result<u64, ApiError> {
    match param(query, name) {
        None => Ok(default),
        Some(v) => v.parse::<u64>().ok().filter(|n| *n <= max).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_parameter",
                format!("{name} must be a whole number from 0 to {max}"),
            )
        }),
    }
}

/// `type` of search and findByGuid: `1` (movie) or `2` (show).
fn type_param(query: &Query) -> Result<Option<String>, ApiError> {
    match param(query, "type") {
        None => Ok(None),
        Some(t) if t == "1" || t == "2" => Ok(Some(t)),
        Some(_) => Err(ApiError::bad_request(
            "invalid_type",
            "type must be 1 (movies) or 2 (shows)",
        )),
    }
}

/// The user's sections (`MediaContainer.Directory`), cached; also used by findByGuid.
async fn sections(state: &AppState, c: &Ctx) -> Result<(Entry, Hit), ApiError> {
    cached_json(state, c.key("libraries"), ttl::LIBRARIES, || async {
        let doc = c
            .client(state)
            .await?
            .get_json("/library/sections", &Query::new())
            .await?;
        Ok(container_array(doc, "Directory"))
    })
    .await
}

/// `GET /api/plex/libraries`: the `Directory` array.
pub async fn libraries(
    req: Request<Incoming>,
    state: AppState,
) -> Result<Response<Body>, ApiError> {
    let c = ctx(&req, &state).await?;
    let (entry, hit) = sections(&state, &c).await?;
    Ok(cached_response(&entry, hit))
}

/// `GET /api/plex/library/:id/all?offset&limit&<filters>`: the `MediaContainer`.
pub async fn library_all(
    req: Request<Incoming>,
    state: AppState,
) -> Result<Response<Body>, ApiError> {
    let c = ctx(&req, &state).await?;
    let id = section_key(path_param(&req, "id"))?;
    let all = Query::passthrough(req.uri().query(), &[]);
    let offset = number_param(&all, "offset", 0, 1_000_000)?;
    let limit = number_param(&all, "limit", 50, 1000)?;
    let filters = Query::passthrough(req.uri().query(), &["offset", "limit"]);
    let key = c.key(&format!(
        "library:{id}:{offset}:{limit}:{}",
        filters.encode()
    ));
    let (entry, hit) = cached_json(&state, key, ttl::LIBRARY, || async {
        let mut q = Query::new();
        q.push("X-Plex-Container-Start", offset.to_string())
            .push("X-Plex-Container-Size", limit.to_string());
        q.extend(&filters);
        let doc = c
            .client(&state)
            .await?
            .get_json(&format!("/library/sections/{id}/all"), &q)
            .await?;
        Ok(container(doc))
    })
    .await?;
    Ok(cached_response(&entry, hit))
}

/// `GET /api/plex/library/:id/:directory` (`genre`, `year`, `collections`, …): the container.
pub async fn library_secondary(
    req: Request<Incoming>,
    state: AppState,
) -> Result<Response<Body>, ApiError> {
    let c = ctx(&req, &state).await?;
    let id = section_key(path_param(&req, "id"))?;
    let directory = path_param(&req, "directory").to_string();
    if directory.is_empty()
        || directory.len() > 40
        || !directory.bytes().all(|b| b.is_ascii_alphanumeric())
        || library_path(&format!("library/sections/{id}/{directory}")).is_err()
    {
        return Err(ApiError::bad_request(
            "invalid_directory",
            "the directory must be one plain name such as genre, year or collections",
        ));
    }
    let key = c.key(&format!("secondary:{id}:{directory}"));
    let (entry, hit) = cached_json(&state, key, ttl::SECONDARY, || async {
        let doc = c
            .client(&state)
            .await?
            .get_json(
                &format!("/library/sections/{id}/{directory}"),
                &Query::new(),
            )
            .await?;
        Ok(container(doc))
    })
    .await?;
    Ok(cached_response(&entry, hit))
}

/// `GET /api/plex/dir/<library path>?<query>`: the container of any `/library/…` read.
pub async fn dir(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    let c = ctx(&req, &state).await?;
    let path = library_path(path_param(&req, "rest"))?;
    let query = Query::passthrough(req.uri().query(), &[]);
    let key = c.key(&format!("dir:{path}?{}", query.encode()));
    let (entry, hit) = cached_json(&state, key, ttl::DIR, || async {
        let doc = c.client(&state).await?.get_json(&path, &query).await?;
        Ok(container(doc))
    })
    .await?;
    Ok(cached_response(&entry, hit))
}

/// The include flags of `/metadata/:id` that are on (`1` or `true`), as PMS query parameters.
fn metadata_flags(query: &Query) -> Query {
    let mut flags = Query::new();
    for name in ["includeExtras", "includeExternalMedia", "includeChildren"] {
        if matches!(query.get(name), Some("1" | "true")) {
            flags.push(name, "1");
        }
    }
    flags
}

/// `GET /api/plex/metadata/:id[?includeExtras&includeExternalMedia&includeChildren]`: the bare
/// `Metadata[0]` object.
pub async fn metadata(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    let c = ctx(&req, &state).await?;
    let rk = rating_key(path_param(&req, "id"), "the item id")?;
    let flags = metadata_flags(&Query::passthrough(req.uri().query(), &[]));
    let (entry, hit) = metadata_item(&state, &c, &rk, &flags).await?;
    Ok(cached_response(&entry, hit))
}

/// `GET /api/plex/search?query=…[&type=1|2]`: the `Metadata` array.
pub async fn search(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    let c = ctx(&req, &state).await?;
    let query = Query::passthrough(req.uri().query(), &[]);
    let text = param(&query, "query")
        .ok_or_else(|| ApiError::bad_request("missing_query", "the query parameter is required"))?;
    if text.chars().count() > 200 {
        return Err(ApiError::bad_request(
            "invalid_query",
            "the query is longer than 200 characters",
        ));
    }
    let kind = type_param(&query)?;
    let key = match &kind {
        None => c.key(&format!("search:all:{text}")),
        Some(t) => c.key(&format!("search:{t}:{text}")),
    };
    let (entry, hit) = cached_json(&state, key, ttl::SEARCH, || async {
        let mut q = Query::new();
        q.push("query", text.clone()).push_opt("type", kind.clone());
        let doc = c.client(&state).await?.get_json("/search", &q).await?;
        Ok(container_array(doc, "Metadata"))
    })
    .await?;
    Ok(cached_response(&entry, hit))
}

/// A guid as the frontend sends them (`tmdb://949`, `imdb://tt0113277`, `plex://movie/…`).
fn guid_param(query: &Query) -> Result<String, ApiError> {
    let g = param(query, "guid")
        .ok_or_else(|| ApiError::bad_request("missing_guid", "the guid parameter is required"))?;
    let ok = g.len() <= 200
        && g.split_once("://").is_some_and(|(scheme, id)| {
            !scheme.is_empty()
                && scheme.bytes().all(|b| b.is_ascii_lowercase())
                && !id.is_empty()
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"/-_.".contains(&b))
        });
    if !ok {
        return Err(ApiError::bad_request(
            "invalid_guid",
            "guid must look like tmdb://949, imdb://tt0113277 or plex://movie/…",
        ));
    }
    Ok(g)
}

fn has_items(mc: &Value) -> bool {
    mc.get("Metadata")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
}

/// `GET /api/plex/findByGuid?guid=…[&type=1|2]`: the first non-empty `MediaContainer` from
/// `/library/all?guid=` or, failing that, each matching section; `{"Metadata":[]}` when none.
/// Unlike the contract it asks for `includeGuids=1`, so hits carry `Guid[]` (§5.2 #9).
pub async fn find_by_guid(
    req: Request<Incoming>,
    state: AppState,
) -> Result<Response<Body>, ApiError> {
    let c = ctx(&req, &state).await?;
    let query = Query::passthrough(req.uri().query(), &[]);
    let guid = guid_param(&query)?;
    let kind = type_param(&query)?;
    let t = kind.clone().unwrap_or_else(|| "0".into());

    let global_key = c.key(&format!("guid:{guid}:{t}:global"));
    let global = cached_json(&state, global_key, ttl::GUID, || async {
        let mut q = Query::new();
        q.push("guid", guid.clone())
            .push_opt("type", kind.clone())
            .push("includeGuids", "1");
        let doc = c.client(&state).await?.get_json("/library/all", &q).await?;
        Ok(container(doc))
    })
    .await;
    if let Ok((entry, hit)) = &global
        && serde_json::from_slice::<Value>(&entry.body).is_ok_and(|mc| has_items(&mc))
    {
        return Ok(cached_response(entry, *hit));
    }
    if let Err(e) = &global {
        tracing::debug!(error = %e, "global guid lookup failed; walking the sections");
    }

    let (sections_entry, _) = sections(&state, &c).await?;
    let sections: Value = serde_json::from_slice(&sections_entry.body).unwrap_or(Value::Null);
    let wanted = match kind.as_deref() {
        Some("1") => Some("movie"),
        Some("2") => Some("show"),
        _ => None,
    };
    for s in sections.as_array().into_iter().flatten() {
        let Some(key) = s.get("key").and_then(Value::as_str) else {
            continue;
        };
        let Ok(key) = section_key(key) else { continue };
        if wanted.is_some_and(|w| s.get("type").and_then(Value::as_str) != Some(w)) {
            continue;
        }
        let section_cache = c.key(&format!("guid:{guid}:{t}:section:{key}"));
        let found = cached_json(&state, section_cache, ttl::GUID, || async {
            let mut q = Query::new();
            q.push("guid", guid.clone()).push("includeGuids", "1");
            let doc = c
                .client(&state)
                .await?
                .get_json(&format!("/library/sections/{key}/all"), &q)
                .await?;
            Ok(container(doc))
        })
        .await;
        match found {
            Ok((entry, hit))
                if serde_json::from_slice::<Value>(&entry.body).is_ok_and(|mc| has_items(&mc)) =>
            {
                return Ok(cached_response(&entry, hit));
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "section guid lookup failed"),
        }
    }
    Ok(crate::api::respond::json_response(
        StatusCode::OK,
        &json!({"Metadata": []}),
    ))
}

/// Any other `/api/plex/…` path: 401 without a session (as the contract's auth middleware did
/// for every path), 404 with one.
pub async fn not_found(
    req: Request<Incoming>,
    state: AppState,
) -> Result<Response<Body>, ApiError> {
    require_session(&req, &state).await?;
    Err(ApiError::not_found())
}
