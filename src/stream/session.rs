//! Ticket sessions while they live: the deny set, activity, keep-alive and stop.
//!
//! Tickets are stateless, so revocation is a deny set of session ids: durable in SQLite (a
//! restart must not resurrect a stopped ticket) and checked from memory on every request. A
//! revocation also fires the session's cancel signal, which ends every in-flight body of that
//! session at its next poll, so a stopped or logged-out stream stops within a moment.
//!
//! PMS reaps a transcode after about 75 s without requests; a paused player makes none, so the
//! keeper pings the transcodes of sessions active within the idle timeout, and stops (on Plex)
//! and revokes (here) playback sessions idle longer than that.
//!
//! The deny set is a plain map rather than a bounded cache on purpose: an entry must never be
//! evicted before the ticket it denies expires.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use tokio::sync::watch;

use crate::db::playback::{self, Kind, NewTicketSession};
use crate::db::{self, Db, DbError};
use crate::metrics::Metrics;
use crate::plex::{ClientIdentity, ServerDirectory, transcoder};
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
    transcodes: Mutex<Vec<String>>,
    start_manifest: Mutex<Option<StartManifest>>,
    last_activity: AtomicI64,
    pending_bytes: AtomicU64,
    cancel: watch::Sender<bool>,
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

impl LiveSession {
    /// Stores the start manifest of a playback session.
    pub fn set_start_manifest(&self, manifest: StartManifest) {
        *lock(&self.start_manifest) = Some(manifest);
    }

    /// The stored start manifest, if this session has one (not after a restart).
    pub fn start_manifest(&self) -> Option<StartManifest> {
        lock(&self.start_manifest).clone()
    }

    /// A receiver that turns `true` when the session is revoked.
    pub fn cancelled(&self) -> watch::Receiver<bool> {
        self.cancel.subscribe()
    }

    /// Records a request through the session's ticket.
    pub fn touch(&self) {
        self.last_activity.store(unix_now(), Ordering::Relaxed);
    }

    /// Adds bytes streamed to the browser.
    pub fn add_bytes(&self, n: u64) {
        self.pending_bytes.fetch_add(n, Ordering::Relaxed);
    }

    /// Transcode session ids (`session=`) this ticket session started on Plex.
    pub fn transcodes(&self) -> Vec<String> {
        lock(&self.transcodes).clone()
    }

    /// Remembers a transcode started through this session (kept alive, stopped with it).
    pub fn observe_transcode(&self, plex_session: &str) {
        let mut t = lock(&self.transcodes);
        if !t.iter().any(|s| s == plex_session) {
            t.push(plex_session.to_string());
        }
    }

