//! The shared outbound rate limit for TMDB: at most `limit` request starts within any sliding
//! window of `window`, whoever asks and whatever key they use.
//!
//! Why a sliding window of start times rather than a token bucket: TMDB's documented limit was
//! "N requests per 10 seconds", and a bucket that refills continuously can let N+1 requests start
//! inside one window. Here the (N+1)-th start waits until the oldest of the last N is a full window
//! old, so no window ever sees more than N.
//!
//! Waiters queue first come, first served (tokio's mutex is fair) and wait at most `max_wait`;
//! after an upstream 429 the limiter cools down until TMDB's `Retry-After` has passed and turns
//! requests away meanwhile instead of queueing them behind a wall. What must never happen: a
//! request started without a slot, or a waiter parked forever (every wait is bounded).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// The limiter turned a request away; retry after this many seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy {
    /// Seconds until a retry can succeed (at least 1).
    pub retry_after: u64,
}

/// A sliding-window limiter with a fair queue.
#[derive(Debug)]
pub struct RateLimiter {
    limit: usize,
    window: Duration,
    max_wait: Duration,
    starts: tokio::sync::Mutex<VecDeque<Instant>>,
    cooldown_until: Mutex<Option<Instant>>,
    waiting: AtomicUsize,
}

fn ceil_secs(d: Duration) -> u64 {
    let s = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    s.max(1)
}

impl RateLimiter {
    /// At most `limit` starts per `window`; a caller waits at most `max_wait` for a slot.
    pub fn new(limit: u32, window: Duration, max_wait: Duration) -> Self {
        RateLimiter {
            limit: limit.max(1) as usize,
            window: window.max(Duration::from_millis(1)),
            max_wait,
            starts: tokio::sync::Mutex::new(VecDeque::new()),
            cooldown_until: Mutex::new(None),
            waiting: AtomicUsize::new(0),
        }
    }

    /// Requests allowed per window.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// The window.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Callers currently waiting for a slot.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    fn cooldown_left(&self) -> Option<Duration> {
        let guard = self
            .cooldown_until
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        guard.and_then(|until| until.checked_duration_since(Instant::now()))
    }

    /// Stops handing out slots for `retry_after` (an upstream 429 said so).
    pub fn cool_down(&self, retry_after: Duration) {
        let until = Instant::now() + retry_after;
        let mut guard = self
            .cooldown_until
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if guard.is_none_or(|current| current < until) {
            *guard = Some(until);
        }
    }

    /// Waits for a slot and takes it; the caller must start its request right away.
    pub async fn acquire(&self) -> Result<(), Busy> {
        if let Some(left) = self.cooldown_left() {
            return Err(Busy {
                retry_after: ceil_secs(left),
            });
        }
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let outcome = tokio::time::timeout(self.max_wait, self.take_slot()).await;
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        match outcome {
            Ok(Ok(())) => Ok(()),
            Ok(Err(busy)) => Err(busy),
            // Dropping the wait releases the queue position; no slot was taken.
            Err(_) => Err(Busy {
                retry_after: ceil_secs(self.window),
            }),
        }
    }

    async fn take_slot(&self) -> Result<(), Busy> {
        // Holding the lock while sleeping is the queue: the next waiter gets it only after this
        // one has its slot.
        let mut starts = self.starts.lock().await;
        loop {
            // A 429 may have arrived while this caller queued.
            if let Some(left) = self.cooldown_left() {
                return Err(Busy {
                    retry_after: ceil_secs(left),
                });
            }
            let now = Instant::now();
            while starts
                .front()
                .is_some_and(|oldest| *oldest + self.window <= now)
            {
                starts.pop_front();
            }
            if starts.len() < self.limit {
                starts.push_back(now);
                return Ok(());
            }
            if let Some(oldest) = starts.front().copied() {
                tokio::time::sleep_until(oldest + self.window).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn no_window_sees_more_than_the_limit_and_nobody_is_dropped() {
        let l = Arc::new(RateLimiter::new(
            3,
            Duration::from_millis(150),
            Duration::from_secs(5),
        ));
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let l = l.clone();
            tasks.push(tokio::spawn(async move {
                l.acquire().await.unwrap();
                Instant::now()
            }));
        }
        let mut times = Vec::new();
        for t in tasks {
            times.push(t.await.unwrap());
        }
        times.sort();
        assert_eq!(times.len(), 10);
        for i in 3..times.len() {
            assert!(
                times[i] - times[i - 3] >= Duration::from_millis(150),
                "start {i} came too soon"
            );
        }
        assert_eq!(l.waiting(), 0);
    }

    #[tokio::test]
    async fn waits_are_bounded_and_cooldown_turns_away() {
        let l = RateLimiter::new(1, Duration::from_secs(30), Duration::from_millis(50));
        l.acquire().await.unwrap();
        let busy = l.acquire().await.unwrap_err();
        assert_eq!(busy.retry_after, 30);
        let l = RateLimiter::new(5, Duration::from_secs(1), Duration::from_secs(1));
        l.cool_down(Duration::from_millis(2500));
        assert_eq!(l.acquire().await.unwrap_err().retry_after, 3);
    }
}
