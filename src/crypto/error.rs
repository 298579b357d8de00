//! The one error type of the crypto module. Messages name files and reasons, never key bytes.

use std::path::PathBuf;

/// Why a key could not be loaded or a sealed value could not be opened.
///
/// No variant carries key material or plaintext, so `Display`/`Debug` are safe to log.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The key file does not exist (and the caller asked not to create one).
    #[error("key file {} does not exist", path.display())]
    KeyFileMissing {
        /// Where the key file was expected.
        path: PathBuf,
    },
    /// A new key file was requested but one is already there; it is never overwritten.
    #[error("key file {} already exists; refusing to overwrite it", path.display())]
    KeyFileExists {
        /// The existing file.
        path: PathBuf,
    },
    /// The key file exists but does not hold exactly one base64-encoded 32-byte key.
    #[error("key file {} is malformed: {reason}", path.display())]
    KeyFileMalformed {
        /// The offending file.
        path: PathBuf,
        /// What is wrong with it (never its content).
        reason: String,
    },
    /// Reading, creating or syncing a key file (or its directory) failed.
    #[error("key file {}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// A key given as text (config `storage.secret_key`) is unusable.
    #[error("invalid secret key: {0}")]
    BadKey(String),
    /// A sealed value is shorter than the smallest possible sealed value.
    #[error("sealed value is truncated ({len} bytes)")]
    Truncated {
        /// Its length in bytes.
        len: usize,
    },
    /// A sealed value has a format version this build does not know.
    #[error("sealed value has unknown format version {0}")]
    UnknownVersion(u8),
    /// Authentication failed: wrong key, wrong associated data, or tampered bytes.
    #[error("decryption failed: wrong key, wrong context or tampered data")]
    Decrypt,
}
