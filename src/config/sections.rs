//! The typed sections callers read (`config.stream.ticket_ttl`, …): plain data, already
//! validated. Secrets in them print as `[redacted]` so `check-config` and `{:?}` never leak one.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;

/// `[tmdb]` keys.
#[derive(Clone)]
pub struct TmdbConfig {
    /// TMDB v3 API base, e.g. `https://api.themoviedb.org/3`.
    pub url: String,
    /// The key used when a user has not saved their own (a v3 key, or a v4 read token).
    pub default_key: Option<String>,
    /// Upstream requests allowed per [`TmdbConfig::rate_limit_window`], across all users.
    pub rate_limit_requests: u32,
    /// The sliding window of the rate limit.
    pub rate_limit_window: Duration,
}

impl fmt::Debug for TmdbConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TmdbConfig")
            .field("url", &self.url)
            .field(
                "default_key",
                &self.default_key.as_ref().map(|_| "[redacted]"),
            )
            .field("rate_limit_requests", &self.rate_limit_requests)
            .field("rate_limit_window", &self.rate_limit_window)
            .finish()
    }
}

/// `[trakt]` keys.
#[derive(Clone)]
pub struct TraktConfig {
    /// Trakt API base, e.g. `https://api.trakt.tv`.
    pub url: String,
    /// The OAuth application's client id (sent as `trakt-api-key`).
    pub client_id: Option<String>,
    /// The OAuth application's client secret.
    pub client_secret: Option<String>,
}

impl fmt::Debug for TraktConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraktConfig")
            .field("url", &self.url)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

/// `[discover]` keys.
#[derive(Debug, Clone)]
pub struct DiscoverConfig {
    /// Discover provider (watchlist list and writes).
    pub url: String,
    /// Metadata provider (matching tmdb/imdb/tvdb ids to Discover ids).
    pub metadata_url: String,
    /// VOD provider (ratings of online-catalogue items).
    pub vod_url: String,
}

/// `[plex]` keys.
#[derive(Debug, Clone)]
pub struct PlexConfig {
    /// At most one same-state timeline report per item and browser session reaches PMS per
    /// this interval; state changes are sent at once, the newest held position at its end.
    pub timeline_interval: Duration,
}

/// `[image]` keys.
#[derive(Debug, Clone)]
pub struct ImageConfig {
    /// Origins `/api/image/proxy` may fetch from: `host` (https), `host:port` or
    /// `http(s)://host[:port]`. Host names must resolve to public addresses; an IP literal is
    /// trusted as written.
    pub proxy_hosts: Vec<String>,
    /// Largest source image decoded, in pixels (checked from the header before decoding).
    pub max_pixels: u64,
    /// Quality (1-100) of the lossy re-encode `/api/image/plex` answers.
    pub quality: u8,
}

/// `[web]` keys.
#[derive(Debug, Clone, Default)]
pub struct WebConfig {
    /// A built single-page app (Flixor's `dist/`) served at `/`; checked at start to be a
    /// readable directory with an `index.html`.
    pub root: Option<PathBuf>,
}

/// `[auth]` keys.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// `Secure` on the session cookie: `None` = decide from the request (https via a trusted
    /// proxy) or `server.public_url`.
    pub cookie_secure: Option<bool>,
    /// `SameSite`: `None` = `None` for an https public URL with CORS origins, else `Lax`.
    pub cookie_same_site: Option<SameSite>,
    /// PIN create/poll requests allowed per client IP per minute.
    pub pin_requests_per_minute: u32,
    /// How often expired login sessions are purged (and their tickets revoked).
    pub session_purge_interval: Duration,
    /// The owner (plex.tv id or username), pinned; unset: the first account to sign in.
    pub owner: Option<String>,
    /// Accounts admitted even without a shared server (plex.tv ids or usernames).
    pub allowed_users: Vec<String>,
    /// Accounts never admitted, owner's shares notwithstanding (plex.tv ids or usernames).
    pub denied_users: Vec<String>,
}

/// A cookie `SameSite` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    /// `Lax`.
    Lax,
    /// `Strict`.
    Strict,
    /// `None` (requires Secure).
    None,
}

/// `[plextv]` keys.
#[derive(Debug, Clone)]
pub struct PlexTvConfig {
    /// plex.tv API base (tests point it at a fake).
    pub url: String,
    /// The page where users approve a PIN.
    pub app_url: String,
}

