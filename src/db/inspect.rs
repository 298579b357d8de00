//! A read-only look at a database file for `plexgate doctor`: its schema version, the key
//! fingerprint it expects and every stored server with its candidates.
//!
//! Why separate from [`super::Db`]: the doctor runs beside a live server and must change
//! nothing, so the file is opened read-only and never migrated (`Db::open` would migrate and
//! switch journal modes). Returns no token: servers come out as [`Server`], which holds none.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::servers::{Server, list_servers};
use super::{DbError, keycheck, meta, migrations};

/// What the doctor needs to know about a database file.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// `PRAGMA user_version`.
    pub schema_version: i64,
    /// The fingerprint of the key its secrets are sealed with, once one was bound.
    pub fingerprint: Option<String>,
    /// Every stored server, once per user that has it.
    pub servers: Vec<Server>,
}

/// Inspects `database`; `Ok(None)` when there is no file yet (a first start creates it).
pub fn inspect(database: &Path) -> Result<Option<Inspection>, DbError> {
    if !database.exists() {
        return Ok(None);
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(database, flags).map_err(|source| DbError::Open {
        path: database.to_path_buf(),
        source,
    })?;
    conn.busy_timeout(super::open::BUSY_TIMEOUT)?;
    let schema_version = migrations::refuse_newer(&conn, database)?;
    if schema_version == 0 {
        return Ok(Some(Inspection {
            schema_version,
            fingerprint: None,
            servers: Vec::new(),
        }));
    }
    let fingerprint = meta::get(&conn, keycheck::FINGERPRINT_KEY)?
        .map(|v| String::from_utf8_lossy(&v).into_owned());
    let mut stmt = conn.prepare("SELECT DISTINCT user_id FROM servers ORDER BY user_id")?;
    let users = stmt
        .query_map([], |row| row.get::<_, i64>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    let mut servers = Vec::new();
    for user in users {
        servers.extend(list_servers(&conn, user)?);
    }
    Ok(Some(Inspection {
        schema_version,
        fingerprint,
        servers,
    }))
}
