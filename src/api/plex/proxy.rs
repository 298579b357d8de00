//! `/api/plex/proxy/<ticket>/<PMS path>`: the facade and playback proxy (design §2–§4).
//!
//! Verification runs in the order design §2 gives, each failure its own code: parse → key →
//! MAC → expiry → revoked → method → canonical path → scope. Only then is the server resolved
//! and the request forwarded with the real token as a header. The ticket may also come as
//! `?ticket=` (then the whole path after the prefix is the PMS path); URIs in rewritten
//! manifests always use the path form, which survives relative resolution in every player.

use bytes::Bytes;
use http::{Method, Request, Response};
use hyper::body::Incoming;
use tracing::Instrument;
use url::Url;

use crate::api::state::AppState;
use crate::http::json::read_body;
use crate::http::{ApiError, Body, MediaTransfer, PathParams};
use crate::plex::ServerAccess;
use crate::plex::identity_headers::BROWSER_PARAMS_KEPT;
#[cfg(target_os = "linux")]
use crate::stream::Relayed;
use crate::stream::manifest::{self, LeakGuard, ManifestKind, UriMapper};
use crate::stream::playback;
use crate::stream::proxy::{Forward, ProxyError};
use crate::stream::scope::{self, CanonicalPath};
use crate::stream::ticket::{Claims, Scope, TicketError};
use crate::util::unix_now;

