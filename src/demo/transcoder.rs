//! The universal transcoder surface: `decision`, `start.m3u8`, `start.mpd`, `session/<id>/…`,
//! `ping`, `stop`, `/transcode/sessions` (protocol §5).
//!
//! Why: this is the half of PMS plexgate proxies hardest, so its rules are PMS 1.43's: identity
//! headers required, `start.*` only after a `decision` for the same `session`, relative
//! session-scoped URIs, idle sessions reaped (then every session URL, `ping` and `stop` 404).
//! Nothing is transcoded: segments are the pre-cut embedded files, chosen by the session's
//! packaging and renditions. HLS packaging: `container=mp4` (or `fmp4`) on `start.m3u8` gives
//! fMP4 segments (`header` + `00000.m4s`), anything else MPEG-TS (`00000.ts`). It never serves
//! a file that the session's manifest did not advertise.

use std::time::Instant;

use http::StatusCode;
use serde_json::{Value, json};

use super::decision::{self, Params};
use super::decision_body;
use super::faults::lock;
use super::manifest;
use super::media;
use super::request::Req;
use super::response::{self, Resp};
use super::state::Shared;
use super::store::{Packaging, Session};

/// Identity check + parameter parse shared by decision and start.
fn params(sh: &Shared, req: &Req) -> Result<Params, StatusCode> {
    if !decision::identity_ok(req, &sh.opts.rejected_platforms) {
        return Err(StatusCode::BAD_REQUEST);
    }
    decision::parse(req, &sh.library)
}

/// `GET|POST /video/:/transcode/universal/decision`.
pub(crate) fn decision(sh: &Shared, req: &Req) -> Resp {
    let p = match params(sh, req) {
        Ok(p) => p,
        Err(status) => return response::html_error(status),
    };
    let Some(part) = sh.library.part(p.part_id) else {
        return response::bad_request();
    };
    let mut st = lock(&sh.state);
    let outcome = decision::decide(&p, part, &sh.library, &st, &sh.facts);
    if let Some(session) = &p.session {
        st.decisions.insert(session.clone(), Instant::now());
    }
    if let Some(client) = req.plex("X-Plex-Client-Identifier") {
        st.client_decisions.insert(client.to_owned(), outcome.kind);
    }
    let body = decision_body::body(&p, &outcome, &sh.library, &st, &sh.facts);
    drop(st);
    response::container(req, body)
}

/// `GET /video/:/transcode/universal/start.m3u8` and `start.mpd`.
pub(crate) fn start(sh: &Shared, req: &Req, dash: bool) -> Resp {
    let p = match params(sh, req) {
        Ok(p) => p,
        Err(status) => return response::html_error(status),
    };
    let (Some(session), Some(part)) = (p.session.clone(), sh.library.part(p.part_id)) else {
        return response::bad_request();
    };
    let mut st = lock(&sh.state);
    if sh.opts.require_decision && !st.decisions.contains_key(&session) {
        return response::bad_request();
    }
    let mut o = decision::decide(&p, part, &sh.library, &st, &sh.facts);
    o.packaging = match (dash, p.fmp4) {
        (true, _) => Packaging::Dash,
        (false, true) => Packaging::HlsFmp4,
        (false, false) => Packaging::HlsTs,
    };
    let subtitles = o.subtitle_rendition && !dash;
    let loops = loops(sh, &p.rating_key);
    st.sessions.insert(
        session.clone(),
        Session {
            id: session.clone(),
            rating_key: p.rating_key.clone(),
            packaging: o.packaging,
            renditions: o.renditions.clone(),
            subtitles,
            loops,
            video_decision: if o.video == "copy" {
                "copy"
            } else {
                "transcode"
            },
            audio_decision: o.audio,
            client_identifier: req.plex("X-Plex-Client-Identifier").map(str::to_owned),
            last_activity: Instant::now(),
        },
    );
    drop(st);
    if dash {
        response::bytes(
            StatusCode::OK,
            "application/dash+xml",
            manifest::mpd(&session, &o.renditions, &sh.facts, loops),
        )
    } else {
        response::bytes(
            StatusCode::OK,
            "application/vnd.apple.mpegurl",
            manifest::master_m3u8(&session, &o.renditions, &sh.facts, subtitles),
        )
    }
}

/// How many times the media plays back to back for item `rk`: its catalog duration over the
/// media's, so one title can be long enough to seek around in without a longer fixture.
fn loops(sh: &Shared, rk: &str) -> u32 {
    let ms = sh
        .library
        .item(rk)
        .and_then(|i| i.get("duration"))
        .and_then(Value::as_u64)
        .unwrap_or(0);
    ms.div_ceil(sh.facts.duration_ms.max(1)).clamp(1, 100) as u32
}

