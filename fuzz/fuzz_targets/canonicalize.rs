//! Path canonicaliser (`plexgate::stream::scope::canonicalize`, design §2) and its inverse on the
//! manifest side (`plexgate::stream::manifest::upstream_path`).
//!
//! Invariants: no panic; an accepted path is absolute, decoded once, has no empty, `.` or `..`
//! segment, no `\`, NUL or control character, nothing that still looks percent-encoded; and its
//! upstream re-encoding canonicalises back to itself (what plexgate checked is what Plex gets).
#![no_main]

use libfuzzer_sys::fuzz_target;
use plexgate::stream::manifest::upstream_path;
use plexgate::stream::scope::canonicalize;
use plexgate::util::percent_decode;

fn looks_encoded(s: &str) -> bool {
    s.as_bytes()
        .windows(3)
        .any(|w| w[0] == b'%' && w[1].is_ascii_hexdigit() && w[2].is_ascii_hexdigit())
}

/// Decoded once (raw when it does not decode), lower case: an oracle independent of the crate's.
fn decoded_lower(s: &str) -> String {
    percent_decode(s, true)
        .unwrap_or_else(|| s.to_owned())
        .to_ascii_lowercase()
}

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(p) = canonicalize(raw) {
        let s = p.as_str();
        assert!(s.starts_with('/'), "not absolute");
        for seg in s[1..].split('/') {
            assert!(!seg.is_empty() && seg != "." && seg != "..", "bad segment");
            assert!(!looks_encoded(seg), "still encoded");
        }
        assert!(
            !s.contains('\\') && !s.chars().any(char::is_control),
            "bad char"
        );
        let up = p.to_upstream();
        assert!(
            up.is_ascii() && !up.contains(['?', '#', ' ']),
            "upstream form not a path"
        );
        assert_eq!(
            canonicalize(&up).as_ref(),
            Ok(&p),
            "re-encoding is not stable"
        );
    }
    if let Ok(up) = upstream_path(raw) {
        let (path, query) = up.split_once('?').unwrap_or((&up, ""));
        assert!(
            path.starts_with('/') && !path.ends_with('/'),
            "upstream path shape"
        );
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = decoded_lower(name);
            assert!(
                !(name.starts_with("x-plex-") || name == "token"),
                "token-ish parameter kept"
            );
            assert!(
                !decoded_lower(value).contains("x-plex-token"),
                "nested token kept"
            );
        }
    }
});
