//! Wiring: open storage and secrets, build the state and the route table, bind, serve until a
//! signal, drain. `main` hands the parsed command to [`command`], which calls [`run`]; tests call
//! [`start`] and get a handle with the bound address.

pub mod backup;
pub mod command;
pub mod demo;
pub mod doctor;
mod keys;
pub mod limits;
pub mod purge;

use std::net::SocketAddr;

use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use std::sync::Arc;

use crate::api::state::Parts;
use crate::api::{self, AppState};
use crate::auth::LoginSessions;
use crate::config::Config;
use crate::crypto::{CryptoError, SecretBox};
use crate::db::{Db, DbError};
use crate::http::ratelimit::KeyedLimiter;
use crate::http::{CorsPolicy, ServeOptions, ShutdownOutcome, TrustedProxies};
use crate::metrics::Metrics;
use crate::plex::PlexError;
use crate::plex::plextv::PlexTv;
use crate::plex::{ClientIdentity, ServerDirectory};
use crate::stream::session::{KeeperDeps, SessionKeeper};
use crate::stream::ticket::TicketKeys;

/// Why plexgate could not start. Each message tells the operator what to do.
#[derive(Debug, Error)]
pub enum StartupError {
    /// The database could not be opened or migrated.
    #[error("{0}")]
    Db(#[from] DbError),
    /// The key could not be loaded, created or matched to the database.
    #[error("{0}")]
    Crypto(#[from] CryptoError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The upstream HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    /// The demo's Plex could not be started or reached.
    #[error("demo: {0}")]
    Demo(String),
    /// The demo's external Plex rejected the request.
    #[error("demo: {0}")]
    DemoPlex(#[from] PlexError),
}

/// A running server.
#[derive(Debug)]
pub struct Running {
    addr: SocketAddr,
    state: AppState,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<ShutdownOutcome>,
    purge: JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.purge.abort();
    }
}

impl Running {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://addr`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The application state (tests reach the database through it).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Stops accepting, drains within the grace period, and reports how it went.
    pub async fn shutdown(mut self) -> ShutdownOutcome {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task)
            .await
            .unwrap_or(ShutdownOutcome::GraceExpired)
    }
}

/// Opens storage and keys, binds `config.server.listen` and starts serving in the background.
pub async fn start(config: Config) -> Result<Running, StartupError> {
    limits::raise_open_files(config.server.max_connections);
    let state = build_state(config).await?;
    let addr = state.config().server.listen;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StartupError::Bind { addr, source })?;
    serve_on(listener, state)
}

/// Serves `state` on an already bound listener.
pub fn serve_on(listener: TcpListener, state: AppState) -> Result<Running, StartupError> {
    let addr = listener.local_addr().map_err(|source| StartupError::Bind {
        addr: state.config().server.listen,
        source,
    })?;
    let server = &state.config().server;
    let options = ServeOptions {
        request_timeout: server.request_timeout,
        header_read_timeout: server.header_read_timeout,
        shutdown_grace: server.shutdown_grace,
        max_concurrency: server.max_concurrency,
        max_body_bytes: server.max_body_bytes,
        max_connections: server.max_connections,
        max_connections_per_ip: server.max_connections_per_ip,
        send_buffer: (server.send_buffer_bytes > 0).then_some(server.send_buffer_bytes),
        trusted_proxies: TrustedProxies::new(server.trusted_proxies.clone()),
        cors: CorsPolicy {
            origins: server.cors_origins.clone(),
            public_origin: server.public_url.clone(),
            // The proxy authenticates by the ticket in its path, never by cookie.
            csrf_exempt_prefixes: vec![
                "/api/plex/proxy/".to_string(),
                format!("{}/api/plex/proxy/", server.base_path),
            ],
            // Starts a playback and replaces the browser's current one.
            guarded_get_prefixes: vec![
                "/api/plex/stream/".to_string(),
                format!("{}/api/plex/stream/", server.base_path),
            ],
        },
        metrics: state.metrics().clone(),
    };
    let router = api::router(state.clone());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(crate::http::serve(listener, router, options, async move {
        let _ = stopped.await;
    }));
    tracing::info!(%addr, version = env!("CARGO_PKG_VERSION"), "plexgate listening");
    let purge = purge::spawn(state.clone(), state.config().auth.session_purge_interval);
    Ok(Running {
        addr,
        state,
        stop: Some(stop),
        task,
        purge,
    })
}

/// Storage, keys and clients for `config`.
pub async fn build_state(config: Config) -> Result<AppState, StartupError> {
    build_state_for(config, false).await
}

