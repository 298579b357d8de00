//! Which headers cross plexgate, in each direction (design §4).
//!
//! Toward Plex only the conditional and range headers a player needs are forwarded; the
//! browser's own `X-Plex-*` headers (its "token", which is a ticket, and its client identity)
//! never are. They go after the session's own (its identity, session identifier and plexgate's
//! User-Agent), which no browser header can add a second value to. Toward the browser,
//! hop-by-hop headers, cookies and every `X-Plex-*` header are dropped, so nothing Plex says
//! about itself or its sessions reaches the page.

use http::HeaderMap;
use http::header::{self, HeaderName, HeaderValue};

use crate::plex::ClientIdentity;

/// How plexgate names itself to Plex (what reqwest sends for the other clients).
const USER_AGENT: HeaderValue =
    HeaderValue::from_static(concat!("plexgate/", env!("CARGO_PKG_VERSION")));

/// Request headers copied from the browser to Plex.
const FORWARD_TO_UPSTREAM: &[HeaderName] = &[
    // PMS answers XML unless asked for JSON; the player asks.
    header::ACCEPT,
    header::RANGE,
    header::IF_RANGE,
    header::IF_NONE_MATCH,
    header::IF_MODIFIED_SINCE,
    header::ACCEPT_LANGUAGE,
];

/// Response headers copied from Plex to the browser.
const RETURN_TO_CLIENT: &[HeaderName] = &[
    header::CONTENT_TYPE,
    header::CONTENT_LENGTH,
    header::CONTENT_RANGE,
    header::ACCEPT_RANGES,
    header::ETAG,
    header::LAST_MODIFIED,
    header::CACHE_CONTROL,
    header::EXPIRES,
    header::CONTENT_DISPOSITION,
    header::CONTENT_LANGUAGE,
];

/// The headers every request forwarded for one ticket session starts with: its login
/// session's identity, the session identifier and plexgate's User-Agent. Built once per
/// session, so a segment request clones them instead of validating and hashing each again.
pub fn session_headers(identity: &ClientIdentity, session_identifier: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    identity.apply(&mut headers, Some(session_identifier));
    headers.insert(header::USER_AGENT, USER_AGENT);
    headers
}

/// The subset of `incoming` forwarded upstream.
pub fn upstream_request_headers(incoming: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for name in FORWARD_TO_UPSTREAM {
        for value in incoming.get_all(name) {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

/// The subset of an upstream response's headers returned to the browser.
pub fn client_response_headers(upstream: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for name in RETURN_TO_CLIENT {
        for value in upstream.get_all(name) {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_allowlisted_headers_cross() {
        let mut browser = HeaderMap::new();
        browser.insert("range", "bytes=0-99".parse().unwrap());
        browser.insert("accept", "application/json".parse().unwrap());
        browser.insert("x-plex-token", "ticket".parse().unwrap());
        browser.insert("cookie", "plex.sid=x".parse().unwrap());
        browser.insert("x-plex-client-identifier", "browser".parse().unwrap());
        let up = upstream_request_headers(&browser);
        assert_eq!(up.len(), 2);
        assert_eq!(up["range"], "bytes=0-99");

        let mut plex = HeaderMap::new();
        plex.insert("content-range", "bytes 0-99/1000".parse().unwrap());
        plex.insert("set-cookie", "a=b".parse().unwrap());
        plex.insert("x-plex-protocol", "1.0".parse().unwrap());
        plex.insert("connection", "keep-alive".parse().unwrap());
        plex.insert("transfer-encoding", "chunked".parse().unwrap());
        let back = client_response_headers(&plex);
        assert_eq!(back.len(), 1);
        assert!(back.contains_key("content-range"));
    }
}
