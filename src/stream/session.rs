//! Ticket sessions while they live: the deny set, life, keep-alive and stop.
//!
//! Tickets are stateless, so revocation is a deny set of session ids: durable in SQLite (a
//! restart must not resurrect a stopped ticket) and checked from memory on every request. A
//! revocation also fires the session's cancel signal, which ends every in-flight body of that
//! session at its next poll, so a stopped or logged-out stream stops within a moment.
//!
//! A transcode lives exactly as long as its player shows life (design §5): PMS reaps a
//! transcode after about 75 s without requests and a paused player makes none, so the keeper
//! pings the transcodes whose player reported within the client-gone window, and stops (on
//! Plex) the ones whose player did not, revoking the playback ticket that started it.
//!
//! The deny set is a plain map rather than a bounded cache on purpose: an entry must never be
//! evicted before the ticket it denies expires.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use crate::db::playback::{self, Kind, NewTicketSession};
use crate::db::{self, Db, DbError};
use crate::metrics::{Metrics, SessionCounts};
use crate::plex::transcoder::TranscodeRequest;
use crate::plex::{ClientIdentity, ServerDirectory, transcoder};
use crate::util::unix_now;

use super::live::LiveParts;
pub use super::live::{LiveSession, StartManifest, Transcode};

/// What the keeper needs to talk to Plex.
#[derive(Debug, Clone)]
pub struct KeeperDeps {
    /// Storage.
    pub db: Db,
    /// Server addresses and tokens.
    pub servers: ServerDirectory,
    /// Upstream client.
    pub client: reqwest::Client,
    /// plexgate's installation identity (sessions restored after a restart derive theirs).
    pub identity: ClientIdentity,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// A transcode whose player shows no life for this long is stopped.
    pub client_gone: Duration,
    /// Keep-alive period.
    pub keepalive: Duration,
}

/// A new ticket session to record and make live.
#[derive(Debug)]
pub struct Registration {
    /// The stored row.
    pub row: NewTicketSession,
    /// Ticket expiry, epoch seconds.
    pub expires_at: i64,
    /// How Plex sees the session's calls.
    pub identity: ClientIdentity,
    /// For a playback session: the transcode its URL starts when first fetched.
    pub start_request: Option<TranscodeRequest>,
}

/// The registry of live sessions and revocations.
#[derive(Debug, Clone)]
pub struct SessionKeeper {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    deps: KeeperDeps,
    live: Mutex<HashMap<String, Arc<LiveSession>>>,
    revoked: RwLock<HashMap<String, i64>>,
}

impl SessionKeeper {
    /// Loads active revocations and starts the keep-alive loop (it ends when the last clone of
    /// the keeper is dropped).
    pub async fn start(deps: KeeperDeps) -> Result<SessionKeeper, DbError> {
        let now = unix_now();
        let revoked = deps
            .db
            .read(move |conn| {
                let ids = db::revocations::active_revocations(conn, now)?;
                let mut map = HashMap::new();
                for id in ids {
                    // The exact expiry only matters for pruning; re-read it lazily.
                    map.insert(id, i64::MAX);
                }
                Ok(map)
            })
            .await?;
        let keeper = SessionKeeper {
            inner: Arc::new(Inner {
                deps,
                live: Mutex::default(),
                revoked: RwLock::new(revoked),
            }),
        };
        let weak = Arc::downgrade(&keeper.inner);
        let period = keeper.inner.deps.keepalive;
        tokio::spawn(keep_alive_loop(weak, period));
        Ok(keeper)
    }

    /// The database the keeper records sessions in.
    pub fn db(&self) -> &Db {
        &self.inner.deps.db
    }

    /// Whether session `id` is revoked.
    pub fn is_revoked(&self, id: &str) -> bool {
        self.inner
            .revoked
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(id)
    }

    /// Records a new ticket session and makes it live. Costs Plex nothing: a playback session's
    /// transcode starts only when its URL is first fetched.
    pub async fn register(&self, reg: Registration) -> Result<Arc<LiveSession>, DbError> {
        let new = reg.row;
        let live = Arc::new(LiveSession::new(LiveParts {
            id: new.id.clone(),
            user_id: new.user_id,
            server_id: new.server_id,
            kind: new.kind,
            login_hash: new.login_session_hash,
            expires_at: reg.expires_at,
            rating_key: new.rating_key.clone(),
            identity: reg.identity,
            start_request: reg.start_request,
            transcodes: Vec::new(),
        }));
        let kind = new.kind;
        let (protocol, mode) = (new.protocol.clone(), new.mode.clone());
        self.inner
            .deps
            .db
            .write(move |conn| playback::insert(conn, &new, unix_now()))
            .await?;
        if kind == Kind::Playback {
            self.inner.deps.metrics.session_started();
            // One line per playback instead of one per segment (those are DEBUG).
            super::journal::playback_started(&live, protocol.as_deref(), mode.as_deref());
        }
        lock(&self.inner.live).insert(live.id.clone(), live.clone());
        Ok(live)
    }

