//! The master key file: one base64 line beside the database, created 0600 on first run.
//!
//! Loading and creating are separate operations on purpose. Creating a key while the database
//! already holds secrets sealed with another key would make those secrets unreadable forever,
//! so the startup path (`db::keycheck::unlock_key_file`) first asks the database whether it
//! expects a key and only then calls [`create`]. [`load_or_create`] exists for tools and tests
//! that have no database.
//!
//! Permissions: a new file is created `0600` in a directory created `0700`. An existing file that
//! group or others can read is loaded with a warning rather than refused: container secret
//! mounts (Kubernetes, Docker secrets) are commonly `0644` on a read-only filesystem the operator
//! cannot chmod, and there the container boundary is what protects the file.
//!
//! Never logs or returns the file's content in an error.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use super::{CryptoError, MasterKey};

/// A key file larger than this is certainly not ours; refuse before reading it all.
const MAX_KEY_FILE_LEN: u64 = 4096;

const HEADER: &str = "\
# plexgate master key. Keep it secret and back it up together with the database:
# without it the Plex tokens stored in the database cannot be decrypted.
";

/// Where the master key in use came from; decides what a database fingerprint mismatch means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOrigin {
    /// Generated just now and written to a new key file.
    Created,
    /// Read from an existing key file.
    Loaded,
    /// Given in configuration (`storage.secret_key`).
    Configured,
}

/// Reads the key file at `path`; a missing file is [`CryptoError::KeyFileMissing`].
pub fn read(path: &Path) -> Result<MasterKey, CryptoError> {
    let io_err = |source| CryptoError::Io {
        path: path.to_path_buf(),
        source,
    };
    let malformed = |reason: String| CryptoError::KeyFileMalformed {
        path: path.to_path_buf(),
        reason,
    };
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Err(CryptoError::KeyFileMissing {
                path: path.to_path_buf(),
            });
        }
        Err(e) => return Err(io_err(e)),
    };
    if !meta.is_file() {
        return Err(malformed("it is not a regular file".into()));
    }
    if meta.len() > MAX_KEY_FILE_LEN {
        return Err(malformed(format!(
            "it is {} bytes, a key file is one short line",
            meta.len()
        )));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        tracing::warn!(
            path = %path.display(),
            mode = format_args!("{mode:o}"),
            "key file is readable by group or others; restrict it with chmod 600"
        );
    }
    let bytes = fs::read(path).map_err(io_err)?;
    let text = String::from_utf8(bytes).map_err(|_| malformed("it is not UTF-8 text".into()))?;
    let mut lines = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'));
    let line = lines
        .next()
        .ok_or_else(|| malformed("it holds no key line (only comments or blank lines)".into()))?;
    if lines.next().is_some() {
        return Err(malformed(
            "it holds more than one non-comment line; expected a single base64 key".into(),
        ));
    }
    MasterKey::from_base64(line).map_err(|e| match e {
        CryptoError::BadKey(reason) => malformed(reason),
        other => other,
    })
}

/// Reads the key file if it exists; `Ok(None)` when there is none. Never creates anything.
pub fn load(path: &Path) -> Result<Option<MasterKey>, CryptoError> {
    match read(path) {
        Ok(key) => Ok(Some(key)),
        Err(CryptoError::KeyFileMissing { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Generates a key and writes it to a new file at `path` (mode 0600, parent created 0700).
///
/// Fails with [`CryptoError::KeyFileExists`] rather than overwrite an existing file. If writing
/// fails midway the partial file is removed, so a later start never mistakes it for a key.
pub fn create(path: &Path) -> Result<MasterKey, CryptoError> {
    let io_err = |path: &Path, source| CryptoError::Io {
        path: path.to_path_buf(),
        source,
    };
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(dir) = parent {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| io_err(dir, e))?;
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| match e.kind() {
            ErrorKind::AlreadyExists => CryptoError::KeyFileExists {
                path: path.to_path_buf(),
            },
            _ => io_err(path, e),
        })?;
    let key = MasterKey::generate();
    let contents = format!("{HEADER}{}\n", key.to_base64());
    if let Err(e) = file
        .write_all(contents.as_bytes())
        .and_then(|()| file.sync_all())
    {
        drop(file);
        // Best effort: the write error is what the operator needs to see.
        let _ = fs::remove_file(path);
        return Err(io_err(path, e));
    }
    // Persist the directory entry too, so a crash right after first start cannot lose the key
    // while the database (synced separately) already depends on it. Some filesystems cannot
    // fsync a directory; the file itself is already durable there, so that is not fatal.
    if let Some(dir) = parent
        && let Err(e) = fs::File::open(dir).and_then(|d| d.sync_all())
    {
        tracing::debug!(dir = %dir.display(), error = %e, "could not fsync key file directory");
    }
    Ok(key)
}

/// Loads the key file, or creates it if missing.
///
/// Only for callers without a database that may already depend on a key (tools, tests): at
/// server startup use `db::keycheck::unlock_key_file`, which refuses to create a new key when
/// the database expects an existing one.
pub fn load_or_create(path: &Path) -> Result<(MasterKey, KeyOrigin), CryptoError> {
    match load(path)? {
        Some(key) => Ok((key, KeyOrigin::Loaded)),
        None => match create(path) {
            Ok(key) => Ok((key, KeyOrigin::Created)),
            // Another process created it between our load and create: use theirs.
            Err(CryptoError::KeyFileExists { .. }) => Ok((read(path)?, KeyOrigin::Loaded)),
            Err(e) => Err(e),
        },
    }
}
