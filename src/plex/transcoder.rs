//! The universal transcoder, called by plexgate itself: decision, start, ping, stop.
//!
//! Used by `/api/plex/stream` (which starts playback server-side) and by the playback session
//! keeper (keep-alive pings while a player is paused, stop when a session ends). The token
//! travels as a header, identity as headers, transcode parameters in the query, and the same
//! parameters go to `decision` and `start` as PMS 1.43 requires.

use std::time::Duration;

use http::HeaderMap;
use serde_json::Value;

use super::{ClientIdentity, PlexError, ServerAccess};
use crate::metrics::upstream::{Upstream, upstream_ttfb};

/// Metadata calls get a bounded total time; streams never do.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// Streaming protocol of a transcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// HLS (`start.m3u8`).
    Hls,
    /// DASH (`start.mpd`).
    Dash,
}

impl Protocol {
    /// `hls` or `dash`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Hls => "hls",
            Protocol::Dash => "dash",
        }
    }

    /// The start manifest's file name.
    pub fn start_file(self) -> &'static str {
        match self {
            Protocol::Hls => "start.m3u8",
            Protocol::Dash => "start.mpd",
        }
    }
}

/// One transcode choice: item, tracks, quality, offset. Changing any of it needs a new session.
#[derive(Debug, Clone)]
pub struct TranscodeRequest {
    /// Item to play.
    pub rating_key: String,
    /// Which media of the item.
    pub media_index: u32,
    /// Which part of the media.
    pub part_index: u32,
    /// HLS or DASH.
    pub protocol: Protocol,
    /// Cap in kbps.
    pub max_video_bitrate: Option<u32>,
    /// Cap as `WxH`.
    pub video_resolution: Option<String>,
    /// Audio track.
    pub audio_stream_id: Option<u64>,
    /// Subtitle track (`0` for none).
    pub subtitle_stream_id: Option<u64>,
    /// Start position in seconds.
    pub offset: Option<f64>,
    /// The transcode session id (`session`), chosen by plexgate.
    pub session: String,
}

impl TranscodeRequest {
    /// The query string shared by `decision` and `start.*`.
    pub fn query(&self) -> String {
        let mut q = url_params(&[
            ("hasMDE", "1".into()),
            ("path", format!("/library/metadata/{}", self.rating_key)),
            ("mediaIndex", self.media_index.to_string()),
            ("partIndex", self.part_index.to_string()),
            ("protocol", self.protocol.as_str().into()),
            ("fastSeek", "1".into()),
            ("directPlay", "0".into()),
            ("directStream", "1".into()),
            ("directStreamAudio", "1".into()),
            ("subtitleSize", "100".into()),
            ("audioBoost", "100".into()),
            ("location", "lan".into()),
            ("copyts", "1".into()),
            ("autoAdjustQuality", "0".into()),
            ("mediaBufferSize", "102400".into()),
            ("session", self.session.clone()),
        ]);
        let mut extra: Vec<(&str, String)> = Vec::new();
        if self.protocol == Protocol::Dash {
            extra.push(("manifestSubtitles", "1".into()));
        }
        if let Some(b) = self.max_video_bitrate {
            extra.push(("maxVideoBitrate", b.to_string()));
        }
        if let Some(r) = &self.video_resolution {
            extra.push(("videoResolution", r.clone()));
        }
        if let Some(a) = self.audio_stream_id {
            extra.push(("audioStreamID", a.to_string()));
        }
        match self.subtitle_stream_id {
            Some(0) => extra.push(("subtitles", "none".into())),
            Some(s) => {
                extra.push(("subtitleStreamID", s.to_string()));
                extra.push(("subtitles", "burn".into()));
            }
            None => extra.push(("subtitles", "auto".into())),
        }
        if let Some(o) = self.offset {
            extra.push(("offset", format!("{o:.3}")));
        }
        extra.push((
            "X-Plex-Client-Profile-Extra",
            super::identity_headers::PROFILE_EXTRA.into(),
        ));
        q.push('&');
        q.push_str(&url_params(&extra));
        q
    }
}

/// What the decision said, leniently decoded (PMS sends some numbers as strings).
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// `generalDecisionCode` (or `mdeDecisionCode`): 1xxx playable, 2xxx failure.
    pub general_code: Option<i64>,
    /// Its text.
    pub general_text: Option<String>,
    /// `directPlayDecisionCode`: 1000 means direct play works.
    pub direct_play_code: Option<i64>,
    /// `transcodeDecisionCode`.
    pub transcode_code: Option<i64>,
    /// `Part.decision` of the output media: `directplay`, `transcode`, …
    pub part_decision: Option<String>,
    /// `Part.key` (the direct-play path).
    pub part_key: Option<String>,
}

