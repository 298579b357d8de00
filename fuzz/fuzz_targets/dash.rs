//! DASH rewriter and validator (`plexgate::stream::manifest::{rewrite_mpd, validate_mpd}`, §3).
//!
//! Input: one selector byte (which manifest URL and scope, see `plexgate_fuzz::cases`), then the
//! MPD.
//!
//! Invariants: no panic; an identity rewrite that succeeds is byte-identical; a real rewrite never
//! emits the fake token or an `X-Plex-Token` marker; a failed rewrite leaves no output.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plexgate::stream::manifest::{rewrite_mpd, validate_mpd};
use plexgate_fuzz::{assert_no_token, cases};

const SESSION: &str = "ws8ajlwvogju2sue33m2sqnl";

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let _ = validate_mpd(body);
    let input = String::from_utf8_lossy(body);
    let case = cases(
        SESSION,
        "/video/:/transcode/universal/start.mpd",
        "list/manifest.mpd",
        selector,
    );

    let mut out = String::new();
    if rewrite_mpd(&input, &case.identity, &mut out).is_ok() {
        assert!(out == input, "identity rewrite changed bytes");
    } else {
        assert!(out.is_empty(), "a failed rewrite left output behind");
    }

    let mut out = String::new();
    if rewrite_mpd(&input, &case.mapper, &mut out).is_ok() {
        assert_no_token(&input, &out);
    } else {
        assert!(out.is_empty(), "a failed rewrite left output behind");
    }
});
