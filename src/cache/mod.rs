//! In-memory response caches: one weight-bounded moka cache per bucket (plex, tmdb, trakt,
//! image, general), per-entry TTLs, request coalescing on misses, stats, and invalidation by key
//! prefix.
//!
//! Keys that hold per-user state must start with [`user_prefix`] (`u<user>:`): the Express cache
//! keyed Plex responses by server only and showed one user's watch state to another. The cache
//! admin routes list and clear only keys under the caller's prefix. Nothing here ever stores a
//! token: entries are response bodies plexgate already cleaned.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Time-to-live of each cached Plex route (contract §2.2).
pub mod plex_ttl {
    use std::time::Duration;

    /// `/libraries` (and the section list findByGuid walks).
    pub const LIBRARIES: Duration = Duration::from_secs(3600);
    /// `/library/:id/all`.
    pub const LIBRARY: Duration = Duration::from_secs(300);
    /// `/library/:id/:directory`.
    pub const SECONDARY: Duration = Duration::from_secs(3600);
    /// `/dir/*`.
    pub const DIR: Duration = Duration::from_secs(600);
    /// `/metadata/:id` (and `/ratings/:id`).
    pub const METADATA: Duration = Duration::from_secs(3600);
    /// `/search`.
    pub const SEARCH: Duration = Duration::from_secs(300);
    /// `/findByGuid`.
    pub const GUID: Duration = Duration::from_secs(1800);
    /// `/ondeck`.
    pub const ONDECK: Duration = Duration::from_secs(60);
    /// `/continue`.
    pub const CONTINUE: Duration = Duration::from_secs(60);
    /// `/recent`.
    pub const RECENT: Duration = Duration::from_secs(300);
    /// `/test` capabilities.
    pub const CAPABILITIES: Duration = Duration::from_secs(3600);
}

use bytes::Bytes;
use moka::Expiry;
use moka::future::Cache;

/// A cached response body with what is needed to answer it again.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The body.
    pub body: Bytes,
    /// Its content type.
    pub content_type: String,
    /// How long it may be served.
    pub ttl: Duration,
    /// When it was stored.
    pub stored_at: Instant,
}

impl Entry {
    /// A JSON entry valid for `ttl`.
    pub fn json(body: impl Into<Bytes>, ttl: Duration) -> Self {
        Self::new(body, "application/json; charset=utf-8", ttl)
    }

    /// An entry with an explicit content type.
    pub fn new(body: impl Into<Bytes>, content_type: &str, ttl: Duration) -> Self {
        Entry {
            body: body.into(),
            content_type: content_type.to_string(),
            ttl,
            stored_at: Instant::now(),
        }
    }
}

/// Whether an answer came from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hit {
    /// Served from memory.
    Hit,
    /// Fetched (possibly joining a concurrent fetch of the same key).
    Miss,
}

impl Hit {
    /// `HIT` / `MISS`, for an `X-Cache` header.
    pub fn as_str(self) -> &'static str {
        match self {
            Hit::Hit => "HIT",
            Hit::Miss => "MISS",
        }
    }
}

struct PerEntryTtl;

impl Expiry<String, Entry> for PerEntryTtl {
    fn expire_after_create(&self, _key: &String, value: &Entry, _now: Instant) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// One named bucket.
#[derive(Clone)]
pub struct Bucket {
    name: &'static str,
    cache: Cache<String, Entry>,
    hits: Arc<AtomicU64>,
    misses: Arc<AtomicU64>,
}

impl fmt::Debug for Bucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bucket")
            .field("name", &self.name)
            .field("entries", &self.cache.entry_count())
            .finish()
    }
}

/// Counters of a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// Answers served from memory.
    pub hits: u64,
    /// Answers fetched.
    pub misses: u64,
    /// Entries held (approximate: eviction is amortised).
    pub entries: u64,
    /// Bytes held (approximate).
    pub weighted_bytes: u64,
}

