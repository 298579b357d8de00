//! Sealing token columns: the associated data that binds a sealed value to its row and column,
//! and the conversions between `&str` tokens and sealed blobs.
//!
//! The associated data uses values known before the row is inserted (Plex account id, user id +
//! server machine id), so a token is sealed before its first write and never hits the disk in
//! plaintext. Swapping sealed values between rows or columns makes them fail to open.

use crate::crypto::{CryptoError, SecretBox};

use super::DbError;

pub(crate) fn user_token_aad(plex_id: i64) -> String {
    format!("plexgate:users.plex_token:{plex_id}")
}

pub(crate) fn server_token_aad(user_id: i64, machine_identifier: &str) -> String {
    format!("plexgate:servers.access_token:{user_id}:{machine_identifier}")
}

pub(crate) fn seal_str(secrets: &SecretBox, value: &str, aad: &str) -> Vec<u8> {
    secrets.seal(value.as_bytes(), aad.as_bytes())
}

pub(crate) fn open_str(
    secrets: &SecretBox,
    sealed: &[u8],
    aad: &str,
    what: &'static str,
) -> Result<String, DbError> {
    let bytes = secrets
        .open(sealed, aad.as_bytes())
        .map_err(|source| DbError::Secret { what, source })?;
    // Authenticated bytes that are not UTF-8 were not sealed by us; treat them like tampering.
    String::from_utf8(bytes).map_err(|_| DbError::Secret {
        what,
        source: CryptoError::Decrypt,
    })
}
