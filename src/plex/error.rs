use thiserror::Error;

use crate::upstream::{self, Upstream};

/// What went wrong talking to a Plex Media Server. Messages name the server's base URL at most,
/// never a path with a query or a token.
#[derive(Debug, Error)]
pub enum PlexError {
    /// No TCP/TLS connection could be made, or it broke.
    #[error("Plex server at {base} is unreachable: {reason}")]
    Unreachable {
        /// Base URL of the server.
        base: String,
        /// Short reason (connect refused, timeout, TLS).
        reason: String,
    },
    /// The server did not answer in time.
    #[error("Plex server at {base} did not answer in time")]
    Timeout {
        /// Base URL of the server.
        base: String,
    },
    /// The server rejected the token.
    #[error("Plex server at {base} rejected the server token")]
    Unauthorized {
        /// Base URL of the server.
        base: String,
    },
    /// The server answered with an unexpected status.
    #[error("Plex server at {base} answered HTTP {status}")]
    Status {
        /// Base URL of the server.
        base: String,
        /// The status it answered.
        status: u16,
    },
    /// The body was not the JSON shape Plex sends.
    #[error("Plex server at {base} sent an unexpected body: {reason}")]
    BadBody {
        /// Base URL of the server.
        base: String,
        /// What did not parse.
        reason: String,
    },
}

impl PlexError {
    /// The message for a browser: what happened, without the server's address (the browser
    /// never needs to know where Plex lives).
    pub fn public_message(&self) -> String {
        match self {
            PlexError::Unreachable { reason, .. } => {
                format!("the Plex server is unreachable: {reason}")
            }
            PlexError::Timeout { .. } => "the Plex server did not answer in time".to_string(),
            PlexError::Unauthorized { .. } => {
                "the Plex server rejected plexgate's server token; sync servers again".to_string()
            }
            PlexError::Status { status, .. } => format!("the Plex server answered HTTP {status}"),
            PlexError::BadBody { .. } => {
                "the Plex server sent a response plexgate cannot read".to_string()
            }
        }
    }

    /// A status plexgate does not accept from `route`. A 401 (plexgate's token) and a 5xx are
    /// upstream failures and get the WARN line; another 4xx is Plex's answer to a request
    /// (an unknown item, a finished session) and is passed on quietly.
    pub(crate) fn from_status(base: &str, status: u16, route: &str) -> Self {
        if status == 401 || status >= 500 {
            upstream::Error::new(Upstream::Plex, upstream::Cause::Status, Some(status), route);
        }
        let base = base.to_string();
        if status == 401 {
            PlexError::Unauthorized { base }
        } else {
            PlexError::Status { base, status }
        }
    }

    /// A body from `route` that is not the JSON shape Plex sends (logged once by `upstream`).
    pub(crate) fn undecodable(base: &str, reason: impl std::fmt::Display, route: &str) -> Self {
        upstream::Error::new(Upstream::Plex, upstream::Cause::Decode, None, route);
        PlexError::BadBody {
            base: base.to_string(),
            reason: reason.to_string(),
        }
    }

    /// A failed send as reqwest reported it (logged once by `upstream`).
    pub(crate) fn from_reqwest(base: &str, e: &reqwest::Error) -> Self {
        let failure = upstream::Error::from_reqwest(Upstream::Plex, e, "");
        Self::from_upstream(base, &failure)
    }

    /// An upstream failure, named by `base` (the message for the browser drops it).
    pub(crate) fn from_upstream(base: &str, e: &upstream::Error) -> Self {
        let base = base.to_string();
        let reason = match e.cause() {
            upstream::Cause::Timeout => return PlexError::Timeout { base },
            upstream::Cause::Status => {
                return PlexError::Status {
                    base,
                    status: e.status().unwrap_or(502),
                };
            }
            upstream::Cause::BodyTooLarge | upstream::Cause::Decode => {
                return PlexError::BadBody {
                    base,
                    reason: e.to_string(),
                };
            }
            upstream::Cause::Dns => "the name does not resolve",
            upstream::Cause::Refused => "connection failed",
            upstream::Cause::Tls => "TLS failed",
            upstream::Cause::Other => "the request or its body broke off",
        };
        PlexError::Unreachable {
            base,
            reason: reason.to_string(),
        }
    }
}
