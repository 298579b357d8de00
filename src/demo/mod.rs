//! The embedded demo Plex: a real HTTP server speaking PMS shapes from bundled media.
//!
//! Why: `plexgate demo` needs a Plex to talk to, and plexgate's integration tests need one that
//! behaves like PMS 1.43 (protocol reference §3–§9) and misbehaves on demand. [`DemoPlex`] binds
//! a loopback port, serves a small library (movies, a show with a season and episodes, a
//! collection, a trailer; hubs, on deck, search, ratings) from media compiled into the binary
//! (`fixtures/media`, via `build.rs`; every part plays the same bundled movie), runs the
//! universal transcoder's HLS (MPEG-TS or fMP4) and DASH surface over pre-cut segments, records
//! every request, and exposes [`Faults`].
//!
//! Rules it enforces like PMS: XML unless `Accept: application/json`; HTML error pages; 400 for
//! transcoder calls without `X-Plex-Product`/`Platform`/`Device` (header or query) and for
//! `start.*` without a prior `decision` for that `session`; idle sessions reaped (then 404).
//! Unlike PMS, every path except `/identity` — session paths included — needs a token (the
//! server's, or a shared user's with its own watch state; header or query), so a test catches any
//! request plexgate sends without it.
//!
//! It never fetches a URL it is given (`/photo/:/transcode?url=`), never puts a token in a
//! manifest or body, never reads the file system at run time, and never listens beyond the
//! address it is handed.

mod actions;
mod body;
mod browse;
mod catalog;
mod decision;
mod decision_body;
mod faults;
mod home;
mod library;
mod listing;
mod manifest;
mod media;
mod options;
mod range;
mod request;
mod response;
mod routes;
mod server;
mod state;
mod store;
mod transcoder;
mod xml;

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use faults::Faults;
pub use options::DemoPlexOptions;
pub use state::RecordedRequest;

use faults::lock;
use state::Shared;

/// A running demo Plex. Dropping it (or [`DemoPlex::shutdown`]) stops the server.
pub struct DemoPlex {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl fmt::Debug for DemoPlex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DemoPlex")
            .field("addr", &self.addr)
            .field("machine_identifier", &self.shared.opts.machine_identifier)
            .finish_non_exhaustive()
    }
}

impl DemoPlex {
    /// Starts a demo Plex on `127.0.0.1:0` (a free loopback port).
    pub async fn start(opts: DemoPlexOptions) -> std::io::Result<DemoPlex> {
        Self::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), opts).await
    }

    /// Starts a demo Plex on `addr`.
    pub async fn start_on(addr: SocketAddr, opts: DemoPlexOptions) -> std::io::Result<DemoPlex> {
        let invalid = |e: String| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
        let library = library::Library::load().map_err(invalid)?;
        let facts = media::Facts::load().map_err(invalid)?;
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(opts, library, facts));
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(server::serve(listener, Arc::clone(&shared), stopped));
        tracing::info!(%addr, "demo plex listening");
        Ok(DemoPlex {
            addr,
            shared,
            stop,
            task: Some(task),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The server token.
    pub fn token(&self) -> &str {
        &self.shared.opts.token
    }

    /// The machine identifier.
    pub fn machine_identifier(&self) -> &str {
        &self.shared.opts.machine_identifier
    }

    /// Every request answered so far (up to `max_recorded_requests`), oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.log).iter().cloned().collect()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        lock(&self.shared.log).clear();
    }

    /// The fault knobs.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// Ids (`session` values) of the live transcode sessions, sorted; idle ones are reaped first.
    pub fn live_transcode_sessions(&self) -> Vec<String> {
        let mut st = lock(&self.shared.state);
        st.reap(
            std::time::Instant::now(),
            self.shared.opts.session_idle_timeout,
        );
        st.session_ids()
    }

    /// Stops accepting, lets in-flight requests finish (at most 2 s), then closes everything.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for DemoPlex {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}