/// Handles every method the route admits (GET, HEAD, PUT, POST, DELETE); the scope decides,
/// so a refused method is a 403 with a ticket code like any other out-of-scope request.
pub async fn proxy(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    let raw_rest = req
        .extensions()
        .get::<PathParams>()
        .and_then(|p| p.get("rest"))
        .unwrap_or("")
        .to_string();
    let raw_query = req.uri().query().map(str::to_string);
    let (ticket, rest) = split_ticket(&raw_rest, raw_query.as_deref());

    let metrics = state.metrics().clone();
    let outcome = verify(&state, &ticket, req.method(), &rest).await;
    let (claims, live, path) = match outcome {
        Ok(v) => {
            metrics.ticket("ok");
            v
        }
        Err(e) => {
            metrics.ticket(e.code().trim_start_matches("ticket_"));
            return Err(e.into());
        }
    };
    live.touch();
    // Only manifests need it: built when one is rewritten, not for every segment.
    let prefix = || {
        format!(
            "{}/api/plex/proxy/{ticket}",
            state.config().server.base_path
        )
    };
    let access = state
        .servers()
        .access(claims.user_id, claims.server_id)
        .await?;
    let proxy = state.proxy();

    // A playback session's start manifest: started on Plex by the first fetch, then served
    // again from memory.
    if let (Scope::Playback { .. }, Some(kind)) = (&claims.scope, virtual_start(&rest)) {
        let start = playback::start_manifest(&live, &proxy.client, &access).await?;
        let scope = claims.scope.clone();
        let mapper = UriMapper::new(&start.url, &prefix(), move |p| {
            scope::allows_path(&scope, p)
        });
        let guard = leak_guard(&state, &access, claims.user_id).await?;
        return Ok(proxy.rewrite(&start.body, kind, &mapper, &guard)?);
    }

    let query = clean_query(raw_query.as_deref(), &path)?;
    if claims.scope == Scope::Facade {
        track_transcode(&live, &path, query.as_deref());
        track_timeline(&state, &live, &path, query.as_deref());
    }
    let method = req.method().clone();
    let browser_headers = Forward::crossing(req.headers());
    // Present on HTTP/1 connections that can relay a body with splice(2) (`crate::relay`).
    #[cfg(target_os = "linux")]
    let relay_slot = req.extensions().get::<crate::relay::Slot>().cloned();
    let body = if matches!(method, Method::PUT | Method::POST) {
        Some(read_body(req).await?)
    } else {
        None
    };
    let fwd = Forward {
        method,
        path: &path,
        query: query.clone(),
        browser_headers,
        body: body.filter(|b: &Bytes| !b.is_empty()),
        session_headers: live.forward_headers(),
    };
    let expect_manifest = manifest::kind_of(path.as_str(), None).is_some();
    // Subscribed before the upstream call, so a revocation while Plex is still thinking (logout,
    // stop) is seen: the request ends with 403 at once instead of streaming the whole body.
    let mut revoked = live.cancelled();
    let sent = async {
        let mut unreachable = false;
        #[cfg(target_os = "linux")]
        if let Some(slot) = relay_slot.filter(|_| {
            proxy.zero_copy
                && fwd.method == Method::GET
                && !expect_manifest
                && is_media(&claims.scope, &path)
        }) {
            match proxy.send_spliced(&access, &fwd, slot, &live).await {
                Ok(Relayed::Spliced(resp)) => return Ok(Sent::Spliced(resp)),
                // Plex's answer cannot be spliced (chunked, 304, a manifest): copy it as is.
                Ok(Relayed::Copy(resp)) => return Ok(Sent::Copied(access, resp)),
                // An https Plex: the copying path sends it.
                Ok(Relayed::NotSent) => {}
                Err(ProxyError::Unreachable) => unreachable = true,
                Err(e) => return Err(e.into()),
            }
        }
        let first = if unreachable {
            Err(ProxyError::Unreachable)
        } else {
            proxy.send(&access, &fwd, expect_manifest).await
        };
        match first {
            // The remembered address stopped answering: find another one and retry reads once.
            Err(ProxyError::Unreachable) if matches!(fwd.method, Method::GET | Method::HEAD) => {
                let access = state
                    .servers()
                    .reprobe(claims.user_id, claims.server_id)
                    .await?;
                let resp = proxy.send(&access, &fwd, expect_manifest).await?;
                Ok::<_, ApiError>(Sent::Copied(access, resp))
            }
            other => Ok(Sent::Copied(access, other?)),
        }
    };
    let sent = tokio::select! {
        biased;
        _ = revoked.wait_for(|r| *r) => return Err(TicketError::Revoked.into()),
        sent = sent => sent?,
    };
    if live.is_cancelled() {
        return Err(TicketError::Revoked.into());
    }
    let (access, resp) = match sent {
        Sent::Copied(access, resp) => (access, resp),
        Sent::Spliced(mut resp) => {
            // Only GETs of media get here: no watch state changed, no manifest to rewrite.
            resp.extensions_mut().insert(MediaTransfer);
            return Ok(resp);
        }
    };
    if claims.scope == Scope::Facade
        && resp.status().is_success()
        && changes_watch_state(&fwd.method, &path)
    {
        // The player reported progress or marks straight to Plex: plexgate's cached views of
        // this user's library on this server are stale now.
        state.caches().plex.invalidate_prefix(&format!(
            "{}s{}:",
            crate::cache::user_prefix(claims.user_id),
            claims.server_id
        ));
    }
    let content_type = resp
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    match manifest::kind_of(path.as_str(), content_type.as_deref()) {
        Some(kind) if fwd.method != Method::HEAD => {
            let mut manifest_url = format!("{}{}", access.base, path.to_upstream());
            if let Some(q) = &query {
                manifest_url.push('?');
                manifest_url.push_str(q);
            }
            let manifest_url = Url::parse(&manifest_url).map_err(|_| {
                ApiError::new(
                    http::StatusCode::BAD_GATEWAY,
                    "upstream_bad_manifest",
                    "the manifest address could not be parsed",
                )
            })?;
            let scope = claims.scope.clone();
            let mapper = UriMapper::new(&manifest_url, &prefix(), move |p| {
                scope::allows_path(&scope, p)
            });
            let guard = leak_guard(&state, &access, claims.user_id).await?;
            Ok(proxy.manifest(resp, kind, &mapper, &guard).await?)
        }
        _ => {
            let mut resp = proxy.stream(resp, Some(live));
            if is_media(&claims.scope, &path) {
                resp.extensions_mut().insert(MediaTransfer);
            }
            Ok(resp)
        }
    }
}

/// How Plex's answer came back: a response to read or stream (copying), or a response whose
/// body the player's connection relays by splicing.
enum Sent {
    Copied(ServerAccess, Response<Incoming>),
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    Spliced(Response<Body>),
}

