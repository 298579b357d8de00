//! Trakt: public charts (cached), the device-code sign-in, and the signed-in user's Trakt data,
//! with the OAuth tokens kept server-side.
//!
//! Why it exists: the Express backend handed the browser the user's Trakt access and refresh
//! tokens and shipped the OAuth client secret in its source. Here the client id and secret come
//! from configuration, tokens are sealed in SQLite (`user_settings.trakt_tokens`), refreshed
//! before they expire (one refresh at a time per user: Trakt refresh tokens are single-use), and
//! the browser only ever sees placeholders ([`tokens::PLACEHOLDER`]).
//!
//! What must never happen: the client secret, an access or refresh token in a response, an
//! error or a log line (reqwest errors are reduced to their kind, bodies sent to Trakt are never
//! logged); a device code polled by a user it was not issued to.

mod connection;
pub mod device;
pub mod tokens;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};

use crate::cache::{Bucket, Entry, Hit};
use crate::config::TraktConfig;
use crate::crypto::SecretBox;
use crate::db::{Db, DbError};
use crate::upstream::{self, Answer, Upstream};
use device::DeviceCodes;
pub use tokens::TokenSet;

const TIMEOUT: Duration = Duration::from_secs(15);
const MAX_BODY: usize = 16 << 20;
/// Refresh when the access token has less than this left.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// How long public charts are cached.
pub const CHART_TTL: Duration = Duration::from_secs(1800);
/// The redirect URI Trakt expects for device-code and out-of-band apps.
const OOB_REDIRECT: &str = "urn:ietf:wg:oauth:2.0:oob";

/// What went wrong with Trakt. Messages carry no token, secret or URL.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TraktError {
    /// No client id/secret configured.
    #[error("Trakt is not configured on this server")]
    NotConfigured,
    /// The user has not connected Trakt, or Trakt no longer accepts their token.
    #[error("Trakt is not connected for this account")]
    NotAuthenticated,
    /// Trakt refused this server's client id (a public call or the device-code request).
    #[error("Trakt refused the configured client id")]
    AppRejected,
    /// Trakt answered 429.
    #[error("Trakt is rate limiting requests")]
    RateLimited {
        /// Seconds to wait.
        retry_after: u64,
    },
    /// Trakt has no such resource.
    #[error("Trakt has no such resource")]
    NotFound,
    /// Trakt refused the request (400/422).
    #[error("Trakt refused the request (HTTP {status})")]
    Rejected {
        /// The status.
        status: u16,
    },
    /// A Trakt account limit was reached (420, e.g. a full watchlist).
    #[error("a Trakt account limit was reached")]
    LimitExceeded,
    /// Trakt was slow, down, answered an unexpected status or a body over the limit.
    #[error(transparent)]
    Upstream(#[from] upstream::Error),
    /// Not the JSON shape expected.
    #[error("Trakt sent a response that is not JSON")]
    BadBody,
    /// Stored tokens could not be read or written.
    #[error("the stored Trakt tokens could not be used: {0}")]
    Storage(Arc<DbError>),
}

impl From<DbError> for TraktError {
    fn from(e: DbError) -> Self {
        TraktError::Storage(Arc::new(e))
    }
}

/// What one poll of the device token endpoint came to.
#[derive(Debug)]
pub enum DevicePoll {
    /// Approved; the tokens are stored.
    Connected(TokenSet),
    /// Not (yet): Trakt's error code (`authorization_pending`, `slow_down`, `expired_token`,
    /// `access_denied`, `invalid_grant`, `server_error`, …) and a description.
    NotYet(&'static str, &'static str),
}

#[derive(Clone)]
struct Credentials {
    client_id: String,
    client_secret: String,
}

/// The Trakt client; cheap to clone.
#[derive(Clone)]
pub struct Trakt(Arc<Inner>);

struct Inner {
    client: reqwest::Client,
    base: String,
    credentials: Option<Credentials>,
    cache: Bucket,
    db: Db,
    secrets: SecretBox,
    devices: DeviceCodes,
    refresh_locks: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
}

impl fmt::Debug for Trakt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Trakt")
            .field("base", &self.0.base)
            .field("configured", &self.0.credentials.is_some())
            .finish_non_exhaustive()
    }
}

