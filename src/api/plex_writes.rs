//! `/api/plex` writes (contract #24–#27 and stream selection): progress → `/:/timeline`,
//! scrobble, rate, audio/subtitle selection (`PUT /library/parts/{id}`) and the HLS decision.
//!
//! Why: the frontend posts progress 3–4 times a second. Each report goes through a
//! [`Coalescer`] keyed by login session, server and item: state changes (and every `stopped`)
//! reach PMS at once, same-state positions at most once per `plex.timeline_interval_ms`, the
//! newest held position is flushed at the end of the interval — and a held report is answered
//! 200 like a sent one, so the rate is never an error. Every write drops the cached state it
//! changed ([`invalidate_watch_state`]), including the metadata flag variants and `/dir`
//! listings the Express backend left stale. Scrobble and rate send the
//! `identifier=com.plexapp.plugins.library` PMS requires; the decision is a GET, as Plex clients
//! send it (the Express backend POSTed it).
//!
//! Must never: send a write twice (no retry), drop a state change, splice an unvalidated value
//! into an upstream URL, or echo anything but the caller's own input and PMS's decision.

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::{Map, Value, json};

use super::AppState;
use super::errors::json_response;
use super::plex::{Ctx, container, ctx, invalidate_watch_state, path_param, rating_key};
use crate::http::json::read_json;
use crate::http::{ApiError, Body};
use crate::plex::client::{PlexClient, Query};
use crate::plex::timeline::{Coalescer, Offer, PlayState, Report};

const LIBRARY_IDENTIFIER: &str = "com.plexapp.plugins.library";

/// Login session hash, server id, rating key.
type TimelineKey = ([u8; 32], i64, String);

/// One coalescer for the process: keys include the login session's hash, which is unique
/// across every app instance, so tests running several servers in one process never mix.
static TIMELINE: LazyLock<Coalescer<TimelineKey>> = LazyLock::new(Coalescer::new);

fn missing(message: &'static str) -> ApiError {
    ApiError::bad_request("missing_parameters", message)
}

/// A rating key sent as a string or a number.
fn body_rating_key(body: &Value) -> Result<String, ApiError> {
    match body.get("ratingKey") {
        Some(Value::String(s)) => rating_key(s, "ratingKey"),
        Some(Value::Number(n)) => rating_key(&n.to_string(), "ratingKey"),
        None | Some(Value::Null) => Err(missing("ratingKey is required")),
        Some(_) => Err(rating_key("", "ratingKey").unwrap_err()),
    }
}

/// A non-negative finite number sent as a number or a numeric string.
fn number(body: &Value, name: &str) -> Result<Option<f64>, ApiError> {
    let v = match body.get(name) {
        None | Some(Value::Null) => return Ok(None),
        Some(v) => v,
    };
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        .filter(|f: &f64| f.is_finite() && *f >= 0.0)
        .map(Some)
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_parameter",
                format!("{name} must be a non-negative number"),
            )
        })
}

/// An id parameter (stream or part): digits, from a number or a string.
fn id_param(body: &Value, name: &str) -> Result<Option<u64>, ApiError> {
    let v = match body.get(name) {
        None | Some(Value::Null) => return Ok(None),
        Some(v) => v,
    };
    let text = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_string(),
        _ => String::new(),
    };
    if text.is_empty() || text.len() > 20 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::bad_request(
            "invalid_parameter",
            format!("{name} must be a numeric id"),
        ));
    }
    text.parse()
        .map(Some)
        .map_err(|_| ApiError::bad_request("invalid_parameter", format!("{name} is out of range")))
}

/// The `X-Plex-Session-Identifier` for calls made for one login session: stable per browser
/// session, different between users and devices (the Express backend sent none, so PMS merged
/// everybody into one client).
fn session_identifier(c: &Ctx) -> String {
    format!("plexgate-{}", crate::util::hex(&c.login.hash[..10]))
}

async fn client(state: &AppState, c: &Ctx) -> Result<PlexClient, ApiError> {
    Ok(c.client(state)
        .await?
        .with_session_identifier(session_identifier(c)))
}

/// Sends one report to `/:/timeline` and drops the cached state it changes. Returns PMS's
/// `terminationCode`/`terminationText`, if it ended the session.
async fn send_timeline(
    state: &AppState,
    c: &Ctx,
    report: &Report,
) -> Result<Option<(Value, Value)>, ApiError> {
    let mut q = Query::new();
    q.push("ratingKey", report.rating_key.clone())
        .push("key", format!("/library/metadata/{}", report.rating_key))
        .push("playbackTime", report.time.to_string())
        .push("time", report.time.to_string())
        .push("duration", report.duration.to_string())
        .push("state", report.state.as_str())
        .push("context", "library")
        .push("identifier", LIBRARY_IDENTIFIER)
        .push("hasMDE", "1");
    let client = client(state, c).await?;
    let fetched = client.write(Method::GET, "/:/timeline", &q).await;
    // Whatever PMS answered, its view of the item may have moved.
    invalidate_watch_state(state, c, &report.rating_key).await;
    let fetched = fetched?;
    let mc = container(client.parse(&fetched.body).unwrap_or(Value::Null));
    Ok(mc.get("terminationCode").map(|code| {
        (
            code.clone(),
            mc.get("terminationText").cloned().unwrap_or(Value::Null),
        )
    }))
}

