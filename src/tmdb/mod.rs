//! TMDB: the client behind `/api/tmdb/*`, which key it uses, the shared rate-limit queue, the
//! response cache and usage counters.
//!
//! Why it exists: the Flixor frontend asks for TMDB data through the backend so the API key stays
//! server-side. A user's own key (validated against `/configuration`, sealed at rest) wins over
//! the configured default key. Every upstream request takes a slot from one [`RateLimiter`]
//! shared by all users and keys; identical concurrent requests are coalesced by the cache into
//! one upstream call, and cached answers cost no slot.
//!
//! What must never happen: a key in a response, an error message or a log line. A v3 key has to
//! travel as the `api_key` query parameter, so the upstream URL is never logged or put in an
//! error (reqwest errors are reduced to their kind); v4 read tokens go in a Bearer header.

pub mod endpoints;
pub mod limiter;
pub mod stats;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::cache::{Bucket, Entry, Hit};
use crate::config::TmdbConfig;
use crate::crypto::SecretBox;
use crate::db::{self, Db, DbError};
use crate::upstream::{self, Upstream};
pub use endpoints::{Endpoint, EndpointError, Query};
pub use limiter::{Busy, RateLimiter};
use stats::{Event, Usage};

/// Upstream timeout per TMDB request.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Largest TMDB body accepted (details with many appended resources stay far below).
const MAX_BODY: usize = 16 << 20;
/// How long a user's decrypted key is remembered before SQLite is asked again.
const USER_KEY_TTL: Duration = Duration::from_secs(300);

/// Whose key a request uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyOwner {
    /// The configured default key.
    Default,
    /// The user's own key.
    User(i64),
}

/// A TMDB credential. Never printed.
#[derive(Clone)]
pub struct ApiKey {
    value: Arc<str>,
    owner: KeyOwner,
}

impl ApiKey {
    /// Whose key it is.
    pub fn owner(&self) -> KeyOwner {
        self.owner
    }

    /// v4 read access tokens are JWTs and go in a Bearer header; v3 keys in `api_key`.
    fn is_bearer(&self) -> bool {
        self.value.starts_with("eyJ") && self.value.matches('.').count() == 2
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("owner", &self.owner)
            .field("value", &"[redacted]")
            .finish()
    }
}

/// What went wrong with TMDB. Messages carry no key and no URL.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TmdbError {
    /// No default key configured and the user has none.
    #[error("no TMDB key is configured")]
    NotConfigured,
    /// TMDB refused the key (its status code 7 or 3).
    #[error("TMDB refused the API key")]
    Unauthorized {
        /// Whether it was the user's own key (they should replace it).
        user_key: bool,
    },
    /// TMDB has no such resource.
    #[error("TMDB has no such resource")]
    NotFound,
    /// TMDB refused the parameters.
    #[error("TMDB refused the request parameters (status code {status_code:?})")]
    BadRequest {
        /// TMDB's own `status_code`, when it sent one.
        status_code: Option<i64>,
    },
    /// TMDB answered 429.
    #[error("TMDB is rate limiting requests")]
    RateLimited {
        /// Seconds to wait.
        retry_after: u64,
    },
    /// plexgate's own queue turned the request away.
    #[error("the TMDB request queue is full")]
    Busy {
        /// Seconds to wait.
        retry_after: u64,
    },
    /// TMDB was slow, down, answered an unexpected status or an unusable body.
    #[error(transparent)]
    Upstream(#[from] upstream::Error),
    /// The user's key could not be read from storage.
    #[error("the stored TMDB key could not be read: {0}")]
    Storage(Arc<DbError>),
}

impl From<DbError> for TmdbError {
    fn from(e: DbError) -> Self {
        TmdbError::Storage(Arc::new(e))
    }
}

/// The TMDB client; cheap to clone.
#[derive(Clone)]
pub struct Tmdb(Arc<Inner>);

struct Inner {
    client: reqwest::Client,
    base: url::Url,
    default_key: Option<Arc<str>>,
    limiter: RateLimiter,
    cache: Bucket,
    db: Db,
    secrets: SecretBox,
    default_usage: Arc<Usage>,
    user_usage: Mutex<HashMap<i64, Arc<Usage>>>,
    user_keys: Mutex<HashMap<i64, RememberedKey>>,
}

/// A user's decrypted key (or that they have none) and when it was read.
type RememberedKey = (Instant, Option<Arc<str>>);

impl fmt::Debug for Tmdb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tmdb")
            .field("base", &self.0.base.as_str())
            .field(
                "default_key",
                &self.0.default_key.as_ref().map(|_| "[redacted]"),
            )
            .field("limiter", &self.0.limiter)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Wiring for [`Tmdb::new`].
