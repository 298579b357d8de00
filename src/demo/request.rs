//! A buffered view of one request to the demo Plex: decoded path, query pairs, headers, body.
//!
//! Why: every handler asks the same questions ("query or header?", "JSON or XML?"), and PMS lets
//! any `X-Plex-*` header travel as a query parameter. Requests to a PMS are small, so the body is
//! collected up front (bounded by the server). Nothing here panics on client input: bad
//! percent-escapes are kept literally and non-UTF-8 paths are rejected by the caller.

use bytes::Bytes;
use http::{HeaderMap, Method};

/// One parsed request.
#[derive(Debug)]
pub(crate) struct Req {
    pub method: Method,
    /// The path as sent (still percent-encoded).
    pub raw_path: String,
    /// The percent-decoded path used for routing; `None` when it does not decode to UTF-8.
    pub path: Option<String>,
    /// The raw query string, without `?`.
    pub raw_query: Option<String>,
    /// Decoded query pairs in order.
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The account whose token authorized the request (0 = the server token).
    pub account: super::store::Account,
}

impl Req {
    /// Builds the view from request parts and the collected body.
    pub fn new(parts: &http::request::Parts, body: Bytes) -> Req {
        let raw_path = parts.uri.path().to_owned();
        let raw_query = parts.uri.query().map(str::to_owned);
        let query = raw_query.as_deref().map(parse_query).unwrap_or_default();
        Req {
            method: parts.method.clone(),
            path: percent_decode(&raw_path, false),
            raw_path,
            raw_query,
            query,
            headers: parts.headers.clone(),
            body,
            account: 0,
        }
    }

    /// First query value named `name` (exact, case-sensitive like PMS).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A header value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// An `X-Plex-*` value from the header or, failing that, the query; empty counts as absent.
    pub fn plex(&self, name: &str) -> Option<&str> {
        self.header(name)
            .filter(|v| !v.trim().is_empty())
            .or_else(|| self.param(name).filter(|v| !v.trim().is_empty()))
    }

    /// PMS answers JSON only when asked with `Accept: application/json`; XML otherwise.
    pub fn wants_json(&self) -> bool {
        self.headers
            .get_all(http::header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.to_ascii_lowercase().contains("application/json"))
    }

    /// True for HEAD.
    pub fn is_head(&self) -> bool {
        self.method == Method::HEAD
    }
}

/// Splits an `application/x-www-form-urlencoded` query into decoded pairs.
pub(crate) fn parse_query(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode_lossy(k), decode_lossy(v))
        })
        .collect()
}

fn decode_lossy(s: &str) -> String {
    percent_decode(s, true).unwrap_or_else(|| s.to_owned())
}

/// Percent-decodes `s` (and `+` as space when `plus_as_space`); invalid escapes stay literal.
/// `None` when the result is not UTF-8.
pub(crate) fn percent_decode(s: &str, plus_as_space: bool) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex_val(bytes[i + 1]), hex_val(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_as_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_queries_and_paths() {
        let q = parse_query("path=%2Flibrary%2Fmetadata%2F101&a=b+c&flag&x=%zz&y=%4");
        assert_eq!(q[0], ("path".into(), "/library/metadata/101".into()));
        assert_eq!(q[1], ("a".into(), "b c".into()));
        assert_eq!(q[2], ("flag".into(), "".into()));
        assert_eq!(q[3], ("x".into(), "%zz".into()));
        assert_eq!(q[4], ("y".into(), "%4".into()));
        assert_eq!(
            percent_decode("/video/%3A/transcode", false).as_deref(),
            Some("/video/:/transcode")
        );
        assert_eq!(percent_decode("%ff", false), None);
    }
}
