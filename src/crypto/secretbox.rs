//! AES-256-GCM sealing of small secrets (Plex tokens) for storage.
//!
//! Sealed format: `version (1 byte) ‖ nonce (12 random bytes) ‖ ciphertext ‖ tag (16 bytes)`.
//! The version byte lets a later build change algorithm or key without guessing. Callers pass
//! associated data naming the row and column a value belongs to, so a sealed value copied into
//! another row or column fails to open. Never panics on hostile input and never prints a key.

use std::fmt;

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};

use super::{CryptoError, MasterKey};

const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const TOKENS_LABEL: &str = "plexgate.tokens.v1";

/// Seals and opens secrets with a key derived from the [`MasterKey`].
#[derive(Clone)]
pub struct SecretBox {
    cipher: Aes256Gcm,
}

impl SecretBox {
    /// A box keyed with `master.derive("plexgate.tokens.v1")`.
    pub fn new(master: &MasterKey) -> Self {
        let key = master.derive(TOKENS_LABEL);
        let cipher = Aes256Gcm::new_from_slice(&key).expect("AES-256 key is 32 bytes");
        Self { cipher }
    }

    /// Encrypts `plaintext`, authenticating `aad` too. Each call uses a fresh random nonce, so
    /// sealing the same value twice gives different bytes.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let nonce_bytes: [u8; NONCE_LEN] = crate::util::random_bytes();
        let nonce = Nonce::from(nonce_bytes);
        // AES-GCM only fails above 64 GiB of plaintext; plexgate seals tokens of a few dozen bytes.
        let ciphertext = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .expect("AES-GCM plaintext limit (64 GiB) exceeded");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&ciphertext);
        out
    }

    /// Decrypts a value produced by [`SecretBox::seal`] with the same key and `aad`.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < 1 + NONCE_LEN + TAG_LEN {
            return Err(CryptoError::Truncated { len: sealed.len() });
        }
        let (version, rest) = sealed.split_at(1);
        if version[0] != VERSION {
            return Err(CryptoError::UnknownVersion(version[0]));
        }
        let (nonce_bytes, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce_bytes: [u8; NONCE_LEN] = nonce_bytes
            .try_into()
            .map_err(|_| CryptoError::Truncated { len: sealed.len() })?;
        self.cipher
            .decrypt(
                &Nonce::from(nonce_bytes),
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .map_err(|_| CryptoError::Decrypt)
    }
}

impl fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBox(…redacted…)")
    }
}