/// `[stream]` keys.
#[derive(Debug, Clone)]
pub struct StreamConfig {
    /// Whether `mode=direct` may hand out classic direct-Plex URLs (token included).
    pub allow_direct: bool,
    /// Lifetime of a playback ticket.
    pub ticket_ttl: Duration,
    /// Lifetime of a facade ticket (also bounded by the login session).
    pub facade_ttl: Duration,
    /// A transcode whose player shows no life (no manifest, segment or part request, no
    /// progress report for its item) for this long is stopped and its playback ticket revoked.
    pub client_gone: Duration,
    /// How long Plex may stay silent while plexgate waits for response headers or the next
    /// body bytes. Time the browser spends not reading (a paused player) never counts.
    pub upstream_idle_timeout: Duration,
    /// Relay media bodies from a plain-HTTP Plex with `splice(2)` (Linux): the bytes never
    /// enter plexgate's memory. Off: every body is copied through user space.
    pub zero_copy: bool,
    /// How often live transcodes are pinged so Plex does not reap a paused one.
    pub keepalive_interval: Duration,
    /// Which derived key signs new tickets; the previous id still verifies (rotation).
    pub ticket_key_id: u8,
}

/// `[cache]` keys.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// Memory for all caches together, in MiB.
    pub max_mb: u64,
}

/// `[metrics]` keys.
#[derive(Clone)]
pub struct MetricsConfig {
    /// Serve `GET /metrics`.
    pub enabled: bool,
    /// If set, `/metrics` requires `Authorization: Bearer <this>`.
    pub bearer: Option<String>,
}

impl fmt::Debug for MetricsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsConfig")
            .field("enabled", &self.enabled)
            .field("bearer", &self.bearer.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// `[server]` keys.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Public origin the browser uses (`https://flixor.example.com`), without a trailing slash.
    pub public_url: Option<String>,
    /// Path prefix plexgate is served under behind a reverse proxy (`/plexgate`), or empty.
    pub base_path: String,
    /// Peers whose `X-Forwarded-*` and `X-Request-Id` headers are believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Browser origins allowed to call the API with credentials.
    pub cors_origins: Vec<String>,
    /// How long a handler may take to produce response headers (bodies may stream longer).
    pub request_timeout: Duration,
    /// How long a connection may go without sending a complete request head (from accept and
    /// from the end of each response).
    pub header_read_timeout: Duration,
    /// How long in-flight responses may run after a shutdown signal.
    pub shutdown_grace: Duration,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// Requests handled at once; beyond it requests are shed with 503.
    pub max_concurrency: usize,
    /// Open client connections at once; beyond it new connections are closed at accept.
    pub max_connections: usize,
    /// Open connections per client address (trusted proxies exempt).
    pub max_connections_per_ip: usize,
    /// `SO_SNDBUF` of each client connection; 0 leaves it to the kernel's autotuning.
    pub send_buffer_bytes: usize,
}

/// `[storage]` keys.
#[derive(Clone)]
pub struct StorageConfig {
    /// SQLite database file.
    pub database: PathBuf,
    /// File holding the master key (created with mode 0600 on first start).
    pub key_file: PathBuf,
    /// A master key given inline (base64 of 32 bytes) instead of the key file.
    pub secret_key: Option<String>,
}

impl fmt::Debug for StorageConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StorageConfig")
            .field("database", &self.database)
            .field("key_file", &self.key_file)
            .field(
                "secret_key",
                &self.secret_key.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

/// `[log]` keys.
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// Human-readable or JSON lines.
    pub format: LogFormat,
    /// An `EnvFilter` directive such as `info` or `plexgate=debug,info`.
    pub level: String,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Coloured, aligned lines for a terminal.
    Pretty,
    /// One JSON object per line for log shippers.
    Json,
}

/// `[demo]` keys: point `plexgate demo` at an existing Plex instead of the embedded one.
#[derive(Clone, Default)]
pub struct DemoConfig {
    /// Base URL of an existing Plex Media Server.
    pub plex_url: Option<String>,
    /// That server's token.
    pub plex_token: Option<String>,
}

impl fmt::Debug for DemoConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DemoConfig")
            .field("plex_url", &self.plex_url)
            .field(
                "plex_token",
                &self.plex_token.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}