    /// The live session `id`, restoring it from SQLite after a restart. `None` when it ended
    /// or never existed: its ticket must then be refused as revoked.
    pub async fn session(
        &self,
        id: &str,
        expires_at: i64,
    ) -> Result<Option<Arc<LiveSession>>, DbError> {
        if let Some(live) = lock(&self.inner.live).get(id) {
            return Ok(Some(live.clone()));
        }
        let key = id.to_string();
        let row = self
            .inner
            .deps
            .db
            .read(move |conn| playback::get(conn, &key))
            .await?;
        let Some(row) = row.filter(|r| r.ended_at.is_none()) else {
            return Ok(None);
        };
        let kind = if row.kind == "facade" {
            Kind::Facade
        } else {
            Kind::Playback
        };
        // The device name is cosmetic; the identifier (what Plex keys on) is the same as before.
        let identity = match &row.login_session_hash {
            Some(hash) => self
                .inner
                .deps
                .identity
                .for_login(hash, "plexgate".to_string()),
            None => self.inner.deps.identity.clone(),
        };
        let live = Arc::new(LiveSession::new(LiveParts {
            id: row.id.clone(),
            user_id: row.user_id,
            server_id: row.server_id,
            kind,
            login_hash: row.login_session_hash,
            expires_at,
            rating_key: row.rating_key.clone(),
            identity,
            start_request: None,
            // A playback session restored after a restart may have started its transcode.
            transcodes: match kind {
                Kind::Playback => row.plex_session_id.into_iter().collect(),
                Kind::Facade => Vec::new(),
            },
        }));
        Ok(Some(
            lock(&self.inner.live).entry(row.id).or_insert(live).clone(),
        ))
    }

