//! A per-key rate limit (per client network), for routes that must not be hammered (PIN
//! login). tower's rate limit is global; this one is keyed and answers with how long to wait.
//! The buckets are governor's (a maintained GCRA implementation) instead of our own arithmetic.
//!
//! Keys are client networks, not addresses ([`network_of`]): one IPv6 host owns a whole /64
//! and could otherwise rotate through 2^64 addresses, each with a fresh bucket.

use std::hash::Hash;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, RateLimiter};

/// Keys kept before the ones whose bucket is full again are forgotten, so a scan of many
/// addresses cannot grow the map forever.
const PRUNE_ABOVE: usize = 10_000;

/// Token buckets per key (governor's GCRA): `capacity` requests, refilled evenly over `per`.
#[derive(Debug)]
pub struct KeyedLimiter<K: Hash + Eq + Clone> {
    inner: RateLimiter<K, HashMapStateStore<K>, DefaultClock>,
}

impl<K: Hash + Eq + Clone> KeyedLimiter<K> {
    /// `capacity` requests per `per`, with bursts up to `capacity`.
    pub fn new(capacity: u32, per: Duration) -> Self {
        let burst = NonZeroU32::new(capacity.max(1)).unwrap_or(NonZeroU32::MIN);
        let period = (per / burst.get()).max(Duration::from_nanos(1));
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst);
        KeyedLimiter {
            inner: RateLimiter::hashmap(quota),
        }
    }

    /// Takes one token for `key`, or says how long until one is available.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        if self.inner.len() > PRUNE_ABOVE {
            self.inner.retain_recent();
        }
        self.inner
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(self.inner.clock().now()))
    }
}

/// The network a client address stands for when limiting: the address itself for IPv4, its
/// /64 for IPv6 (an IPv4-mapped IPv6 address counts as the IPv4 address).
pub fn network_of(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip {
        std::net::IpAddr::V4(_) => ip,
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => std::net::IpAddr::V4(v4),
            None => {
                let mut seg = v6.segments();
                seg[4..].fill(0);
                std::net::IpAddr::V6(seg.into())
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_ipv6_host_is_one_key_for_its_whole_64() {
        let a: std::net::IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: std::net::IpAddr = "2001:db8:1:2:ffff:1:2:3".parse().unwrap();
        let other: std::net::IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(network_of(a), network_of(b));
        assert_ne!(network_of(a), network_of(other));
        let v4: std::net::IpAddr = "192.0.2.7".parse().unwrap();
        let mapped: std::net::IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(network_of(v4), v4);
        assert_eq!(network_of(mapped), v4);
        let limiter = KeyedLimiter::new(2, Duration::from_secs(60));
        assert!(limiter.check(&network_of(a)).is_ok());
        assert!(limiter.check(&network_of(b)).is_ok());
        assert!(
            limiter
                .check(&network_of("2001:db8:1:2::9".parse().unwrap()))
                .is_err()
        );
        assert!(limiter.check(&network_of(other)).is_ok());
    }

    #[test]
    fn bursts_then_refuses_per_key() {
        let l = KeyedLimiter::new(3, Duration::from_secs(60));
        for _ in 0..3 {
            assert!(l.check(&1).is_ok());
        }
        let wait = l.check(&1).unwrap_err();
        assert!(wait > Duration::from_secs(10) && wait <= Duration::from_secs(20));
        assert!(l.check(&2).is_ok(), "other keys are unaffected");
    }
}
