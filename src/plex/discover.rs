//! Plex's cloud providers with the user's **account** token: the Discover watchlist (list, add,
//! remove), matching external ids to Discover ids, and VOD ratings.
//!
//! Why it exists: the frontend sends whatever id it has for an item (`tmdb://949`, `imdb://tt…`,
//! a `plex://movie/<hex>` guid, a bare Discover id, or a library ratingKey), but Discover's
//! `actions/addToWatchlist` only takes its own 24-hex ratingKey. [`WatchlistId::parse`] sorts out
//! what was sent; external ids are matched through the metadata provider, library ratingKeys
//! through the user's server (whose item guid is `plex://…/<hex>`).
//!
//! What must never happen: the account token in a URL (it is always the `X-Plex-Token` header),
//! in an error or log line, or sent anywhere but the three configured provider hosts; a Discover
//! body that contains the token passed on to the browser; an id spliced into a URL unvalidated.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;

use super::ServerAccess;
use super::identity_headers::ClientIdentity;
pub use super::watchlist_id::{Kind, Scheme, WatchlistId};
use super::watchlist_id::{is_digits, is_discover_key};
use crate::config::DiscoverConfig;
use crate::upstream::{self, Upstream};

const TIMEOUT: Duration = Duration::from_secs(15);
const MAX_BODY: usize = 16 << 20;

