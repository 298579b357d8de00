//! `GET /api/plex/stream/:ratingKey` and `POST /api/plex/stream/:sessionId/stop`.
//!
//! The start validates its options (400 at once), records a playback session and answers the
//! contract's `{url, ratingKey, options}` from local state, with `url` pointing at the proxy
//! under a playback ticket scoped to that one transcode session; the decision and the start
//! happen when that URL is first fetched (`stream::playback`). The URL keeps `.mpd`/`.m3u8` in
//! its path (the frontend picks dash.js or hls.js by substring) and works without cookies
//! (dash.js sends none). A new stream for the same item in the same login session stops the
//! previous one (quality, audio or subtitle switches start a new Plex session).

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::json;

use super::AppState;
use super::auth::require_session;
use super::errors::json_response;
use crate::db::playback as playback_rows;
use crate::http::{ApiError, Body, PathParams};
use crate::plex::ClientIdentity;
use crate::plex::transcoder::{self, Protocol, TranscodeRequest};
use crate::stream::playback;
use crate::util::{hex, random_bytes};

/// Parsed `/api/plex/stream` options.
#[derive(Debug, Default)]
struct Options {
    quality: Option<u32>,
    resolution: Option<String>,
    media_index: u32,
    part_index: u32,
    audio_stream_id: Option<u64>,
    subtitle_stream_id: Option<u64>,
    offset: Option<f64>,
    protocol: Option<Protocol>,
    direct: bool,
    echo: serde_json::Map<String, serde_json::Value>,
}

fn parse_options(query: Option<&str>) -> Result<Options, ApiError> {
    let mut o = Options::default();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = crate::util::percent_decode(v, true).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_query",
                "a query value is not valid percent-encoding",
            )
        })?;
        let bad = |what: &str| ApiError::bad_request("invalid_parameter", format!("{k}: {what}"));
        match k {
            // The frontend sends `original` (not a number) for "no cap": that is no cap.
            "quality" | "maxVideoBitrate" => {
                o.quality = match v.parse::<u32>() {
                    Ok(n) if (64..=200_000).contains(&n) => Some(n),
                    Ok(_) => return Err(bad("must be a bitrate in kbps from 64 to 200000")),
                    Err(_) if v == "original" || v == "auto" || v.is_empty() => None,
                    Err(_) => return Err(bad("must be a number (kbps) or original")),
                }
            }
            "resolution" | "videoResolution" => {
                let ok = v
                    .split_once('x')
                    .is_some_and(|(w, h)| w.parse::<u16>().is_ok() && h.parse::<u16>().is_ok());
                if !ok {
                    return Err(bad("must look like 1920x1080"));
                }
                o.resolution = Some(v.clone());
            }
            "mediaIndex" => o.media_index = v.parse().map_err(|_| bad("must be a whole number"))?,
            "partIndex" => o.part_index = v.parse().map_err(|_| bad("must be a whole number"))?,
            "audioStreamID" => {
                o.audio_stream_id = Some(v.parse().map_err(|_| bad("must be a stream id"))?)
            }
            "subtitleStreamID" => {
                o.subtitle_stream_id = Some(
                    v.parse()
                        .map_err(|_| bad("must be a stream id (0 for none)"))?,
                )
            }
            "offset" => {
                let secs: f64 = v.parse().map_err(|_| bad("must be seconds"))?;
                if !(0.0..=86_400.0).contains(&secs) {
                    return Err(bad("must be between 0 and 86400 seconds"));
                }
                o.offset = Some(secs);
            }
            "protocol" => {
                o.protocol = Some(match v.as_str() {
                    "hls" => Protocol::Hls,
                    "dash" => Protocol::Dash,
                    _ => return Err(bad("must be hls or dash")),
                })
            }
            "mode" => {
                o.direct = match v.as_str() {
                    "proxy" => false,
                    "direct" => true,
                    _ => return Err(bad("must be proxy or direct")),
                }
            }
            _ => continue,
        }
        o.echo.insert(k.to_string(), json!(v));
    }
    Ok(o)
}

fn rating_key(req: &Request<Incoming>) -> Result<String, ApiError> {
    let rk = req
        .extensions()
        .get::<PathParams>()
        .and_then(|p| p.get("id"))
        .unwrap_or("");
    if rk.is_empty() || rk.len() > 32 || !rk.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::bad_request(
            "invalid_rating_key",
            "ratingKey must be a number",
        ));
    }
    Ok(rk.to_string())
}