impl Decision {
    /// Whether PMS says the item can be played at all.
    pub fn playable(&self) -> bool {
        self.general_code.is_none_or(|c| (1000..2000).contains(&c))
    }
}

/// `GET /video/:/transcode/universal/decision`.
pub async fn decision(
    client: &reqwest::Client,
    access: &ServerAccess,
    identity: &ClientIdentity,
    session_identifier: &str,
    req: &TranscodeRequest,
) -> Result<Decision, PlexError> {
    let path = format!("/video/:/transcode/universal/decision?{}", req.query());
    let body = call(client, access, identity, Some(session_identifier), &path).await?;
    let json: Value = serde_json::from_slice(&body)
        .map_err(|e| PlexError::undecodable(&access.base, e, &path))?;
    let mc = &json["MediaContainer"];
    let part = &mc["Metadata"][0]["Media"][0]["Part"][0];
    Ok(Decision {
        general_code: lenient_int(&mc["generalDecisionCode"])
            .or(lenient_int(&mc["mdeDecisionCode"])),
        general_text: mc["generalDecisionText"]
            .as_str()
            .or(mc["mdeDecisionText"].as_str())
            .map(String::from),
        direct_play_code: lenient_int(&mc["directPlayDecisionCode"]),
        transcode_code: lenient_int(&mc["transcodeDecisionCode"]),
        part_decision: part["decision"].as_str().map(String::from),
        part_key: part["key"].as_str().map(String::from),
    })
}

/// `GET /video/:/transcode/universal/start.{m3u8,mpd}`: the start manifest's text.
pub async fn start(
    client: &reqwest::Client,
    access: &ServerAccess,
    identity: &ClientIdentity,
    session_identifier: &str,
    req: &TranscodeRequest,
) -> Result<bytes::Bytes, PlexError> {
    let path = format!(
        "/video/:/transcode/universal/{}?{}",
        req.protocol.start_file(),
        req.query()
    );
    call(client, access, identity, Some(session_identifier), &path).await
}

/// `GET /video/:/transcode/universal/ping?session=…`; a 404 means PMS already reaped it.
pub async fn ping(
    client: &reqwest::Client,
    access: &ServerAccess,
    identity: &ClientIdentity,
    session: &str,
) -> Result<(), PlexError> {
    let path = format!(
        "/video/:/transcode/universal/ping?{}",
        url_params(&[("session", session.into())])
    );
    call(client, access, identity, None, &path)
        .await
        .map(|_| ())
}

/// `GET /video/:/transcode/universal/stop?session=…`; a 404 (already gone) counts as stopped.
pub async fn stop(
    client: &reqwest::Client,
    access: &ServerAccess,
    identity: &ClientIdentity,
    session: &str,
) -> Result<(), PlexError> {
    let path = format!(
        "/video/:/transcode/universal/stop?{}",
        url_params(&[("session", session.into())])
    );
    match call(client, access, identity, None, &path).await {
        Ok(_) | Err(PlexError::Status { status: 404, .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

async fn call(
    client: &reqwest::Client,
    access: &ServerAccess,
    identity: &ClientIdentity,
    session_identifier: Option<&str>,
    path_and_query: &str,
) -> Result<bytes::Bytes, PlexError> {
    let mut headers = HeaderMap::new();
    identity.apply(&mut headers, session_identifier);
    let started = std::time::Instant::now();
    let resp = client
        .get(format!("{}{}", access.base, path_and_query))
        .headers(headers)
        .header("X-Plex-Token", access.token())
        .header(http::header::ACCEPT, "application/json")
        .timeout(CALL_TIMEOUT)
        .send()
        .await;
    let resp = resp.map_err(|e| PlexError::from_reqwest(&access.base, &e))?;
    upstream_ttfb(Upstream::Plex, started.elapsed());
    let status = resp.status();
    if !status.is_success() {
        return Err(PlexError::from_status(
            &access.base,
            status.as_u16(),
            path_and_query,
        ));
    }
    super::client::read_limited(resp, super::client::MAX_JSON_BYTES, &access.base).await
}

fn lenient_int(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

/// `a=b&c=d` with values percent-encoded (names are ASCII constants).
pub fn url_params(pairs: &[(&str, String)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(&crate::util::percent_encode(v));
    }
    out
}
