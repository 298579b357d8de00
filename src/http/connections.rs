//! Which connections the accept loop keeps: a global cap, a per-address cap, and closing a
//! connection that has nothing to answer and sends no request head in time.
//!
//! Why: hyper's header timer starts at a request's first byte, and the HTTP/1-or-2 sniffing
//! before it waits for bytes forever, so a TCP connection that never spoke was held forever:
//! 20,000 of them used up the file descriptors and `/health` stopped answering. Now every
//! connection needs a [`Slot`] (global cap; per client address too, except for trusted proxies,
//! whose clients all share one address), and [`close_when_idle`] drops a connection once it has
//! been idle — no request being answered, no response body streaming — for the header timeout,
//! counted from accept and from the end of each response.
//!
//! Must never: count a streaming response as idle (a paused player keeps its stream); block the
//! accept loop (admission is a `try_acquire` and a short lock); log per connection at INFO or
//! above ([`LogEvery`] keeps a flood of refusals or accept errors to one line a second).

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

use super::context::{TrustedProxies, canonical_ip};

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `server.max_connections` are open.
    Total,
    /// `server.max_connections_per_ip` are open from this address.
    PerAddress,
}

impl Refusal {
    /// The config key whose cap was hit, for the log line.
    pub fn key(self) -> &'static str {
        match self {
            Refusal::Total => "server.max_connections",
            Refusal::PerAddress => "server.max_connections_per_ip",
        }
    }
}

type Counts = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// The connection caps, shared by the accept loop and every connection's [`Slot`].
#[derive(Debug)]
pub struct ConnectionLimits {
    total: Arc<Semaphore>,
    per_address: Counts,
    max_per_address: usize,
    exempt: TrustedProxies,
}

impl ConnectionLimits {
    /// At most `max_total` connections, `max_per_address` from one address unless it is in
    /// `exempt`.
    pub fn new(max_total: usize, max_per_address: usize, exempt: TrustedProxies) -> Self {
        ConnectionLimits {
            total: Arc::new(Semaphore::new(max_total.min(Semaphore::MAX_PERMITS))),
            per_address: Arc::default(),
            max_per_address,
            exempt,
        }
    }

    /// A slot for a connection from `ip`, held for the connection's life.
    pub fn admit(&self, ip: IpAddr) -> Result<Slot, Refusal> {
        let ip = canonical_ip(ip);
        if self.exempt.contains(ip) {
            let permit = self.total.clone().try_acquire_owned();
            return permit
                .map(|p| Slot::new(p, None))
                .map_err(|_| Refusal::Total);
        }
        let mut counts = lock(&self.per_address);
        let open = counts.get(&ip).copied().unwrap_or(0);
        if open >= self.max_per_address {
            return Err(Refusal::PerAddress);
        }
        let permit = self
            .total
            .clone()
            .try_acquire_owned()
            .map_err(|_| Refusal::Total)?;
        counts.insert(ip, open + 1);
        Ok(Slot::new(permit, Some((self.per_address.clone(), ip))))
    }
}

fn lock(counts: &Counts) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
    counts.lock().unwrap_or_else(|p| p.into_inner())
}

/// One admitted connection; dropping it frees its place under both caps.
#[derive(Debug)]
pub struct Slot {
    _total: OwnedSemaphorePermit,
    address: Option<(Counts, IpAddr)>,
}

impl Slot {
    fn new(total: OwnedSemaphorePermit, address: Option<(Counts, IpAddr)>) -> Self {
        Slot {
            _total: total,
            address,
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some((counts, ip)) = self.address.take() {
            let mut counts = lock(&counts);
            match counts.get_mut(&ip) {
                Some(n) if *n > 1 => *n -= 1,
                // The last one: forget the address, so the map holds only open ones.
                _ => {
                    counts.remove(&ip);
                }
            }
        }
    }
}

/// Whether a connection is answering something, and since when it has not been.
#[derive(Debug)]
pub struct Activity {
    busy: AtomicUsize,
    idle_since_ms: AtomicU64,
    born: Instant,
}

impl Activity {
    /// A connection accepted now: idle until its first request head arrives.
    pub fn new() -> Arc<Self> {
        Arc::new(Activity {
            busy: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(0),
            born: Instant::now(),
        })
    }

    /// Marks a request as being answered until the returned guard (kept with the response body)
    /// is dropped.
    pub fn begin(self: &Arc<Self>) -> Busy {
        self.busy.fetch_add(1, Ordering::SeqCst);
        Busy(self.clone())
    }

    /// When the connection may be closed if nothing happens, or `None` while it is busy.
    fn idle_deadline(&self, timeout: Duration) -> Option<Instant> {
        if self.busy.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let since = Duration::from_millis(self.idle_since_ms.load(Ordering::SeqCst));
        Some(self.born + since + timeout)
    }
}

/// A request in progress on a connection (see [`Activity::begin`]).
#[derive(Debug)]
pub struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        let a = &self.0;
        // The idle clock restarts before the count drops, so the watcher never sees an idle
        // connection with the previous idle time.
        let ms = a.born.elapsed().as_millis().min(u128::from(u64::MAX)) as u64;
        a.idle_since_ms.fetch_max(ms, Ordering::SeqCst);
        a.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Runs `conn` until it ends (`Some(output)`) or until its [`Activity`] has been idle for the
/// timeout (`None`; `conn` is dropped, which closes the socket).
///
/// A plain future rather than an `async fn`: generic async fns over hyper's connection future
/// trip a higher-ranked `Send` inference at `tokio::spawn`.
pub struct CloseWhenIdle<F> {
    conn: Pin<Box<F>>,
    activity: Arc<Activity>,
    timeout: Duration,
    wake: Pin<Box<Sleep>>,
}

impl<F> std::fmt::Debug for CloseWhenIdle<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloseWhenIdle")
            .field("activity", &self.activity)
            .finish_non_exhaustive()
    }
}

