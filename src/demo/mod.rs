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
mod faults;
mod library;
mod manifest;
mod media;
mod range;
mod request;
mod response;
mod routes;
mod server;
mod state;
mod transcoder;
mod xml;

use std::collections::VecDeque;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use faults::Faults;

use faults::lock;
use server::Shared;

/// How a [`DemoPlex`] behaves. `Default` gives a random 20-character token and a random 40-hex
/// machine identifier.
#[derive(Clone)]
pub struct DemoPlexOptions {
    /// The server token every request except `/identity` must carry (`X-Plex-Token`).
    pub token: String,
    /// `machineIdentifier` in `/identity` and `/`.
    pub machine_identifier: String,
    /// `friendlyName` in `/`.
    pub friendly_name: String,
    /// PMS `version` reported by `/identity` and `/`.
    pub version: String,
    /// A transcode session with no playlist, segment or ping request for this long is reaped
    /// (PMS 1.43: about 75 s).
    pub session_idle_timeout: Duration,
    /// `start.*` answers 400 unless a `decision` was made for the same `session` (PMS 1.43).
    pub require_decision: bool,
    /// `X-Plex-Platform` values the transcoder rejects with 400 (PMS 1.43.2 rejected `Linux`).
    pub rejected_platforms: Vec<String>,
    /// A Part GET answers 503 when the requesting client's last decision was not direct play.
    pub part_503_after_transcode: bool,
    /// At most this many requests are kept by [`DemoPlex::requests`] (oldest dropped first).
    pub max_recorded_requests: usize,
    /// Tokens of other Plex accounts the server is shared with. Each has its own watch state
    /// (viewOffset, viewCount, ratings), as on a real PMS.
    pub shared_user_tokens: Vec<String>,
}

impl Default for DemoPlexOptions {
    fn default() -> Self {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let token: String = crate::util::random_bytes::<20>()
            .iter()
            .map(|b| ALPHABET[usize::from(b & 63)] as char)
            .collect();
        DemoPlexOptions {
            token,
            machine_identifier: crate::util::hex(&crate::util::random_bytes::<20>()),
            friendly_name: "plexgate demo".to_owned(),
            version: "1.43.1.10611-1e34174b1".to_owned(),
            session_idle_timeout: Duration::from_secs(75),
            require_decision: true,
            rejected_platforms: vec!["Linux".to_owned()],
            part_503_after_transcode: true,
            max_recorded_requests: 10_000,
            shared_user_tokens: Vec::new(),
        }
    }
}

impl fmt::Debug for DemoPlexOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DemoPlexOptions")
            .field("token", &"<redacted>")
            .field("machine_identifier", &self.machine_identifier)
            .field("friendly_name", &self.friendly_name)
            .field("version", &self.version)
            .field("session_idle_timeout", &self.session_idle_timeout)
            .field("require_decision", &self.require_decision)
            .field("rejected_platforms", &self.rejected_platforms)
            .field("part_503_after_transcode", &self.part_503_after_transcode)
            .field("max_recorded_requests", &self.max_recorded_requests)
            .field("shared_user_tokens", &self.shared_user_tokens.len())
            .finish()
    }
}

/// One request the demo server answered, as it arrived.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// Request method.
    pub method: Method,
    /// Path as sent (percent-encoded).
    pub path: String,
    /// Raw query string without `?`, if any.
    pub query: Option<String>,
    /// All request headers.
    pub headers: HeaderMap,
    /// The request body.
    pub body: Bytes,
    /// The status the demo answered.
    pub status: u16,
}

impl RecordedRequest {
    /// A header value as text (UTF-8, as PMS reads a device name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
    }

    /// The first decoded query value named `name`.
    pub fn query_param(&self, name: &str) -> Option<String> {
        let q = self.query.as_deref()?;
        request::parse_query(q)
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

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

/// Keeps the request log bounded.
fn push_bounded(log: &Mutex<VecDeque<RecordedRequest>>, max: usize, entry: RecordedRequest) {
    let mut log = lock(log);
    while max > 0 && log.len() >= max {
        log.pop_front();
    }
    if max > 0 {
        log.push_back(entry);
    }
}
