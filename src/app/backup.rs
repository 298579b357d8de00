//! `plexgate backup <dir>`: the database and the key file it needs, copied together.
//!
//! Why both: the Plex tokens in the database are sealed with the master key, so a database
//! without its key restores to "every login lost". The database is copied with SQLite's online
//! backup API (`db::backup`), so this runs safely while the server is serving; the key file is
//! copied byte for byte. Each lands in `<dir>` under its configured file name, written to a
//! temporary file with mode 0600 and renamed, so restoring is copying both back.
//! Never prints the key or anything read from the database.

use std::fmt;
use std::fs::{DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::config::StorageConfig;
use crate::db::DbError;

/// Why a backup failed; each message names the file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// There is no database at the configured path.
    #[error("there is no database at {} (storage.database); nothing to back up", .0.display())]
    NoDatabase(PathBuf),
    /// The key file is missing, so the copy could not be restored.
    #[error(
        "the key file {} is missing; a database copy without it cannot decrypt the stored \
         Plex tokens, so no backup was written",
        .0.display()
    )]
    NoKeyFile(PathBuf),
    /// Copying the database failed.
    #[error("{0}")]
    Db(#[from] DbError),
    /// Creating the directory or writing the key copy failed.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
}

/// What was written.
#[derive(Debug, Clone)]
pub struct Report {
    /// The database copy.
    pub database: PathBuf,
    /// The key file copy; `None` when the key is `storage.secret_key` in the configuration.
    pub key_file: Option<PathBuf>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "wrote {}", self.database.display())?;
        match &self.key_file {
            Some(k) => writeln!(f, "wrote {}", k.display())?,
            None => writeln!(
                f,
                "the master key is storage.secret_key in your configuration: keep it with this backup"
            )?,
        }
        write!(
            f,
            "to restore: stop plexgate, copy these files into the data directory (no -wal or \
             -shm files beside them), start plexgate"
        )
    }
}

/// Copies the database and its key file into `dir` (created 0700 if missing).
pub fn run(storage: &StorageConfig, dir: &Path) -> Result<Report, BackupError> {
    if !storage.database.is_file() {
        return Err(BackupError::NoDatabase(storage.database.clone()));
    }
    let uses_key_file = storage.secret_key.is_none();
    if uses_key_file && !storage.key_file.is_file() {
        return Err(BackupError::NoKeyFile(storage.key_file.clone()));
    }
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| BackupError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    let in_dir = |p: &Path| dir.join(p.file_name().unwrap_or_default());
    let key_file = if uses_key_file {
        let dest = in_dir(&storage.key_file);
        copy_private(&storage.key_file, &dest)?;
        Some(dest)
    } else {
        None
    };
    let database = in_dir(&storage.database);
    crate::db::backup::copy_file(&storage.database, &database)?;
    Ok(Report { database, key_file })
}

/// Copies `from` to `to` through a 0600 temporary file, synced, then renamed.
fn copy_private(from: &Path, to: &Path) -> Result<(), BackupError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BackupError::Io { path, source }
    };
    let bytes = std::fs::read(from).map_err(io(from))?;
    let mut tmp_name = to.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = to.with_file_name(tmp_name);
    let written = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| f.write_all(&bytes).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, to));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(to)(e));
    }
    Ok(())
}
