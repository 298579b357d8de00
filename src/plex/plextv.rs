//! plex.tv: PIN login, the account, and the account's servers (`/api/v2/resources`).
//!
//! The account token goes only to plex.tv (and later Discover), as a header. plex.tv's base URL
//! is configurable so tests can point it at a fake; nothing here ever calls anything else.

use std::time::Duration;

use serde::Deserialize;

use super::PlexError;
use crate::upstream::{self, Upstream};

const TIMEOUT: Duration = Duration::from_secs(15);
/// Largest plex.tv body accepted (an account with hundreds of shared servers stays far below).
const MAX_BODY: usize = 16 << 20;

/// A plex.tv client bound to a base URL and plexgate's product name.
#[derive(Debug, Clone)]
pub struct PlexTv {
    client: reqwest::Client,
    base: String,
    app_url: String,
}

/// A PIN as plex.tv returns it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pin {
    /// PIN id (polled by id).
    pub id: i64,
    /// The code the user confirms.
    pub code: String,
    /// Set once the user approved.
    #[serde(default)]
    pub auth_token: Option<String>,
}

/// The account (`/api/v2/user`), the fields plexgate keeps.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    /// plex.tv account id.
    pub id: i64,
    /// Username (may be empty for managed users).
    #[serde(default)]
    pub username: Option<String>,
    /// Display title.
    #[serde(default)]
    pub title: Option<String>,
    /// E-mail.
    #[serde(default)]
    pub email: Option<String>,
    /// Avatar URL.
    #[serde(default)]
    pub thumb: Option<String>,
    /// Whether the account has a password.
    #[serde(default)]
    pub has_password: bool,
    /// Plex Pass state.
    #[serde(default)]
    pub subscription: Option<Subscription>,
}

/// `subscription` of the account.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct Subscription {
    /// Whether it is active.
    #[serde(default)]
    pub active: bool,
    /// e.g. `Active`.
    #[serde(default)]
    pub status: Option<String>,
    /// e.g. `lifetime`.
    #[serde(default)]
    pub plan: Option<String>,
}

/// One device from `/api/v2/resources`. Nullable fields are `Option` (owned servers send
/// explicit `null`s).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    /// Display name.
    pub name: String,
    /// `Plex Media Server` for servers.
    #[serde(default)]
    pub product: Option<String>,
    /// `server` among others for servers.
    #[serde(default)]
    pub provides: Option<String>,
    /// The machine identifier.
    pub client_identifier: String,
    /// The server token for this account.
    #[serde(default)]
    pub access_token: Option<String>,
    /// Whether the account owns it.
    #[serde(default)]
    pub owned: bool,
    /// Whether only https may be used.
    #[serde(default)]
    pub https_required: bool,
    /// How to reach it.
    #[serde(default)]
    pub connections: Vec<ResourceConnection>,
}

impl Resource {
    /// Whether this device is a media server.
    pub fn is_server(&self) -> bool {
        self.provides
            .as_deref()
            .is_some_and(|p| p.split(',').any(|x| x.trim() == "server"))
            || self.product.as_deref() == Some("Plex Media Server")
    }
}

/// One connection candidate.
#[derive(Debug, Clone, Deserialize)]
pub struct ResourceConnection {
    /// `http` or `https`.
    #[serde(default)]
    pub protocol: String,
    /// Host or IP.
    #[serde(default)]
    pub address: String,
    /// Port.
    #[serde(default)]
    pub port: u16,
    /// What to connect to.
    pub uri: String,
    /// On the server's LAN.
    #[serde(default)]
    pub local: bool,
    /// Through Plex's relay.
    #[serde(default)]
    pub relay: bool,
    /// IPv6.
    #[serde(default, rename = "IPv6")]
    pub ipv6: bool,
}

