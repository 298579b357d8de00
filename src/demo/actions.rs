//! Client actions that change per-user state: `/:/timeline`, `/:/scrobble`, `/:/unscrobble`,
//! `/:/rate` and `PUT /library/parts/{id}` (protocol §5.8, §6).
//!
//! Why: plexgate forwards these for the player, and its tests assert their effects through later
//! reads (`viewOffset`, `viewCount`, `userRating`, Stream `selected`). Input is validated like
//! PMS: a bad state, time, rating or a stream of another part is a 400; an unknown item a 404.
//! Timeline positions are stored from 0 ms (real PMS ignores those under its 60 s
//! `minimumProgressTime`, which would hide every position in a 10 s demo movie).

use http::StatusCode;
use serde_json::json;

use super::faults::lock;
use super::library::PartInfo;
use super::request::{Req, parse_query};
use super::response::{self, Resp};
use super::state::Shared;
use super::store::Selection;

const LIBRARY_IDENTIFIER: &str = "com.plexapp.plugins.library";

/// Query parameters, then form-encoded body parameters (a POSTed timeline may use either).
fn params(req: &Req) -> Vec<(String, String)> {
    let mut all = req.query.clone();
    let form = req
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    if form && let Ok(body) = std::str::from_utf8(&req.body) {
        all.extend(parse_query(body));
    }
    all
}

fn get<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// A ratingKey from `ratingKey=` or `key=/library/metadata/{rk}` (or a bare `key=`).
fn rating_key(params: &[(String, String)]) -> Option<&str> {
    get(params, "ratingKey").or_else(|| {
        get(params, "key").map(|k| {
            k.strip_prefix("/library/metadata/")
                .map_or(k, |rest| rest.split('/').next().unwrap_or(rest))
        })
    })
}

/// `GET|POST /:/timeline`.
pub(crate) fn timeline(sh: &Shared, req: &Req) -> Resp {
    let ps = params(req);
    if req.plex("X-Plex-Client-Identifier").is_none() {
        return response::bad_request();
    }
    let state = get(&ps, "state");
    if !matches!(state, Some("playing" | "paused" | "buffering" | "stopped")) {
        return response::bad_request();
    }
    let Some(Ok(time)) = get(&ps, "time").map(|t| t.trim().parse::<u64>()) else {
        return response::bad_request();
    };
    let Some(item) = rating_key(&ps).and_then(|rk| sh.library.item(rk)) else {
        return response::bad_request();
    };
    let rk = item
        .get("ratingKey")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_owned();
    let duration = item.get("duration").and_then(|d| d.as_u64()).unwrap_or(0);
    {
        let mut st = lock(&sh.state);
        let us = st.user_state_mut(req.account, &rk);
        us.last_state = state.map(str::to_owned);
        us.last_viewed_at = Some(crate::util::unix_now());
        if state == Some("stopped")
            && duration > 0
            && time.saturating_mul(10) >= duration.saturating_mul(9)
        {
            us.view_count += 1;
            us.view_offset = None;
        } else {
            us.view_offset = Some(time);
        }
    }
    let mut c = json!({ "size": 0 });
    if let Some((code, text)) = sh.faults.timeline_termination() {
        c["terminationCode"] = json!(code);
        c["terminationText"] = json!(text);
    }
    response::container(req, c)
}

/// Checks `key` + `identifier` of scrobble/unscrobble/rate; `Err` is the status to answer.
fn item_key(sh: &Shared, ps: &[(String, String)]) -> Result<String, StatusCode> {
    let Some(key) = get(ps, "key").or_else(|| get(ps, "ratingKey")) else {
        return Err(StatusCode::BAD_REQUEST);
    };
    if get(ps, "identifier").is_some_and(|i| i != LIBRARY_IDENTIFIER) {
        return Err(StatusCode::BAD_REQUEST);
    }
    let key = key.strip_prefix("/library/metadata/").unwrap_or(key);
    match sh.library.item(key) {
        Some(_) => Ok(key.to_owned()),
        None => Err(StatusCode::NOT_FOUND),
    }
}

/// `/:/scrobble` (`watched = true`) and `/:/unscrobble`.
pub(crate) fn scrobble(sh: &Shared, req: &Req, watched: bool) -> Resp {
    let ps = params(req);
    let rk = match item_key(sh, &ps) {
        Ok(rk) => rk,
        Err(status) => return response::html_error(status),
    };
    let mut st = lock(&sh.state);
    let us = st.user_state_mut(req.account, &rk);
    us.view_offset = None;
    if watched {
        us.view_count += 1;
        us.last_viewed_at = Some(crate::util::unix_now());
    } else {
        us.view_count = 0;
        us.last_viewed_at = None;
    }
    response::ok_empty()
}

/// `/:/rate?key&identifier&rating` (0–10, `-1` clears; `ratedAt` not in the future).
pub(crate) fn rate(sh: &Shared, req: &Req) -> Resp {
    let ps = params(req);
    let rk = match item_key(sh, &ps) {
        Ok(rk) => rk,
        Err(status) => return response::html_error(status),
    };
    let Some(Ok(rating)) = get(&ps, "rating").map(|r| r.trim().parse::<f64>()) else {
        return response::bad_request();
    };
    if !(rating == -1.0 || (0.0..=10.0).contains(&rating)) {
        return response::bad_request();
    }
    if let Some(at) = get(&ps, "ratedAt") {
        match at.trim().parse::<i64>() {
            Ok(t) if t <= crate::util::unix_now() + 60 => {}
            _ => return response::bad_request(),
        }
    }
    lock(&sh.state).user_state_mut(req.account, &rk).user_rating =
        (rating >= 0.0).then_some(rating);
    response::ok_empty()
}

fn stream_choice(
    req: &Req,
    name: &str,
    allowed: &[u64],
    zero_clears: bool,
) -> Result<Option<Option<u64>>, ()> {
    match req.param(name).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => match v.trim().parse::<u64>() {
            Ok(0) if zero_clears => Ok(Some(None)),
            Ok(id) if allowed.contains(&id) => Ok(Some(Some(id))),
            _ => Err(()),
        },
    }
}

/// `PUT /library/parts/{id}?audioStreamID=&subtitleStreamID=` (0 = no subtitle).
pub(crate) fn select_streams(sh: &Shared, req: &Req, id: &str) -> Resp {
    let Some(part): Option<&PartInfo> = id.parse::<u64>().ok().and_then(|id| sh.library.part(id))
    else {
        return response::not_found();
    };
    let (Ok(audio), Ok(subtitle)) = (
        stream_choice(req, "audioStreamID", &part.audio, false),
        stream_choice(req, "subtitleStreamID", &part.subtitles, true),
    ) else {
        return response::bad_request();
    };
    if audio.is_none() && subtitle.is_none() {
        return response::bad_request();
    }
    let mut st = lock(&sh.state);
    let current: Selection = sh.library.selection(part, &st);
    let next = Selection {
        audio: audio.unwrap_or(current.audio),
        subtitle: subtitle.unwrap_or(current.subtitle),
    };
    st.selections.insert(part.id, next);
    response::ok_empty()
}
