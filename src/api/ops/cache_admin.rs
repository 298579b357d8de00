//! `/api/cache/*` (contract #73–#81): stats, keys, get, delete, flush, warm, config, health and
//! bulk — every one behind a session and confined to the caller's own keys.
//!
//! Why: in Express the read routes were open and returned any cached value (other users' Plex
//! responses), and any signed-in user could overwrite or flush entries others were served.
//! Here each route sees only keys under the caller's prefix (`u<user>:`, [`user_prefix`]): a key
//! outside it is "not found", `flush` drops only the caller's keys, and `warm` always writes
//! under the caller's prefix, so nobody can read, poison or evict another user's entries, or
//! the shared ones (remote images, TMDB). Hit and miss counters are per bucket and global.
//!
//! Must never: list, return, change or remove a key outside the caller's prefix.

use std::time::Duration;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::{Value, json};

use crate::api::respond::json_response;
use crate::api::session::require_session;
use crate::api::state::AppState;
use crate::cache::plex_ttl as ttl;
use crate::cache::{Bucket, Entry, user_prefix};
use crate::http::json::read_json;
use crate::http::{ApiError, Body};
use crate::plex::client::Query;

/// Most operations one `bulk` call may carry.
const MAX_BULK: usize = 100;
/// Longest TTL `warm` accepts.
const MAX_WARM_TTL: u64 = 86_400;
/// Largest value `warm` stores.
const MAX_WARM_BYTES: usize = 256 << 10;

fn now_iso() -> String {
    crate::util::iso8601(crate::util::unix_now())
}

fn bucket<'s>(state: &'s AppState, name: Option<&str>) -> Result<&'s Bucket, ApiError> {
    let name = name
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            ApiError::bad_request("missing_bucket", "the bucket parameter is required")
        })?;
    state.caches().bucket(name).ok_or_else(|| {
        ApiError::bad_request(
            "unknown_bucket",
            "bucket must be plex, tmdb, trakt, image or general",
        )
    })
}

fn key_param(name: Option<&str>) -> Result<String, ApiError> {
    name.map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 2048)
        .map(str::to_string)
        .ok_or_else(|| ApiError::bad_request("missing_key", "the key parameter is required"))
}

/// The caller's entry for `key`, or `None` when the key is someone else's or absent.
async fn own_entry(bucket: &Bucket, prefix: &str, key: &str) -> Option<Entry> {
    if !key.starts_with(prefix) {
        return None;
    }
    bucket.get(key).await
}

fn entry_value(entry: &Entry) -> Value {
    if entry.content_type.starts_with("application/json") {
        serde_json::from_slice(&entry.body).unwrap_or(Value::Null)
    } else {
        Value::Null
    }
}

async fn own_usage(bucket: &Bucket, prefix: &str) -> (usize, usize) {
    let keys = bucket.keys(prefix);
    let mut bytes = 0;
    for k in &keys {
        if let Some(e) = bucket.get(k).await {
            bytes += k.len() + e.body.len();
        }
    }
    (keys.len(), bytes)
}

/// `GET /api/cache/stats[?bucket=]`.
pub async fn stats(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    let login = require_session(&req, &state).await?;
    let prefix = user_prefix(login.user_id);
    let q = Query::passthrough(req.uri().query(), &[]);
    let buckets: Vec<&Bucket> = match q.get("bucket").filter(|b| !b.trim().is_empty()) {
        Some(name) => vec![bucket(&state, Some(name))?],
        None => state.caches().all().to_vec(),
    };
    let (mut keys, mut hits, mut misses, mut memory) = (0usize, 0u64, 0u64, 0usize);
    let mut details = Vec::new();
    for b in buckets {
        let s = b.stats();
        let (k, bytes) = own_usage(b, &prefix).await;
        let total = s.hits + s.misses;
        details.push(json!({
            "bucket": b.name(),
            "keys": k,
            "hits": s.hits,
            "misses": s.misses,
            "hitRate": if total == 0 { 0.0 } else { (s.hits as f64 * 10_000.0 / total as f64).round() / 100.0 },
            "memoryUsage": bytes,
        }));
        keys += k;
        hits += s.hits;
        misses += s.misses;
        memory += bytes;
    }
    let total = hits + misses;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "buckets": details.len(),
            "totalKeys": keys,
            "totalHits": hits,
            "totalMisses": misses,
            "overallHitRate": if total == 0 { 0.0 } else { (hits as f64 * 10_000.0 / total as f64).round() / 100.0 },
            "totalMemoryUsage": memory,
            "details": details,
        }),
    ))
}