/// A segment or part of a playing stream: many per minute while something plays, so its access
/// line is DEBUG unless it fails (the session's start and end lines say what played).
fn is_media(scope: &Scope, path: &CanonicalPath) -> bool {
    let p = path.as_str();
    matches!(scope, Scope::Playback { .. })
        || p.starts_with("/video/:/transcode/universal/session/")
        || p.starts_with("/library/parts/")
}

/// What a manifest for `user_id` must not show the browser: the server token this request used
/// and the user's plex.tv account token (one database read per manifest, not per segment).
async fn leak_guard(
    state: &AppState,
    access: &ServerAccess,
    user_id: i64,
) -> Result<LeakGuard, ApiError> {
    let secrets = state.secrets().clone();
    let account = state
        .db()
        .read(move |c| crate::db::users::user_plex_token(c, user_id, &secrets))
        .await?;
    Ok(LeakGuard::new(&[access.token(), &account]))
}

type Verified = (
    Claims,
    std::sync::Arc<crate::stream::session::LiveSession>,
    CanonicalPath,
);

async fn verify(
    state: &AppState,
    ticket: &str,
    method: &Method,
    rest: &str,
) -> Result<Verified, TicketError> {
    let claims = state.tickets().verify(ticket, unix_now())?;
    let session = claims.session_hex();
    if state.keeper().is_revoked(&session) {
        return Err(TicketError::Revoked);
    }
    let live = state
        .keeper()
        .session(&session, claims.expires_at)
        .await
        .ok()
        .flatten()
        .ok_or(TicketError::Revoked)?;
    if let (Scope::Playback { .. }, Some(_)) = (&claims.scope, virtual_start(rest)) {
        if !matches!(*method, Method::GET | Method::HEAD) {
            return Err(TicketError::Method);
        }
        let path = scope::canonicalize(rest)?;
        return Ok((claims, live, path));
    }
    let path = scope::canonicalize(rest)?;
    scope::check(&claims.scope, method, &path)?;
    Ok((claims, live, path))
}

/// Facade calls after which cached watch state (viewOffset, On Deck, selected streams) is stale.
fn changes_watch_state(method: &Method, path: &CanonicalPath) -> bool {
    let p = path.as_str();
    matches!(
        p,
        "/:/timeline" | "/:/scrobble" | "/:/unscrobble" | "/:/rate" | "/:/progress"
    ) || (*method == Method::PUT && p.starts_with("/library/parts/"))
}

/// `start.mpd` / `start.m3u8` directly under a playback ticket: the stored start manifest.
fn virtual_start(rest: &str) -> Option<ManifestKind> {
    match rest.trim_start_matches('/') {
        "start.mpd" => Some(ManifestKind::Dash),
        "start.m3u8" => Some(ManifestKind::Hls),
        _ => None,
    }
}

/// Path form `<ticket>/<rest>`, or `?ticket=` with the whole path as rest.
fn split_ticket(raw_rest: &str, query: Option<&str>) -> (String, String) {
    if let Some(t) = query.and_then(|q| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix("ticket="))
            .map(str::to_string)
    }) {
        return (t, raw_rest.to_string());
    }
    match raw_rest.split_once('/') {
        Some((t, rest)) => (t.to_string(), rest.to_string()),
        None => (raw_rest.to_string(), String::new()),
    }
}

/// Drops `ticket=`, every token-like or browser-identity `X-Plex-*` parameter, and checks
/// `url=` of the photo transcoder (same-server paths only, nested tokens removed).
fn clean_query(raw: Option<&str>, path: &CanonicalPath) -> Result<Option<String>, ApiError> {
    let Some(raw) = raw else { return Ok(None) };
    let photo = path.as_str() == "/photo/:/transcode";
    let mut kept: Vec<String> = Vec::new();
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let key = decode(k).to_ascii_lowercase();
        if key == "ticket" || key.contains("token") {
            continue;
        }
        if key.starts_with("x-plex-") && !BROWSER_PARAMS_KEPT.contains(&key.as_str()) {
            continue;
        }
        if photo && key == "url" {
            let source = scope::photo_source(v).map_err(ApiError::from)?;
            kept.push(format!("url={}", crate::util::percent_encode(&source)));
            continue;
        }
        kept.push(pair.to_string());
    }
    Ok((!kept.is_empty()).then(|| kept.join("&")))
}