    /// Revokes session `id`: deny set (memory and SQLite), session row ended, in-flight bodies
    /// and requests still waiting for Plex cancelled, its transcodes stopped on Plex. Returns
    /// false if it was already revoked.
    pub async fn revoke(&self, id: &str, reason: &str) -> Result<bool, DbError> {
        let live = lock(&self.inner.live).remove(id);
        let expires_at = live.as_ref().map(|l| l.expires_at).unwrap_or(i64::MAX);
        self.inner
            .revoked
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_string(), expires_at);
        if let Some(live) = &live {
            live.cancel();
        }
        let (key, why) = (id.to_string(), reason.to_string());
        let bytes = live.as_ref().map_or(0, |l| l.take_bytes());
        let (first, row) = self
            .inner
            .deps
            .db
            .write(move |conn| {
                let now = unix_now();
                let expiry = if expires_at == i64::MAX {
                    now + 30 * 86400
                } else {
                    expires_at
                };
                let first = db::revocations::revoke(conn, &key, expiry, &why, now)?;
                playback::record_activity(conn, &key, now, bytes)?;
                playback::end(conn, &key, now, &why)?;
                Ok((first, playback::get(conn, &key)?))
            })
            .await?;
        if let Some(live) = live {
            super::journal::session_ended(&live, row.as_ref(), reason);
            for transcode in live.transcodes() {
                self.stop_transcode(&live, &transcode.session).await;
            }
        }
        Ok(first)
    }

    /// Revokes every open session of a login session (logout, expiry).
    pub async fn revoke_login(&self, login_hash: [u8; 32], reason: &str) -> Result<usize, DbError> {
        let rows = self
            .inner
            .deps
            .db
            .read(move |conn| playback::open_for_login(conn, &login_hash))
            .await?;
        let mut n = 0;
        for row in rows {
            if self.revoke(&row.id, reason).await? {
                n += 1;
            }
        }
        Ok(n)
    }

    /// A progress or timeline report for `rating_key` from login session `login_hash`: its
    /// player is alive, so every transcode of that item in that login session is too.
    pub fn item_life(&self, login_hash: &[u8; 32], rating_key: &str) {
        for live in self.of_login(login_hash) {
            live.item_life(rating_key);
        }
    }

    /// The player of `rating_key` in login session `login_hash` stopped: every transcode of
    /// that item in that login session is stopped on Plex now and its playback tickets revoked.
    /// Returns how many transcodes and playback sessions ended.
    pub async fn stop_item(
        &self,
        login_hash: &[u8; 32],
        rating_key: &str,
        reason: &str,
    ) -> Result<usize, DbError> {
        let mut n = 0;
        for live in self.of_login(login_hash) {
            if live.kind == Kind::Playback && live.rating_key.as_deref() == Some(rating_key) {
                if self.revoke(&live.id, reason).await? {
                    n += 1;
                }
                continue;
            }
            for t in live.take_item_transcodes(rating_key) {
                tracing::info!(
                    session = %live.id,
                    user_id = live.user_id,
                    rating_key,
                    reason,
                    "stopping a transcode: its player stopped"
                );
                self.stop_transcode(&live, &t.session).await;
                n += 1;
            }
        }
        Ok(n)
    }

    fn of_login(&self, login_hash: &[u8; 32]) -> Vec<Arc<LiveSession>> {
        lock(&self.inner.live)
            .values()
            .filter(|l| l.login_hash.as_ref() == Some(login_hash))
            .cloned()
            .collect()
    }

    /// How many sessions are live, by kind.
    pub fn active_counts(&self) -> SessionCounts {
        let live = lock(&self.inner.live);
        let playback = live.values().filter(|l| l.kind == Kind::Playback).count();
        SessionCounts {
            facade: live.len() - playback,
            playback,
        }
    }

    /// The session `id` if it is live in memory (never restored from SQLite).
    pub fn live(&self, id: &str) -> Option<Arc<LiveSession>> {
        lock(&self.inner.live).get(id).cloned()
    }

    /// Transcodes plexgate is keeping alive on Plex right now, over all sessions.
    pub fn active_transcodes(&self) -> usize {
        lock(&self.inner.live)
            .values()
            .map(|l| l.transcodes().len())
            .sum()
    }

    async fn stop_transcode(&self, live: &LiveSession, transcode: &str) {
        let deps = &self.inner.deps;
        match deps.servers.access(live.user_id, live.server_id).await {
            Ok(access) => {
                if let Err(e) =
                    transcoder::stop(&deps.client, &access, live.identity(), transcode).await
                {
                    tracing::warn!(session = %live.id, error = %e, "could not stop a transcode on Plex");
                }
            }
            Err(e) => {
                tracing::warn!(session = %live.id, error = %e, "cannot reach the server to stop a transcode")
            }
        }
    }

    /// One keep-alive round: flush activity, end what expired, stop transcodes whose player is
    /// gone, ping the rest, prune the deny set.
    pub async fn sweep(&self) {
        let deps = &self.inner.deps;
        let now = unix_now();
        let sessions: Vec<Arc<LiveSession>> = lock(&self.inner.live).values().cloned().collect();
        let window = deps.client_gone.as_secs() as i64;

        let flush: Vec<(String, i64, u64)> = sessions
            .iter()
            .map(|s| (s.id.clone(), s.last_activity(), s.take_bytes()))
            .collect();
        if let Err(e) = deps
            .db
            .write(move |conn| {
                for (id, at, bytes) in &flush {
                    playback::record_activity(conn, id, *at, *bytes)?;
                }
                db::revocations::prune(conn, unix_now())?;
                Ok(())
            })
            .await
        {
            tracing::warn!(error = %e, "could not record session activity");
        }

        for s in sessions {
            if s.expires_at <= now {
                let _ = self.revoke(&s.id, "expired").await;
                continue;
            }
            if s.kind == Kind::Playback {
                // Any request through the ticket, or a progress report for its item, is life.
                let quiet_for = now - s.last_activity();
                if quiet_for > window {
                    tracing::info!(
                        session = %s.id,
                        user_id = s.user_id,
                        quiet_secs = quiet_for,
                        started = !s.transcodes().is_empty(),
                        "ending a playback session: its player showed no life"
                    );
                    let _ = self.revoke(&s.id, "client_gone").await;
                    continue;
                }
            }
            let mut alive = Vec::new();
            for t in s.transcodes() {
                let quiet_for = now - t.last_life;
                if s.kind == Kind::Facade && quiet_for > window {
                    tracing::info!(
                        session = %s.id,
                        user_id = s.user_id,
                        rating_key = t.rating_key.as_deref().unwrap_or("-"),
                        quiet_secs = quiet_for,
                        "stopping a transcode: its player showed no life"
                    );
                    s.forget_transcode(&t.session);
                    self.stop_transcode(&s, &t.session).await;
                } else {
                    alive.push(t.session);
                }
            }
            if alive.is_empty() {
                continue;
            }
            let Ok(access) = deps.servers.access(s.user_id, s.server_id).await else {
                continue;
            };
            for t in alive {
                if let Err(e) = transcoder::ping(&deps.client, &access, s.identity(), &t).await {
                    tracing::debug!(session = %s.id, error = %e, "transcode ping failed");
                    if matches!(e, crate::plex::PlexError::Status { status: 404, .. }) {
                        s.forget_transcode(&t);
                    }
                }
            }
        }
        self.inner
            .revoked
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, exp| *exp > now);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

async fn keep_alive_loop(inner: Weak<Inner>, period: Duration) {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        SessionKeeper { inner }.sweep().await;
    }
}
