//! `GET /identity`: the one PMS call that needs no token, used to check that a URL reaches the
//! server we expect (readiness, and later connection fallback).

use std::time::Duration;

use serde::Deserialize;

use super::PlexError;

/// `/identity` and `/` are a few hundred bytes; anything near this is not a Plex server.
const MAX_BODY: usize = 1 << 20;

/// What `/identity` says about a server.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    /// The server's stable id (plex.tv calls it `clientIdentifier`).
    pub machine_identifier: String,
    /// PMS version string.
    #[serde(default)]
    pub version: String,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "MediaContainer")]
    media_container: Identity,
}

/// Asks `base`/identity with `timeout`; JSON is requested explicitly since PMS defaults to XML.
pub async fn probe_identity(
    client: &reqwest::Client,
    base: &str,
    timeout: Duration,
) -> Result<Identity, PlexError> {
    let url = format!("{}/identity", base.trim_end_matches('/'));
    let started = std::time::Instant::now();
    let resp = client
        .get(&url)
        .header(http::header::ACCEPT, "application/json")
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| PlexError::from_reqwest(base, &e))?;
    crate::metrics::upstream::upstream_ttfb(crate::upstream::Upstream::Plex, started.elapsed());
    let status = resp.status();
    if !status.is_success() {
        return Err(PlexError::from_status(base, status.as_u16(), "/identity"));
    }
    let body = super::client::read_limited(resp, MAX_BODY, base).await?;
    serde_json::from_slice::<Envelope>(&body)
        .map(|e| e.media_container)
        .map_err(|e| PlexError::undecodable(base, e, "/identity"))
}

/// What `GET /` says about a server (needs the server token).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerInfo {
    /// The name the owner gave the server.
    #[serde(default)]
    pub friendly_name: String,
    /// The server's stable id.
    pub machine_identifier: String,
    /// PMS version string.
    #[serde(default)]
    pub version: String,
}

#[derive(Deserialize)]
struct InfoEnvelope {
    #[serde(rename = "MediaContainer")]
    media_container: ServerInfo,
}

/// Asks `base`/ with `token` (as a header): proves the token works and names the server.
pub async fn server_info(
    client: &reqwest::Client,
    identity: &super::ClientIdentity,
    base: &str,
    token: &str,
    timeout: Duration,
) -> Result<ServerInfo, PlexError> {
    let url = format!("{}/", base.trim_end_matches('/'));
    let mut headers = http::HeaderMap::new();
    identity.apply(&mut headers, None);
    let started = std::time::Instant::now();
    let resp = client
        .get(&url)
        .headers(headers)
        .header(http::header::ACCEPT, "application/json")
        .header("X-Plex-Token", token)
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| PlexError::from_reqwest(base, &e))?;
    crate::metrics::upstream::upstream_ttfb(crate::upstream::Upstream::Plex, started.elapsed());
    if !resp.status().is_success() {
        return Err(PlexError::from_status(base, resp.status().as_u16(), "/"));
    }
    let body = super::client::read_limited(resp, MAX_BODY, base).await?;
    serde_json::from_slice::<InfoEnvelope>(&body)
        .map(|e| e.media_container)
        .map_err(|e| PlexError::undecodable(base, e, "/"))
}
