//! The one error type of the storage layer. Messages name files, tables and versions; never a
//! token, a key or a sealed value.

use std::path::PathBuf;

use crate::crypto::CryptoError;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database directory or file could not be created.
    #[error("cannot create {}: {source}", path.display())]
    Create {
        /// The directory or file.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The database directory refused us (permissions or a read-only mount): the message names
    /// the owner, our uid and both fixes.
    #[error(
        "cannot create {}: {source}. {} is owned by uid {} and plexgate runs as uid {}: give \
         plexgate the directory (`chown -R {3} {1}` on the host) or run plexgate as its owner \
         (compose: `user: \"{2}\"`; docker run: `--user {2}`)",
        path.display(), dir.display(), show_uid(*owner), show_uid(*uid)
    )]
    NotWritable {
        /// The file or directory we tried to create.
        path: PathBuf,
        /// The existing directory that refused it.
        dir: PathBuf,
        /// That directory's owner, when it could be read.
        owner: Option<u32>,
        /// The uid plexgate runs as, when it could be read.
        uid: Option<u32>,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The database file could not be opened or configured.
    #[error("cannot open database {}: {source}", path.display())]
    Open {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// The file's schema is newer than this build; it is left untouched.
    #[error(
        "database {} was written by a newer plexgate (schema version {found}, this build knows \
         {supported}); upgrade plexgate or restore a backup",
        path.display()
    )]
    NewerSchema {
        /// The database file.
        path: PathBuf,
        /// `PRAGMA user_version` found in the file.
        found: i64,
        /// The highest migration this build has.
        supported: i64,
    },
    /// A migration failed; the whole upgrade was rolled back.
    #[error("database migration {version:04}_{name} failed: {source}")]
    Migration {
        /// The migration's number.
        version: i64,
        /// The migration's name.
        name: &'static str,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// Any other SQLite error.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The writer thread could not be started.
    #[error("cannot start the database writer thread: {0}")]
    Thread(std::io::Error),
    /// The writer thread has stopped, so no write can be made.
    #[error("the database writer has stopped")]
    WriterGone,
    /// A blocking database task was cancelled (the runtime is shutting down).
    #[error("a database task was cancelled")]
    Cancelled,
    /// A closure passed to `Db::read`/`Db::write` panicked; its transaction was rolled back.
    #[error("a database operation panicked")]
    Panicked,
    /// A row the caller named does not exist (or belongs to another user).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A sealed column could not be opened: the key is wrong or the row was tampered with.
    #[error("stored {what} cannot be decrypted (wrong key or corrupted row): {source}")]
    Secret {
        /// Which secret, e.g. `"Plex account token"`.
        what: &'static str,
        /// Why opening failed.
        source: CryptoError,
    },
    /// Loading or creating the key file failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// The key in use is not the one this database's secrets were sealed with.
    #[error(
        "{key_source} does not match the key this database was encrypted with (fingerprint \
         {found}, database expects {expected}); restore the original key file"
    )]
    KeyMismatch {
        /// Where the key came from, e.g. `the key file /var/lib/plexgate/key`.
        key_source: String,
        /// Fingerprint of the key in use.
        found: String,
        /// Fingerprint stored in the database.
        expected: String,
    },
    /// The key file is gone but the database holds secrets sealed with it. No new key was
    /// written, so restoring the file is enough to recover.
    #[error(
        "the key file {} is missing, but the database holds Plex tokens encrypted with key \
         fingerprint {expected}; a new key cannot decrypt them, so none was created. Restore the \
         original key file (or, to discard every stored login, delete the database)",
        path.display()
    )]
    KeyFileLost {
        /// Where the key file was expected.
        path: PathBuf,
        /// Fingerprint stored in the database.
        expected: String,
    },
    /// A freshly generated key was offered to a database that already depends on another key.
    #[error(
        "a new key was just generated (fingerprint {found}) but the database holds Plex tokens \
         encrypted with key fingerprint {expected}; the original key file was lost or moved. \
         Delete the new key file and restore the original one"
    )]
    KeyReplaced {
        /// Fingerprint of the new key.
        found: String,
        /// Fingerprint stored in the database.
        expected: String,
    },
}

fn show_uid(uid: Option<u32>) -> String {
    uid.map_or_else(|| "?".to_string(), |u| u.to_string())
}
