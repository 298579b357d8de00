//! Which master key this process uses: the configured one, or the key file, bound to the
//! database so a lost or swapped key is a clear start-up error, never silent data loss.

use crate::config::StorageConfig;
use crate::crypto::{KeyOrigin, MasterKey};
use crate::db::{self, Db};

use super::StartupError;

/// The master key for `db`: `storage.secret_key` if set, else the key file (created on first
/// start only when the database holds no secrets yet).
pub async fn master_key(db: &Db, storage: &StorageConfig) -> Result<MasterKey, StartupError> {
    if let Some(text) = &storage.secret_key {
        let key = MasterKey::from_base64(text)?;
        db::keycheck::bind_key(db, &key, KeyOrigin::Configured).await?;
        return Ok(key);
    }
    let (key, origin) = db::keycheck::unlock_key_file(db, &storage.key_file).await?;
    if origin == KeyOrigin::Created {
        tracing::info!(
            path = %storage.key_file.display(),
            fingerprint = %key.fingerprint(),
            "created a new master key file; back it up together with the database"
        );
    }
    Ok(key)
}