/// What went wrong with a provider. Messages carry no token and no URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoverError {
    /// The provider refused the account token.
    #[error("Plex refused the account token")]
    Unauthorized,
    /// Rate limited (429).
    #[error("Plex is rate limiting requests")]
    RateLimited {
        /// `Retry-After` in seconds, when sent.
        retry_after: Option<u64>,
    },
    /// The provider has no such item.
    #[error("Plex has no such item")]
    NotFound,
    /// The id the browser sent is not one Discover or its matching knows.
    #[error("{0}")]
    UnknownId(&'static str),
    /// The provider was slow, down, answered an unexpected status or a body over the limit.
    #[error(transparent)]
    Upstream(#[from] upstream::Error),
    /// Not the JSON shape expected (or it carried the account token).
    #[error("Plex sent a response plexgate cannot use")]
    BadBody,
}

/// The Discover, metadata and VOD providers.
#[derive(Clone)]
pub struct Discover {
    client: reqwest::Client,
    discover: String,
    metadata: String,
    vod: String,
    identity: ClientIdentity,
}

impl fmt::Debug for Discover {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Discover")
            .field("discover", &self.discover)
            .field("metadata", &self.metadata)
            .field("vod", &self.vod)
            .finish_non_exhaustive()
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

impl Discover {
    /// Providers at the configured base URLs.
    pub fn new(client: reqwest::Client, config: &DiscoverConfig, identity: ClientIdentity) -> Self {
        Discover {
            client,
            discover: config.url.trim_end_matches('/').to_string(),
            metadata: config.metadata_url.trim_end_matches('/').to_string(),
            vod: config.vod_url.trim_end_matches('/').to_string(),
            identity,
        }
    }

    fn request(
        &self,
        method: reqwest::Method,
        url: String,
        token: &str,
    ) -> reqwest::RequestBuilder {
        let mut headers = http::HeaderMap::new();
        self.identity.apply(&mut headers, None);
        self.client
            .request(method, url)
            .headers(headers)
            .header(http::header::ACCEPT, "application/json")
            .header("X-Plex-Token", token)
            .timeout(TIMEOUT)
    }

    /// Sends, maps the status, and returns the body. A body holding `token` is refused.
    async fn send(
        &self,
        req: reqwest::RequestBuilder,
        token: &str,
    ) -> Result<(u16, Bytes), DiscoverError> {
        // `upstream` keeps only the kind of failure: reqwest's Display names the URL.
        let answer = upstream::exchange(Upstream::PlexTv, req, MAX_BODY).await?;
        if contains(&answer.body, token.as_bytes()) {
            tracing::warn!(
                status = answer.status,
                "a Plex provider response was refused (it carried the account token)"
            );
            return Err(DiscoverError::BadBody);
        }
        match answer.status {
            200..=299 => Ok((answer.status, answer.body)),
            401 | 403 => Err(DiscoverError::Unauthorized),
            404 => Err(DiscoverError::NotFound),
            429 => Err(DiscoverError::RateLimited {
                retry_after: answer.retry_after,
            }),
            _ => Err(answer.unexpected_status().into()),
        }
    }

    fn json(body: &[u8]) -> Result<Value, DiscoverError> {
        serde_json::from_slice(body).map_err(|_| DiscoverError::BadBody)
    }

    /// `GET /library/sections/watchlist/all`, Discover's JSON unchanged (the `MediaContainer`
    /// wrapper kept, as the frontend reads it).
    pub async fn watchlist(
        &self,
        token: &str,
        start: u32,
        size: u32,
    ) -> Result<Bytes, DiscoverError> {
        let url = format!(
            "{}/library/sections/watchlist/all?includeAdvanced=1&includeMeta=1&X-Plex-Container-Start={start}&X-Plex-Container-Size={size}",
            self.discover
        );
        let (_, body) = self
            .send(self.request(reqwest::Method::GET, url, token), token)
            .await?;
        let parsed = Self::json(&body)?;
        if !parsed.get("MediaContainer").is_some_and(Value::is_object) {
            return Err(DiscoverError::BadBody);
        }
        Ok(body)
    }

    /// `PUT /actions/addToWatchlist` or `removeFromWatchlist` for a Discover ratingKey. Returns
    /// the upstream status; adding an item already listed (409) counts as done.
    pub async fn set_watchlisted(
        &self,
        token: &str,
        rating_key: &str,
        add: bool,
    ) -> Result<u16, DiscoverError> {
        if !is_discover_key(rating_key) {
            return Err(DiscoverError::UnknownId("not a Discover id"));
        }
        let action = if add {
            "addToWatchlist"
        } else {
            "removeFromWatchlist"
        };
        let url = format!("{}/actions/{action}?ratingKey={rating_key}", self.discover);
        match self
            .send(self.request(reqwest::Method::PUT, url, token), token)
            .await
        {
            Ok((status, _)) => Ok(status),
            Err(DiscoverError::Upstream(e)) if add && e.status() == Some(409) => Ok(409),
            Err(e) => Err(e),
        }
    }

    /// The Discover ratingKeys an external id matches through the metadata provider: one for a
    /// movie or a show, none when Plex's catalogue does not know it, and two when a TMDB or TVDB
    /// id names both a movie and a show (their numbering overlaps) and `kind` did not say which.
    pub async fn match_external(
        &self,
        token: &str,
        scheme: Scheme,
        id: &str,
        kind: Option<Kind>,
    ) -> Result<Vec<String>, DiscoverError> {
        let guid = format!("{}://{id}", scheme.prefix());
        let kinds: &[Kind] = match kind {
            Some(Kind::Movie) => &[Kind::Movie],
            Some(Kind::Show) => &[Kind::Show],
            None => &[Kind::Movie, Kind::Show],
        };
        let mut found: Vec<String> = Vec::new();
        for k in kinds {
            let url = format!(
                "{}/library/metadata/matches?type={}&includeGuids=1&guid={}",
                self.metadata,
                k.number(),
                crate::util::percent_encode(&guid)
            );
            let body = match self
                .send(self.request(reqwest::Method::GET, url, token), token)
                .await
            {
                Ok((_, body)) => body,
                Err(DiscoverError::NotFound) => continue,
                Err(e) => return Err(e),
            };
            let parsed = Self::json(&body)?;
            let items = parsed
                .pointer("/MediaContainer/Metadata")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for item in items {
                // With Guid[] present, the match must carry the id asked for.
                if let Some(guids) = item.get("Guid").and_then(Value::as_array)
                    && !guids
                        .iter()
                        .any(|g| g.get("id").and_then(Value::as_str) == Some(guid.as_str()))
                {
                    continue;
                }
                if let Some(key) = discover_key_of(&item)
                    && !found.contains(&key)
                {
                    found.push(key);
                }
            }
        }
        Ok(found)
    }

    /// The Discover ratingKeys on the first `size` entries of the user's watchlist.
    pub async fn watchlist_keys(
        &self,
        token: &str,
        size: u32,
    ) -> Result<Vec<String>, DiscoverError> {
        let body = self.watchlist(token, 0, size).await?;
        let parsed = Self::json(&body)?;
        Ok(parsed
            .pointer("/MediaContainer/Metadata")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(discover_key_of)
            .collect())
    }

    /// What a library item is, in terms Discover understands: its `plex://` key, or its
    /// external ids. Asks the user's server with the **server** token (never the account token).
    pub async fn library_item(
        &self,
        access: &ServerAccess,
        rating_key: &str,
    ) -> Result<(Option<Kind>, Vec<WatchlistId>), DiscoverError> {
        if !is_digits(rating_key, 12) {
            return Err(DiscoverError::UnknownId("not a library ratingKey"));
        }
        let url = format!(
            "{}/library/metadata/{rating_key}?includeGuids=1",
            access.base
        );
        let mut headers = http::HeaderMap::new();
        self.identity.apply(&mut headers, None);
        let req = self
            .client
            .get(url)
            .headers(headers)
            .header(http::header::ACCEPT, "application/json")
            .header("X-Plex-Token", access.token())
            .timeout(TIMEOUT);
        let (_, body) = self.send(req, access.token()).await?;
        let parsed = Self::json(&body)?;
        let item = parsed
            .pointer("/MediaContainer/Metadata/0")
            .ok_or(DiscoverError::NotFound)?;
        // The watchlist holds movies and shows: an episode or season stands for its show.
        let item_type = item.get("type").and_then(Value::as_str);
        let guid_field = match item_type {
            Some("episode") => "grandparentGuid",
            Some("season") => "parentGuid",
            _ => "guid",
        };
        let kind = match item_type {
            Some("movie") => Some(Kind::Movie),
            Some("show" | "season" | "episode") => Some(Kind::Show),
            _ => None,
        };
        let mut ids = Vec::new();
        if let Some(id) = item
            .get(guid_field)
            .and_then(Value::as_str)
            .and_then(WatchlistId::parse)
            .filter(|id| !matches!(id, WatchlistId::Library(_)))
        {
            ids.push(id);
        }
        if guid_field == "guid"
            && let Some(guids) = item.get("Guid").and_then(Value::as_array)
        {
            for g in guids {
                if let Some(id) = g
                    .get("id")
                    .and_then(Value::as_str)
                    .and_then(WatchlistId::parse)
                    .filter(|id| matches!(id, WatchlistId::External { .. }))
                {
                    ids.push(id);
                }
            }
        }
        if ids.is_empty() {
            return Err(DiscoverError::UnknownId(
                "the library item has no id Plex's catalogue knows",
            ));
        }
        Ok((kind, ids))
    }

    /// `GET {vod}/library/metadata/<id>?includeReviews=1&includeExternalMedia=1`: the item
    /// (`MediaContainer.Metadata[0]`) with its `Rating[]`, for `/api/plex/vod/ratings/:id`.
    pub async fn vod_metadata(&self, token: &str, id: &str) -> Result<Value, DiscoverError> {
        let valid = (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric());
        if !valid {
            return Err(DiscoverError::UnknownId("not a Plex catalogue id"));
        }
        let url = format!(
            "{}/library/metadata/{id}?includeReviews=1&includeExternalMedia=1",
            self.vod
        );
        let (_, body) = self
            .send(
                self.request(reqwest::Method::GET, url, token)
                    .header("X-Plex-Language", "en"),
                token,
            )
            .await?;
        Self::json(&body)?
            .pointer("/MediaContainer/Metadata/0")
            .cloned()
            .ok_or(DiscoverError::NotFound)
    }
}

/// An item's Discover key: `ratingKey` when it is 24 hex, else the tail of a `plex://` guid.
fn discover_key_of(item: &Value) -> Option<String> {
    if let Some(rk) = item.get("ratingKey").and_then(Value::as_str)
        && is_discover_key(rk)
    {
        return Some(rk.to_ascii_lowercase());
    }
    match item
        .get("guid")
        .and_then(Value::as_str)
        .and_then(WatchlistId::parse)
    {
        Some(WatchlistId::Discover(k)) => Some(k),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discover_key_from_rating_key_or_guid() {
        let v = serde_json::json!({"ratingKey": "5d776b59ad5437001f79c6f8"});
        assert_eq!(
            discover_key_of(&v).as_deref(),
            Some("5d776b59ad5437001f79c6f8")
        );
        let v =
            serde_json::json!({"ratingKey": "x", "guid": "plex://show/5d9c086c46115600200aa2fe"});
        assert_eq!(
            discover_key_of(&v).as_deref(),
            Some("5d9c086c46115600200aa2fe")
        );
        assert_eq!(
            discover_key_of(&serde_json::json!({"guid": "imdb://tt1"})),
            None
        );
    }
}
