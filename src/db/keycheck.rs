//! Binding the master key to the database, so a wrong or lost key fails loudly at startup.
//!
//! The database records the fingerprint of the key its secrets are sealed with (in `meta`).
//! At startup:
//! - no fingerprint yet: the key in use is recorded;
//! - same fingerprint: fine;
//! - different fingerprint: refused, naming both fingerprints (never the keys);
//! - fingerprint present but the key file is gone: refused **without creating a new key file**,
//!   so restoring the original file is all it takes, and a second start cannot silently bind a
//!   fresh key and orphan every stored token.
//!
//! Dependencies point one way: this module uses `crypto`, `crypto` knows nothing of `db`.

use std::path::{Path, PathBuf};

use crate::crypto::{CryptoError, KeyOrigin, MasterKey, keyfile};

use super::{Db, DbError, atomically, meta};

/// The `meta` key holding the fingerprint of the database's master key.
pub const FINGERPRINT_KEY: &str = "key_fingerprint";

/// Startup path for a key kept in a key file: loads it, or creates it only if the database does
/// not already depend on a key, then binds it to the database.
///
/// Returns the key and whether it was created or loaded. Errors: [`DbError::KeyFileLost`]
/// (database expects a key, file missing: nothing is created), [`DbError::KeyMismatch`] (file
/// holds another key), [`DbError::Crypto`] (unreadable or malformed file).
pub async fn unlock_key_file(db: &Db, path: &Path) -> Result<(MasterKey, KeyOrigin), DbError> {
    let expected = stored_fingerprint(db).await?;
    let loaded = blocking(path, keyfile::load).await?;
    let source = format!("the key file {}", path.display());
    match (loaded, expected) {
        (Some(key), _) => {
            bind(db, &key, KeyOrigin::Loaded, source).await?;
            Ok((key, KeyOrigin::Loaded))
        }
        (None, Some(expected)) => Err(DbError::KeyFileLost {
            path: path.to_path_buf(),
            expected,
        }),
        (None, None) => {
            let key = blocking(path, keyfile::create).await?;
            if let Err(e) = bind(db, &key, KeyOrigin::Created, source).await {
                // Nothing was sealed with the new key (binding is atomic and failed), and a
                // stray key file would turn the next start's clear error into a mismatch.
                let removed = blocking(path, |p| {
                    std::fs::remove_file(p).map_err(|source| CryptoError::Io {
                        path: p.to_path_buf(),
                        source,
                    })
                })
                .await;
                if let Err(error) = removed {
                    tracing::warn!(%error, "could not remove the unbound new key file");
                }
                return Err(e);
            }
            Ok((key, KeyOrigin::Created))
        }
    }
}

/// Checks `key` against the fingerprint stored in the database, recording it if there is none.
///
/// For keys obtained another way (config `storage.secret_key`, or a caller that manages the key
/// file itself). A [`KeyOrigin::Created`] key offered to a database that already has a
/// fingerprint is [`DbError::KeyReplaced`]: the original key was lost.
pub async fn bind_key(db: &Db, key: &MasterKey, origin: KeyOrigin) -> Result<(), DbError> {
    let source = match origin {
        KeyOrigin::Configured => "the configured storage.secret_key",
        KeyOrigin::Loaded | KeyOrigin::Created => "the key file",
    };
    bind(db, key, origin, source.to_owned()).await
}

async fn stored_fingerprint(db: &Db) -> Result<Option<String>, DbError> {
    db.read(|conn| {
        Ok(meta::get(conn, FINGERPRINT_KEY)?.map(|v| String::from_utf8_lossy(&v).into_owned()))
    })
    .await
}

async fn bind(
    db: &Db,
    key: &MasterKey,
    origin: KeyOrigin,
    key_source: String,
) -> Result<(), DbError> {
    let found = key.fingerprint();
    let fingerprint = found.clone();
    let newly_bound = db
        .write(move |conn| {
            atomically(conn, |conn| match meta::get(conn, FINGERPRINT_KEY)? {
                None => {
                    meta::set(conn, FINGERPRINT_KEY, fingerprint.as_bytes())?;
                    Ok(true)
                }
                Some(stored) if stored == fingerprint.as_bytes() => Ok(false),
                Some(stored) => {
                    let expected = String::from_utf8_lossy(&stored).into_owned();
                    Err(match origin {
                        KeyOrigin::Created => DbError::KeyReplaced {
                            found: fingerprint,
                            expected,
                        },
                        KeyOrigin::Loaded | KeyOrigin::Configured => DbError::KeyMismatch {
                            key_source,
                            found: fingerprint,
                            expected,
                        },
                    })
                }
            })
        })
        .await?;
    if newly_bound {
        tracing::info!(fingerprint = %found, ?origin, "master key bound to the database");
    } else {
        tracing::debug!(fingerprint = %found, ?origin, "master key matches the database");
    }
    Ok(())
}

/// Key files are read and written with blocking I/O; keep it off the async workers.
async fn blocking<T: Send + 'static>(
    path: &Path,
    f: impl FnOnce(&Path) -> Result<T, CryptoError> + Send + 'static,
) -> Result<T, DbError> {
    let path: PathBuf = path.to_path_buf();
    tokio::task::spawn_blocking(move || f(&path))
        .await
        .map_err(|e| {
            if e.is_panic() {
                DbError::Panicked
            } else {
                DbError::Cancelled
            }
        })?
        .map_err(DbError::from)
}
