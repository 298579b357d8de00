//! SQLite storage: opening the database, migrations, the single writer, and small repositories.
//!
//! Why it exists: users, their Plex servers, login sessions and ticket revocations must survive
//! restarts, and Plex tokens must be kept somewhere other than the browser. Every connection
//! runs with `foreign_keys=ON` and a 5 s busy timeout; the file is in WAL mode with
//! `synchronous=NORMAL`; all writes go through one thread ([`Db::write`]), reads through a small
//! pool ([`Db::read`]).
//!
//! Repositories are plain functions over `&rusqlite::Connection` so callers compose several in
//! one `db.write(|c| …)` (and one transaction). What this module must never do: store a token
//! unsealed, return one in a struct (tokens come out only through the dedicated `*_token`
//! functions, as `String`, for the Plex client), or put one in an error or log line.

pub mod backup;
mod error;
mod handle;
pub mod inspect;
pub mod keycheck;
pub mod meta;
mod migrations;
mod open;
pub mod playback;
pub mod revocations;
mod secrets;
pub mod servers;
pub mod sessions;
pub mod user_settings;
pub mod users;

pub use error::DbError;
pub use handle::Db;
pub use migrations::SCHEMA_VERSION;
pub use open::create_dir;

use rusqlite::Connection;

/// Runs `f` so that all of its statements apply or none do.
///
/// Uses a SAVEPOINT, which nests: inside a caller's transaction it is a sub-transaction, outside
/// one it starts a transaction of its own. Repositories use it for multi-statement updates so
/// they stay atomic without forcing callers to open a transaction.
pub fn atomically<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> Result<T, DbError>,
) -> Result<T, DbError> {
    conn.execute_batch("SAVEPOINT plexgate_atomic")?;
    let undo = |conn: &Connection| {
        if let Err(error) =
            conn.execute_batch("ROLLBACK TO plexgate_atomic; RELEASE plexgate_atomic")
        {
            tracing::error!(%error, "rolling back a savepoint failed");
        }
    };
    match f(conn) {
        Ok(value) => match conn.execute_batch("RELEASE plexgate_atomic") {
            Ok(()) => Ok(value),
            Err(e) => {
                undo(conn);
                Err(e.into())
            }
        },
        Err(e) => {
            undo(conn);
            Err(e)
        }
    }
}
