//! [`Db`]: one writer thread owning the only read-write connection, plus a few read-only
//! connections used from `spawn_blocking`.
//!
//! SQLite allows one writer at a time anyway; funnelling every write through one thread turns
//! lock contention (and `SQLITE_BUSY`) into an ordered queue, and keeps blocking SQLite calls off
//! the async workers. WAL lets the readers run concurrently with that writer. A closure that
//! fails, panics or leaves a transaction open never takes the writer (or a reader) down: its
//! transaction is rolled back and the next job runs normally.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;

use rusqlite::Connection;
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::{DbError, open};

type Job = Box<dyn FnOnce(&mut Connection) + Send + 'static>;
type Readers = Arc<Mutex<Vec<Connection>>>;

/// Read-only connections; 3 keeps a 2-core box busy without idling many file handles.
const READERS: usize = 3;
/// Writes queued beyond this make callers wait, which is the backpressure we want.
const WRITE_QUEUE: usize = 64;

/// Handle to the database. Cheap to clone; all clones share one writer and one reader pool.
///
/// Dropping the last clone closes the write queue, waits for the writes already queued to finish
/// and closes every connection, so the file is checkpointed and closed when the drop returns.
#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

struct Inner {
    path: Arc<Path>,
    writer: Option<mpsc::Sender<Job>>,
    writer_thread: Option<thread::JoinHandle<()>>,
    readers: Readers,
    read_permits: Arc<Semaphore>,
}

impl Db {
    /// Opens (creating if needed) the database at `path`, applies migrations and starts the
    /// writer thread. `path` must be a file; `:memory:` would give every connection its own
    /// empty database.
    pub async fn open(path: &Path) -> Result<Db, DbError> {
        let path: Arc<Path> = Arc::from(path);
        let p = Arc::clone(&path);
        let (writer, readers) = tokio::task::spawn_blocking(move || {
            let writer = open::open_writer(&p)?;
            let readers = (0..READERS)
                .map(|_| open::open_reader(&p))
                .collect::<Result<Vec<_>, _>>()?;
            Ok::<_, DbError>((writer, readers))
        })
        .await
        .map_err(join_error)??;

        let (tx, rx) = mpsc::channel::<Job>(WRITE_QUEUE);
        let writer_thread = thread::Builder::new()
            .name("plexgate-db-writer".into())
            .spawn(move || writer_loop(writer, rx))
            .map_err(DbError::Thread)?;
        tracing::debug!(path = %path.display(), readers = READERS, "database opened");
        Ok(Db {
            inner: Arc::new(Inner {
                path,
                writer: Some(tx),
                writer_thread: Some(writer_thread),
                readers: Arc::new(Mutex::new(readers)),
                read_permits: Arc::new(Semaphore::new(READERS)),
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `f` on the writer thread with the read-write connection.
    ///
    /// Writes run one at a time in submission order. Use `conn.transaction()` (or
    /// [`super::atomically`]) inside `f` for several statements that must apply together; a
    /// transaction `f` leaves open is rolled back. Once queued, `f` runs even if the caller stops
    /// waiting for it.
    pub async fn write<T, F>(&self, f: F) -> Result<T, DbError>
    where
        F: FnOnce(&mut Connection) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        let sender = self.inner.writer.as_ref().ok_or(DbError::WriterGone)?;
        let (reply, result) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let outcome =
                catch_unwind(AssertUnwindSafe(|| f(conn))).unwrap_or(Err(DbError::Panicked));
            // The caller may have stopped waiting; the write has happened either way.
            let _ = reply.send(outcome);
        });
        sender.send(job).await.map_err(|_| DbError::WriterGone)?;
        result.await.map_err(|_| DbError::WriterGone)?
    }

    /// Runs `f` on a read-only connection in a blocking task; up to 3 reads run at once, and
    /// alongside the writer. `f` sees the last committed state, never a write in progress.
    pub async fn read<T, F>(&self, f: F) -> Result<T, DbError>
    where
        F: FnOnce(&Connection) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        let permit = Arc::clone(&self.inner.read_permits)
            .acquire_owned()
            .await
            .map_err(|_| DbError::Cancelled)?;
        let readers = Arc::clone(&self.inner.readers);
        let path = Arc::clone(&self.inner.path);
        // The connection is checked out and returned inside the blocking task, so a caller that
        // stops waiting cannot lose it.
        tokio::task::spawn_blocking(move || {
            let conn = match lock(&readers).pop() {
                Some(conn) => conn,
                // Unreachable while permits and connections stay paired; reopen rather than fail.
                None => open::open_reader(&path)?,
            };
            let outcome =
                catch_unwind(AssertUnwindSafe(|| f(&conn))).unwrap_or(Err(DbError::Panicked));
            roll_back_leftover(&conn, "reader");
            lock(&readers).push(conn);
            drop(permit);
            outcome
        })
        .await
        .map_err(join_error)?
    }

    /// A cheap liveness check for `/ready`: the writer is running and a reader can query.
    pub async fn ping(&self) -> Result<(), DbError> {
        if self.inner.writer.as_ref().is_none_or(|w| w.is_closed()) {
            return Err(DbError::WriterGone);
        }
        self.read(|conn| {
            conn.query_row("SELECT 1", [], |_| Ok(()))?;
            Ok(())
        })
        .await
    }
}

impl fmt::Debug for Db {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Db")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Readers close first: only a read-write connection can checkpoint and remove the WAL,
        // and SQLite does that when the last connection to the file closes.
        lock(&self.readers).clear();
        // Closing the channel lets the writer drain what is queued, then leave its loop.
        drop(self.writer.take());
        let Some(handle) = self.writer_thread.take() else {
            return;
        };
        // A write closure may hold the last clone; the thread cannot join itself, and it exits on
        // its own once that closure returns.
        if handle.thread().id() == thread::current().id() {
            return;
        }
        if handle.join().is_err() {
            tracing::error!("database writer thread panicked");
        }
    }
}

fn writer_loop(mut conn: Connection, mut jobs: mpsc::Receiver<Job>) {
    while let Some(job) = jobs.blocking_recv() {
        job(&mut conn);
        roll_back_leftover(&conn, "writer");
    }
    tracing::debug!("database writer stopped");
    // Dropping `conn` here closes it; as the last connection it checkpoints the WAL.
}

/// A closure that returned early (or panicked) inside a manual `BEGIN`/`SAVEPOINT` would
/// otherwise leave every later job running inside its transaction.
fn roll_back_leftover(conn: &Connection, role: &'static str) {
    if !conn.is_autocommit() {
        tracing::warn!(
            role,
            "database operation left a transaction open; rolling it back"
        );
        if let Err(error) = conn.execute_batch("ROLLBACK") {
            tracing::error!(role, %error, "rolling back a leftover transaction failed");
        }
    }
}

/// Poisoning only means another task panicked while pushing or popping a connection; the
/// vector itself is still consistent.
fn lock(readers: &Mutex<Vec<Connection>>) -> MutexGuard<'_, Vec<Connection>> {
    readers
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn join_error(e: tokio::task::JoinError) -> DbError {
    if e.is_panic() {
        DbError::Panicked
    } else {
        DbError::Cancelled
    }
}