    /// Forgets a transcode the player stopped itself.
    pub fn forget_transcode(&self, plex_session: &str) {
        lock(&self.transcodes).retain(|s| s != plex_session);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What the keeper needs to talk to Plex.
#[derive(Debug, Clone)]
pub struct KeeperDeps {
    /// Storage.
    pub db: Db,
    /// Server addresses and tokens.
    pub servers: ServerDirectory,
    /// Upstream client.
    pub client: reqwest::Client,
    /// plexgate's identity.
    pub identity: ClientIdentity,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Idle limit for playback sessions.
    pub idle_timeout: Duration,
    /// Keep-alive period.
    pub keepalive: Duration,
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

    /// Records a new ticket session and makes it live.
    pub async fn register(
        &self,
        new: NewTicketSession,
        expires_at: i64,
        transcode: Option<&str>,
    ) -> Result<Arc<LiveSession>, DbError> {
        let live = Arc::new(LiveSession {
            id: new.id.clone(),
            user_id: new.user_id,
            server_id: new.server_id,
            kind: new.kind,
            login_hash: new.login_session_hash,
            expires_at,
            transcodes: Mutex::new(transcode.map(|t| vec![t.to_string()]).unwrap_or_default()),
            start_manifest: Mutex::new(None),
            last_activity: AtomicI64::new(unix_now()),
            pending_bytes: AtomicU64::new(0),
            cancel: watch::channel(false).0,
        });
        let kind = new.kind;
        self.inner
            .deps
            .db
            .write(move |conn| playback::insert(conn, &new, unix_now()))
            .await?;
        if kind == Kind::Playback {
            self.inner.deps.metrics.session_started();
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
        let live = Arc::new(LiveSession {
            id: row.id.clone(),
            user_id: row.user_id,
            server_id: row.server_id,
            kind: if row.kind == "facade" {
                Kind::Facade
            } else {
                Kind::Playback
            },
            login_hash: None,
            expires_at,
            transcodes: Mutex::new(row.plex_session_id.into_iter().collect()),
            start_manifest: Mutex::new(None),
            last_activity: AtomicI64::new(unix_now()),
            pending_bytes: AtomicU64::new(0),
            cancel: watch::channel(false).0,
        });
        Ok(Some(
            lock(&self.inner.live).entry(row.id).or_insert(live).clone(),
        ))
    }

    /// Revokes session `id`: deny set (memory and SQLite), session row ended, in-flight bodies
    /// cancelled, its transcodes stopped on Plex. Returns false if it was already revoked.
    pub async fn revoke(&self, id: &str, reason: &str) -> Result<bool, DbError> {
        let live = lock(&self.inner.live).remove(id);
        let expires_at = live.as_ref().map(|l| l.expires_at).unwrap_or(i64::MAX);
        self.inner
            .revoked
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_string(), expires_at);
        if let Some(live) = &live {
            let _ = live.cancel.send(true);
        }
        let (key, why) = (id.to_string(), reason.to_string());
        let bytes = live
            .as_ref()
            .map(|l| l.pending_bytes.swap(0, Ordering::Relaxed))
            .unwrap_or(0);
        let first = self
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
        let (first, row) = first;
        if let Some(live) = live {
            // One event per session end, for operators: what played, for whom, how much.
            tracing::info!(
                session = %live.id,
                user_id = live.user_id,
                kind = ?live.kind,
                rating_key = row.as_ref().and_then(|r| r.rating_key.as_deref()).unwrap_or("-"),
                bytes = row.as_ref().map_or(0, |r| r.bytes_sent),
                seconds = row.as_ref().map_or(0, |r| crate::util::unix_now() - r.started_at),
                reason,
                "ticket session ended"
            );
            for transcode in live.transcodes() {
                self.stop_transcode(&live, &transcode).await;
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

    /// How many sessions are live.
    pub fn active_count(&self) -> usize {
        lock(&self.inner.live).len()
    }

    async fn stop_transcode(&self, live: &LiveSession, transcode: &str) {
        let deps = &self.inner.deps;
        match deps.servers.access(live.user_id, live.server_id).await {
            Ok(access) => {
                if let Err(e) =
                    transcoder::stop(&deps.client, &access, &deps.identity, transcode).await
                {
                    tracing::warn!(session = %live.id, error = %e, "could not stop a transcode on Plex");
                }
            }
            Err(e) => {
                tracing::warn!(session = %live.id, error = %e, "cannot reach the server to stop a transcode")
            }
        }
    }

    /// One keep-alive round: flush activity, stop idle playback, ping live transcodes, prune.
    pub async fn sweep(&self) {
        let deps = &self.inner.deps;
        let now = unix_now();
        let sessions: Vec<Arc<LiveSession>> = lock(&self.inner.live).values().cloned().collect();
        let idle = deps.idle_timeout.as_secs() as i64;

        let flush: Vec<(String, i64, u64)> = sessions
            .iter()
            .map(|s| {
                (
                    s.id.clone(),
                    s.last_activity.load(Ordering::Relaxed),
                    s.pending_bytes.swap(0, Ordering::Relaxed),
                )
            })
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
            let quiet_for = now - s.last_activity.load(Ordering::Relaxed);
            if s.expires_at <= now {
                let _ = self.revoke(&s.id, "expired").await;
            } else if s.kind == Kind::Playback && quiet_for > idle {
                let _ = self.revoke(&s.id, "idle").await;
            } else if quiet_for <= idle {
                let transcodes = s.transcodes();
                if transcodes.is_empty() {
                    continue;
                }
                let Ok(access) = deps.servers.access(s.user_id, s.server_id).await else {
                    continue;
                };
                for t in transcodes {
                    if let Err(e) =
                        transcoder::ping(&deps.client, &access, &deps.identity, &t).await
                    {
                        tracing::debug!(session = %s.id, error = %e, "transcode ping failed");
                        if matches!(e, crate::plex::PlexError::Status { status: 404, .. }) {
                            s.forget_transcode(&t);
                        }
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