fn count_param(q: &Query, name: &str, default: usize, max: usize) -> Result<usize, ApiError> {
    match q.get(name).map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| *n <= max)
            .ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_parameter",
                    format!("{name} must be a whole number from 0 to {max}"),
                )
            }),
    }
}

/// `GET /api/cache/keys?bucket=&limit=100&offset=0`: the caller's keys.
pub async fn keys(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    let login = require_session(&req, &state).await?;
    let q = Query::passthrough(req.uri().query(), &[]);
    let b = bucket(&state, q.get("bucket"))?;
    let limit = count_param(&q, "limit", 100, 1000)?;
    let offset = count_param(&q, "offset", 0, usize::MAX)?;
    let all = b.keys(&user_prefix(login.user_id));
    let page: Vec<&String> = all.iter().skip(offset).take(limit).collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({"bucket": b.name(), "total": all.len(), "limit": limit, "offset": offset, "keys": page}),
    ))
}

/// `GET /api/cache/get?bucket=&key=`: one of the caller's entries.
pub async fn get(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    let login = require_session(&req, &state).await?;
    let q = Query::passthrough(req.uri().query(), &[]);
    let b = bucket(&state, q.get("bucket"))?;
    let key = key_param(q.get("key"))?;
    match own_entry(b, &user_prefix(login.user_id), &key).await {
        Some(entry) => Ok(json_response(
            StatusCode::OK,
            &json!({
                "bucket": b.name(),
                "key": key,
                "value": entry_value(&entry),
                "contentType": entry.content_type,
                "size": entry.body.len(),
            }),
        )),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "cache_key_not_found",
            "key not found in cache",
        )),
    }
}

/// `DELETE /api/cache/key?bucket=&key=`.
pub async fn delete_key(
    req: Request<Incoming>,
    state: AppState,
) -> Result<Response<Body>, ApiError> {
    let login = require_session(&req, &state).await?;
    let q = Query::passthrough(req.uri().query(), &[]);
    let b = bucket(&state, q.get("bucket"))?;
    let key = key_param(q.get("key"))?;
    let deleted = key.starts_with(&user_prefix(login.user_id)) && b.remove(&key).await;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "message": if deleted { "Key deleted successfully" } else { "Key not found" },
            "bucket": b.name(),
            "key": key,
            "deleted": deleted,
        }),
    ))
}

/// `POST /api/cache/flush[?bucket=]`: drops the caller's keys (in one bucket or all).
pub async fn flush(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    let login = require_session(&req, &state).await?;
    let prefix = user_prefix(login.user_id);
    let q = Query::passthrough(req.uri().query(), &[]);
    let (buckets, name) = match q.get("bucket").filter(|b| !b.trim().is_empty()) {
        Some(n) => {
            let b = bucket(&state, Some(n))?;
            (vec![b], b.name())
        }
        None => (state.caches().all().to_vec(), "all"),
    };
    for b in buckets {
        b.invalidate_prefix(&prefix);
    }
    let message = if name == "all" {
        "Flushed all cache buckets".to_string()
    } else {
        format!("Flushed bucket: {name}")
    };
    Ok(json_response(
        StatusCode::OK,
        &json!({"message": message, "bucket": name, "timestamp": now_iso()}),
    ))
}

/// Stores `value` under the caller's prefix; returns the full key and TTL.
async fn warm_one(
    state: &AppState,
    prefix: &str,
    op: &Value,
) -> Result<(String, String, u64), ApiError> {
    let b = bucket(state, op.get("bucket").and_then(Value::as_str))?;
    let key = key_param(op.get("key").and_then(Value::as_str))?;
    let value = op
        .get("value")
        .filter(|v| !v.is_null())
        .ok_or_else(|| ApiError::bad_request("missing_value", "value is required"))?;
    let ttl = match op.get("ttl") {
        None | Some(Value::Null) => 600,
        Some(v) => v
            .as_u64()
            .filter(|t| (1..=MAX_WARM_TTL).contains(t))
            .ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_ttl",
                    format!("ttl must be 1 to {MAX_WARM_TTL} seconds"),
                )
            })?,
    };
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    if bytes.len() > MAX_WARM_BYTES {
        return Err(ApiError::bad_request(
            "value_too_large",
            format!("value must be at most {MAX_WARM_BYTES} bytes of JSON"),
        ));
    }
    let key = if key.starts_with(prefix) {
        key
    } else {
        format!("{prefix}{key}")
    };
    b.insert(key.clone(), Entry::json(bytes, Duration::from_secs(ttl)))
        .await;
    Ok((b.name().to_string(), key, ttl))
}

