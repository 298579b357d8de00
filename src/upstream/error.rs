//! The one upstream error: which upstream, what kind of failure, the status when there was one.
//!
//! Shaped like reqwest's: callers ask `is_timeout()`, `is_connect()`, `is_status()`,
//! `is_too_large()` instead of matching strings. Built only through [`Error::new`] (and
//! [`Error::from_reqwest`]), which writes the one WARN line, so a failure is logged exactly once
//! however many layers pass it on. Its `Display` names the upstream and the kind, never a URL.

use std::fmt;

/// Which upstream a call went to (the `upstream` field of the WARN line).
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum Upstream {
    /// A Plex Media Server.
    Plex,
    /// plex.tv and its providers (Discover, metadata, VOD).
    PlexTv,
    /// The Movie Database.
    Tmdb,
    /// Trakt.
    Trakt,
    /// An allow-listed image host.
    Image,
}

impl Upstream {
    /// The log field value and the prefix of the browser-facing error codes.
    pub fn name(self) -> &'static str {
        match self {
            Upstream::Plex => "plex",
            Upstream::PlexTv => "plextv",
            Upstream::Tmdb => "tmdb",
            Upstream::Trakt => "trakt",
            Upstream::Image => "image",
        }
    }

    /// How a person names it in a message.
    pub fn title(self) -> &'static str {
        match self {
            Upstream::Plex => "the Plex server",
            Upstream::PlexTv => "plex.tv",
            Upstream::Tmdb => "TMDB",
            Upstream::Trakt => "Trakt",
            Upstream::Image => "the image host",
        }
    }
}

/// What kind of failure (the `cause` field of the WARN line).
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum Cause {
    /// The host name did not resolve.
    Dns,
    /// The connection was refused (or reset while connecting).
    Refused,
    /// The TLS handshake failed.
    Tls,
    /// No answer (or no more of the body) in time.
    Timeout,
    /// A status the caller does not accept.
    Status,
    /// The body is larger than the caller's limit.
    BodyTooLarge,
    /// The body is not what the caller can read (not JSON, wrong shape).
    Decode,
    /// Anything else (a body that broke off, a request that could not be built).
    Other,
}

impl Cause {
    /// The log field value.
    pub fn name(self) -> &'static str {
        match self {
            Cause::Dns => "dns",
            Cause::Refused => "refused",
            Cause::Tls => "tls",
            Cause::Timeout => "timeout",
            Cause::Status => "status",
            Cause::BodyTooLarge => "body_too_large",
            Cause::Decode => "decode",
            Cause::Other => "other",
        }
    }

    /// Sorts a reqwest error by kind. Only the kind survives: reqwest's `Display` names the
    /// URL, which for TMDB v3 carries the key.
    pub fn of(e: &reqwest::Error) -> Cause {
        if e.is_timeout() {
            return Cause::Timeout;
        }
        if e.is_decode() {
            return Cause::Decode;
        }
        if !e.is_connect() {
            return Cause::Other;
        }
        Cause::of_connect(e)
    }

    /// Sorts an error of the media client (`upstream::media`) by kind.
    pub fn of_media(e: &super::media::MediaError) -> Cause {
        if !e.is_connect() {
            return Cause::Other;
        }
        Cause::of_connect(e)
    }

    /// A connect failure: the connector's errors are nested, so walk the chain for the first
    /// telling one.
    fn of_connect(e: &(dyn std::error::Error + 'static)) -> Cause {
        let mut source = e.source();
        while let Some(s) = source {
            if let Some(io) = s.downcast_ref::<std::io::Error>() {
                if wraps_rustls(io) {
                    return Cause::Tls;
                }
                match io.kind() {
                    std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::ConnectionReset => {
                        return Cause::Refused;
                    }
                    std::io::ErrorKind::TimedOut => return Cause::Timeout,
                    _ => {}
                }
            }
            if s.downcast_ref::<rustls::Error>().is_some() {
                return Cause::Tls;
            }
            let text = s.to_string().to_ascii_lowercase();
            if text.contains("dns error") || text.contains("lookup address") {
                return Cause::Dns;
            }
            if text.contains("certificate") || text.contains("tls") || text.contains("handshake") {
                return Cause::Tls;
            }
            source = s.source();
        }
        Cause::Refused
    }
}

