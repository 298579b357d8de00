//! One-time probe tokens: how `plexgate doctor` asks a running plexgate, through the reverse
//! proxy, "what did this request look like when it reached you?" without that question being
//! answerable for anyone else.
//!
//! A token is `base64url(expiry ‖ nonce ‖ HMAC-SHA256(key, label ‖ expiry ‖ nonce))` with a key
//! derived from the master key, which the doctor reads from the same key file as the server.
//! The server accepts a token once, before its expiry (at most [`MAX_LIFETIME`] ahead), and
//! forgets used nonces when they expire. It carries no secret and grants nothing but the echo.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::MasterKey;

type HmacSha256 = Hmac<Sha256>;

const LABEL: &[u8] = b"plexgate.doctor-probe.v1";
/// How far ahead a token may expire; the doctor uses it within seconds.
pub const MAX_LIFETIME: u64 = 120;
const NONCE_LEN: usize = 16;
const TOKEN_LEN: usize = 8 + NONCE_LEN + 32;

/// Mints and accepts probe tokens.
pub struct ProbeKey {
    key: [u8; 32],
    used: Mutex<HashMap<[u8; NONCE_LEN], u64>>,
}

impl std::fmt::Debug for ProbeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProbeKey(…redacted…)")
    }
}

impl ProbeKey {
    /// The probe key of `master`.
    pub fn derive(master: &MasterKey) -> Self {
        ProbeKey {
            key: master.derive("plexgate.doctor-probe-key.v1"),
            used: Mutex::new(HashMap::new()),
        }
    }

    fn mac(&self, body: &[u8]) -> HmacSha256 {
        let mut m =
            <HmacSha256 as KeyInit>::new_from_slice(&self.key).expect("HMAC takes any key length");
        m.update(LABEL);
        m.update(body);
        m
    }

    /// A token valid until `now + MAX_LIFETIME` (epoch seconds).
    pub fn mint(&self, now: u64) -> String {
        let mut token = Vec::with_capacity(TOKEN_LEN);
        token.extend_from_slice(&(now + MAX_LIFETIME).to_be_bytes());
        token.extend_from_slice(&crate::util::random_bytes::<NONCE_LEN>());
        let tag = self.mac(&token).finalize().into_bytes();
        token.extend_from_slice(&tag);
        URL_SAFE_NO_PAD.encode(token)
    }

    /// Whether `token` is authentic, unexpired and unused; accepting it uses it up.
    pub fn accept(&self, token: &str, now: u64) -> bool {
        let Ok(bytes) = URL_SAFE_NO_PAD.decode(token.trim()) else {
            return false;
        };
        if bytes.len() != TOKEN_LEN {
            return false;
        }
        let (body, tag) = bytes.split_at(8 + NONCE_LEN);
        if self.mac(body).verify_slice(tag).is_err() {
            return false;
        }
        let mut expiry = [0u8; 8];
        expiry.copy_from_slice(&body[..8]);
        let expiry = u64::from_be_bytes(expiry);
        if expiry <= now || expiry > now + MAX_LIFETIME {
            return false;
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&body[8..]);
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        used.retain(|_, exp| *exp > now);
        used.insert(nonce, expiry).is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_once_before_expiry_and_only_with_the_same_key() {
        let master = MasterKey::generate();
        let key = ProbeKey::derive(&master);
        let t = key.mint(1000);
        assert!(!ProbeKey::derive(&MasterKey::generate()).accept(&t, 1000));
        assert!(!key.accept(&t, 1000 + MAX_LIFETIME));
        assert!(key.accept(&t, 1001));
        assert!(!key.accept(&t, 1002), "one time only");
        let mut forged = t.clone().into_bytes();
        forged[3] ^= 1;
        assert!(!key.accept(&String::from_utf8(forged).unwrap(), 1001));
        assert!(!key.accept("", 1001));
    }
}
