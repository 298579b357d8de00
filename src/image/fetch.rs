//! Fetching a remote image for `/api/image/proxy` without becoming an SSRF primitive.
//!
//! Why: the Express proxy fetched any URL it was given, so it reached LAN hosts and cloud
//! metadata addresses. Here a URL is fetched only when:
//! - its scheme, host and port match an entry of `image.proxy_hosts` (default: TMDB's and Plex's
//!   image hosts, https only; no user info in the URL);
//! - a host *name* resolves only to public addresses — checked before the request and again by
//!   the client's own resolver at connect time, so DNS rebinding cannot slip a private address
//!   in between. An IP-literal entry is trusted as the operator wrote it (tests, a LAN mirror);
//! - redirects are followed by hand (at most three), each target checked like the first URL.
//!
//! Must never: fetch a URL that failed these checks, read a local file (only `http`/`https` are
//! accepted), follow a redirect automatically, send a cookie, token or the browser's headers, or
//! buffer more than [`MAX_SOURCE_BYTES`].

use std::net::{IpAddr, SocketAddr};
use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::Url;

use crate::upstream::{self, Upstream};

/// Largest source image accepted.
pub const MAX_SOURCE_BYTES: usize = 20 << 20;
const TIMEOUT: Duration = Duration::from_secs(10);
const MAX_REDIRECTS: usize = 3;

/// One allowed origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    scheme: String,
    host: String,
    port: Option<u16>,
}

impl AllowedHost {
    /// Parses `host`, `host:port` or `scheme://host[:port]` (scheme `http` or `https`; a bare
    /// host means https).
    pub fn parse(entry: &str) -> Result<AllowedHost, String> {
        let entry = entry.trim().trim_end_matches('/');
        let with_scheme = if entry.contains("://") {
            entry.to_string()
        } else {
            format!("https://{entry}")
        };
        let url = Url::parse(&with_scheme).map_err(|e| format!("{entry:?}: {e}"))?;
        if !matches!(url.scheme(), "http" | "https")
            || url.host_str().is_none()
            || !url.username().is_empty()
            || url.password().is_some()
            || url.path() != "/"
            || url.query().is_some()
        {
            return Err(format!(
                "{entry:?} must be host, host:port or http(s)://host[:port]"
            ));
        }
        Ok(AllowedHost {
            scheme: url.scheme().to_string(),
            host: url.host_str().unwrap_or("").to_ascii_lowercase(),
            port: url.port(),
        })
    }

    fn matches(&self, url: &Url) -> bool {
        url.scheme() == self.scheme
            && url
                .host_str()
                .is_some_and(|h| h.eq_ignore_ascii_case(&self.host))
            && url.port_or_known_default() == self.port.or_else(|| default_port(&self.scheme))
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

/// Why a URL was not fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// Not an absolute http(s) URL.
    #[error("the image URL is not a valid absolute http(s) URL")]
    Invalid,
    /// Not on the allowlist, or resolves to a non-public address.
    #[error("the image host is not on this server's allowlist")]
    NotAllowed,
    /// Upstream 404.
    #[error("the image was not found")]
    NotFound,
    /// Upstream answered something else, or too much.
    #[error("the image host answered HTTP {0}")]
    Status(u16),
    /// Larger than the limit.
    #[error("the image is larger than the limit")]
    TooLarge,
    /// No answer.
    #[error("the image host could not be reached")]
    Unreachable,
}

/// Whether an address is one a public image host may have: not loopback, private, link-local,
/// CGNAT, unique-local, multicast, documentation, unspecified or broadcast.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || (o[0] == 198 && (18..20).contains(&o[1]))
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || s[0] == 0x2001 && s[1] == 0x0db8
                || s[0] == 0x0064 && s[1] == 0xff9b)
        }
    }
}

/// The client's resolver: host names resolve to public addresses only.
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let public: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| is_public(a.ip()))
                .collect();
            if public.is_empty() {
                return Err("the name resolves to no public address".into());
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        upstream::builder()
            .no_proxy()
            .dns_resolver(PublicOnly)
            .build()
            .unwrap_or_else(|_| reqwest::Client::new())
    })
}

/// Checks `url` against `allowed` without resolving it: scheme, user info, host and port.
pub fn check_listed(raw: &str, allowed: &[AllowedHost]) -> Result<Url, FetchError> {
    let url = Url::parse(raw.trim()).map_err(|_| FetchError::Invalid)?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(FetchError::Invalid);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(FetchError::NotAllowed);
    }
    if !allowed.iter().any(|a| a.matches(&url)) {
        return Err(FetchError::NotAllowed);
    }
    Ok(url)
}