/// rustls reports through io::Errors nested in io::Errors, whose `source()` skips the rustls
/// error itself: unwrap them by hand.
fn wraps_rustls(io: &std::io::Error) -> bool {
    match io.get_ref() {
        Some(inner) if inner.is::<rustls::Error>() => true,
        Some(inner) => inner
            .downcast_ref::<std::io::Error>()
            .is_some_and(wraps_rustls),
        None => false,
    }
}

/// An upstream call that failed. Cheap to clone (coalesced cache loads share it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    upstream: Upstream,
    cause: Cause,
    status: Option<u16>,
}

impl Error {
    /// Records a failure: its WARN line and its `plexgate_upstream_errors` count. `route` is a path without query ("" when
    /// unknown); `status` the upstream's, when it answered.
    pub fn new(upstream: Upstream, cause: Cause, status: Option<u16>, route: &str) -> Error {
        let route = route.split('?').next().unwrap_or("");
        tracing::warn!(
            target: "plexgate::upstream",
            upstream = %upstream.name(),
            cause = %cause.name(),
            status,
            route = %route,
            "upstream request failed"
        );
        crate::metrics::upstream::upstream_error(upstream, cause);
        Error {
            upstream,
            cause,
            status,
        }
    }

    /// A failed send (or body read) as reqwest reported it.
    /// Without a `route` from the caller, the path reqwest failed on names it (never its query).
    pub fn from_reqwest(upstream: Upstream, e: &reqwest::Error, route: &str) -> Error {
        let route = match e.url() {
            Some(url) if route.is_empty() => url.path(),
            _ => route,
        };
        Error::new(
            upstream,
            Cause::of(e),
            e.status().map(|s| s.as_u16()),
            route,
        )
    }

    /// A failed send of the media client. Its errors never carry the URL.
    pub fn from_media(upstream: Upstream, e: &super::media::MediaError, route: &str) -> Error {
        Error::new(upstream, Cause::of_media(e), None, route)
    }

    /// Which upstream failed.
    pub fn upstream(&self) -> Upstream {
        self.upstream
    }

    /// What kind of failure.
    pub fn cause(&self) -> Cause {
        self.cause
    }

    /// The upstream's status, when it answered one.
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// No answer (or body) in time.
    pub fn is_timeout(&self) -> bool {
        self.cause == Cause::Timeout
    }

    /// No connection: name resolution, refusal or TLS.
    pub fn is_connect(&self) -> bool {
        matches!(self.cause, Cause::Dns | Cause::Refused | Cause::Tls)
    }

    /// A status the caller does not accept.
    pub fn is_status(&self) -> bool {
        self.cause == Cause::Status
    }

    /// A body over the caller's limit.
    pub fn is_too_large(&self) -> bool {
        self.cause == Cause::BodyTooLarge
    }

    /// A body the caller cannot read.
    pub fn is_decode(&self) -> bool {
        self.cause == Cause::Decode
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = self.upstream.title();
        match (self.cause, self.status) {
            (Cause::Timeout, _) => write!(f, "{who} did not answer in time"),
            (Cause::Dns, _) => write!(f, "{who} cannot be reached (its name does not resolve)"),
            (Cause::Refused, _) | (Cause::Other, _) => write!(f, "{who} cannot be reached"),
            (Cause::Tls, _) => write!(f, "{who} cannot be reached (TLS failed)"),
            (Cause::Status, Some(s)) => write!(f, "{who} answered HTTP {s}"),
            (Cause::Status, None) => write!(f, "{who} answered an unexpected status"),
            (Cause::BodyTooLarge, _) => {
                write!(f, "{who} sent a response larger than plexgate accepts")
            }
            (Cause::Decode, _) => write!(f, "{who} sent a response plexgate cannot use"),
        }
    }
}

impl std::error::Error for Error {}
