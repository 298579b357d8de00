//! The signed-in user's Trakt connection: tokens sealed in SQLite, refreshed before they
//! expire (one refresh at a time per user, since Trakt refresh tokens are single-use),
//! forgotten on disconnect.
//!
//! What must never happen: a token in a log line or an error, or two refreshes racing with one
//! refresh token (the loser would disconnect the user).

use std::sync::Arc;

use serde_json::json;

use super::{OOB_REDIRECT, REFRESH_MARGIN, TokenSet, Trakt, TraktError};
use crate::db;

impl Trakt {
    pub(super) fn refresh_lock(&self, user_id: i64) -> Arc<tokio::sync::Mutex<()>> {
        self.0
            .refresh_locks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(user_id)
            .or_default()
            .clone()
    }

    /// The user's stored tokens, if connected.
    pub async fn stored(&self, user_id: i64) -> Result<Option<TokenSet>, TraktError> {
        let secrets = self.0.secrets.clone();
        let json = self
            .0
            .db
            .read(move |c| db::user_settings::trakt_tokens(c, user_id, &secrets))
            .await?;
        Ok(json.and_then(|j| serde_json::from_str::<TokenSet>(&j).ok()))
    }

    pub(super) async fn store(&self, user_id: i64, tokens: &TokenSet) -> Result<(), TraktError> {
        let secrets = self.0.secrets.clone();
        let json = serde_json::to_string(tokens).map_err(|_| TraktError::BadBody)?;
        self.0
            .db
            .write(move |c| {
                db::user_settings::set_trakt_tokens(
                    c,
                    user_id,
                    &json,
                    &secrets,
                    crate::util::unix_now(),
                )
            })
            .await?;
        Ok(())
    }

    pub(super) async fn forget(&self, user_id: i64) -> Result<bool, TraktError> {
        Ok(self
            .0
            .db
            .write(move |c| {
                db::user_settings::clear_trakt_tokens(c, user_id, crate::util::unix_now())
            })
            .await?)
    }

    /// The user's token set, refreshed first when it expires within [`REFRESH_MARGIN`].
    /// Concurrent callers for one user wait for a single refresh.
    pub async fn fresh_tokens(&self, user_id: i64) -> Result<TokenSet, TraktError> {
        let lock = self.refresh_lock(user_id);
        let _one_at_a_time = lock.lock().await;
        let tokens = self
            .stored(user_id)
            .await?
            .ok_or(TraktError::NotAuthenticated)?;
        let now = crate::util::unix_now();
        let margin = REFRESH_MARGIN.as_secs() as i64;
        if tokens.expires_at() - now > margin {
            return Ok(tokens);
        }
        let still_valid = tokens.expires_at() > now;
        let Some(refresh_token) = tokens.refresh_token.clone() else {
            return if still_valid {
                Ok(tokens)
            } else {
                Err(TraktError::NotAuthenticated)
            };
        };
        match self.refresh_grant(&refresh_token).await {
            Ok(new) => {
                self.store(user_id, &new).await?;
                tracing::info!(user_id, "Trakt token refreshed");
                Ok(new)
            }
            Err(TraktError::NotAuthenticated) if still_valid => {
                tracing::warn!(
                    user_id,
                    "Trakt refused the refresh token; using the current token until it expires"
                );
                Ok(tokens)
            }
            Err(TraktError::NotAuthenticated) => {
                // Expired, and the refresh token is dead: the user has to connect Trakt again.
                self.forget(user_id).await?;
                tracing::warn!(user_id, "Trakt refused the refresh token; disconnected");
                Err(TraktError::NotAuthenticated)
            }
            Err(e) if still_valid => {
                tracing::warn!(user_id, error = %e, "Trakt token refresh failed; using the current token until it expires");
                Ok(tokens)
            }
            Err(e) => Err(e),
        }
    }

    pub(super) async fn access_token(&self, user_id: i64) -> Result<String, TraktError> {
        self.credentials()?;
        Ok(self.fresh_tokens(user_id).await?.access_token)
    }

    /// `POST /oauth/token` with the refresh grant.
    pub(super) async fn refresh_grant(&self, refresh_token: &str) -> Result<TokenSet, TraktError> {
        let creds = self.credentials()?.clone();
        let req = self
            .request(reqwest::Method::POST, "/oauth/token", None)?
            .body(
                json!({
                    "refresh_token": refresh_token,
                    "client_id": creds.client_id,
                    "client_secret": creds.client_secret,
                    "redirect_uri": OOB_REDIRECT,
                    "grant_type": "refresh_token",
                })
                .to_string(),
            );
        let answer = Self::exchange(req).await?;
        match answer.status {
            200..=299 => TokenSet::from_trakt(&answer.body, crate::util::unix_now())
                .ok_or(TraktError::BadBody),
            // invalid_grant / invalid_client: the refresh token is no good.
            400 | 401 | 403 => Err(TraktError::NotAuthenticated),
            _ => Err(Self::accept(answer, false)
                .err()
                .unwrap_or(TraktError::BadBody)),
        }
    }

    /// Disconnects: revokes the access token at Trakt (best effort) and forgets the tokens.
    /// Returns whether tokens were stored.
    pub async fn disconnect(&self, user_id: i64) -> Result<bool, TraktError> {
        let creds = self.credentials()?.clone();
        let lock = self.refresh_lock(user_id);
        let _one_at_a_time = lock.lock().await;
        let Some(tokens) = self.stored(user_id).await? else {
            return Ok(false);
        };
        let req = self
            .request(reqwest::Method::POST, "/oauth/revoke", None)?
            .body(
                json!({"token": tokens.access_token, "client_id": creds.client_id, "client_secret": creds.client_secret})
                    .to_string(),
            );
        match Self::exchange(req).await {
            Ok(answer) if answer.is_success() => {}
            Ok(answer) => {
                tracing::warn!(
                    user_id,
                    status = answer.status,
                    "Trakt did not revoke the token"
                )
            }
            Err(e) => tracing::warn!(user_id, error = %e, "Trakt token revoke failed"),
        }
        self.forget(user_id).await
    }
}
