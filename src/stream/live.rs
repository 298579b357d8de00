//! One live ticket session: who it belongs to, the transcodes it started on Plex and when their
//! player last showed life, its lazily started playback, and its revocation signal.
//!
//! Why life is tracked per transcode: a facade session lives as long as the login, but each
//! transcode the player starts through it must end when that player goes away (Flixor's back
//! button reports `stopped` and never calls the transcoder's `stop`). Life is a manifest,
//! segment or part request for the transcode, or a progress/timeline report for its item.
//!
//! Must never: block (every lock here is held for a few field updates), or do I/O.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use http::HeaderMap;
use tokio::sync::{OnceCell, watch};

use crate::db::playback::Kind;
use crate::plex::ClientIdentity;
use crate::plex::transcoder::TranscodeRequest;
use crate::util::unix_now;

/// A ticket session known to be live.
#[derive(Debug)]
pub struct LiveSession {
    /// Hex session id.
    pub id: String,
    /// Owner.
    pub user_id: i64,
    /// Server row.
    pub server_id: i64,
    /// Facade or playback.
    pub kind: Kind,
    /// Login session it belongs to.
    pub login_hash: Option<[u8; 32]>,
    /// When its ticket expires, epoch seconds.
    pub expires_at: i64,
    /// The item a playback session plays.
    pub rating_key: Option<String>,
    identity: ClientIdentity,
    /// What each request forwarded for this session starts with (`headers::session_headers`).
    forward_headers: HeaderMap,
    start_request: Option<TranscodeRequest>,
    start_manifest: OnceCell<StartManifest>,
    transcodes: Mutex<Vec<Transcode>>,
    last_activity: AtomicI64,
    pending_bytes: AtomicU64,
    cancel: watch::Sender<bool>,
}

/// A transcode started on Plex through a session, and the last sign of life of its player.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transcode {
    /// Plex's transcode `session` id.
    pub session: String,
    /// The item it plays, when known.
    pub rating_key: Option<String>,
    /// Last sign of life, epoch seconds.
    pub last_life: i64,
}

/// The start manifest plexgate fetched itself for a playback session, served again from
/// memory whenever the player (re)loads it, so a reload never starts a second transcode.
#[derive(Debug, Clone)]
pub struct StartManifest {
    /// The manifest text as Plex sent it.
    pub body: bytes::Bytes,
    /// The upstream URL it came from (what its relative URIs resolve against).
    pub url: url::Url,
}

/// What a new [`LiveSession`] is made of besides its stored row.
#[derive(Debug)]
pub struct LiveParts {
    /// Hex session id.
    pub id: String,
    /// Owner.
    pub user_id: i64,
    /// Server row.
    pub server_id: i64,
    /// Facade or playback.
    pub kind: Kind,
    /// Login session.
    pub login_hash: Option<[u8; 32]>,
    /// Ticket expiry, epoch seconds.
    pub expires_at: i64,
    /// Item of a playback session.
    pub rating_key: Option<String>,
    /// How Plex sees this session's calls.
    pub identity: ClientIdentity,
    /// For a playback session: the transcode to start when its URL is first fetched.
    pub start_request: Option<TranscodeRequest>,
    /// Transcodes already known to run (a restored session's).
    pub transcodes: Vec<String>,
}

impl LiveSession {
    /// A live session from its parts, active now.
    pub fn new(p: LiveParts) -> Self {
        let now = unix_now();
        let rating_key = p.rating_key;
        LiveSession {
            transcodes: Mutex::new(
                p.transcodes
                    .into_iter()
                    .map(|session| Transcode {
                        session,
                        rating_key: rating_key.clone(),
                        last_life: now,
                    })
                    .collect(),
            ),
            forward_headers: super::headers::session_headers(&p.identity, &p.id),
            id: p.id,
            user_id: p.user_id,
            server_id: p.server_id,
            kind: p.kind,
            login_hash: p.login_hash,
            expires_at: p.expires_at,
            rating_key,
            identity: p.identity,
            start_request: p.start_request,
            start_manifest: OnceCell::new(),
            last_activity: AtomicI64::new(now),
            pending_bytes: AtomicU64::new(0),
            cancel: watch::channel(false).0,
        }
    }

    /// How Plex sees this session's calls: its login session's client identity.
    pub fn identity(&self) -> &ClientIdentity {
        &self.identity
    }

    /// The headers every request forwarded for this session starts with.
    pub fn forward_headers(&self) -> &HeaderMap {
        &self.forward_headers
    }

