//! The 32-byte master key and the per-purpose keys derived from it.
//!
//! Never exposes the master key's bytes outside this crate and never prints them: `Debug` is
//! redacted and there is deliberately no `Display`, `PartialEq` or byte accessor.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{
    STANDARD, STANDARD_PAD_INDIFFERENT, URL_SAFE_PAD_INDIFFERENT,
};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::CryptoError;

type HmacSha256 = Hmac<Sha256>;

/// Length of the master key in bytes.
pub const KEY_LEN: usize = 32;

const FINGERPRINT_LABEL: &str = "plexgate.fingerprint.v1";

/// The root secret from which every other plexgate key is derived.
#[derive(Clone)]
pub struct MasterKey([u8; KEY_LEN]);

impl MasterKey {
    /// A fresh key from the operating system's CSPRNG.
    pub fn generate() -> Self {
        Self(crate::util::random_bytes())
    }

    /// Wraps raw key bytes (e.g. from a secrets manager).
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// Parses a key given as text (config `storage.secret_key`, or a key file line).
    ///
    /// Accepts standard or URL-safe base64, with or without padding, surrounding whitespace
    /// ignored; it must decode to exactly 32 bytes. The error never repeats the input.
    pub fn from_base64(text: &str) -> Result<Self, CryptoError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(CryptoError::BadKey("it is empty".into()));
        }
        let bytes = STANDARD_PAD_INDIFFERENT
            .decode(text)
            .or_else(|_| URL_SAFE_PAD_INDIFFERENT.decode(text))
            .map_err(|_| CryptoError::BadKey("it is not valid base64".into()))?;
        let bytes: [u8; KEY_LEN] = bytes.try_into().map_err(|v: Vec<u8>| {
            CryptoError::BadKey(format!(
                "it decodes to {} bytes, expected {KEY_LEN}",
                v.len()
            ))
        })?;
        Ok(Self(bytes))
    }

    /// Standard padded base64, for writing the key file. Crate-private so the bytes cannot leak
    /// through a convenient public accessor.
    pub(crate) fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// A 32-byte key for one purpose: HMAC-SHA256(master, `label`).
    ///
    /// Distinct labels give independent keys, so compromising one derived key (say, a ticket
    /// key leaked from a replica) reveals nothing about the master key or the others. Labels are
    /// versioned constants such as `"plexgate.tokens.v1"`.
    pub fn derive(&self, label: &str) -> [u8; KEY_LEN] {
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&self.0)
            .expect("HMAC-SHA256 accepts keys of any length");
        mac.update(label.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// A public identifier of this key: hex of the first 16 bytes of a derived value.
    ///
    /// Stored in the database so a wrong or regenerated key is detected at startup instead of
    /// surfacing later as undecryptable tokens. Safe to log: it is one-way and label-separated.
    pub fn fingerprint(&self) -> String {
        crate::util::hex(&self.derive(FINGERPRINT_LABEL)[..16])
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(…redacted…)")
    }
}