/// `POST /api/plex/progress` `{ratingKey, time, duration, state?}`.
pub async fn progress(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    let c = ctx(&req, &state).await?;
    let body: Value = read_json(req).await?;
    let rk = body_rating_key(&body)?;
    let time = number(&body, "time")?.ok_or_else(|| missing("time is required"))?;
    let duration = number(&body, "duration")?.ok_or_else(|| missing("duration is required"))?;
    let play_state = match body.get("state") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(PlayState::parse(s).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_state",
                "state must be playing, paused, buffering or stopped",
            )
        })?),
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_state",
                "state must be playing, paused, buffering or stopped",
            ));
        }
    };
    let (time, duration) = (time.floor() as u64, duration.floor() as u64);
    let derived = play_state.unwrap_or(
        if duration > 0 && time.saturating_mul(10) >= duration.saturating_mul(9) {
            PlayState::Stopped
        } else {
            PlayState::Playing
        },
    );
    let report = Report {
        rating_key: rk.clone(),
        time,
        duration,
        state: derived,
    };
    // A report is life for this browser's transcodes of the item; an explicit `stopped` ends
    // them (players leave with a `stopped` report and never call the transcoder's stop).
    if play_state == Some(PlayState::Stopped) {
        let (keeper, login, item) = (state.keeper().clone(), c.login.hash, rk.clone());
        // Off the request path: the report must not wait for Plex's stop calls.
        tokio::spawn(async move {
            if let Err(e) = keeper.stop_item(&login, &item, "stopped").await {
                tracing::warn!(error = %e, "could not record the end of a playback");
            }
        });
    } else {
        state.keeper().item_life(&c.login.hash, &rk);
    }
    let mut out = Map::new();
    out.insert("message".into(), json!("Progress updated"));
    out.insert("ratingKey".into(), json!(rk));
    out.insert(
        "time".into(),
        body.get("time").cloned().unwrap_or(Value::Null),
    );
    out.insert(
        "duration".into(),
        body.get("duration").cloned().unwrap_or(Value::Null),
    );
    out.insert(
        "state".into(),
        play_state.map_or(Value::Null, |s| json!(s.as_str())),
    );

    let key: TimelineKey = (c.login.hash, c.server_id, rk);
    let interval = state.config().plex.timeline_interval;
    match TIMELINE.offer(&key, report.clone(), interval, Instant::now()) {
        Offer::Send => {
            if let Some((code, text)) = send_timeline(&state, &c, &report).await? {
                out.insert("terminationCode".into(), code);
                out.insert("terminationText".into(), text);
            }
        }
        Offer::Held { flush_after } => {
            out.insert("coalesced".into(), json!(true));
            if let Some(delay) = flush_after {
                schedule_flush(state.clone(), c, key, delay);
            }
        }
    }
    Ok(json_response(StatusCode::OK, &Value::Object(out)))
}

/// Sends the newest held report of `key` after `delay`, unless a state change superseded it.
fn schedule_flush(state: AppState, c: Ctx, key: TimelineKey, delay: Duration) {
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        if let Some(report) = TIMELINE.take_due(&key, Instant::now())
            && let Err(e) = send_timeline(&state, &c, &report).await
        {
            tracing::warn!(error = %e, "held timeline report could not be sent");
        }
    });
}

/// `POST /api/plex/scrobble` `{ratingKey}`: marks the item watched.
pub async fn scrobble(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    let c = ctx(&req, &state).await?;
    let body: Value = read_json(req).await?;
    let rk = body_rating_key(&body)?;
    let mut q = Query::new();
    q.push("key", rk.clone())
        .push("identifier", LIBRARY_IDENTIFIER);
    let result = client(&state, &c)
        .await?
        .write(Method::PUT, "/:/scrobble", &q)
        .await;
    invalidate_watch_state(&state, &c, &rk).await;
    result?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"message": "Item marked as watched", "ratingKey": rk}),
    ))
}

/// `POST /api/plex/rate` `{ratingKey, rating}` with a rating from 0 to 10.
pub async fn rate(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    let c = ctx(&req, &state).await?;
    let body: Value = read_json(req).await?;
    let rk = body_rating_key(&body)?;
    let rating = match body.get("rating") {
        None | Some(Value::Null) => return Err(missing("rating is required")),
        Some(v) => v
            .as_f64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            .filter(|r: &f64| r.is_finite() && (0.0..=10.0).contains(r))
            .ok_or_else(|| {
                ApiError::bad_request("invalid_rating", "rating must be between 0 and 10")
            })?,
    };
    let mut q = Query::new();
    q.push("key", rk.clone())
        .push("identifier", LIBRARY_IDENTIFIER)
        .push("rating", format_rating(rating));
    let result = client(&state, &c)
        .await?
        .write(Method::PUT, "/:/rate", &q)
        .await;
    state
        .caches()
        .plex
        .invalidate_prefix(&c.key(&format!("metadata:{rk}|")));
    result?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"message": "Rating updated", "ratingKey": rk, "rating": body.get("rating")}),
    ))
}

