//! HLS rewriter and validator (`plexgate::stream::manifest::{rewrite_hls, validate_hls}`, §3).
//!
//! Input: one selector byte (which manifest URL and scope, see `plexgate_fuzz::cases`), then the
//! playlist.
//!
//! Invariants: no panic; an identity rewrite that succeeds is byte-identical; a real rewrite
//! keeps the line count, never emits the fake token or an `X-Plex-Token` marker, and every URI
//! line and `URI="…"` attribute it emits is in proxy form (or `data:`/`skd:`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use plexgate::stream::manifest::{rewrite_hls, validate_hls};
use plexgate_fuzz::{assert_no_token, cases, is_passthrough, is_proxy_form};

const SESSION: &str = "7d0f1e8a-5c44-4d3b-9e21-6a7b8c9d0e1f";

/// Every `URI="…"` attribute (name exactly `URI`, outside quotes) of an `#EXT-X-` tag line: an
/// oracle written apart from the rewriter's attribute scanner.
fn uri_attributes(line: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let Some(colon) = line.find(':') else {
        return found;
    };
    let bytes = line.as_bytes();
    let mut in_quotes = false;
    for i in colon..bytes.len() {
        match bytes[i] {
            b'"' => in_quotes = !in_quotes,
            b'U' if !in_quotes && line[i..].starts_with("URI=\"") => {
                // An attribute starts the list (right after the tag's first `:`) or follows a
                // `,`; `X:URI="…"` is an attribute named `X:URI`.
                let before = line[..i].trim_end_matches(' ');
                if before.len() == colon + 1 || before.ends_with(',') {
                    let open = i + 5;
                    if let Some(len) = line[open..].find('"') {
                        found.push(&line[open..open + len]);
                    }
                }
            }
            _ => {}
        }
    }
    found
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let _ = validate_hls(body);
    let input = String::from_utf8_lossy(body);
    let case = cases(
        SESSION,
        "/video/:/transcode/universal/start.m3u8",
        "base/index.m3u8",
        selector,
    );

    let mut out = String::new();
    if rewrite_hls(&input, &case.identity, &mut out).is_ok() {
        assert!(out == input, "identity rewrite changed bytes");
    } else {
        assert!(out.is_empty(), "a failed rewrite left output behind");
    }

    let mut out = String::new();
    if rewrite_hls(&input, &case.mapper, &mut out).is_err() {
        assert!(out.is_empty(), "a failed rewrite left output behind");
        return;
    }
    assert_no_token(&input, &out);
    assert_eq!(
        input.matches('\n').count(),
        out.matches('\n').count(),
        "line count"
    );
    for line in out.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.starts_with("#EXT-X-") {
            for uri in uri_attributes(line) {
                assert!(
                    is_proxy_form(uri) || is_passthrough(uri),
                    "attribute URI not rewritten: {uri:?}"
                );
            }
        } else if !line.starts_with('#') {
            let uri = line.trim_matches([' ', '\t']);
            assert!(
                uri.is_empty() || is_proxy_form(uri) || is_passthrough(uri),
                "URI line not rewritten: {uri:?}"
            );
        }
    }
});
