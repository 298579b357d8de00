//! Who is asking: the request id, the client address and scheme, believed from
//! `X-Forwarded-*` / `X-Request-Id` only when the TCP peer is a trusted proxy.
//!
//! A spoofed `X-Forwarded-For` from an untrusted peer is ignored, never merged, so rate limits
//! and logs can rely on `client_ip`.

use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;
use ipnet::IpNet;

/// Per-request facts the transport established, stored in request extensions.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// `X-Request-Id` of this request (generated, or taken from a trusted proxy).
    pub request_id: String,
    /// The TCP peer.
    pub peer: SocketAddr,
    /// The client's address: the peer, or the nearest untrusted hop of `X-Forwarded-For`.
    pub client_ip: IpAddr,
    /// `https` when the peer is a trusted proxy that said so in `X-Forwarded-Proto`.
    pub scheme: &'static str,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
}

/// The set of trusted proxy networks.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Trust peers inside `nets`.
    pub fn new(nets: Vec<IpNet>) -> Self {
        TrustedProxies(nets)
    }

    /// Whether `ip` is a trusted proxy (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical_ip(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }
}

/// IPv4-mapped IPv6 addresses as IPv4, so one client has one address.
pub(crate) fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

impl RequestContext {
    /// Builds the context for a request from `peer` with `headers`.
    pub fn new(
        peer: SocketAddr,
        headers: &HeaderMap,
        trusted: &TrustedProxies,
        max_body_bytes: usize,
    ) -> Self {
        let from_proxy = trusted.contains(peer.ip());
        let request_id = from_proxy
            .then(|| headers.get("x-request-id").and_then(|v| v.to_str().ok()))
            .flatten()
            .filter(|id| valid_request_id(id))
            .map(String::from)
            .unwrap_or_else(new_request_id);
        let client_ip = if from_proxy {
            forwarded_client(headers, trusted).unwrap_or(canonical_ip(peer.ip()))
        } else {
            canonical_ip(peer.ip())
        };
        let scheme = match from_proxy
            .then(|| headers.get("x-forwarded-proto"))
            .flatten()
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(',')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            }) {
            Some(p) if p == "https" => "https",
            _ => "http",
        };
        RequestContext {
            request_id,
            peer,
            client_ip,
            scheme,
            max_body_bytes,
        }
    }
}

/// Walks `X-Forwarded-For` from the right, skipping trusted hops; the first untrusted address is
/// the client. Unparsable entries end the walk (nothing left of them can be believed).
fn forwarded_client(headers: &HeaderMap, trusted: &TrustedProxies) -> Option<IpAddr> {
    let mut hops: Vec<IpAddr> = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let text = value.to_str().ok()?;
        for part in text.split(',') {
            hops.push(canonical_ip(part.trim().parse().ok()?));
        }
    }
    let mut candidate = None;
    for ip in hops.into_iter().rev() {
        candidate = Some(ip);
        if !trusted.contains(ip) {
            break;
        }
    }
    candidate
}

fn valid_request_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

/// A fresh 96-bit request id as 24 hex characters.
///
/// Not read from the OS random source: that is a system call on every request (the one system
/// call plexgate made per request that nginx does not), and an id only has to be unique and
/// unpredictable enough that ids from different requests never meet in a log. Each thread keys
/// SipHash once from the OS (`RandomState`) and hashes a counter.
pub fn new_request_id() -> String {
    use std::hash::{BuildHasher, RandomState};
    thread_local! {
        static IDS: (RandomState, std::cell::Cell<u64>) = (RandomState::new(), Default::default());
    }
    let (high, low) = IDS.with(|(keys, counter)| {
        let n = counter.get();
        counter.set(n.wrapping_add(1));
        (keys.hash_one((n, 0u8)), keys.hash_one((n, 1u8)))
    });
    let mut bytes = [0u8; 12];
    bytes[..8].copy_from_slice(&high.to_le_bytes());
    bytes[8..].copy_from_slice(&low.to_le_bytes()[..4]);
    crate::util::hex(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(peer: &str, headers: &[(&str, &str)], trusted: &[&str]) -> RequestContext {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        let nets = trusted.iter().map(|n| n.parse().unwrap()).collect();
        RequestContext::new(
            peer.parse().unwrap(),
            &map,
            &TrustedProxies::new(nets),
            1024,
        )
    }

    #[test]
    fn untrusted_peer_headers_are_ignored() {
        let c = ctx(
            "203.0.113.9:5000",
            &[
                ("x-forwarded-for", "1.2.3.4"),
                ("x-forwarded-proto", "https"),
                ("x-request-id", "spoofed"),
            ],
            &["127.0.0.1/32"],
        );
        assert_eq!(c.client_ip.to_string(), "203.0.113.9");
        assert_eq!(c.scheme, "http");
        assert_ne!(c.request_id, "spoofed");
    }

    #[test]
    fn trusted_peer_headers_are_believed() {
        let c = ctx(
            "127.0.0.1:5000",
            &[
                ("x-forwarded-for", "9.9.9.9, 198.51.100.7, 127.0.0.1"),
                ("x-forwarded-proto", "https"),
                ("x-request-id", "abc-123"),
            ],
            &["127.0.0.1/32"],
        );
        assert_eq!(c.client_ip.to_string(), "198.51.100.7");
        assert_eq!(c.scheme, "https");
        assert_eq!(c.request_id, "abc-123");
    }

    #[test]
    fn generated_ids_are_distinct_within_and_across_threads() {
        let mut seen = std::collections::HashSet::new();
        let others: Vec<String> =
            std::thread::spawn(|| (0..1000).map(|_| new_request_id()).collect())
                .join()
                .unwrap();
        for id in (0..1000).map(|_| new_request_id()).chain(others) {
            assert_eq!(id.len(), 24, "{id}");
            assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
            assert!(seen.insert(id.clone()), "repeated id {id}");
        }
    }

    #[test]
    fn bad_request_id_is_replaced() {
        let c = ctx("127.0.0.1:1", &[("x-request-id", "a b")], &["127.0.0.1/32"]);
        assert_eq!(c.request_id.len(), 24);
    }
}