/// Checks `url` against `allowed` and the public-address rule; returns it parsed.
pub async fn check(raw: &str, allowed: &[AllowedHost]) -> Result<Url, FetchError> {
    let url = check_listed(raw, allowed)?;
    if let Some(url::Host::Domain(name)) = url.host() {
        let port = url.port_or_known_default().unwrap_or(443);
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name, port))
            .await
            .map_err(|_| FetchError::Unreachable)?
            .collect();
        if addrs.is_empty() || !addrs.iter().all(|a| is_public(a.ip())) {
            return Err(FetchError::NotAllowed);
        }
    }
    Ok(url)
}

/// Fetches the image at `raw` (checked, redirects re-checked), bounded in time and size.
pub async fn fetch(raw: &str, allowed: &[AllowedHost]) -> Result<Bytes, FetchError> {
    let mut url = check(raw, allowed).await?;
    for _ in 0..=MAX_REDIRECTS {
        let started = std::time::Instant::now();
        let resp = client()
            .get(url.clone())
            .header(http::header::ACCEPT, "image/*")
            .timeout(TIMEOUT)
            .send()
            .await
            .map_err(|e| {
                upstream::Error::from_reqwest(Upstream::Image, &e, url.path());
                FetchError::Unreachable
            })?;
        crate::metrics::upstream::upstream_ttfb(Upstream::Image, started.elapsed());
        let status = resp.status();
        if status.is_redirection() {
            let location = resp
                .headers()
                .get(http::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or(FetchError::Status(status.as_u16()))?;
            let next = url.join(location).map_err(|_| FetchError::Invalid)?;
            url = check(next.as_str(), allowed).await?;
            continue;
        }
        if status == http::StatusCode::NOT_FOUND {
            return Err(FetchError::NotFound);
        }
        if status != http::StatusCode::OK {
            let s = Some(status.as_u16());
            upstream::Error::new(Upstream::Image, upstream::Cause::Status, s, url.path());
            return Err(FetchError::Status(status.as_u16()));
        }
        let route = url.path().to_string();
        return upstream::read_bounded(Upstream::Image, resp, MAX_SOURCE_BYTES, &route)
            .await
            .map_err(|e| {
                if e.is_too_large() {
                    FetchError::TooLarge
                } else {
                    FetchError::Unreachable
                }
            });
    }
    Err(FetchError::Status(310))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(list: &[&str]) -> Vec<AllowedHost> {
        list.iter()
            .map(|h| AllowedHost::parse(h).unwrap())
            .collect()
    }

    #[test]
    fn allowlist_matches_scheme_host_and_port() {
        let a = hosts(&["image.tmdb.org", "http://127.0.0.1:8080"]);
        let ok = |u: &str| a.iter().any(|h| h.matches(&Url::parse(u).unwrap()));
        assert!(ok("https://image.tmdb.org/t/p/w500/a.jpg"));
        assert!(ok("https://IMAGE.tmdb.org:443/x"));
        assert!(ok("http://127.0.0.1:8080/poster.jpg"));
        assert!(!ok("http://image.tmdb.org/t/p/w500/a.jpg"), "https only");
        assert!(!ok("https://image.tmdb.org:8443/x"));
        assert!(!ok("https://image.tmdb.org.evil.example/x"));
        assert!(!ok("http://127.0.0.1:8081/poster.jpg"));
        assert!(!ok("http://localhost:8080/poster.jpg"));
        for bad in ["ftp://x", "https://u:p@x", "https://x/path", ""] {
            assert!(AllowedHost::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn private_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:4700::1111"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn check_refuses_files_and_unlisted_hosts() {
        let a = hosts(&["image.tmdb.org", "http://127.0.0.1:9"]);
        for bad in [
            "file:///etc/passwd",
            "/etc/passwd",
            "data:image/png;base64,AA",
            "gopher://x",
        ] {
            assert_eq!(check(bad, &a).await, Err(FetchError::Invalid), "{bad}");
        }
        for bad in [
            "http://169.254.169.254/latest",
            "http://127.0.0.1:10/",
            "https://user@image.tmdb.org/x",
        ] {
            assert_eq!(check(bad, &a).await, Err(FetchError::NotAllowed), "{bad}");
        }
        assert!(check("http://127.0.0.1:9/p.jpg", &a).await.is_ok());
        // A listed name that resolves to loopback is refused (DNS rebinding).
        let local = hosts(&["http://localhost:9"]);
        assert_eq!(
            check("http://localhost:9/p.jpg", &local).await,
            Err(FetchError::NotAllowed)
        );
    }
}