/// The embedded file behind `session/<id>/<dir>/<name>` for this session, if it advertised it.
fn session_path(sh: &Shared, s: &Session, dir: &str, name: &str) -> Option<String> {
    let renditions = || s.renditions.iter().map(|&i| &sh.facts.renditions[i]);
    match s.packaging {
        Packaging::HlsTs | Packaging::HlsFmp4 if dir == "vtt-base" => {
            s.subtitles.then(|| format!("vtt-base/{name}"))
        }
        Packaging::HlsTs => {
            let ok = name == "index.m3u8" || name.ends_with(".ts");
            (ok && renditions().any(|r| r.name == dir)).then(|| format!("hls-ts/{dir}/{name}"))
        }
        Packaging::HlsFmp4 => {
            let ok = name == "index.m3u8" || name == "header" || name.ends_with(".m4s");
            (ok && renditions().any(|r| r.name == dir)).then(|| format!("hls-fmp4/{dir}/{name}"))
        }
        Packaging::Dash => {
            let ok = name == "header" || name.ends_with(".m4s");
            let known = dir == sh.facts.audio.dash_id || renditions().any(|r| r.dash_id == dir);
            (ok && known).then(|| format!("dash/{dir}/{name}"))
        }
    }
}

/// `GET /video/:/transcode/universal/session/<id>/<rest>`: playlists, init and media segments.
pub(crate) fn session_file(sh: &Shared, req: &Req, id: &str, rest: &str) -> Resp {
    let Some(session) = lock(&sh.state).touch(id).cloned() else {
        return response::not_found();
    };
    let Some((dir, name)) = rest.split_once('/').filter(|(_, n)| !n.contains('/')) else {
        return response::not_found();
    };
    match session_path(sh, &session, dir, name).and_then(|p| media::file(&p)) {
        Some(f) if session.loops > 1 && name == "index.m3u8" && dir != "vtt-base" => {
            let text = String::from_utf8_lossy(f.bytes);
            response::bytes(
                StatusCode::OK,
                "application/vnd.apple.mpegurl",
                manifest::looped_m3u8(&text, session.loops),
            )
        }
        Some(f) => media::serve(req, f, &sh.faults),
        None => response::not_found(),
    }
}

fn session_param(req: &Req) -> Option<&str> {
    req.param("session")
        .or_else(|| req.param("transcodeSessionId"))
        .filter(|s| !s.is_empty())
}

/// `GET /video/:/transcode/universal/ping?session=`: 200 while live, 404 after.
pub(crate) fn ping(sh: &Shared, req: &Req) -> Resp {
    let Some(id) = session_param(req) else {
        return response::bad_request();
    };
    if lock(&sh.state).touch(id).is_none() {
        return response::not_found();
    }
    response::container(req, json!({ "size": 0 }))
}

/// `GET /video/:/transcode/universal/stop?session=`: ends the session now; 404 if unknown.
pub(crate) fn stop(sh: &Shared, req: &Req) -> Resp {
    let Some(id) = session_param(req) else {
        return response::bad_request();
    };
    if lock(&sh.state).sessions.remove(id).is_none() {
        return response::not_found();
    }
    response::container(req, json!({ "size": 0 }))
}

/// `DELETE /transcode/sessions/<key>` (admin terminate).
pub(crate) fn kill(sh: &Shared, key: &str) -> Resp {
    if lock(&sh.state).sessions.remove(key).is_none() {
        return response::not_found();
    }
    response::ok_empty()
}

/// `GET /transcode/sessions` (protocol §5.7).
pub(crate) fn sessions(sh: &Shared, req: &Req) -> Resp {
    let st = lock(&sh.state);
    let duration = sh.facts.duration_ms;
    let list: Vec<Value> = st
        .session_ids()
        .iter()
        .filter_map(|id| st.sessions.get(id))
        .map(|s| {
            json!({
                "key": s.id,
                "ratingKey": s.rating_key,
                "throttled": false,
                "complete": true,
                "progress": 100.0,
                "speed": 0.0,
                "size": -22,
                "duration": duration,
                "remaining": 0,
                "context": "streaming",
                "sourceVideoCodec": "h264",
                "sourceAudioCodec": "aac",
                "videoDecision": s.video_decision,
                "audioDecision": s.audio_decision,
                "protocol": s.packaging.protocol(),
                "container": s.packaging.container(),
                "videoCodec": "h264",
                "audioCodec": "aac",
                "audioChannels": sh.facts.audio.channels,
                "transcodeHwRequested": false,
                "minOffsetAvailable": 0.0,
                "maxOffsetAvailable": duration as f64 / 1000.0,
                "clientIdentifier": s.client_identifier,
            })
        })
        .collect();
    drop(st);
    let mut c = json!({ "size": list.len() });
    if !list.is_empty() {
        c["TranscodeSession"] = json!(list);
    }
    response::container(req, c)
}
