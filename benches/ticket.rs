//! Ticket cost (design §2, §10): every proxied request verifies one ticket before anything else,
//! and every manifest and `/api/auth/servers` answer mints one, so both sit on the hot path.
//!
//! - `ticket/mint`: sign a playback ticket (HMAC-SHA256 + base64url).
//! - `ticket/verify`: decode, look up the key, check the MAC in constant time, parse, check expiry.
//! - `ticket/verify_tampered`: the same ticket with one payload character changed, so the MAC
//!   check fails; it must cost about the same as a good one (no early exit before the MAC).
//!
//! Run: `cargo bench --bench ticket -- --quick`. Target: verify < 1 µs.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use plexgate::stream::ticket::{Claims, Scope, TicketKeys};

/// A fixed "now"; the ticket expires an hour later.
const NOW: i64 = 1_750_000_000;

fn playback_claims() -> Claims {
    Claims {
        key_id: 0,
        scope: Scope::Playback {
            prefix: "/video/:/transcode/universal/session/abc/".into(),
        },
        expires_at: NOW + 3600,
        session_id: [0x5a; 16],
        user_id: 42,
        server_id: 7,
    }
}

/// `ticket` with one character in the payload (not the tag) swapped for another base64url one.
fn tampered(ticket: &str) -> String {
    let mut bytes = ticket.as_bytes().to_vec();
    let at = 20;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).expect("base64url is ASCII")
}

fn tickets(c: &mut Criterion) {
    let keys = TicketKeys::from_keys((1, [7u8; 32]), None);
    let claims = playback_claims();
    let ticket = keys.mint(&claims);
    let bad = tampered(&ticket);
    assert!(keys.verify(&ticket, NOW).is_ok(), "a fresh ticket verifies");
    assert!(keys.verify(&bad, NOW).is_err(), "a tampered ticket fails");

    let mut group = c.benchmark_group("ticket");
    group.bench_function("mint", |b| b.iter(|| keys.mint(black_box(&claims))));
    group.bench_function("verify", |b| {
        b.iter(|| keys.verify(black_box(&ticket), black_box(NOW)))
    });
    group.bench_function("verify_tampered", |b| {
        b.iter(|| keys.verify(black_box(&bad), black_box(NOW)))
    });
    group.finish();
}

criterion_group!(benches, tickets);
criterion_main!(benches);
