//! `Range: bytes=…` parser. plexgate's own proxy has none: it forwards `Range`/`If-Range` to Plex
//! and passes 206/416 back (`src/stream/headers.rs`). The one parser in the tree is the demo
//! Plex's (`src/demo/range.rs`), which serves the e2e suites; it is compiled into this target
//! from its source file so that it needs no public API.
//!
//! Input: the body length (8 bytes, big-endian; shorter inputs pad with zeros), then the header
//! value; an input of fewer than 8 bytes also tries "no header".
//!
//! Invariants: no panic; a partial answer lies inside the body (`start <= end < len`); a syntactic
//! `bytes=a-b` with `a < len` is never refused.
#![no_main]

#[allow(dead_code, unreachable_pub)]
#[path = "../../src/demo/range.rs"]
mod range;

use libfuzzer_sys::fuzz_target;
use range::{RangeAnswer, parse};

fuzz_target!(|data: &[u8]| {
    let mut len = [0u8; 8];
    let n = data.len().min(8);
    len[..n].copy_from_slice(&data[..n]);
    let len = u64::from_be_bytes(len);
    let header = std::str::from_utf8(&data[n..]).ok();
    if n < 8 {
        assert_eq!(parse(None, len), RangeAnswer::Full);
    }
    match parse(header, len) {
        RangeAnswer::Partial { start, end } => {
            assert!(
                start <= end && end < len,
                "range {start}-{end} outside a body of {len}"
            );
        }
        RangeAnswer::Unsatisfiable | RangeAnswer::Full => {}
    }
    // A plain first-last range that starts inside the body is always served.
    if let Some(spec) = header.and_then(|h| h.strip_prefix("bytes="))
        && let Some((a, b)) = spec.split_once('-')
        && let (Ok(a), Ok(b)) = (a.parse::<u64>(), b.parse::<u64>())
        && a <= b
        && a < len
    {
        assert_eq!(
            parse(header, len),
            RangeAnswer::Partial {
                start: a,
                end: b.min(len - 1)
            }
        );
    }
});
