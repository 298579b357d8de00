//! Entity tags: the one `If-None-Match` comparison every handler uses, and the weak validator
//! for files served from disk.
//!
//! RFC 9110 §13.1.2: `If-None-Match` compares weakly (`W/"x"` matches `"x"`), takes a list or
//! `*`, and wins over `If-Modified-Since`. Three handlers compared exact strings on their own;
//! one comparison keeps a browser's revalidation behaving the same everywhere.

use http::HeaderMap;
use http::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_RANGE, IF_NONE_MATCH, LAST_MODIFIED};

/// Whether the request's `If-None-Match` names `etag` (or is `*`): the client has it already.
pub fn none_match(request: &HeaderMap, etag: &str) -> bool {
    let opaque = |tag: &str| tag.trim().trim_start_matches("W/").to_string();
    let want = opaque(etag);
    request
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| tag.trim() == "*" || opaque(tag) == want)
}

/// A weak tag for a file answer (200 or 206) from its validators: modification time, full
/// length and content coding (a `.br` sibling is another representation). `None` when the
/// answer does not carry them.
pub fn for_file(response: &HeaderMap) -> Option<String> {
    let modified = response.get(LAST_MODIFIED)?.to_str().ok()?;
    let modified = httpdate::parse_http_date(modified).ok()?;
    let secs = modified
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    // A range answer's full length is after the slash of Content-Range.
    let length: u64 = match response.get(CONTENT_RANGE) {
        Some(range) => range.to_str().ok()?.rsplit('/').next()?.parse().ok()?,
        None => response.get(CONTENT_LENGTH)?.to_str().ok()?.parse().ok()?,
    };
    let coding = response
        .get(CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity");
    Some(format!("W/\"{length:x}-{secs:x}-{coding}\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn req(v: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(IF_NONE_MATCH, HeaderValue::from_static(v));
        h
    }

    #[test]
    fn compares_weakly_through_lists_and_star() {
        assert!(none_match(&req("\"a\""), "\"a\""));
        assert!(none_match(&req("W/\"a\""), "\"a\""));
        assert!(none_match(&req("\"b\", W/\"a\""), "W/\"a\""));
        assert!(none_match(&req("*"), "\"a\""));
        assert!(!none_match(&req("\"ab\""), "\"a\""));
        assert!(!none_match(&HeaderMap::new(), "\"a\""));
    }

    #[test]
    fn a_file_tag_names_length_time_and_coding() {
        let mut h = HeaderMap::new();
        h.insert(
            LAST_MODIFIED,
            HeaderValue::from_static("Thu, 03 Dec 2026 10:00:00 GMT"),
        );
        h.insert(CONTENT_LENGTH, HeaderValue::from_static("255"));
        let whole = for_file(&h).unwrap();
        assert!(
            whole.starts_with("W/\"ff-") && whole.ends_with("-identity\""),
            "{whole}"
        );
        h.insert(CONTENT_RANGE, HeaderValue::from_static("bytes 0-9/255"));
        h.insert(CONTENT_LENGTH, HeaderValue::from_static("10"));
        assert_eq!(for_file(&h).unwrap(), whole, "a range has its file's tag");
        h.insert(CONTENT_ENCODING, HeaderValue::from_static("br"));
        assert_ne!(for_file(&h).unwrap(), whole);
        h.remove(LAST_MODIFIED);
        assert_eq!(for_file(&h), None);
    }
}
