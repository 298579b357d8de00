//! Opening SQLite connections with plexgate's settings.
//!
//! `foreign_keys` and `busy_timeout` are per connection in SQLite, so every connection (the
//! writer and each reader) goes through [`configure`]; forgetting it on one connection would
//! silently stop cascades there.

use std::fs::{DirBuilder, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::{DbError, migrations};

/// How long a statement waits for a lock held by another connection before failing.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    // NORMAL is durable across application crashes in WAL mode; only a power loss can drop the
    // last transactions, which costs a re-login at worst.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(())
}

/// Creates the database's directory (0700) if missing; `check-config` and `doctor` call it too,
/// so they fail the way start-up would.
pub fn create_dir(database: &Path) -> Result<(), DbError> {
    if let Some(dir) = database.parent().filter(|p| !p.as_os_str().is_empty()) {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| create_error(dir, source))?;
    }
    Ok(())
}

/// Creates the directory and an empty 0600 file if missing: the database holds e-mail addresses
/// and sealed tokens, and SQLite would create it world-readable. SQLite gives the `-wal` and
/// `-shm` files the same mode as the database file.
fn create_private_file(path: &Path) -> Result<(), DbError> {
    create_dir(path)?;
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(create_error(path, e)),
    }
}

/// A refused create names who owns the place and who we run as: the usual cause is a
/// bind-mounted `/data` owned by the host user while the container runs as another uid.
fn create_error(path: &Path, source: std::io::Error) -> DbError {
    use std::os::unix::fs::MetadataExt;
    let denied = matches!(
        source.kind(),
        ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem
    );
    if !denied {
        return DbError::Create {
            path: path.to_path_buf(),
            source,
        };
    }
    // The nearest existing ancestor is the directory that refused us.
    let (dir, owner) = path
        .ancestors()
        .skip(1)
        .find_map(|a| std::fs::metadata(a).ok().map(|m| (a, m.uid())))
        .map_or((Path::new("."), None), |(a, uid)| (a, Some(uid)));
    DbError::NotWritable {
        path: path.to_path_buf(),
        dir: dir.to_path_buf(),
        owner,
        // /proc/self belongs to the process's effective uid; no unsafe geteuid() needed.
        uid: std::fs::metadata("/proc/self").ok().map(|m| m.uid()),
        source,
    }
}

/// Opens the single read-write connection: refuses a newer schema before changing anything,
/// then switches to WAL and applies migrations.
pub(crate) fn open_writer(path: &Path) -> Result<Connection, DbError> {
    let open_err = |source| DbError::Open {
        path: path.to_path_buf(),
        source,
    };
    create_private_file(path)?;
    // No SQLITE_OPEN_URI: the configured path is a file name, never a `file:` URI with options.
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(path, flags).map_err(open_err)?;
    configure(&conn).map_err(open_err)?;
    migrations::refuse_newer(&conn, path)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(open_err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        // Some filesystems (network mounts) cannot do WAL; SQLite then keeps a rollback journal,
        // which still works, only with readers and the writer blocking each other.
        tracing::warn!(path = %path.display(), journal_mode = %mode, "database is not in WAL mode");
    }
    migrations::run(&mut conn, path)?;
    Ok(conn)
}

/// Opens a read-only connection. Call after [`open_writer`] so the schema exists.
pub(crate) fn open_reader(path: &Path) -> Result<Connection, DbError> {
    let open_err = |source| DbError::Open {
        path: path.to_path_buf(),
        source,
    };
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(open_err)?;
    configure(&conn).map_err(open_err)?;
    Ok(conn)
}