#[derive(Debug)]
pub struct TmdbDeps {
    /// The shared upstream client.
    pub client: reqwest::Client,
    /// The `tmdb` cache bucket.
    pub cache: Bucket,
    /// Storage (users' own keys).
    pub db: Db,
    /// Opens sealed keys.
    pub secrets: SecretBox,
    /// Longest a request waits in the rate-limit queue before it is turned away.
    pub max_queue_wait: Duration,
}

impl Tmdb {
    /// A client for `config`. Fails only on a base URL that `url` cannot parse (the config
    /// validator already checked it).
    pub fn new(config: &TmdbConfig, deps: TmdbDeps) -> Result<Tmdb, String> {
        let mut base = url::Url::parse(&config.url).map_err(|e| format!("tmdb.url: {e}"))?;
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        Ok(Tmdb(Arc::new(Inner {
            client: deps.client,
            base,
            default_key: config.default_key.as_deref().map(Arc::from),
            limiter: RateLimiter::new(
                config.rate_limit_requests,
                config.rate_limit_window,
                deps.max_queue_wait,
            ),
            cache: deps.cache,
            db: deps.db,
            secrets: deps.secrets,
            default_usage: Arc::new(Usage::new(crate::util::unix_now())),
            user_usage: Mutex::new(HashMap::new()),
            user_keys: Mutex::new(HashMap::new()),
        })))
    }

    /// The shared rate limiter.
    pub fn limiter(&self) -> &RateLimiter {
        &self.0.limiter
    }

    /// Whether a default key is configured.
    pub fn has_default_key(&self) -> bool {
        self.0.default_key.is_some()
    }

    /// Usage counters of `owner`'s key.
    pub fn usage(&self, owner: KeyOwner) -> Arc<Usage> {
        match owner {
            KeyOwner::Default => self.0.default_usage.clone(),
            KeyOwner::User(id) => lock(&self.0.user_usage)
                .entry(id)
                .or_insert_with(|| Arc::new(Usage::new(crate::util::unix_now())))
                .clone(),
        }
    }

    /// The user's own key (remembered for a few minutes), if they saved one.
    pub async fn user_key(&self, user_id: i64) -> Result<Option<ApiKey>, TmdbError> {
        let cached = lock(&self.0.user_keys)
            .get(&user_id)
            .filter(|(at, _)| at.elapsed() < USER_KEY_TTL)
            .map(|(_, k)| k.clone());
        let value = match cached {
            Some(v) => v,
            None => {
                let secrets = self.0.secrets.clone();
                let stored = self
                    .0
                    .db
                    .read(move |c| db::user_settings::user_tmdb_key(c, user_id, &secrets))
                    .await?;
                let value: Option<Arc<str>> = stored.map(Arc::from);
                lock(&self.0.user_keys).insert(user_id, (Instant::now(), value.clone()));
                value
            }
        };
        Ok(value.map(|value| ApiKey {
            value,
            owner: KeyOwner::User(user_id),
        }))
    }

    /// The key for a request: the signed-in user's own key, else the default key.
    pub async fn key_for(&self, user_id: Option<i64>) -> Result<ApiKey, TmdbError> {
        if let Some(id) = user_id
            && let Some(key) = self.user_key(id).await?
        {
            return Ok(key);
        }
        self.0
            .default_key
            .clone()
            .map(|value| ApiKey {
                value,
                owner: KeyOwner::Default,
            })
            .ok_or(TmdbError::NotConfigured)
    }