/// Wiring for [`Trakt::new`].
#[derive(Debug)]
pub struct TraktDeps {
    /// The shared upstream client.
    pub client: reqwest::Client,
    /// The `trakt` cache bucket.
    pub cache: Bucket,
    /// Storage (sealed tokens).
    pub db: Db,
    /// Seals and opens tokens.
    pub secrets: SecretBox,
}

impl Trakt {
    /// A client for `config`; without both credentials every call is [`TraktError::NotConfigured`].
    pub fn new(config: &TraktConfig, deps: TraktDeps) -> Trakt {
        let credentials = match (&config.client_id, &config.client_secret) {
            (Some(id), Some(secret)) => Some(Credentials {
                client_id: id.clone(),
                client_secret: secret.clone(),
            }),
            _ => None,
        };
        Trakt(Arc::new(Inner {
            client: deps.client,
            base: config.url.trim_end_matches('/').to_string(),
            credentials,
            cache: deps.cache,
            db: deps.db,
            secrets: deps.secrets,
            devices: DeviceCodes::default(),
            refresh_locks: Mutex::new(HashMap::new()),
        }))
    }

    /// Whether a client id and secret are configured.
    pub fn is_configured(&self) -> bool {
        self.0.credentials.is_some()
    }

    fn credentials(&self) -> Result<&Credentials, TraktError> {
        self.0.credentials.as_ref().ok_or(TraktError::NotConfigured)
    }

    fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        bearer: Option<&str>,
    ) -> Result<reqwest::RequestBuilder, TraktError> {
        let creds = self.credentials()?;
        let mut req = self
            .0
            .client
            .request(method, format!("{}{path}", self.0.base))
            .header("trakt-api-version", "2")
            .header("trakt-api-key", &creds.client_id)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::ACCEPT, "application/json")
            .timeout(TIMEOUT);
        if let Some(token) = bearer {
            req = req.bearer_auth(token);
        }
        Ok(req)
    }

    /// Sends and reads the answer (bounded) for any status; only transport failures are errors.
    async fn exchange(req: reqwest::RequestBuilder) -> Result<Answer, TraktError> {
        // `upstream` keeps only the kind of failure: reqwest's Display names the URL.
        Ok(upstream::exchange(Upstream::Trakt, req, MAX_BODY).await?)
    }

    /// A JSON 2xx body, or the error its status stands for. A 401/403 on a call made with a
    /// user's token means the user's connection; on any other call, the application's.
    fn accept(answer: Answer, with_user_token: bool) -> Result<Bytes, TraktError> {
        match answer.status {
            200..=299 => {
                if serde_json::from_slice::<serde::de::IgnoredAny>(&answer.body).is_err() {
                    return Err(answer.undecodable().into());
                }
                Ok(answer.body)
            }
            401 | 403 if with_user_token => Err(TraktError::NotAuthenticated),
            401 | 403 => Err(TraktError::AppRejected),
            404 => Err(TraktError::NotFound),
            420 => Err(TraktError::LimitExceeded),
            429 => Err(TraktError::RateLimited {
                retry_after: answer.retry_after.unwrap_or(10).clamp(1, 3600),
            }),
            status @ (400 | 409 | 412 | 422) => Err(TraktError::Rejected { status }),
            _ => Err(answer.unexpected_status().into()),
        }
    }

    /// A public chart (`/movies/trending?limit=20`, …), cached for [`CHART_TTL`] under
    /// `cache_key`. `path` must already be validated.
    pub async fn chart(&self, path: &str, cache_key: String) -> Result<(Entry, Hit), TraktError> {
        let req = self.request(reqwest::Method::GET, path, None)?;
        self.0
            .cache
            .get_or_fetch(cache_key, || async move {
                let answer = Self::exchange(req).await?;
                tracing::debug!(status = answer.status, "Trakt chart answered");
                Self::accept(answer, false).map(|b| Entry::json(b, CHART_TTL))
            })
            .await
            .map_err(|shared| (*shared).clone())
    }

    /// `GET` a user resource with the user's (fresh) token.
    pub async fn user_get(&self, user_id: i64, path: &str) -> Result<Bytes, TraktError> {
        let token = self.access_token(user_id).await?;
        let answer =
            Self::exchange(self.request(reqwest::Method::GET, path, Some(&token))?).await?;
        tracing::debug!(user_id, status = answer.status, "Trakt user call answered");
        Self::accept(answer, true)
    }

    /// `POST` a JSON document to a user resource (`/sync/watchlist`, …).
    pub async fn user_post(
        &self,
        user_id: i64,
        path: &str,
        body: &Value,
    ) -> Result<Bytes, TraktError> {
        let token = self.access_token(user_id).await?;
        let req = self
            .request(reqwest::Method::POST, path, Some(&token))?
            .body(body.to_string());
        let answer = Self::exchange(req).await?;
        tracing::debug!(user_id, status = answer.status, "Trakt user write answered");
        Self::accept(answer, true)
    }

    /// `POST /oauth/device/code`: Trakt's answer unchanged, its device code bound to `user_id`.
    pub async fn device_code(&self, user_id: i64) -> Result<Bytes, TraktError> {
        let creds = self.credentials()?;
        let req = self
            .request(reqwest::Method::POST, "/oauth/device/code", None)?
            .body(json!({"client_id": creds.client_id}).to_string());
        let body = Self::accept(Self::exchange(req).await?, false)?;
        let parsed: Value = serde_json::from_slice(&body).map_err(|_| TraktError::BadBody)?;
        let code = parsed
            .get("device_code")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
            .ok_or(TraktError::BadBody)?;
        let lifetime = parsed
            .get("expires_in")
            .and_then(Value::as_u64)
            .unwrap_or(600)
            .clamp(1, 3600);
        self.0
            .devices
            .bind(code, user_id, Duration::from_secs(lifetime));
        Ok(body)
    }

    /// One poll of `POST /oauth/device/token` for `code`; on approval the tokens are sealed and
    /// stored for `user_id`.
    pub async fn device_token(&self, user_id: i64, code: &str) -> Result<DevicePoll, TraktError> {
        let creds = self.credentials()?.clone();
        if code.is_empty() || !self.0.devices.is_bound_to(code, user_id) {
            return Ok(DevicePoll::NotYet(
                "invalid_grant",
                "this device code was not issued to this session; start the Trakt sign-in again",
            ));
        }
        let req = self
            .request(reqwest::Method::POST, "/oauth/device/token", None)?
            .body(
                json!({"code": code, "client_id": creds.client_id, "client_secret": creds.client_secret})
                    .to_string(),
            );
        let Answer { status, body, .. } = Self::exchange(req).await?;
        if (200..=299).contains(&status) {
            let tokens =
                TokenSet::from_trakt(&body, crate::util::unix_now()).ok_or(TraktError::BadBody)?;
            self.store(user_id, &tokens).await?;
            self.0.devices.release(code);
            tracing::info!(user_id, "Trakt connected");
            return Ok(DevicePoll::Connected(tokens));
        }
        // Trakt answers the device grant with bare statuses; newer deployments add an RFC 8628
        // `error` code. Either way the browser gets one of the standard codes.
        let named = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_owned));
        let code_name = match named.as_deref() {
            Some("authorization_pending") => "authorization_pending",
            Some("slow_down") => "slow_down",
            Some("expired_token") => "expired_token",
            Some("access_denied") => "access_denied",
            Some("invalid_grant") => "invalid_grant",
            Some("invalid_client") => "invalid_client",
            _ => match status {
                400 => "authorization_pending",
                404 | 409 => "invalid_grant",
                410 => "expired_token",
                418 => "access_denied",
                429 => "slow_down",
                401 | 403 => "invalid_client",
                _ => "server_error",
            },
        };
        let description = match code_name {
            "authorization_pending" => "waiting for the code to be approved on trakt.tv",
            "slow_down" => "polling too fast; wait longer between polls",
            "expired_token" => "the code expired; start the Trakt sign-in again",
            "access_denied" => "the sign-in was denied on trakt.tv",
            "invalid_grant" => "the code is unknown or was already used",
            "invalid_client" => "Trakt refused this server's application credentials",
            _ => "Trakt could not be asked; plexgate will retry on the next poll",
        };
        if matches!(
            code_name,
            "expired_token" | "access_denied" | "invalid_grant"
        ) {
            self.0.devices.release(code);
        }
        Ok(DevicePoll::NotYet(code_name, description))
    }
}
