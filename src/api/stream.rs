//! `GET /api/plex/stream/:ratingKey` and `POST /api/plex/stream/:sessionId/stop`.
//!
//! plexgate makes the transcode decision and starts the transcode itself (token as a header,
//! its own identity, a per-session `X-Plex-Session-Identifier`), records a playback session and
//! answers the contract's `{url, ratingKey, options}` with `url` pointing at the proxy under a
//! playback ticket scoped to that one transcode session. The URL keeps `.mpd`/`.m3u8` in its
//! path (the frontend picks dash.js or hls.js by substring) and works without cookies (dash.js
//! sends none). A new stream for the same item in the same login session stops the previous one
//! (quality, audio or subtitle switches start a new Plex session).

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::json;

use super::AppState;
use super::auth::require_session;
use super::errors::json_response;
use crate::db::playback::{self, Kind, NewTicketSession};
use crate::http::{ApiError, Body, PathParams};
use crate::plex::transcoder::{self, Protocol, TranscodeRequest};
use crate::stream::manifest;
use crate::stream::session::StartManifest;
use crate::stream::ticket::{Claims, Scope};
use crate::util::{hex, random_bytes, unix_now};

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

/// `GET /api/plex/stream/:ratingKey`.
pub async fn start(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    let ctx = super::plex::ctx(&req, &state).await?;
    let (login, server_id) = (ctx.login, ctx.server_id);
    let rk = rating_key(&req)?;
    let opts = parse_options(req.uri().query())?;
    let protocol = opts.protocol.unwrap_or(Protocol::Dash);
    let user_id = login.user_id;
    let access = state.servers().access(user_id, server_id).await?;

    let transcode_session = format!("plexgate-{}", hex(&random_bytes::<12>()));
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
        session: transcode_session.clone(),
    };

    if opts.direct {
        if !state.config().stream.allow_direct {
            return Err(ApiError::forbidden(
                "direct_mode_disabled",
                "direct-Plex playback is disabled on this server (stream.allow_direct = false)",
            ));
        }
        // The classic URL, token included: only ever handed out when the operator opted in.
        // PMS 1.43 wants a decision for the session first and the client identity on start.
        let session_identifier = hex(&random_bytes::<16>());
        transcoder::decision(
            state.upstream(),
            &access,
            state.identity(),
            &session_identifier,
            &request,
        )
        .await?;
        let identity = transcoder::url_params(&[
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
                state.identity().client_identifier().to_string(),
            ),
            ("X-Plex-Session-Identifier", session_identifier),
        ]);
        let url = format!(
            "{}/video/:/transcode/universal/{}?{}&{identity}&X-Plex-Token={}",
            access.base,
            protocol.start_file(),
            request.query(),
            crate::util::percent_encode(access.token())
        );
        return Ok(json_response(
            StatusCode::OK,
            &json!({"url": url, "ratingKey": rk, "options": opts.echo, "mode": "direct"}),
        ));
    }

    let session_id = random_bytes::<16>();
    let session_hex = hex(&session_id);
    let identity = state.identity();
    let client = state.upstream();
    let decision = transcoder::decision(client, &access, identity, &session_hex, &request).await?;
    if !decision.playable() {
        return Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "plex_cannot_play",
            format!(
                "Plex cannot play this item: {}",
                decision
                    .general_text
                    .as_deref()
                    .unwrap_or("no reason given")
            ),
        ));
    }
    let body = transcoder::start(client, &access, identity, &session_hex, &request).await?;
    let kind = match protocol {
        Protocol::Hls => manifest::ManifestKind::Hls,
        Protocol::Dash => manifest::ManifestKind::Dash,
    };
    match kind {
        manifest::ManifestKind::Hls => manifest::validate_hls(&body),
        manifest::ManifestKind::Dash => manifest::validate_mpd(&body),
    }
    .map_err(|e| {
        state.metrics().upstream_error("bad_manifest");
        ApiError::from(crate::stream::proxy::ProxyError::from(e))
    })?;
    let start_url = url::Url::parse(&format!(
        "{}/video/:/transcode/universal/{}?{}",
        access.base,
        protocol.start_file(),
        request.query()
    ))
    .map_err(|_| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            "plex_bad_address",
            "the server address is not a URL",
        )
    })?;

    // A new choice for the same item replaces the old session (and its transcode).
    let hash = login.hash;
    let rk_for_lookup = rk.clone();
    let previous = state
        .db()
        .read(move |conn| playback::open_for_login(conn, &hash))
        .await?
        .into_iter()
        .filter(|s| {
            s.kind == "playback" && s.rating_key.as_deref() == Some(rk_for_lookup.as_str())
        });
    for old in previous {
        state.keeper().revoke(&old.id, "replaced").await?;
    }

    let expires_at = unix_now() + state.config().stream.ticket_ttl.as_secs() as i64;
    let live = state
        .keeper()
        .register(
            NewTicketSession {
                id: session_hex.clone(),
                user_id,
                server_id,
                login_session_hash: Some(login.hash),
                kind: Kind::Playback,
                rating_key: Some(rk.clone()),
                plex_session_id: Some(transcode_session.clone()),
                protocol: Some(protocol.as_str().to_string()),
                mode: Some("proxy".to_string()),
            },
            expires_at,
            Some(&transcode_session),
        )
        .await?;
    live.set_start_manifest(StartManifest {
        body,
        url: start_url,
    });
    let ticket = state.tickets().mint(&Claims {
        key_id: 0,
        scope: Scope::Playback {
            prefix: format!("/video/:/transcode/universal/session/{transcode_session}/"),
        },
        expires_at,
        session_id,
        user_id,
        server_id,
    });
    tracing::info!(
        session = %session_hex,
        user_id,
        rating_key = %rk,
        protocol = protocol.as_str(),
        "playback session started"
    );
    let url = format!(
        "{}/api/plex/proxy/{ticket}/{}",
        state.url_prefix(),
        protocol.start_file()
    );
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "url": url,
            "ratingKey": rk,
            "options": opts.echo,
            "sessionId": session_hex,
            "expiresAt": expires_at,
        }),
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
        .read(move |conn| playback::get(conn, &key))
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
