//! What every handler receives: configuration, storage, keys and upstream clients, behind one
//! `Arc` so cloning it per request is a reference-count bump.

use std::sync::Arc;
use std::time::Instant;

use crate::auth::LoginSessions;
use crate::cache::Caches;
use crate::config::Config;
use crate::crypto::SecretBox;
use crate::db::Db;
use crate::http::ratelimit::KeyedLimiter;
use crate::metrics::Metrics;
use crate::plex::plextv::PlexTv;
use crate::plex::{ClientIdentity, ServerDirectory};
use crate::stream::proxy::Proxy;
use crate::stream::session::SessionKeeper;
use crate::stream::ticket::TicketKeys;

/// Shared application state.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Parts>);

/// The pieces of [`AppState`], assembled by `app`.
#[derive(Debug)]
pub struct Parts {
    /// Validated configuration.
    pub config: Config,
    /// Storage.
    pub db: Db,
    /// Encryption of tokens at rest.
    pub secrets: SecretBox,
    /// Shared upstream HTTP client.
    pub upstream: reqwest::Client,
    /// The client for what the streaming proxy forwards (bounded buffers).
    pub media: crate::upstream::media::MediaClient,
    /// Ticket signing keys.
    pub tickets: TicketKeys,
    /// Recognises `plexgate doctor`'s one-time probes (the reverse-proxy echo).
    pub probe: crate::crypto::probe::ProbeKey,
    /// Login sessions (cookie).
    pub logins: LoginSessions,
    /// Live ticket sessions and revocations.
    pub keeper: SessionKeeper,
    /// Server addresses and tokens.
    pub servers: ServerDirectory,
    /// plexgate's identity toward Plex.
    pub identity: ClientIdentity,
    /// Counters for /metrics.
    pub metrics: Arc<Metrics>,
    /// plex.tv client.
    pub plextv: PlexTv,
    /// Response caches.
    pub caches: Caches,
    /// TMDB client, key choice and rate-limit queue.
    pub tmdb: crate::tmdb::Tmdb,
    /// Trakt client and token keeper.
    pub trakt: crate::trakt::Trakt,
    /// Plex's cloud providers (watchlist, matching, VOD), with the account token.
    pub discover: crate::plex::discover::Discover,
    /// Per-IP limit on the PIN routes.
    pub pin_limiter: KeyedLimiter<std::net::IpAddr>,
    /// Whether this process runs `plexgate demo` (enables demo-only routes).
    pub demo_mode: bool,
    /// When this process started serving.
    pub started: Instant,
}

impl AppState {
    /// Wraps the parts.
    pub fn new(parts: Parts) -> Self {
        AppState(Arc::new(parts))
    }

    /// The validated configuration.
    pub fn config(&self) -> &Config {
        &self.0.config
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.0.db
    }

    /// Encryption of tokens at rest.
    pub fn secrets(&self) -> &SecretBox {
        &self.0.secrets
    }

    /// The shared upstream HTTP client.
    pub fn upstream(&self) -> &reqwest::Client {
        &self.0.upstream
    }

    /// Ticket keys.
    pub fn tickets(&self) -> &TicketKeys {
        &self.0.tickets
    }

    /// The doctor's probe key.
    pub fn probe(&self) -> &crate::crypto::probe::ProbeKey {
        &self.0.probe
    }

    /// Login sessions.
    pub fn logins(&self) -> &LoginSessions {
        &self.0.logins
    }

    /// Live ticket sessions.
    pub fn keeper(&self) -> &SessionKeeper {
        &self.0.keeper
    }

    /// Server directory.
    pub fn servers(&self) -> &ServerDirectory {
        &self.0.servers
    }

    /// plexgate's client identity.
    pub fn identity(&self) -> &ClientIdentity {
        &self.0.identity
    }

    /// Counters.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.0.metrics
    }

    /// The streaming proxy.
    pub fn proxy(&self) -> Proxy {
        Proxy {
            client: self.0.upstream.clone(),
            media: self.0.media.clone(),
            metrics: self.0.metrics.clone(),
            idle_timeout: self.0.config.stream.upstream_idle_timeout,
            zero_copy: self.0.config.stream.zero_copy,
        }
    }

    /// plex.tv.
    pub fn plextv(&self) -> &PlexTv {
        &self.0.plextv
    }

    /// Response caches.
    pub fn caches(&self) -> &Caches {
        &self.0.caches
    }

    /// TMDB.
    pub fn tmdb(&self) -> &crate::tmdb::Tmdb {
        &self.0.tmdb
    }

    /// Trakt.
    pub fn trakt(&self) -> &crate::trakt::Trakt {
        &self.0.trakt
    }

    /// Plex's cloud providers.
    pub fn discover(&self) -> &crate::plex::discover::Discover {
        &self.0.discover
    }

    /// The PIN routes' per-IP limiter.
    pub fn pin_limiter(&self) -> &KeyedLimiter<std::net::IpAddr> {
        &self.0.pin_limiter
    }

    /// Whether demo-only routes are on.
    pub fn demo_mode(&self) -> bool {
        self.0.demo_mode
    }

    /// When this process started serving.
    pub fn started(&self) -> Instant {
        self.0.started
    }

    /// The prefix of URLs handed to the browser: public origin (if configured) and base path.
    pub fn url_prefix(&self) -> String {
        let server = &self.config().server;
        format!(
            "{}{}",
            server.public_url.as_deref().unwrap_or(""),
            server.base_path
        )
    }
}