/// Like [`build_state`]; `demo_mode` turns on demo-only routes.
pub async fn build_state_for(config: Config, demo_mode: bool) -> Result<AppState, StartupError> {
    let db = Db::open(&config.storage.database).await?;
    let master = keys::master_key(&db, &config.storage).await?;
    let secrets = SecretBox::new(&master);
    let upstream = upstream_client()?;
    let media = crate::upstream::media::MediaClient::new()
        .map_err(|e| StartupError::Client(e.to_string()))?;
    let metrics = Arc::new(Metrics::default());
    let identity = ClientIdentity::new(
        crate::util::hex(&master.derive("plexgate.client-identifier.v1")[..16]),
        master.derive("plexgate.client-identifier.per-login.v1"),
    );
    let servers = ServerDirectory::new(db.clone(), secrets.clone(), upstream.clone());
    let keeper = SessionKeeper::start(KeeperDeps {
        db: db.clone(),
        servers: servers.clone(),
        client: upstream.clone(),
        identity: identity.clone(),
        metrics: metrics.clone(),
        client_gone: config.stream.client_gone,
        keepalive: config.stream.keepalive_interval,
    })
    .await?;
    let caches = crate::cache::Caches::new(config.cache.max_mb);
    let tmdb = crate::tmdb::Tmdb::new(
        &config.tmdb,
        crate::tmdb::TmdbDeps {
            client: upstream.clone(),
            cache: caches.tmdb.clone(),
            db: db.clone(),
            secrets: secrets.clone(),
            // Queue for at most half the handler deadline, so a queued request is answered
            // (503 with Retry-After) rather than cut off by the request timeout.
            max_queue_wait: config.server.request_timeout / 2,
        },
    )
    .map_err(StartupError::Client)?;
    let trakt = crate::trakt::Trakt::new(
        &config.trakt,
        crate::trakt::TraktDeps {
            client: upstream.clone(),
            cache: caches.trakt.clone(),
            db: db.clone(),
            secrets: secrets.clone(),
        },
    );
    let discover =
        crate::plex::discover::Discover::new(upstream.clone(), &config.discover, identity.clone());
    Ok(AppState::new(Parts {
        tickets: TicketKeys::derive(&master, config.stream.ticket_key_id),
        probe: crate::crypto::probe::ProbeKey::derive(&master),
        logins: LoginSessions::new(db.clone(), &master),
        caches,
        tmdb,
        trakt,
        discover,
        plextv: PlexTv::new(upstream.clone(), &config.plextv.url, &config.plextv.app_url),
        pin_limiter: KeyedLimiter::new(
            config.auth.pin_requests_per_minute,
            std::time::Duration::from_secs(60),
        ),
        config,
        db,
        secrets,
        upstream,
        media,
        keeper,
        servers,
        identity,
        metrics,
        demo_mode,
        started: std::time::Instant::now(),
    }))
}

/// The shared client for Plex calls: a connect timeout, never a total deadline (bodies stream
/// for as long as a movie plays) and no read timeout (reqwest's would count the time a paused
/// player spends not reading); metadata calls set their own `.timeout()`, streamed bodies get
/// an idle timeout that counts only upstream silence (`stream::proxy`).
pub fn upstream_client() -> Result<reqwest::Client, StartupError> {
    crate::upstream::builder()
        .pool_idle_timeout(std::time::Duration::from_secs(90))
        .pool_max_idle_per_host(32)
        .build()
        .map_err(|e| StartupError::Client(e.to_string()))
}

/// Serves until SIGINT or SIGTERM, then drains. Used by `serve`.
pub async fn run(config: Config) -> Result<ShutdownOutcome, StartupError> {
    let running = start(config).await?;
    shutdown_signal().await;
    Ok(running.shutdown().await)
}

/// `plexgate healthcheck`: GET /health on the configured listen address (a wildcard address is
/// asked on loopback) and report whether it answered `{"status":"ok"}` within 3 s.
pub fn healthcheck(config: &Config) -> Result<(), String> {
    let mut addr = config.server.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    let url = format!("http://{addr}{}/health", config.server.base_path);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let client = upstream_client().map_err(|e| e.to_string())?;
        let resp = client
            .get(&url)
            .timeout(std::time::Duration::from_secs(3))
            .send()
            .await
            .map_err(|e| {
                format!(
                    "{url}: {}",
                    if e.is_timeout() {
                        "timed out"
                    } else {
                        "no answer"
                    }
                )
            })?;
        let status = resp.status();
        let body: serde_json::Value = resp.json().await.unwrap_or_default();
        if status.is_success() && body["status"] == "ok" {
            Ok(())
        } else {
            Err(format!("{url} answered HTTP {status}"))
        }
    })
}

/// Resolves on the first SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C will stop plexgate");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("received SIGINT"),
        _ = term.recv() => tracing::info!("received SIGTERM"),
    }
}
