//! The doctor's checks on local files: the database directory, the database, the master key.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::config::StorageConfig;
use crate::crypto::{CryptoError, MasterKey, keyfile};
use crate::db::inspect::inspect;
use crate::db::servers::Server;

use super::Check;

/// The database directory exists (or can be created) and plexgate can create files in it.
pub(super) fn database_dir(storage: &StorageConfig) -> Check {
    let dir = storage
        .database
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if let Err(e) = crate::db::create_dir(&storage.database) {
        return Check::fail(
            format!("database directory {}: {e}", dir.display()),
            "make the directory writable by the user plexgate runs as, or set storage.database",
        );
    }
    let probe = dir.join(format!(".plexgate-doctor-{}", std::process::id()));
    match std::fs::File::create(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Check::pass(format!("database directory {} is writable", dir.display()))
        }
        Err(e) => Check::fail(
            format!("database directory {} is not writable: {e}", dir.display()),
            format!(
                "give plexgate's user the directory (chown -R <uid> {}) or run plexgate as its \
                 owner (compose: user: \"<uid>:<gid>\")",
                dir.display()
            ),
        ),
    }
}

/// What the database file says, for the key and server checks.
pub(super) struct Database {
    pub(super) check: Check,
    pub(super) fingerprint: Option<String>,
    pub(super) servers: Vec<Server>,
}

/// The database opens read-only at a schema this build understands.
pub(super) fn database(storage: &StorageConfig) -> Database {
    let path = storage.database.display();
    match inspect(&storage.database) {
        Ok(None) => Database {
            check: Check::skip(format!(
                "database {path} does not exist yet; the first start creates it"
            )),
            fingerprint: None,
            servers: Vec::new(),
        },
        Ok(Some(i)) => Database {
            check: Check::pass(format!(
                "database {path}: schema version {} (this build: {}), {} stored server(s)",
                i.schema_version,
                crate::db::SCHEMA_VERSION,
                i.servers.len()
            )),
            fingerprint: i.fingerprint,
            servers: i.servers,
        },
        Err(e) => Database {
            check: Check::fail(
                format!("database {path}: {e}"),
                "restore the database from a backup (plexgate backup) or point storage.database \
                 at the right file",
            ),
            fingerprint: None,
            servers: Vec::new(),
        },
    }
}

/// The key is present, private (0600) and the one the database was sealed with.
pub(super) fn master_key(storage: &StorageConfig, expected: Option<&str>) -> Check {
    if let Some(text) = &storage.secret_key {
        return match MasterKey::from_base64(text) {
            Ok(key) => matches(
                &key,
                "storage.secret_key",
                expected,
                "set storage.secret_key to the key this database was created with",
            ),
            Err(e) => Check::fail(
                format!("storage.secret_key: {e}"),
                "set a 32-byte base64 key",
            ),
        };
    }
    let path = &storage.key_file;
    let shown = path.display();
    let key = match keyfile::read(path) {
        Ok(key) => key,
        Err(CryptoError::KeyFileMissing { .. }) => {
            return match expected {
                None => Check::skip(format!(
                    "key file {shown} does not exist yet; the first start creates it (0600)"
                )),
                Some(fp) => Check::fail(
                    format!("key file {shown} is missing, but the database expects key {fp}"),
                    format!("restore the original key file to {shown} from your backup"),
                ),
            };
        }
        Err(e) => {
            return Check::fail(
                format!("key file {shown}: {e}"),
                format!("restore the original key file to {shown} from your backup"),
            );
        }
    };
    let mode = std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0);
    if mode & 0o077 != 0 {
        return Check::fail(
            format!("key file {shown} has mode {mode:04o}: others can read the master key"),
            format!("chmod 600 {shown}"),
        );
    }
    matches(
        &key,
        &format!("key file {shown} (mode 0600)"),
        expected,
        &format!(
            "restore the original key file to {shown}; this one cannot decrypt the stored tokens"
        ),
    )
}

/// The master key, when it can be read (for the proxy probe).
pub(super) fn key(storage: &StorageConfig) -> Option<MasterKey> {
    match &storage.secret_key {
        Some(text) => MasterKey::from_base64(text).ok(),
        None => keyfile::read(&storage.key_file).ok(),
    }
}

fn matches(key: &MasterKey, what: &str, expected: Option<&str>, fix: &str) -> Check {
    let found = key.fingerprint();
    match expected {
        None => Check::pass(format!(
            "{what}: key {found}; the database has no key bound yet"
        )),
        Some(fp) if fp == found => {
            Check::pass(format!("{what} matches the database (key {found})"))
        }
        Some(fp) => Check::fail(
            format!("{what} holds key {found}, but the database was sealed with key {fp}"),
            fix,
        ),
    }
}
