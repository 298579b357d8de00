//! Ticket parser and verifier (`plexgate::stream::ticket`, design §2).
//!
//! The first byte picks what the rest of the input is:
//! - 0: ticket text, as the browser sends it in the proxy path;
//! - 1: a raw payload, signed here with a live key so that the parser behind the MAC is reached
//!   (a random text never gets past the MAC);
//! - 2: claims, minted with the real `mint`, then one byte of the ticket text changed.
//!
//! Invariants: no panic; whatever verifies re-mints to the very same ticket (the parser accepts
//! only the canonical encoding) and is not expired; a changed ticket never verifies.
#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use libfuzzer_sys::fuzz_target;
use plexgate::stream::ticket::{Claims, MAX_PREFIX_LEN, Scope, TicketKeys};
use sha2::Sha256;
use std::sync::OnceLock;

const CURRENT: (u8, [u8; 32]) = (2, [7u8; 32]);
const PREVIOUS: (u8, [u8; 32]) = (1, [9u8; 32]);
const NOW: i64 = 1_700_000_000;
/// The ticket format's domain-separation label, restated here; `check_signer` proves it matches.
const DOMAIN: &[u8] = b"plexgate.ticket.v1\0";

fn keys() -> TicketKeys {
    TicketKeys::from_keys(CURRENT, Some(PREVIOUS))
}

fn sign(key: &[u8; 32], payload: &[u8]) -> String {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
    m.update(DOMAIN);
    m.update(payload);
    let mut raw = payload.to_vec();
    raw.extend_from_slice(&m.finalize().into_bytes());
    URL_SAFE_NO_PAD.encode(raw)
}

/// The harness's signer must agree with `mint`, or mode 1 would only exercise the MAC check.
fn check_signer() {
    let t = keys().mint(&Claims {
        key_id: 0,
        scope: Scope::Playback {
            prefix: "/library/parts/1/".into(),
        },
        expires_at: NOW + 60,
        session_id: [3; 16],
        user_id: 4,
        server_id: 5,
    });
    let raw = URL_SAFE_NO_PAD.decode(&t).unwrap();
    assert_eq!(
        sign(&CURRENT.1, &raw[..raw.len() - 32]),
        t,
        "harness signer drifted"
    );
}

fn key_for(id: u8) -> Option<[u8; 32]> {
    [CURRENT, PREVIOUS].iter().find(|k| k.0 == id).map(|k| k.1)
}

/// Whatever verifies must be the canonical encoding of its claims, and live.
fn assert_canonical(ticket: &str, claims: &Claims) {
    assert!(claims.expires_at > NOW, "expired ticket verified");
    let key = key_for(claims.key_id).expect("verified with a key that is not live");
    let again = TicketKeys::from_keys((claims.key_id, key), None).mint(claims);
    assert_eq!(again, ticket, "a non-canonical ticket verified");
    if let Scope::Playback { prefix } = &claims.scope {
        assert!(prefix.starts_with('/') && prefix.len() <= MAX_PREFIX_LEN);
    }
}

fn be64(b: &[u8]) -> i64 {
    let mut a = [0u8; 8];
    let n = b.len().min(8);
    a[..n].copy_from_slice(&b[..n]);
    i64::from_be_bytes(a)
}

fuzz_target!(|data: &[u8]| {
    static SIGNER_OK: OnceLock<()> = OnceLock::new();
    SIGNER_OK.get_or_init(check_signer);
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let keys = keys();
    match mode % 3 {
        0 => {
            let text = String::from_utf8_lossy(rest);
            if let Ok(c) = keys.verify(&text, NOW) {
                assert_canonical(&text, &c);
            }
        }
        1 => {
            // Sign with the key the payload names when it is live, else the current one.
            let key = rest.get(1).and_then(|id| key_for(*id)).unwrap_or(CURRENT.1);
            let ticket = sign(&key, rest);
            if let Ok(c) = keys.verify(&ticket, NOW) {
                assert_canonical(&ticket, &c);
            }
        }
        _ => {
            // [flip index (2), flip mask, kind, expiry (8), prefix…]
            if rest.len() < 12 {
                return;
            }
            let at = u16::from_be_bytes([rest[0], rest[1]]) as usize;
            let mask = rest[2];
            let expires_at = be64(&rest[4..12]);
            let prefix = String::from_utf8_lossy(&rest[12..]);
            let prefix: String = prefix.chars().take(MAX_PREFIX_LEN / 4).collect();
            let scope = if rest[3] & 1 == 0 {
                Scope::Facade
            } else {
                Scope::Playback { prefix }
            };
            let claims = Claims {
                key_id: 0,
                scope,
                expires_at,
                session_id: [rest[3]; 16],
                user_id: expires_at.wrapping_mul(31),
                server_id: i64::from(mask),
            };
            let ticket = keys.mint(&claims);
            match keys.verify(&ticket, NOW) {
                Ok(c) => {
                    assert_eq!(c.scope, claims.scope);
                    assert_eq!(
                        (c.expires_at, c.user_id, c.server_id, c.session_id, c.key_id),
                        (
                            expires_at,
                            claims.user_id,
                            claims.server_id,
                            claims.session_id,
                            2
                        )
                    );
                }
                Err(e) => {
                    // Only expiry, or a prefix the parser refuses (not starting with `/`).
                    let bad_prefix = matches!(&claims.scope, Scope::Playback { prefix } if !prefix.starts_with('/'));
                    assert!(
                        expires_at <= NOW || bad_prefix,
                        "minted ticket refused: {e:?}"
                    );
                }
            }
            if mask != 0 && !ticket.is_empty() {
                let mut bytes = ticket.clone().into_bytes();
                let i = at % bytes.len();
                bytes[i] ^= mask;
                let changed = String::from_utf8_lossy(&bytes).into_owned();
                // Canonical base64 only (no trailing-bit slack): any change is a forgery.
                assert!(
                    changed == ticket || keys.verify(&changed, NOW).is_err(),
                    "a changed ticket verified"
                );
            }
        }
    }
});