    /// Checks `candidate` against TMDB's `/configuration`; `Ok(false)` when TMDB refuses it.
    pub async fn check_key(&self, user_id: i64, candidate: &str) -> Result<bool, TmdbError> {
        let key = ApiKey {
            value: Arc::from(candidate),
            owner: KeyOwner::User(user_id),
        };
        match self.fetch_upstream(&Endpoint::configuration(), &key).await {
            Ok(_) => Ok(true),
            Err(TmdbError::Unauthorized { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Saves the user's key (sealed); it is used from the next request on.
    pub async fn save_user_key(&self, user_id: i64, key: String) -> Result<(), TmdbError> {
        let secrets = self.0.secrets.clone();
        let remembered: Arc<str> = Arc::from(key.as_str());
        self.0
            .db
            .write(move |c| {
                db::user_settings::set_tmdb_key(c, user_id, &key, &secrets, crate::util::unix_now())
            })
            .await?;
        lock(&self.0.user_keys).insert(user_id, (Instant::now(), Some(remembered)));
        Ok(())
    }

    /// Forgets the user's key; returns whether one was stored.
    pub async fn remove_user_key(&self, user_id: i64) -> Result<bool, TmdbError> {
        let had = self
            .0
            .db
            .write(move |c| db::user_settings::clear_tmdb_key(c, user_id, crate::util::unix_now()))
            .await?;
        lock(&self.0.user_keys).insert(user_id, (Instant::now(), None));
        Ok(had)
    }

    /// The answer for `endpoint`: from the cache, or fetched once for all concurrent askers.
    /// `bypass_cache` (the browser sent `Cache-Control: no-cache`) always fetches and refreshes
    /// the cached copy.
    pub async fn get(
        &self,
        endpoint: &Endpoint,
        key: &ApiKey,
        bypass_cache: bool,
    ) -> Result<(Entry, Hit), TmdbError> {
        let usage = self.usage(key.owner);
        let cache_key = endpoint.cache_key();
        if bypass_cache {
            return self.refresh(endpoint, key, cache_key, &usage).await;
        }
        let ran = AtomicBool::new(false);
        let outcome = self
            .0
            .cache
            .get_or_fetch(cache_key.clone(), || async {
                ran.store(true, Ordering::Relaxed);
                self.fetch_upstream(endpoint, key)
                    .await
                    .map(|body| Entry::json(body, endpoint.ttl))
            })
            .await;
        match outcome {
            Ok((entry, hit)) => {
                usage.count(if hit == Hit::Hit {
                    Event::CacheHit
                } else {
                    Event::CacheMiss
                });
                Ok((entry, hit))
            }
            Err(shared) => {
                let e = (*shared).clone();
                // Joined someone else's fetch, which used their key: a refusal of that key says
                // nothing about ours.
                if !ran.load(Ordering::Relaxed) && matches!(e, TmdbError::Unauthorized { .. }) {
                    return self.refresh(endpoint, key, cache_key, &usage).await;
                }
                Err(e)
            }
        }
    }

    async fn refresh(
        &self,
        endpoint: &Endpoint,
        key: &ApiKey,
        cache_key: String,
        usage: &Usage,
    ) -> Result<(Entry, Hit), TmdbError> {
        usage.count(Event::CacheMiss);
        let body = self.fetch_upstream(endpoint, key).await?;
        let entry = Entry::json(body, endpoint.ttl);
        self.0.cache.insert(cache_key, entry.clone()).await;
        Ok((entry, Hit::Miss))
    }

    fn url(&self, endpoint: &Endpoint, key: &ApiKey) -> Result<url::Url, TmdbError> {
        let relative = endpoint.path.trim_start_matches('/');
        let mut url = self
            .0
            .base
            .join(relative)
            .map_err(|_| TmdbError::BadRequest { status_code: None })?;
        {
            let mut q = url.query_pairs_mut();
            for (k, v) in &endpoint.query {
                q.append_pair(k, v);
            }
            if !key.is_bearer() {
                q.append_pair("api_key", &key.value);
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        Ok(url)
    }

    /// One upstream request, after taking a rate-limit slot.
    async fn fetch_upstream(&self, endpoint: &Endpoint, key: &ApiKey) -> Result<Bytes, TmdbError> {
        let usage = self.usage(key.owner);
        if let Err(Busy { retry_after }) = self.0.limiter.acquire().await {
            usage.count(Event::RateLimited);
            return Err(TmdbError::Busy { retry_after });
        }
        usage.count(Event::Request);
        let result = self.send(endpoint, key).await;
        match &result {
            Ok(_) => {}
            Err(TmdbError::RateLimited { .. }) => usage.count(Event::RateLimited),
            Err(_) => usage.count(Event::Error),
        }
        result
    }

    async fn send(&self, endpoint: &Endpoint, key: &ApiKey) -> Result<Bytes, TmdbError> {
        let url = self.url(endpoint, key)?;
        let mut req = self
            .0
            .client
            .get(url)
            .header(http::header::ACCEPT, "application/json")
            .timeout(TIMEOUT);
        if key.is_bearer() {
            req = req.bearer_auth(&*key.value);
        }
        // The URL holds a v3 key: `upstream` keeps only the kind of failure and the path.
        let answer = upstream::exchange(Upstream::Tmdb, req, MAX_BODY).await?;
        let (status, body) = (answer.status, &answer.body);
        tracing::debug!(path = %endpoint.path, status, bytes = body.len(), "TMDB answered");
        match status {
            200..=299 => {
                if serde_json::from_slice::<serde::de::IgnoredAny>(body).is_err() {
                    return Err(answer.undecodable().into());
                }
                Ok(answer.body)
            }
            401 => Err(TmdbError::Unauthorized {
                user_key: matches!(key.owner, KeyOwner::User(_)),
            }),
            404 => Err(TmdbError::NotFound),
            429 => {
                let retry_after = answer.retry_after.unwrap_or(10).clamp(1, 3600);
                self.0.limiter.cool_down(Duration::from_secs(retry_after));
                tracing::warn!(retry_after, "TMDB answered 429; pausing TMDB requests");
                Err(TmdbError::RateLimited { retry_after })
            }
            400 | 422 => Err(TmdbError::BadRequest {
                status_code: serde_json::from_slice::<serde_json::Value>(body)
                    .ok()
                    .and_then(|v| v.get("status_code").and_then(serde_json::Value::as_i64)),
            }),
            _ => Err(answer.unexpected_status().into()),
        }
    }
}
