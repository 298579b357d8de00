//! The universal transcoder's parameters and its decision (protocol §5.2–§5.3).
//!
//! Why: the decision is where PMS's rules live: identity headers required, direct play vs
//! transcode from `directPlay`/`protocol`/caps, `segments-av` for HLS, `burn` for subtitles, the
//! quality cap turning the video into `transcode`. `start.*` reuses the same parse and outcome,
//! so the manifest always agrees with the decision. Parsing never panics on input: a bad value is
//! a 400, an unknown item a 404. The document the decision answers is `decision_body.rs`.

use http::StatusCode;

use super::library::{Library, PartInfo};
use super::media::Facts;
use super::request::Req;
use super::store::{DecisionKind, Packaging, State};

/// `protocol=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    Hls,
    Dash,
    Http,
}

/// `subtitles=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SubtitleMode {
    Auto,
    Burn,
    None,
    Sidecar,
    Embedded,
    Segmented,
}

/// The transcoder parameters shared by `decision`, `start.m3u8` and `start.mpd`.
#[derive(Debug, Clone)]
pub(crate) struct Params {
    pub rating_key: String,
    pub part_id: u64,
    pub protocol: Protocol,
    pub direct_play: bool,
    pub direct_stream: bool,
    pub direct_stream_audio: bool,
    pub max_video_kbps: Option<u64>,
    pub max_resolution: Option<(u32, u32)>,
    pub subtitles: SubtitleMode,
    pub audio_stream: Option<u64>,
    /// `Some(None)` = `subtitleStreamID=0` (explicitly none).
    pub subtitle_stream: Option<Option<u64>>,
    pub session: Option<String>,
    /// HLS packaging: `container=mp4` (or `fmp4`) selects fMP4 segments, anything else MPEG-TS.
    pub fmp4: bool,
    pub has_mde: bool,
}

/// What the transcoder will do.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub kind: DecisionKind,
    pub packaging: Packaging,
    /// Indexes into `Facts::renditions`, highest first (never empty).
    pub renditions: Vec<usize>,
    pub video: &'static str,
    pub audio: &'static str,
    pub audio_stream: Option<u64>,
    /// (stream id, decision, location).
    pub subtitle: Option<(u64, &'static str, Option<&'static str>)>,
    /// Whether the HLS master advertises the `vtt-base` rendition.
    pub subtitle_rendition: bool,
    pub direct_play_text: &'static str,
}

/// PMS ≥ 1.40 rejects transcoder calls without Product, Platform and Device (header or query),
/// and PMS 1.43.2 rejected some Platform values (`Linux`).
pub(crate) fn identity_ok(req: &Req, rejected_platforms: &[String]) -> bool {
    let (Some(_), Some(platform), Some(_)) = (
        req.plex("X-Plex-Product"),
        req.plex("X-Plex-Platform"),
        req.plex("X-Plex-Device"),
    ) else {
        return false;
    };
    !rejected_platforms
        .iter()
        .any(|p| p.eq_ignore_ascii_case(platform.trim()))
}

/// A transcode session id the demo will embed in manifests: 1–128 of `[A-Za-z0-9._~-]`.
pub(crate) fn valid_session_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
}

fn flag(req: &Req, name: &str, default: bool) -> Result<bool, StatusCode> {
    match req.param(name) {
        None | Some("") => Ok(default),
        Some("1" | "true") => Ok(true),
        Some("0" | "false") => Ok(false),
        Some(_) => Err(StatusCode::BAD_REQUEST),
    }
}

fn number<T: std::str::FromStr>(req: &Req, name: &str) -> Result<Option<T>, StatusCode> {
    match req.param(name) {
        None | Some("") => Ok(None),
        Some(v) => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| StatusCode::BAD_REQUEST),
    }
}