impl Bucket {
    /// A bucket holding at most `max_bytes` of keys and bodies.
    pub fn new(name: &'static str, max_bytes: u64) -> Self {
        Bucket {
            name,
            cache: Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|k: &String, v: &Entry| {
                    (k.len() + v.body.len() + v.content_type.len() + 64).min(u32::MAX as usize)
                        as u32
                })
                .expire_after(PerEntryTtl)
                .support_invalidation_closures()
                .build(),
            hits: Arc::default(),
            misses: Arc::default(),
        }
    }

    /// The bucket's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The cached entry for `key`, or the result of `fetch` stored under it. Concurrent misses
    /// of one key run `fetch` once and share its result; errors are not cached.
    pub async fn get_or_fetch<F, Fut, E>(
        &self,
        key: String,
        fetch: F,
    ) -> Result<(Entry, Hit), Arc<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Entry, E>>,
        E: Send + Sync + 'static,
    {
        if let Some(entry) = self.cache.get(&key).await {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok((entry, Hit::Hit));
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        self.cache
            .try_get_with(key, fetch())
            .await
            .map(|e| (e, Hit::Miss))
    }

    /// The entry for `key`, if present and fresh.
    pub async fn get(&self, key: &str) -> Option<Entry> {
        self.cache.get(key).await
    }

    /// Stores `entry` under `key`.
    pub async fn insert(&self, key: String, entry: Entry) {
        self.cache.insert(key, entry).await;
    }

    /// Removes `key`.
    pub async fn remove(&self, key: &str) -> bool {
        self.cache.remove(key).await.is_some()
    }

    /// Removes every key starting with `prefix`.
    pub fn invalidate_prefix(&self, prefix: &str) {
        let prefix = prefix.to_string();
        // Only fails when invalidation closures are not enabled, which the builder does.
        let _ = self
            .cache
            .invalidate_entries_if(move |k, _| k.starts_with(&prefix));
    }

    /// Keys under `prefix` (for the admin routes; bounded by the bucket's size).
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        let mut keys: Vec<String> = self
            .cache
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, _)| k.as_ref().clone())
            .collect();
        keys.sort();
        keys
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        Stats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: self.cache.entry_count(),
            weighted_bytes: self.cache.weighted_size(),
        }
    }

    /// Applies pending evictions (tests and stats).
    pub async fn sync(&self) {
        self.cache.run_pending_tasks().await;
    }
}

/// The key prefix for everything cached for `user_id` (all buckets).
pub fn user_prefix(user_id: i64) -> String {
    format!("u{user_id}:")
}

/// All buckets.
#[derive(Debug, Clone)]
pub struct Caches {
    /// Plex metadata and listings (per user and server).
    pub plex: Bucket,
    /// TMDB responses.
    pub tmdb: Bucket,
    /// Trakt responses.
    pub trakt: Bucket,
    /// Resized images.
    pub image: Bucket,
    /// Everything else.
    pub general: Bucket,
}

impl Caches {
    /// Buckets sized from `max_mb` megabytes in total (split: plex 35 %, image 35 %, tmdb 15 %,
    /// trakt 5 %, general 10 %).
    pub fn new(max_mb: u64) -> Self {
        let total = max_mb.max(1) << 20;
        Caches {
            plex: Bucket::new("plex", total * 35 / 100),
            tmdb: Bucket::new("tmdb", total * 15 / 100),
            trakt: Bucket::new("trakt", total * 5 / 100),
            image: Bucket::new("image", total * 35 / 100),
            general: Bucket::new("general", total / 10),
        }
    }

    /// A bucket by name.
    pub fn bucket(&self, name: &str) -> Option<&Bucket> {
        match name {
            "plex" => Some(&self.plex),
            "tmdb" => Some(&self.tmdb),
            "trakt" => Some(&self.trakt),
            "image" => Some(&self.image),
            "general" => Some(&self.general),
            _ => None,
        }
    }

    /// Every bucket.
    pub fn all(&self) -> [&Bucket; 5] {
        [
            &self.plex,
            &self.tmdb,
            &self.trakt,
            &self.image,
            &self.general,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn coalesces_counts_and_invalidates_by_prefix() {
        let b = Bucket::new("t", 1 << 20);
        let calls = Arc::new(AtomicU64::new(0));
        let fetch = |calls: Arc<AtomicU64>| async move {
            calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok::<_, ()>(Entry::json("{}", Duration::from_secs(60)))
        };
        let (a, c) = tokio::join!(
            b.get_or_fetch("u1:k".into(), || fetch(calls.clone())),
            b.get_or_fetch("u1:k".into(), || fetch(calls.clone())),
        );
        assert!(a.is_ok() && c.is_ok());
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "concurrent misses fetch once"
        );
        let (_, hit) = b
            .get_or_fetch("u1:k".into(), || fetch(calls.clone()))
            .await
            .unwrap();
        assert_eq!(hit, Hit::Hit);
        b.insert("u2:k".into(), Entry::json("{}", Duration::from_secs(60)))
            .await;
        b.invalidate_prefix("u1:");
        b.sync().await;
        assert!(b.get("u1:k").await.is_none());
        assert!(b.get("u2:k").await.is_some());
        assert_eq!(b.keys("u2:"), ["u2:k"]);
    }

    #[tokio::test]
    async fn entries_expire_by_their_own_ttl() {
        let b = Bucket::new("t", 1 << 20);
        b.insert("short".into(), Entry::json("1", Duration::from_millis(30)))
            .await;
        b.insert("long".into(), Entry::json("2", Duration::from_secs(60)))
            .await;
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert!(b.get("short").await.is_none());
        assert!(b.get("long").await.is_some());
    }
}