/// Wraps `conn` so that it is dropped once `activity` has been idle for `timeout`.
pub fn close_when_idle<F: Future>(
    conn: F,
    activity: Arc<Activity>,
    timeout: Duration,
) -> CloseWhenIdle<F> {
    let first = activity
        .idle_deadline(timeout)
        .unwrap_or_else(|| Instant::now() + timeout);
    CloseWhenIdle {
        conn: Box::pin(conn),
        activity,
        timeout,
        wake: Box::pin(tokio::time::sleep_until(first)),
    }
}

impl<F: Future> Future for CloseWhenIdle<F> {
    type Output = Option<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(out) = self.conn.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        while self.wake.as_mut().poll(cx).is_ready() {
            let now = Instant::now();
            // While busy, look again after one timeout: cheap, and a finished response
            // restarts the clock anyway.
            let next = match self.activity.idle_deadline(self.timeout) {
                Some(deadline) if deadline <= now => return Poll::Ready(None),
                Some(deadline) => deadline,
                None => now + self.timeout,
            };
            self.wake.as_mut().reset(next);
        }
        Poll::Pending
    }
}

/// Lets a repeating log line through at most once per interval and counts the ones held back.
#[derive(Debug)]
pub struct LogEvery {
    every: Duration,
    last: Option<Instant>,
    held_back: u64,
}

impl LogEvery {
    /// At most one line per `every`.
    pub fn new(every: Duration) -> Self {
        LogEvery {
            every,
            last: None,
            held_back: 0,
        }
    }

    /// Whether to log an event happening at `now`; if so, how many were held back since the
    /// last line.
    pub fn hit(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.saturating_duration_since(last) < self.every => {
                self.held_back += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.held_back))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn caps_count_open_connections_and_free_on_drop() {
        let trusted = TrustedProxies::new(vec!["10.0.0.1/32".parse().unwrap()]);
        let limits = ConnectionLimits::new(3, 2, trusted);
        let a1 = limits.admit(ip("192.0.2.1")).unwrap();
        let _a2 = limits.admit(ip("::ffff:192.0.2.1")).unwrap();
        assert_eq!(
            limits.admit(ip("192.0.2.1")).unwrap_err(),
            Refusal::PerAddress,
            "an IPv4-mapped address is the same client"
        );
        let _b = limits.admit(ip("192.0.2.2")).unwrap();
        assert_eq!(limits.admit(ip("192.0.2.3")).unwrap_err(), Refusal::Total);
        assert_eq!(limits.admit(ip("10.0.0.1")).unwrap_err(), Refusal::Total);
        drop(a1);
        assert!(limits.admit(ip("192.0.2.1")).is_ok());
        assert_eq!(lock(&limits.per_address).get(&ip("192.0.2.1")), Some(&1));
    }

    #[test]
    fn trusted_proxies_are_not_capped_per_address() {
        let trusted = TrustedProxies::new(vec!["10.0.0.1/32".parse().unwrap()]);
        let limits = ConnectionLimits::new(10, 1, trusted);
        let held: Vec<Slot> = (0..5)
            .map(|_| limits.admit(ip("10.0.0.1")).unwrap())
            .collect();
        assert_eq!(held.len(), 5);
        assert!(lock(&limits.per_address).is_empty());
    }

    #[test]
    fn log_every_lets_one_line_through_per_interval_and_counts_the_rest() {
        let mut gate = LogEvery::new(Duration::from_secs(1));
        let t0 = Instant::now();
        assert_eq!(gate.hit(t0), Some(0));
        for ms in [1, 10, 500, 999] {
            assert_eq!(gate.hit(t0 + Duration::from_millis(ms)), None);
        }
        assert_eq!(gate.hit(t0 + Duration::from_millis(1000)), Some(4));
        assert_eq!(gate.hit(t0 + Duration::from_millis(1500)), None);
        assert_eq!(gate.hit(t0 + Duration::from_secs(5)), Some(1));
    }

    #[tokio::test]
    async fn idle_connections_close_busy_ones_do_not() {
        let timeout = Duration::from_millis(100);
        let activity = Activity::new();
        let started = Instant::now();
        let never = std::future::pending::<()>();
        assert!(close_when_idle(never, activity, timeout).await.is_none());
        assert!(started.elapsed() >= timeout, "not before one timeout");

        // A request that takes longer than the timeout keeps the connection; the clock restarts
        // when it ends.
        let activity = Activity::new();
        let busy = activity.begin();
        let started = Instant::now();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(350)).await;
            drop(busy);
        });
        let never = std::future::pending::<()>();
        assert!(close_when_idle(never, activity, timeout).await.is_none());
        assert!(started.elapsed() >= Duration::from_millis(440));

        // A connection that ends by itself reports its output.
        let done = close_when_idle(async { 7 }, Activity::new(), timeout).await;
        assert_eq!(done, Some(7));
    }
}
