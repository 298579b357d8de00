//! Copies of the database taken with SQLite's online backup API, for `plexgate backup` and the
//! copy kept before a migration.
//!
//! Why the backup API and not a file copy: a copy of a WAL database taken while the server
//! writes can mix old and new pages, and misses whatever still sits in `-wal`. The API copies
//! every page inside one read transaction, so the result is the database as of one commit; in
//! WAL mode that read never blocks the server's writer.
//!
//! A copy is written to a temporary file created 0600 (it holds sealed tokens and e-mail
//! addresses), synced, then renamed over the destination: a crash leaves the old copy or the
//! new one, never half of one. Never reads or writes the key file; that is the caller's.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use super::DbError;

/// How often a busy or locked step is retried before giving up (a step copies every page, so
/// this only waits out a checkpoint or a writer taking an exclusive lock).
const BUSY_RETRIES: u32 = 100;

/// Copies the database at `source` (opened read-only, never migrated) to `dest`.
pub fn copy_file(source: &Path, dest: &Path) -> Result<(), DbError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(source, flags).map_err(|e| DbError::Open {
        path: source.to_path_buf(),
        source: e,
    })?;
    conn.busy_timeout(super::open::BUSY_TIMEOUT)?;
    copy(&conn, dest)
}

/// Copies the main database of `conn` to `dest`, atomically and with mode 0600.
pub(crate) fn copy(conn: &Connection, dest: &Path) -> Result<(), DbError> {
    let tmp = temp_name(dest);
    let result = copy_to_temp(conn, &tmp).and_then(|()| {
        std::fs::rename(&tmp, dest).map_err(|source| DbError::Create {
            path: dest.to_path_buf(),
            source,
        })
    });
    if result.is_err() {
        // Best effort: the copy's error is what the operator needs to see.
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    sync_dir(dest);
    Ok(())
}

fn copy_to_temp(conn: &Connection, tmp: &Path) -> Result<(), DbError> {
    let create = |source| DbError::Create {
        path: tmp.to_path_buf(),
        source,
    };
    // Created by us first, so SQLite writes into a 0600 file instead of creating one by umask.
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(tmp)
        .map_err(create)?;
    {
        let mut dst = Connection::open(tmp).map_err(|source| DbError::Open {
            path: tmp.to_path_buf(),
            source,
        })?;
        let backup = Backup::new(conn, &mut dst)?;
        let mut retries = 0;
        loop {
            // -1: every page in one step, so the copy is one consistent snapshot.
            match backup.step(-1)? {
                StepResult::Done => break,
                StepResult::More | StepResult::Busy | StepResult::Locked
                    if retries < BUSY_RETRIES =>
                {
                    retries += 1;
                    std::thread::sleep(Duration::from_millis(50));
                }
                _ => {
                    return Err(DbError::Sqlite(rusqlite::Error::SqliteFailure(
                        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                        Some("the database stayed locked during the backup".into()),
                    )));
                }
            }
        }
    }
    std::fs::File::open(tmp)
        .and_then(|f| f.sync_all())
        .map_err(create)
}

/// `dest` with a process-unique suffix, in the same directory (rename is atomic only there).
fn temp_name(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{}", std::process::id()));
    dest.with_file_name(name)
}

/// Persists the rename; some filesystems cannot fsync a directory, and the file itself is
/// already durable there.
fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && let Err(e) = std::fs::File::open(dir).and_then(|d| d.sync_all())
    {
        tracing::debug!(dir = %dir.display(), error = %e, "could not fsync backup directory");
    }
}