fn format_rating(r: f64) -> String {
    if r.fract() == 0.0 {
        format!("{}", r as u8)
    } else {
        format!("{r:.1}")
    }
}

/// `PUT /api/plex/parts/:id` `{audioStreamID?, subtitleStreamID?}` (JSON body or query;
/// `subtitleStreamID` 0 turns subtitles off): the streams PMS selects for this user.
pub async fn select_streams(
    req: Request<Incoming>,
    state: AppState,
) -> Result<Response<Body>, ApiError> {
    let c = ctx(&req, &state).await?;
    let part = rating_key(path_param(&req, "id"), "the part id")?;
    let from_query = Query::passthrough(req.uri().query(), &[]);
    let mut body: Value = read_json(req).await?;
    if !body.is_object() {
        return Err(ApiError::bad_request(
            "invalid_json",
            "the body must be a JSON object",
        ));
    }
    for name in ["audioStreamID", "subtitleStreamID"] {
        if body.get(name).is_none()
            && let Some(v) = from_query.get(name)
        {
            body[name] = json!(v);
        }
    }
    let audio = id_param(&body, "audioStreamID")?;
    let subtitle = id_param(&body, "subtitleStreamID")?;
    if audio.is_none() && subtitle.is_none() {
        return Err(missing("audioStreamID or subtitleStreamID is required"));
    }
    let mut q = Query::new();
    q.push_opt("audioStreamID", audio.map(|a| a.to_string()))
        .push_opt("subtitleStreamID", subtitle.map(|s| s.to_string()))
        .push("allParts", "1");
    let result = client(&state, &c)
        .await?
        .write(Method::PUT, &format!("/library/parts/{part}"), &q)
        .await;
    // Which item owns the part is not known here: drop every metadata and listing variant.
    let bucket = &state.caches().plex;
    bucket.invalidate_prefix(&c.key("metadata:"));
    bucket.invalidate_prefix(&c.key("dir:"));
    result?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"message": "Streams updated", "partId": part, "audioStreamID": audio, "subtitleStreamID": subtitle}),
    ))
}

/// `POST /api/plex/transcode/decision` `{ratingKey, mediaIndex?, partIndex?, quality?,
/// resolution?, audioStreamID?, subtitleStreamID?}`: PMS's HLS decision, unchanged.
pub async fn decision(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    let c = ctx(&req, &state).await?;
    let body: Value = read_json(req).await?;
    let rk = body_rating_key(&body)?;
    let index = |name: &str| -> Result<u64, ApiError> {
        match id_param(&body, name)? {
            Some(n) if n <= 1000 => Ok(n),
            Some(_) => Err(ApiError::bad_request(
                "invalid_parameter",
                format!("{name} is out of range"),
            )),
            None => Ok(0),
        }
    };
    let (media_index, part_index) = (index("mediaIndex")?, index("partIndex")?);
    let quality = match number(&body, "quality")? {
        Some(q) if (64.0..=200_000.0).contains(&q) => Some(q.floor() as u64),
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_quality",
                "quality must be a bitrate in kbps from 64 to 200000",
            ));
        }
        None => None,
    };
    let resolution = match body.get("resolution") {
        None | Some(Value::Null) => None,
        Some(Value::String(r)) if valid_resolution(r) => Some(r.clone()),
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_resolution",
                "resolution must look like 1920x1080",
            ));
        }
    };
    let audio = id_param(&body, "audioStreamID")?;
    let subtitle = id_param(&body, "subtitleStreamID")?;
    let mut q = Query::new();
    q.push("hasMDE", "1")
        .push("path", format!("/library/metadata/{rk}"))
        .push("mediaIndex", media_index.to_string())
        .push("partIndex", part_index.to_string())
        .push("protocol", "hls")
        .push("fastSeek", "1")
        .push("directPlay", "0")
        .push("directStream", "1")
        .push("audioBoost", "100")
        .push(
            "session",
            format!(
                "plexgate-{}",
                crate::util::hex(&crate::util::random_bytes::<12>())
            ),
        )
        .push_opt("maxVideoBitrate", quality.map(|b| b.to_string()))
        .push_opt("videoResolution", resolution)
        .push_opt("audioStreamID", audio.map(|a| a.to_string()))
        .push_opt("subtitleStreamID", subtitle.map(|s| s.to_string()))
        .push(
            "X-Plex-Client-Profile-Extra",
            crate::plex::identity_headers::PROFILE_EXTRA,
        );
    let client = client(&state, &c).await?;
    let fetched = client
        .write(Method::GET, "/video/:/transcode/universal/decision", &q)
        .await?;
    let doc = client.parse(&fetched.body)?;
    Ok(json_response(StatusCode::OK, &doc))
}

fn valid_resolution(r: &str) -> bool {
    r.split_once('x').is_some_and(|(w, h)| {
        [w, h]
            .iter()
            .all(|n| !n.is_empty() && n.len() <= 5 && n.bytes().all(|b| b.is_ascii_digit()))
    })
}