    /// The transcode a playback session starts when its URL is first fetched.
    pub fn start_request(&self) -> Option<&TranscodeRequest> {
        self.start_request.as_ref()
    }

    /// The start manifest, fetched once (concurrent first fetches share one start).
    pub fn start_manifest_cell(&self) -> &OnceCell<StartManifest> {
        &self.start_manifest
    }

    /// A receiver that turns `true` when the session is revoked (it sees a revocation that
    /// happened before it subscribed too).
    pub fn cancelled(&self) -> watch::Receiver<bool> {
        self.cancel.subscribe()
    }

    /// Whether the session was revoked.
    pub fn is_cancelled(&self) -> bool {
        *self.cancel.borrow()
    }

    /// Fires the revocation signal; the value is stored even with no receiver yet, so a request
    /// still waiting for Plex sees it when it subscribes or checks.
    pub(super) fn cancel(&self) {
        self.cancel.send_replace(true);
    }

    /// Records a request through the session's ticket. For a playback session that is life for
    /// its transcode.
    pub fn touch(&self) {
        self.last_activity.store(unix_now(), Ordering::Relaxed);
    }

    /// When the last request came through the ticket, epoch seconds.
    pub fn last_activity(&self) -> i64 {
        self.last_activity.load(Ordering::Relaxed)
    }

    /// Adds bytes streamed to the browser.
    pub fn add_bytes(&self, n: u64) {
        self.pending_bytes.fetch_add(n, Ordering::Relaxed);
    }

    /// Bytes counted since the last flush to SQLite (the owner page adds them to the stored sum).
    pub fn unflushed_bytes(&self) -> u64 {
        self.pending_bytes.load(Ordering::Relaxed)
    }

    /// Takes the bytes counted since the last call (flushed to SQLite).
    pub(super) fn take_bytes(&self) -> u64 {
        self.pending_bytes.swap(0, Ordering::Relaxed)
    }

    /// Transcodes this session started on Plex.
    pub fn transcodes(&self) -> Vec<Transcode> {
        lock(&self.transcodes).clone()
    }

    /// Remembers a transcode started through this session (kept alive while its player shows
    /// life, stopped when it does not).
    pub fn observe_transcode(&self, plex_session: &str, rating_key: Option<&str>) {
        let mut t = lock(&self.transcodes);
        let now = unix_now();
        match t.iter_mut().find(|t| t.session == plex_session) {
            Some(known) => {
                known.last_life = now;
                if rating_key.is_some() {
                    known.rating_key = rating_key.map(str::to_string);
                }
            }
            None => {
                let rating_key = rating_key
                    .map(str::to_string)
                    .or_else(|| self.rating_key.clone());
                if self.kind == Kind::Facade {
                    // The player started this one itself: its playback session's start line
                    // (a playback ticket's is written by the keeper when it registers).
                    super::journal::facade_playback_started(
                        self,
                        rating_key.as_deref(),
                        plex_session,
                    );
                }
                t.push(Transcode {
                    session: plex_session.to_string(),
                    rating_key,
                    last_life: now,
                });
            }
        }
    }

    /// A request for transcode `plex_session` (manifest, segment, ping): its player is there.
    pub fn transcode_life(&self, plex_session: &str) {
        let now = unix_now();
        for t in lock(&self.transcodes)
            .iter_mut()
            .filter(|t| t.session == plex_session)
        {
            t.last_life = now;
        }
    }

    /// A progress or timeline report for `rating_key`: life for every transcode of that item.
    pub fn item_life(&self, rating_key: &str) {
        if self.rating_key.as_deref() == Some(rating_key) {
            self.touch();
        }
        let now = unix_now();
        for t in lock(&self.transcodes)
            .iter_mut()
            .filter(|t| t.rating_key.as_deref() == Some(rating_key))
        {
            t.last_life = now;
        }
    }

    /// Forgets a transcode (the player stopped it, or plexgate did).
    pub fn forget_transcode(&self, plex_session: &str) {
        lock(&self.transcodes).retain(|s| s.session != plex_session);
    }

    /// Removes and returns the transcodes of `rating_key`.
    pub(super) fn take_item_transcodes(&self, rating_key: &str) -> Vec<Transcode> {
        let mut all = lock(&self.transcodes);
        let (taken, kept) = all
            .drain(..)
            .partition(|t| t.rating_key.as_deref() == Some(rating_key));
        *all = kept;
        taken
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
