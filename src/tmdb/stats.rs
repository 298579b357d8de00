//! Usage counters per TMDB key (the shared default key, and each user's own key), answered by
//! `GET /api/tmdb/usage` and `/key-info`. Counters only: never a key, a URL or a query.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use serde_json::{Value, json};

/// Counters for one key.
#[derive(Debug)]
pub struct Usage {
    requests: AtomicU64,
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
    errors: AtomicU64,
    rate_limited: AtomicU64,
    last_reset: AtomicI64,
}

/// What to count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A request reached TMDB.
    Request,
    /// Answered from the cache.
    CacheHit,
    /// Not in the cache (fetched, or joined a fetch in flight).
    CacheMiss,
    /// TMDB (or the way to it) failed.
    Error,
    /// Turned away: TMDB's 429, or plexgate's own queue was full.
    RateLimited,
}

impl Usage {
    /// Zeroed counters, reset "now".
    pub fn new(now_unix: i64) -> Self {
        Usage {
            requests: AtomicU64::new(0),
            cache_hits: AtomicU64::new(0),
            cache_misses: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            rate_limited: AtomicU64::new(0),
            last_reset: AtomicI64::new(now_unix),
        }
    }

    /// Counts one `event`.
    pub fn count(&self, event: Event) {
        let counter = match event {
            Event::Request => &self.requests,
            Event::CacheHit => &self.cache_hits,
            Event::CacheMiss => &self.cache_misses,
            Event::Error => &self.errors,
            Event::RateLimited => &self.rate_limited,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters in the shape the Express backend answered (`lastReset` as ISO 8601).
    pub fn snapshot(&self) -> Value {
        json!({
            "requests": self.requests.load(Ordering::Relaxed),
            "cacheHits": self.cache_hits.load(Ordering::Relaxed),
            "cacheMisses": self.cache_misses.load(Ordering::Relaxed),
            "errors": self.errors.load(Ordering::Relaxed),
            "rateLimited": self.rate_limited.load(Ordering::Relaxed),
            "lastReset": iso8601(self.last_reset.load(Ordering::Relaxed)),
        })
    }
}

pub use crate::util::iso8601;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(951_782_400), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso8601(1_759_313_045), "2025-10-01T10:04:05.000Z");
    }

    #[test]
    fn counts() {
        let u = Usage::new(0);
        u.count(Event::Request);
        u.count(Event::CacheHit);
        u.count(Event::CacheHit);
        let s = u.snapshot();
        assert_eq!(s["requests"], 1);
        assert_eq!(s["cacheHits"], 2);
        assert_eq!(s["errors"], 0);
    }
}