/// `POST /api/cache/warm` `{bucket, key, value, ttl?}`: stores a value under the caller's prefix.
pub async fn warm(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    let login = require_session(&req, &state).await?;
    let body: Value = read_json(req).await?;
    let (bucket, key, ttl) = warm_one(&state, &user_prefix(login.user_id), &body).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"message": "Cache warmed successfully", "bucket": bucket, "key": key, "ttl": ttl, "success": true}),
    ))
}

/// `GET /api/cache/config`: the TTLs plexgate really uses, in seconds.
pub async fn config(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    require_session(&req, &state).await?;
    let s = |d: Duration| d.as_secs();
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "plex": {
                "libraries": s(ttl::LIBRARIES), "library": s(ttl::LIBRARY),
                "secondary": s(ttl::SECONDARY), "dir": s(ttl::DIR),
                "metadata": s(ttl::METADATA), "search": s(ttl::SEARCH),
                "findByGuid": s(ttl::GUID), "ondeck": s(ttl::ONDECK),
                "continue": s(ttl::CONTINUE), "recent": s(ttl::RECENT),
                "capabilities": s(ttl::CAPABILITIES),
            },
            "image": {
                "plex": s(crate::image::PLEX_TTL),
                "proxy": s(crate::image::PROXY_TTL),
            },
        }),
    ))
}

/// `GET /api/cache/health`: a set/get/delete round trip under the caller's prefix.
pub async fn health(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    let login = require_session(&req, &state).await?;
    let b = &state.caches().general;
    let key = format!(
        "{}health:{}",
        user_prefix(login.user_id),
        crate::util::hex(&crate::util::random_bytes::<6>())
    );
    b.insert(key.clone(), Entry::json("true", Duration::from_secs(10)))
        .await;
    let get = b.get(&key).await.is_some_and(|e| &e.body[..] == b"true");
    let delete = b.remove(&key).await;
    let set = get;
    let healthy = set && get && delete;
    Ok(json_response(
        if healthy {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        &json!({
            "status": if healthy { "healthy" } else { "unhealthy" },
            "checks": {"set": set, "get": get, "delete": delete},
            "timestamp": now_iso(),
        }),
    ))
}

/// `POST /api/cache/bulk` `{operations: [{action: set|get|delete, bucket, key, value?, ttl?}]}`.
pub async fn bulk(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    let login = require_session(&req, &state).await?;
    let prefix = user_prefix(login.user_id);
    let body: Value = read_json(req).await?;
    let ops = body
        .get("operations")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            ApiError::bad_request("missing_operations", "operations must be an array")
        })?;
    if ops.len() > MAX_BULK {
        return Err(ApiError::bad_request(
            "too_many_operations",
            format!("at most {MAX_BULK} operations per call"),
        ));
    }
    let mut results = Vec::with_capacity(ops.len());
    for op in ops {
        let action = op.get("action").and_then(Value::as_str).unwrap_or("");
        let b_name = op.get("bucket").cloned().unwrap_or(Value::Null);
        let k = op.get("key").cloned().unwrap_or(Value::Null);
        let result = match action {
            "set" => match warm_one(&state, &prefix, op).await {
                Ok((bucket, key, ttl)) => {
                    json!({"action": "set", "bucket": bucket, "key": key, "ttl": ttl, "success": true})
                }
                Err(e) => {
                    json!({"action": "set", "bucket": b_name, "key": k, "error": e.message()})
                }
            },
            "get" | "delete" => {
                let checked =
                    bucket(&state, op.get("bucket").and_then(Value::as_str)).and_then(|b| {
                        key_param(op.get("key").and_then(Value::as_str)).map(|key| (b, key))
                    });
                match checked {
                    Err(e) => {
                        json!({"action": action, "bucket": b_name, "key": k, "error": e.message()})
                    }
                    Ok((b, key)) if action == "get" => {
                        let value = own_entry(b, &prefix, &key)
                            .await
                            .map_or(Value::Null, |e| entry_value(&e));
                        json!({"action": "get", "bucket": b.name(), "key": key, "value": value})
                    }
                    Ok((b, key)) => {
                        let deleted = key.starts_with(&prefix) && b.remove(&key).await;
                        json!({"action": "delete", "bucket": b.name(), "key": key, "deleted": deleted})
                    }
                }
            }
            other => json!({"action": other, "error": "Unknown action"}),
        };
        results.push(result);
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({"total": results.len(), "results": results}),
    ))
}