/// `GET /api/plex/stream/:ratingKey`: validates the options, then answers from local state
/// (ticket minted, session recorded); Plex hears of it only when the URL is first fetched.
pub async fn start(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    let ctx = super::plex::ctx(&req, &state).await?;
    let (login, server_id) = (ctx.login, ctx.server_id);
    let rk = rating_key(&req)?;
    let opts = parse_options(req.uri().query())?;
    let protocol = opts.protocol.unwrap_or(Protocol::Dash);
    let user_id = login.user_id;
    let identity = super::auth::login_identity(req.headers(), &state, &login).await?;
    let request = TranscodeRequest {
        rating_key: rk.clone(),
        media_index: opts.media_index,
        part_index: opts.part_index,
        protocol,
        max_video_bitrate: opts.quality,
        video_resolution: opts.resolution.clone(),
        audio_stream_id: opts.audio_stream_id,
        subtitle_stream_id: opts.subtitle_stream_id,
        offset: opts.offset,
        session: playback::new_transcode_session(),
    };

    if opts.direct {
        return direct(&state, &identity, user_id, server_id, &request, &opts).await;
    }

    let begun = playback::begin(
        state.keeper(),
        playback::Begin {
            login_hash: login.hash,
            login_expires_at: login.expires_at,
            user_id,
            server_id,
            request,
            identity,
            ttl_secs: state.config().stream.ticket_ttl.as_secs() as i64,
            keys: state.tickets(),
        },
    )
    .await?;
    tracing::info!(
        session = %begun.session_id,
        user_id,
        rating_key = %rk,
        protocol = protocol.as_str(),
        "playback session started"
    );
    let url = format!(
        "{}/api/plex/proxy/{}/{}",
        state.url_prefix(),
        begun.ticket,
        protocol.start_file()
    );
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "url": url,
            "ratingKey": rk,
            "options": opts.echo,
            "sessionId": begun.session_id,
            "expiresAt": begun.expires_at,
        }),
    ))
}

/// `mode=direct`: the classic URL, token included, only ever handed out when the operator opted
/// in. PMS 1.43 wants a decision for the session first and the client identity on start, so
/// this is the one path that talks to Plex before the browser does.
async fn direct(
    state: &AppState,
    identity: &ClientIdentity,
    user_id: i64,
    server_id: i64,
    request: &TranscodeRequest,
    opts: &Options,
) -> Result<Response<Body>, ApiError> {
    if !state.config().stream.allow_direct {
        return Err(ApiError::forbidden(
            "direct_mode_disabled",
            "direct-Plex playback is disabled on this server (stream.allow_direct = false)",
        ));
    }
    let access = state.servers().access(user_id, server_id).await?;
    let session_identifier = hex(&random_bytes::<16>());
    transcoder::decision(
        state.upstream(),
        &access,
        identity,
        &session_identifier,
        request,
    )
    .await?;
    let params = transcoder::url_params(&[
        (
            "X-Plex-Product",
            crate::plex::identity_headers::PRODUCT.into(),
        ),
        ("X-Plex-Version", env!("CARGO_PKG_VERSION").into()),
        (
            "X-Plex-Platform",
            crate::plex::identity_headers::PLATFORM.into(),
        ),
        (
            "X-Plex-Device",
            crate::plex::identity_headers::DEVICE.into(),
        ),
        (
            "X-Plex-Client-Identifier",
            identity.client_identifier().to_string(),
        ),
        ("X-Plex-Session-Identifier", session_identifier),
    ]);
    let url = format!(
        "{}/video/:/transcode/universal/{}?{}&{params}&X-Plex-Token={}",
        access.base,
        request.protocol.start_file(),
        request.query(),
        crate::util::percent_encode(access.token())
    );
    Ok(json_response(
        StatusCode::OK,
        &json!({"url": url, "ratingKey": request.rating_key, "options": opts.echo, "mode": "direct"}),
    ))
}

/// `POST /api/plex/stream/:sessionId/stop`: stops the transcode on Plex and revokes the ticket.
pub async fn stop(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    let login = require_session(&req, &state).await?;
    let id = req
        .extensions()
        .get::<PathParams>()
        .and_then(|p| p.get("id"))
        .unwrap_or("")
        .to_ascii_lowercase();
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::bad_request(
            "invalid_session_id",
            "sessionId must be 32 hex characters",
        ));
    }
    let key = id.clone();
    let row = state
        .db()
        .read(move |conn| playback_rows::get(conn, &key))
        .await?
        .filter(|r| r.user_id == login.user_id && r.kind == "playback")
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "session_not_found",
                "no such playback session",
            )
        })?;
    let stopped = state.keeper().revoke(&row.id, "stopped").await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"success": true, "sessionId": row.id, "alreadyStopped": !stopped}),
    ))
}
