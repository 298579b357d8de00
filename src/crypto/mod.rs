//! Secrets at rest: the master key, its key file, and the AEAD that seals Plex tokens in SQLite.
//!
//! Everything plexgate stores that would let someone act as a user against Plex (account and
//! server tokens, third-party API keys) goes through [`SecretBox`]. The master key is generated on
//! first run into a 0600 key file (or given in config) and every purpose-specific key is derived
//! from it ([`MasterKey::derive`]), so the AEAD key, ticket HMAC keys and session-hash keys never
//! coincide.
//!
//! This module must never print key material or plaintext: `Debug` of every type here is
//! redacted, and no error message carries a key, a derived key or a decrypted value. Only
//! [`MasterKey::fingerprint`] (a one-way, label-separated digest) may be shown to operators.

mod error;
mod key;
pub mod keyfile;
pub mod probe;
mod secretbox;

pub use error::CryptoError;
pub use key::MasterKey;
pub use keyfile::KeyOrigin;
pub use secretbox::SecretBox;
