//! Schema migrations: numbered SQL files compiled into the binary, applied in one transaction,
//! counted by `PRAGMA user_version`.
//!
//! Never touches a database whose schema is newer than this build: it is refused before any
//! write (including the switch to WAL), so an accidental downgrade cannot corrupt it. Migration
//! files must be append-only; changing an applied file does nothing on existing databases.
//!
//! Before upgrading an existing database, a copy is kept beside it with the version it had in
//! its name (`plexgate.sqlite.schema-v2.bak`), so a bad upgrade is undone by putting it back
//! and running the previous plexgate.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::DbError;

struct Migration {
    version: i64,
    name: &'static str,
    sql: &'static str,
}

/// Every migration, in order; `version` must be 1, 2, 3, … (a unit test checks it).
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("../../migrations/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "server_https_required",
        sql: include_str!("../../migrations/0002_server_https_required.sql"),
    },
];

/// The schema version this build creates and understands.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Reads `PRAGMA user_version`.
pub(crate) fn schema_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}

/// Fails with [`DbError::NewerSchema`] if the file was written by a newer plexgate. Read-only.
pub(crate) fn refuse_newer(conn: &Connection, path: &Path) -> Result<i64, DbError> {
    let found = schema_version(conn).map_err(|source| DbError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    if found > SCHEMA_VERSION {
        return Err(DbError::NewerSchema {
            path: path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(found)
}

/// Applies every migration above the current `user_version`, all or nothing. Returns how many
/// were applied.
pub(crate) fn run(conn: &mut Connection, path: &Path) -> Result<usize, DbError> {
    let before = refuse_newer(conn, path)?;
    if before > 0 && before < SCHEMA_VERSION {
        let copy = pre_migration_copy(path, before);
        super::backup::copy(conn, &copy)?;
        tracing::info!(
            copy = %copy.display(),
            version = before,
            "kept a copy of the database before migrating it"
        );
    }
    // IMMEDIATE takes the write lock up front, so two processes opening the same fresh file
    // cannot both decide to apply migration 1.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let current = refuse_newer(&tx, path)?;
    let mut applied = 0;
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        let failed = |source| DbError::Migration {
            version: m.version,
            name: m.name,
            source,
        };
        tx.execute_batch(m.sql).map_err(failed)?;
        tx.pragma_update(None, "user_version", m.version)
            .map_err(failed)?;
        tracing::info!(
            version = m.version,
            name = m.name,
            "applied database migration"
        );
        applied += 1;
    }
    tx.commit()?;
    Ok(applied)
}

/// Where the copy taken before migrating from `version` goes: beside the database.
pub fn pre_migration_copy(path: &Path, version: i64) -> std::path::PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".schema-v{version}.bak"));
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory() -> Connection {
        let conn = Connection::open_in_memory().expect("in-memory database");
        conn.pragma_update(None, "foreign_keys", true)
            .expect("foreign_keys");
        conn
    }

    #[test]
    fn versions_are_contiguous_from_one() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1, "migration {} out of order", m.name);
            assert!(!m.sql.trim().is_empty(), "migration {} is empty", m.name);
            let statements: String = m
                .sql
                .lines()
                .filter(|l| !l.trim_start().starts_with("--"))
                .collect();
            assert!(
                !statements.to_ascii_lowercase().contains("user_version"),
                "migration {} sets user_version itself; the runner does that",
                m.name
            );
        }
    }

    #[test]
    fn all_migrations_apply_and_leave_consistent_foreign_keys() {
        let mut conn = memory();
        let path = Path::new(":memory:");
        assert_eq!(run(&mut conn, path).expect("migrate"), MIGRATIONS.len());
        assert_eq!(schema_version(&conn).expect("version"), SCHEMA_VERSION);

        // Rows in every table that has a foreign key, so the check has something to check.
        conn.execute_batch(
            "INSERT INTO users (id, plex_id, username, plex_token, created_at, updated_at)
                 VALUES (1, 42, 'u', x'01', 0, 0);
             INSERT INTO servers (id, user_id, machine_identifier, name, owned, access_token,
                                  created_at, updated_at)
                 VALUES (1, 1, 'm', 'n', 1, x'01', 0, 0);
             INSERT INTO server_connections VALUES (1, 'http://a:1', 'http', 'a', 1, 1, 0, 0, 0);
             INSERT INTO user_settings (user_id, current_server_id, updated_at) VALUES (1, 1, 0);
             INSERT INTO sessions VALUES (zeroblob(32), 1, 0, 0, 1, NULL, NULL);
             INSERT INTO playback_sessions (id, user_id, server_id, kind, started_at,
                                            last_activity_at)
                 VALUES ('s', 1, 1, 'facade', 0, 0);",
        )
        .expect("sample rows");
        let violations: i64 = conn
            .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })
            .expect("foreign_key_check");
        assert_eq!(violations, 0);

        // A second run is a no-op.
        assert_eq!(run(&mut conn, path).expect("re-run"), 0);
    }

    #[test]
    fn an_upgrade_keeps_a_private_copy_of_the_old_schema_first() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("plexgate.sqlite");
        let mut conn = Connection::open(&path).expect("open");
        conn.execute_batch(MIGRATIONS[0].sql).expect("migration 1");
        conn.pragma_update(None, "user_version", 1)
            .expect("version 1");
        conn.execute(
            "INSERT INTO users (id, plex_id, username, plex_token, created_at, updated_at)
                 VALUES (1, 42, 'kept', x'01', 0, 0)",
            [],
        )
        .expect("row");
        run(&mut conn, &path).expect("migrate");

        let copy_path = pre_migration_copy(&path, 1);
        assert!(copy_path.ends_with("plexgate.sqlite.schema-v1.bak"));
        let mode = std::fs::metadata(&copy_path)
            .expect("copy exists")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let copy = Connection::open(&copy_path).expect("open copy");
        assert_eq!(schema_version(&copy).expect("version"), 1);
        let name: String = copy
            .query_row("SELECT username FROM users", [], |r| r.get(0))
            .expect("row in copy");
        assert_eq!(name, "kept");
        // Up to date: no further copy.
        std::fs::remove_file(&copy_path).expect("remove");
        run(&mut conn, &path).expect("re-run");
        assert!(!pre_migration_copy(&path, 2).exists());
    }

    #[test]
    fn newer_schema_is_refused_without_changes() {
        let mut conn = memory();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .expect("set version");
        let err = run(&mut conn, Path::new(":memory:")).expect_err("must refuse");
        assert!(matches!(err, DbError::NewerSchema { found, .. } if found == SCHEMA_VERSION + 1));
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
            .expect("schema");
        assert_eq!(tables, 0, "nothing may be created in a newer database");
    }
}