/// What went wrong with plex.tv.
#[derive(Debug, thiserror::Error)]
pub enum PlexTvError {
    /// The token (or PIN) was refused (401, or 422 "Invalid token").
    #[error("plex.tv refused the credentials")]
    Unauthorized,
    /// plex.tv rate-limited us.
    #[error("plex.tv is rate limiting requests")]
    RateLimited {
        /// Seconds to wait, from `Retry-After`.
        retry_after: Option<u64>,
    },
    /// The PIN is unknown or expired.
    #[error("the PIN is unknown or expired")]
    PinGone,
    /// plex.tv was slow, down, answered an unexpected status or a body over the limit.
    #[error(transparent)]
    Upstream(#[from] upstream::Error),
    /// Anything else: an unexpected body, a failure relayed from Plex.
    #[error("plex.tv is unavailable: {0}")]
    Unavailable(String),
}

impl From<PlexError> for PlexTvError {
    fn from(e: PlexError) -> Self {
        PlexTvError::Unavailable(e.public_message())
    }
}

impl PlexTv {
    /// A client for plex.tv at `base` (`https://plex.tv`), sending users to `app_url` to
    /// approve PINs.
    pub fn new(client: reqwest::Client, base: &str, app_url: &str) -> Self {
        PlexTv {
            client,
            base: base.trim_end_matches('/').to_string(),
            app_url: app_url.to_string(),
        }
    }

    fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        client_id: &str,
    ) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .header(http::header::ACCEPT, "application/json")
            .header("X-Plex-Product", super::identity_headers::PRODUCT)
            .header("X-Plex-Version", env!("CARGO_PKG_VERSION"))
            .header("X-Plex-Platform", super::identity_headers::PLATFORM)
            .header("X-Plex-Device", super::identity_headers::DEVICE)
            .header("X-Plex-Client-Identifier", client_id)
            .timeout(TIMEOUT)
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<bytes::Bytes, PlexTvError> {
        let answer = upstream::exchange(Upstream::PlexTv, req, MAX_BODY).await?;
        match answer.status {
            200..=299 => Ok(answer.body),
            401 => Err(PlexTvError::Unauthorized),
            422 if String::from_utf8_lossy(&answer.body).contains("Invalid token") => {
                Err(PlexTvError::Unauthorized)
            }
            429 => Err(PlexTvError::RateLimited {
                retry_after: answer.retry_after,
            }),
            404 | 410 => Err(PlexTvError::PinGone),
            _ => Err(answer.unexpected_status().into()),
        }
    }

    fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, PlexTvError> {
        serde_json::from_slice(body)
            .map_err(|e| PlexTvError::Unavailable(format!("unexpected response: {e}")))
    }

    /// `POST /api/v2/pins` for `client_id`.
    pub async fn create_pin(&self, client_id: &str) -> Result<Pin, PlexTvError> {
        let body = self
            .send(self.request(reqwest::Method::POST, "/api/v2/pins", client_id))
            .await?;
        Self::parse(&body)
    }

    /// `GET /api/v2/pins/{id}` with the same `client_id` that created it.
    pub async fn poll_pin(&self, id: i64, client_id: &str) -> Result<Pin, PlexTvError> {
        let body = self
            .send(self.request(
                reqwest::Method::GET,
                &format!("/api/v2/pins/{id}"),
                client_id,
            ))
            .await?;
        Self::parse(&body)
    }

    /// `GET /api/v2/user` with the account token.
    pub async fn account(&self, token: &str, client_id: &str) -> Result<Account, PlexTvError> {
        let body = self
            .send(
                self.request(reqwest::Method::GET, "/api/v2/user", client_id)
                    .header("X-Plex-Token", token),
            )
            .await?;
        Self::parse(&body)
    }

    /// `GET /api/v2/resources?includeHttps=1&includeRelay=1`: the servers only.
    pub async fn servers(
        &self,
        token: &str,
        client_id: &str,
    ) -> Result<Vec<Resource>, PlexTvError> {
        let body = self
            .send(
                self.request(
                    reqwest::Method::GET,
                    "/api/v2/resources?includeHttps=1&includeRelay=1",
                    client_id,
                )
                .header("X-Plex-Token", token),
            )
            .await?;
        let all: Vec<Resource> = Self::parse(&body)?;
        Ok(all.into_iter().filter(Resource::is_server).collect())
    }

    /// The page where the user approves `code` for `client_id`.
    pub fn auth_url(&self, client_id: &str, code: &str) -> String {
        use crate::util::percent_encode as enc;
        format!(
            "{}#?clientID={}&code={}&context%5Bdevice%5D%5Bproduct%5D={}&context%5Bdevice%5D%5Bplatform%5D={}&context%5Bdevice%5D%5Bdevice%5D={}&context%5Bdevice%5D%5Bversion%5D={}",
            self.app_url,
            enc(client_id),
            enc(code),
            enc(super::identity_headers::PRODUCT),
            enc(super::identity_headers::PLATFORM),
            enc(super::identity_headers::DEVICE),
            enc(env!("CARGO_PKG_VERSION")),
        )
    }
}
