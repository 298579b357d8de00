//! `GET /api/doctor/probe`: what a request looked like when it reached plexgate (its TCP peer,
//! whether that peer is a trusted proxy, the `X-Forwarded-*` it carried, the scheme and client
//! address plexgate concluded), so `plexgate doctor` can tell whether the reverse proxy in
//! front of `server.public_url` is set up right.
//!
//! Answers only a request carrying a one-time token from `plexgate doctor` in
//! `X-Plexgate-Probe` (minted with a key derived from the master key); anything else is the
//! ordinary 404, so the route reveals nothing, not even that it exists.

use std::time::{SystemTime, UNIX_EPOCH};

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::json;

use crate::api::respond::json_response;
use crate::api::state::AppState;
use crate::http::{ApiError, Body, RequestContext, TrustedProxies};

/// The header the doctor's token travels in.
pub const PROBE_HEADER: &str = "x-plexgate-probe";

/// Echoes what plexgate saw, to the doctor only.
pub async fn echo(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let authentic = req
        .headers()
        .get(PROBE_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|token| state.probe().accept(token, now));
    let ctx = req.extensions().get::<RequestContext>();
    let (true, Some(ctx)) = (authentic, ctx) else {
        return Err(ApiError::not_found());
    };
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let trusted = TrustedProxies::new(state.config().server.trusted_proxies.clone());
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "peer": ctx.peer.ip().to_string(),
            "peerTrusted": trusted.contains(ctx.peer.ip()),
            "forwardedProto": header("x-forwarded-proto"),
            "forwardedFor": header("x-forwarded-for"),
            "scheme": ctx.scheme,
            "clientIp": ctx.client_ip.to_string(),
        }),
    ))
}