/// Parses and checks the parameters against the library.
pub(crate) fn parse(req: &Req, lib: &Library) -> Result<Params, StatusCode> {
    let path = req.param("path").ok_or(StatusCode::BAD_REQUEST)?;
    let rating_key = path
        .strip_prefix("/library/metadata/")
        .map(|rest| rest.split('/').next().unwrap_or(rest))
        .filter(|rk| !rk.is_empty())
        .ok_or(StatusCode::BAD_REQUEST)?
        .to_owned();
    lib.item(&rating_key).ok_or(StatusCode::NOT_FOUND)?;
    let index = |name| -> Result<usize, StatusCode> {
        Ok(number::<i64>(req, name)?.map_or(0, |i| usize::try_from(i).unwrap_or(0)))
    };
    let part = lib
        .part_at(&rating_key, index("mediaIndex")?, index("partIndex")?)
        .ok_or(StatusCode::BAD_REQUEST)?;
    let protocol = match req.param("protocol") {
        None | Some("" | "hls") => Protocol::Hls,
        Some("dash") => Protocol::Dash,
        Some("http") => Protocol::Http,
        Some(_) => return Err(StatusCode::BAD_REQUEST),
    };
    let subtitles = match req.param("subtitles") {
        None | Some("" | "auto") => SubtitleMode::Auto,
        Some("burn") => SubtitleMode::Burn,
        Some("none") => SubtitleMode::None,
        Some("sidecar") => SubtitleMode::Sidecar,
        Some("embedded") => SubtitleMode::Embedded,
        Some("segmented") => SubtitleMode::Segmented,
        Some(_) => return Err(StatusCode::BAD_REQUEST),
    };
    let max_resolution = match req.param("videoResolution").filter(|v| !v.is_empty()) {
        None => None,
        Some(v) => {
            let (w, h) = v.split_once('x').ok_or(StatusCode::BAD_REQUEST)?;
            let parse = |s: &str| s.trim().parse::<u32>().map_err(|_| StatusCode::BAD_REQUEST);
            Some((parse(w)?, parse(h)?))
        }
    };
    let max_video_kbps = match (
        number::<u64>(req, "maxVideoBitrate")?,
        number::<u64>(req, "peakBitrate")?,
    ) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let audio_stream = number::<u64>(req, "audioStreamID")?;
    if audio_stream.is_some_and(|id| !part.audio.contains(&id)) {
        return Err(StatusCode::BAD_REQUEST);
    }
    let subtitle_stream = number::<u64>(req, "subtitleStreamID")?.map(|id| (id != 0).then_some(id));
    if let Some(Some(id)) = subtitle_stream
        && !part.subtitles.contains(&id)
    {
        return Err(StatusCode::BAD_REQUEST);
    }
    let session = req
        .param("session")
        .or_else(|| req.param("transcodeSessionId"))
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    if session.as_deref().is_some_and(|s| !valid_session_id(s)) {
        return Err(StatusCode::BAD_REQUEST);
    }
    Ok(Params {
        rating_key,
        part_id: part.id,
        protocol,
        direct_play: flag(req, "directPlay", false)?,
        direct_stream: flag(req, "directStream", true)?,
        direct_stream_audio: flag(req, "directStreamAudio", true)?,
        max_video_kbps,
        max_resolution,
        subtitles,
        audio_stream,
        subtitle_stream,
        session,
        fmp4: matches!(req.param("container"), Some("mp4" | "fmp4")),
        has_mde: flag(req, "hasMDE", false)?,
    })
}

/// Renditions within the caps, highest first; the lowest one when none fits.
fn renditions(p: &Params, facts: &Facts) -> Vec<usize> {
    let fits: Vec<usize> = facts
        .renditions
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            p.max_video_kbps
                .is_none_or(|cap| r.video_bandwidth / 1000 <= cap)
        })
        .filter(|(_, r)| {
            p.max_resolution
                .is_none_or(|(w, h)| r.width <= w && r.height <= h)
        })
        .map(|(i, _)| i)
        .collect();
    if fits.is_empty() {
        vec![facts.renditions.len() - 1]
    } else {
        fits
    }
}

/// Decides what to do for `p`.
pub(crate) fn decide(
    p: &Params,
    part: &PartInfo,
    lib: &Library,
    st: &State,
    facts: &Facts,
) -> Outcome {
    let sel = lib.selection(part, st);
    let audio_stream = p.audio_stream.or(sel.audio);
    let subtitle_stream = p.subtitle_stream.unwrap_or(sel.subtitle);
    let renditions = renditions(p, facts);
    let capped = renditions.first() != Some(&0);
    let burn_requested = subtitle_stream.is_some() && p.subtitles == SubtitleMode::Burn;
    let packaging = match p.protocol {
        Protocol::Dash => Packaging::Dash,
        _ if p.fmp4 => Packaging::HlsFmp4,
        _ => Packaging::HlsTs,
    };
    let can_direct_play = p.direct_play && !capped && !burn_requested;
    let kind = if can_direct_play {
        DecisionKind::DirectPlay
    } else if p.protocol == Protocol::Http {
        DecisionKind::Unavailable
    } else {
        DecisionKind::Transcode
    };
    let subtitle = subtitle_stream.and_then(|id| {
        if p.subtitles == SubtitleMode::None {
            return None;
        }
        if kind == DecisionKind::DirectPlay {
            return Some((id, "copy", Some("sidecar-subs")));
        }
        match p.subtitles {
            SubtitleMode::Auto | SubtitleMode::Burn => Some((id, "burn", None)),
            SubtitleMode::Sidecar => Some((id, "copy", Some("sidecar-subs"))),
            SubtitleMode::Segmented => Some((id, "transcode", Some("segments-subs"))),
            SubtitleMode::Embedded | SubtitleMode::None => Some((id, "ignore", None)),
        }
    });
    let burning = subtitle.is_some_and(|(_, d, _)| d == "burn");
    let video = if kind == DecisionKind::DirectPlay || (p.direct_stream && !capped && !burning) {
        "copy"
    } else {
        "transcode"
    };
    let direct_play_text = if kind == DecisionKind::DirectPlay {
        "Direct play OK."
    } else if !p.direct_play {
        "App cannot direct play this item. Direct play is disabled."
    } else if capped {
        "App cannot direct play this item. The video bitrate or resolution exceeds the requested limit."
    } else {
        "App cannot direct play this item. Subtitles must be burned in."
    };
    Outcome {
        kind,
        packaging,
        renditions,
        video,
        audio: if p.direct_stream_audio || kind == DecisionKind::DirectPlay {
            "copy"
        } else {
            "transcode"
        },
        audio_stream,
        subtitle,
        subtitle_rendition: matches!(p.subtitles, SubtitleMode::Sidecar | SubtitleMode::Segmented),
        direct_play_text,
    }
}
