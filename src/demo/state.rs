//! What every demo handler shares: the options, the fault knobs, the immutable library and media
//! facts, the mutable [`State`] behind one mutex, and the request log.
//!
//! Why: the server, the route table and every handler need it, so it sits below them all and
//! imports none of them; the demo's files then depend one way (`server` → `routes` → handlers →
//! `state`). The mutable data itself lives in `store`, because `library` reads it and `Shared`
//! holds a `Library`. Locks here are held for short, non-async sections, never across an `.await`.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, Method};

use super::faults::{Faults, lock};
use super::library::Library;
use super::media::Facts;
use super::options::DemoPlexOptions;
use super::request;
use super::store::State;

/// Everything the handlers share.
pub(crate) struct Shared {
    pub opts: DemoPlexOptions,
    pub faults: Faults,
    pub library: Library,
    pub facts: Facts,
    pub state: Mutex<State>,
    pub log: Mutex<VecDeque<RecordedRequest>>,
}

impl Shared {
    pub(crate) fn new(opts: DemoPlexOptions, library: Library, facts: Facts) -> Shared {
        Shared {
            opts,
            faults: Faults::default(),
            library,
            facts,
            state: Mutex::new(State::default()),
            log: Mutex::new(VecDeque::new()),
        }
    }

    /// Reaps idle sessions; called by the router before every handler.
    pub(crate) fn reap(&self) {
        lock(&self.state).reap(Instant::now(), self.opts.session_idle_timeout);
    }

    /// Records an answered request, dropping the oldest beyond `max_recorded_requests` so a
    /// long demo run does not grow without bound.
    pub(crate) fn record(&self, entry: RecordedRequest) {
        let max = self.opts.max_recorded_requests;
        let mut log = lock(&self.log);
        while max > 0 && log.len() >= max {
            log.pop_front();
        }
        if max > 0 {
            log.push_back(entry);
        }
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