/// Remembers transcodes the player starts through the facade (kept alive while the player
/// shows life, stopped when it does not or at logout), records each request for one as life,
/// and forgets the ones it stops.
fn track_transcode(
    live: &crate::stream::session::LiveSession,
    path: &CanonicalPath,
    query: Option<&str>,
) {
    let Some(leaf) = path.as_str().strip_prefix("/video/:/transcode/universal/") else {
        return;
    };
    // Manifests and segments: `session/<id>/…`.
    if let Some(rest) = leaf.strip_prefix("session/") {
        if let Some((session, _)) = rest.split_once('/') {
            live.transcode_life(session);
        }
        return;
    }
    let Some(session) = query_param(query, "session").filter(|s| !s.is_empty() && s.len() <= 128)
    else {
        return;
    };
    if leaf.starts_with("start") {
        let rating_key = query_param(query, "path")
            .and_then(|p| p.strip_prefix("/library/metadata/").map(str::to_string))
            .filter(|rk| !rk.is_empty() && rk.bytes().all(|b| b.is_ascii_digit()));
        live.observe_transcode(&session, rating_key.as_deref());
    } else if leaf == "stop" {
        live.forget_transcode(&session);
    } else {
        live.transcode_life(&session);
    }
}

/// A timeline report the player sends through the facade is life for its item's transcodes;
/// `state=stopped` stops them on Plex (the player will not call the transcoder's `stop`).
fn track_timeline(
    state: &AppState,
    live: &crate::stream::session::LiveSession,
    path: &CanonicalPath,
    query: Option<&str>,
) {
    if path.as_str() != "/:/timeline" {
        return;
    }
    let (Some(login), Some(rk)) = (live.login_hash, query_param(query, "ratingKey")) else {
        return;
    };
    if query_param(query, "state").as_deref() == Some("stopped") {
        let keeper = state.keeper().clone();
        // Off the request path: the player's report must not wait for Plex's stop calls.
        // Still in its span, so the session end lines name the request that ended it.
        tokio::spawn(
            async move {
                if let Err(e) = keeper.stop_item(&login, &rk, "stopped").await {
                    tracing::warn!(error = %e, "could not record the end of a playback");
                }
            }
            .in_current_span(),
        );
    } else {
        state.keeper().item_life(&login, &rk);
    }
}

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| decode(v))
    })
}

/// Lenient query decoding: a malformed escape keeps the raw text (it is only compared).
fn decode(s: &str) -> String {
    crate::util::percent_decode(s, true).unwrap_or_else(|| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_cleaning_strips_tokens_and_identity() {
        let path = scope::canonicalize("video/:/transcode/universal/decision").unwrap();
        let q = clean_query(
            Some("path=%2Flibrary%2Fmetadata%2F1&X-Plex-Token=t&x-plex-client-identifier=b&X-Plex-Client-Profile-Extra=p&ticket=x&session=s1"),
            &path,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            q,
            "path=%2Flibrary%2Fmetadata%2F1&X-Plex-Client-Profile-Extra=p&session=s1"
        );
    }

    #[test]
    fn photo_url_is_checked() {
        let path = scope::canonicalize("photo/:/transcode").unwrap();
        let q = clean_query(
            Some("width=10&url=%2Flibrary%2Fmetadata%2F1%2Fthumb%2F2%3FX-Plex-Token%3Ds"),
            &path,
        )
        .unwrap()
        .unwrap();
        assert_eq!(q, "width=10&url=%2Flibrary%2Fmetadata%2F1%2Fthumb%2F2");
        assert!(clean_query(Some("url=http%3A%2F%2Fevil.example%2Fa.jpg"), &path).is_err());
    }

    #[test]
    fn ticket_in_path_or_query() {
        assert_eq!(
            split_ticket("T/library/x", None),
            ("T".into(), "library/x".into())
        );
        assert_eq!(
            split_ticket("library/x", Some("a=1&ticket=T")),
            ("T".into(), "library/x".into())
        );
    }
}
