//! Configuration: defaults, then the TOML file, then `PLEXGATE_*` environment variables, then
//! command-line flags, each layer overriding the one before.
//!
//! Every key is read by one typed getter that records a problem instead of stopping, so a bad
//! configuration is reported in full, one line per key, naming the key and where its value came
//! from. Unknown keys are problems too: a typo must not silently fall back to a default.
//! Secrets (`storage.secret_key`, `demo.plex_token`) are never echoed in a problem line.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;

/// The whole configuration after validation.
#[derive(Debug, Clone)]
pub struct Config {
    /// `[server]`: listening, public URL, proxies, limits.
    pub server: ServerConfig,
    /// `[storage]`: database and key file.
    pub storage: StorageConfig,
    /// `[log]`: format and level.
    pub log: LogConfig,
    /// `[auth]`: cookies and login limits.
    pub auth: AuthConfig,
    /// `[plextv]`: where plex.tv is.
    pub plextv: PlexTvConfig,
    /// `[stream]`: tickets and playback sessions.
    pub stream: StreamConfig,
    /// `[cache]`: in-memory response caches.
    pub cache: CacheConfig,
    /// `[metrics]`: the Prometheus endpoint.
    pub metrics: MetricsConfig,
    /// `[demo]`: which Plex the `demo` command talks to.
    pub demo: DemoConfig,
    /// `[plex]`: how plexgate talks to Plex Media Servers for `/api/plex`.
    pub plex: PlexConfig,
    /// `[image]`: the image proxy's host allowlist.
    pub image: ImageConfig,
    /// `[tmdb]`: TMDB base URL, default key and the shared rate limit.
    pub tmdb: TmdbConfig,
    /// `[trakt]`: Trakt base URL and OAuth application.
    pub trakt: TraktConfig,
    /// `[discover]`: Plex's cloud providers (watchlist, matching, VOD ratings).
    pub discover: DiscoverConfig,
}

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
    /// How long the client may take to send request headers.
    pub header_read_timeout: Duration,
    /// How long in-flight responses may run after a shutdown signal.
    pub shutdown_grace: Duration,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// Requests handled at once; beyond it requests are shed with 503.
    pub max_concurrency: usize,
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

/// Where a value came from, for problem lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The built-in default.
    Default,
    /// The TOML file.
    File(PathBuf),
    /// An environment variable.
    Env(String),
    /// A command-line flag.
    Flag(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => write!(f, "default"),
            Origin::File(p) => write!(f, "file {}", p.display()),
            Origin::Env(name) => write!(f, "env {name}"),
            Origin::Flag(name) => write!(f, "flag {name}"),
        }
    }
}

/// One problem with one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The dotted key (`server.listen`), or `config` for file-level problems.
    pub key: String,
    /// What is wrong, including where the value came from.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// Every problem found while loading; printed one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The problems, in key order.
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "config error: {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Every key plexgate reads, with its environment variable derived from it.
pub const KEYS: &[&str] = &[
    "server.listen",
    "server.public_url",
    "server.base_path",
    "server.trusted_proxies",
    "server.cors_origins",
    "server.request_timeout_secs",
    "server.header_read_timeout_secs",
    "server.shutdown_grace_secs",
    "server.max_body_bytes",
    "server.max_concurrency",
    "storage.database",
    "storage.key_file",
    "storage.secret_key",
    "log.format",
    "log.level",
    "auth.cookie_secure",
    "auth.cookie_same_site",
    "auth.pin_requests_per_minute",
    "auth.session_purge_secs",
    "auth.owner",
    "auth.allowed_users",
    "auth.denied_users",
    "plextv.url",
    "plextv.app_url",
    "stream.allow_direct",
    "stream.ticket_ttl_secs",
    "stream.facade_ttl_secs",
    "stream.client_gone_secs",
    "stream.upstream_idle_timeout_secs",
    "stream.keepalive_secs",
    "stream.ticket_key_id",
    "cache.max_mb",
    "metrics.enabled",
    "metrics.bearer",
    "demo.plex_url",
    "demo.plex_token",
    "plex.timeline_interval_ms",
    "image.proxy_hosts",
    "tmdb.url",
    "tmdb.default_key",
    "tmdb.rate_limit_requests",
    "tmdb.rate_limit_window_ms",
    "trakt.url",
    "trakt.client_id",
    "trakt.client_secret",
    "discover.url",
    "discover.metadata_url",
    "discover.vod_url",
];

const SECRET_KEYS: &[&str] = &[
    "storage.secret_key",
    "demo.plex_token",
    "metrics.bearer",
    "tmdb.default_key",
    "trakt.client_secret",
];

/// The environment variable that overrides `key` (`server.listen` → `PLEXGATE_SERVER_LISTEN`).
pub fn env_name(key: &str) -> String {
    format!("PLEXGATE_{}", key.replace('.', "_").to_ascii_uppercase())
}

/// A raw value before typing: TOML values keep their type, env and flags are text.
#[derive(Debug, Clone)]
enum Raw {
    Toml(toml::Value),
    Text(String),
}

/// Layered raw values, ready to be typed into a [`Config`].
#[derive(Debug, Default)]
pub struct Sources {
    values: BTreeMap<String, (Raw, Origin)>,
    problems: Vec<Problem>,
}

impl Sources {
    /// Starts empty: every key at its default.
    pub fn new() -> Self {
        Self::default()
    }

    /// Layers a TOML document read from `path`.
    pub fn file(mut self, path: &Path) -> Self {
        match std::fs::read_to_string(path) {
            Ok(text) => self.toml_text(&text, path),
            Err(e) => self.problems.push(Problem {
                key: "config".into(),
                message: format!("cannot read {}: {e}", path.display()),
            }),
        }
        self
    }

    /// Layers a TOML document already read (`path` only names it in problems); what
    /// [`Sources::file`] does after reading, public for the fuzz target.
    pub fn toml_text(&mut self, text: &str, path: &Path) {
        let table: toml::Table = match text.parse() {
            Ok(t) => t,
            Err(e) => {
                let msg = e.to_string().replace('\n', " ");
                self.problems.push(Problem {
                    key: "config".into(),
                    message: format!("{} is not valid TOML: {}", path.display(), msg.trim()),
                });
                return;
            }
        };
        for (section, value) in table {
            let toml::Value::Table(inner) = value else {
                self.problems.push(Problem {
                    key: section.clone(),
                    message: format!(
                        "unknown key (in file {}); expected a [section]",
                        path.display()
                    ),
                });
                continue;
            };
            for (name, value) in inner {
                let key = format!("{section}.{name}");
                if KEYS.contains(&key.as_str()) {
                    self.values
                        .insert(key, (Raw::Toml(value), Origin::File(path.to_path_buf())));
                } else if let Some(hint) = replaced_key_hint(&key) {
                    self.problems.push(Problem {
                        message: format!("{hint} (in file {})", path.display()),
                        key,
                    });
                } else {
                    self.problems.push(Problem {
                        message: format!("unknown key (in file {})", path.display()),
                        key,
                    });
                }
            }
        }
    }

    /// Layers `PLEXGATE_*` variables read through `lookup` (the real environment in `main`, a map
    /// in tests, so tests never touch the process environment).
    pub fn env(mut self, lookup: impl Fn(&str) -> Option<String>) -> Self {
        for key in KEYS {
            let name = env_name(key);
            if let Some(value) = lookup(&name) {
                self.values
                    .insert((*key).to_string(), (Raw::Text(value), Origin::Env(name)));
            }
        }
        for key in REPLACED_KEYS {
            let name = env_name(key);
            if lookup(&name).is_some()
                && let Some(hint) = replaced_key_hint(key)
            {
                self.problems.push(Problem {
                    key: name,
                    message: hint.to_string(),
                });
            }
        }
        self
    }

    /// Layers one command-line flag's value for `key`.
    pub fn flag(mut self, key: &str, flag: &str, value: Option<impl Into<String>>) -> Self {
        if let Some(v) = value {
            debug_assert!(KEYS.contains(&key), "flag for unknown key {key}");
            self.values.insert(
                key.to_string(),
                (Raw::Text(v.into()), Origin::Flag(flag.to_string())),
            );
        }
        self
    }

    /// Types and validates every key; all problems are returned together.
    pub fn build(self) -> Result<Config, ConfigError> {
        let mut r = Reader {
            values: self.values,
            problems: self.problems,
        };
        let config = r.config();
        if r.problems.is_empty() {
            Ok(config)
        } else {
            r.problems.sort_by(|a, b| a.key.cmp(&b.key));
            Err(ConfigError {
                problems: r.problems,
            })
        }
    }
}

struct Reader {
    values: BTreeMap<String, (Raw, Origin)>,
    problems: Vec<Problem>,
}

impl Reader {
    fn config(&mut self) -> Config {
        let listen = self.get(
            "server.listen",
            "127.0.0.1:3001".parse().expect("default"),
            |s| {
                s.parse::<SocketAddr>()
                    .map_err(|_| "is not a socket address like 127.0.0.1:3001".to_string())
            },
        );
        let public_url = self.get_opt("server.public_url", parse_public_url);
        let base_path = self.get("server.base_path", String::new(), parse_base_path);
        let trusted_proxies = self.get_list(
            "server.trusted_proxies",
            vec![
                "127.0.0.1/32".parse().expect("default"),
                "::1/128".parse().expect("default"),
            ],
            parse_cidr,
        );
        let cors_origins = self.get_list("server.cors_origins", Vec::new(), parse_origin);
        let request_timeout = self.get_secs("server.request_timeout_secs", 30, 1, 600);
        let header_read_timeout = self.get_secs("server.header_read_timeout_secs", 10, 1, 300);
        let shutdown_grace = self.get_secs("server.shutdown_grace_secs", 10, 0, 3600);
        let max_body_bytes =
            self.get_int("server.max_body_bytes", 1 << 20, 1024, 64 << 20) as usize;
        let max_concurrency = self.get_int("server.max_concurrency", 1024, 1, 100_000) as usize;

        let database = self.get(
            "storage.database",
            PathBuf::from("./data/plexgate.sqlite"),
            parse_path,
        );
        let key_file = self.get_opt("storage.key_file", parse_path);
        let key_file = key_file.unwrap_or_else(|| {
            database
                .parent()
                .unwrap_or(Path::new("."))
                .join("plexgate.key")
        });
        let secret_key = self.get_opt("storage.secret_key", parse_secret_key);

        let format = self.get("log.format", LogFormat::Pretty, |s| match s {
            "pretty" => Ok(LogFormat::Pretty),
            "json" => Ok(LogFormat::Json),
            _ => Err("must be \"pretty\" or \"json\"".to_string()),
        });
        let level = self.get("log.level", "info".to_string(), |s| {
            tracing_subscriber::EnvFilter::try_new(s)
                .map(|_| s.to_string())
                .map_err(|e| format!("is not a log filter such as info or plexgate=debug ({e})"))
        });

        let auth = AuthConfig {
            cookie_secure: self
                .get_opt("auth.cookie_secure", |s| match s {
                    "auto" => Ok(None),
                    "true" => Ok(Some(true)),
                    "false" => Ok(Some(false)),
                    _ => Err("must be auto, true or false".to_string()),
                })
                .flatten(),
            cookie_same_site: self
                .get_opt("auth.cookie_same_site", |s| match s {
                    "auto" => Ok(None),
                    "lax" => Ok(Some(SameSite::Lax)),
                    "strict" => Ok(Some(SameSite::Strict)),
                    "none" => Ok(Some(SameSite::None)),
                    _ => Err("must be auto, lax, strict or none".to_string()),
                })
                .flatten(),
            pin_requests_per_minute: self.get_int("auth.pin_requests_per_minute", 60, 1, 10_000)
                as u32,
            session_purge_interval: self.get_secs("auth.session_purge_secs", 60, 1, 3600),
            owner: self.get_opt("auth.owner", parse_account),
            allowed_users: self.get_list("auth.allowed_users", Vec::new(), parse_account),
            denied_users: self.get_list("auth.denied_users", Vec::new(), parse_account),
        };
        let plextv = PlexTvConfig {
            url: self.get("plextv.url", "https://plex.tv".to_string(), |s| {
                parse_http_url(s).map(|u| u.trim_end_matches('/').to_string())
            }),
            app_url: self.get(
                "plextv.app_url",
                "https://app.plex.tv/auth".to_string(),
                |s| parse_http_url(s).map(str::to_string),
            ),
        };
        let stream = StreamConfig {
            allow_direct: self.get_bool("stream.allow_direct", false),
            ticket_ttl: self.get_secs("stream.ticket_ttl_secs", 6 * 3600, 60, 7 * 86400),
            facade_ttl: self.get_secs("stream.facade_ttl_secs", 7 * 86400, 60, 30 * 86400),
            client_gone: self.get_secs("stream.client_gone_secs", 90, 1, 86400),
            upstream_idle_timeout: self.get_secs("stream.upstream_idle_timeout_secs", 30, 1, 600),
            keepalive_interval: self.get_secs("stream.keepalive_secs", 20, 1, 60),
            ticket_key_id: self.get_int("stream.ticket_key_id", 1, 1, 255) as u8,
        };
        let cache = CacheConfig {
            max_mb: self.get_int("cache.max_mb", 128, 4, 65_536),
        };
        let metrics = MetricsConfig {
            enabled: self.get_bool("metrics.enabled", false),
            bearer: self.get_opt("metrics.bearer", |s| {
                if s.len() < 16 {
                    Err("must be at least 16 characters".to_string())
                } else {
                    Ok(s.to_string())
                }
            }),
        };

        let plex_url = self.get_opt("demo.plex_url", |s| {
            parse_http_url(s).map(|u| u.trim_end_matches('/').to_string())
        });
        let plex_token = self.get_opt("demo.plex_token", |s| {
            if s.trim().is_empty() {
                Err("is empty".to_string())
            } else {
                Ok(s.trim().to_string())
            }
        });
        if plex_url.is_some() != plex_token.is_some() {
            let (missing, present) = if plex_url.is_some() {
                ("demo.plex_token", "demo.plex_url")
            } else {
                ("demo.plex_url", "demo.plex_token")
            };
            self.problems.push(Problem {
                key: missing.to_string(),
                message: format!("must be set together with {present}"),
            });
        }
        let (tmdb, trakt, discover) = self.external_services();

        let (plex, image) = self.plex_and_images();

        Config {
            server: ServerConfig {
                listen,
                public_url,
                base_path,
                trusted_proxies,
                cors_origins,
                request_timeout,
                header_read_timeout,
                shutdown_grace,
                max_body_bytes,
                max_concurrency,
            },
            storage: StorageConfig {
                database,
                key_file,
                secret_key,
            },
            log: LogConfig { format, level },
            auth,
            plextv,
            stream,
            cache,
            metrics,
            demo: DemoConfig {
                plex_url,
                plex_token,
            },
            plex,
            image,
            tmdb,
            trakt,
            discover,
        }
    }

    /// `[tmdb]`, `[trakt]` and `[discover]`.
    fn external_services(&mut self) -> (TmdbConfig, TraktConfig, DiscoverConfig) {
        let base_url = |s: &str| parse_http_url(s).map(|u| u.trim_end_matches('/').to_string());
        let credential = |s: &str| {
            if s.is_empty() || s.len() > 1024 || !s.bytes().all(|b| b.is_ascii_graphic()) {
                Err("must be 1-1024 visible ASCII characters".to_string())
            } else {
                Ok(s.to_string())
            }
        };
        let tmdb = TmdbConfig {
            url: self.get(
                "tmdb.url",
                "https://api.themoviedb.org/3".to_string(),
                base_url,
            ),
            default_key: self.get_opt("tmdb.default_key", credential),
            rate_limit_requests: self.get_int("tmdb.rate_limit_requests", 40, 1, 10_000) as u32,
            rate_limit_window: Duration::from_millis(self.get_int(
                "tmdb.rate_limit_window_ms",
                10_000,
                100,
                3_600_000,
            )),
        };
        let trakt = TraktConfig {
            url: self.get("trakt.url", "https://api.trakt.tv".to_string(), base_url),
            client_id: self.get_opt("trakt.client_id", credential),
            client_secret: self.get_opt("trakt.client_secret", credential),
        };
        if trakt.client_id.is_some() != trakt.client_secret.is_some() {
            let (missing, present) = if trakt.client_id.is_some() {
                ("trakt.client_secret", "trakt.client_id")
            } else {
                ("trakt.client_id", "trakt.client_secret")
            };
            self.problems.push(Problem {
                key: missing.to_string(),
                message: format!("must be set together with {present}"),
            });
        }
        let discover = DiscoverConfig {
            url: self.get(
                "discover.url",
                "https://discover.provider.plex.tv".to_string(),
                base_url,
            ),
            metadata_url: self.get(
                "discover.metadata_url",
                "https://metadata.provider.plex.tv".to_string(),
                base_url,
            ),
            vod_url: self.get(
                "discover.vod_url",
                "https://vod.provider.plex.tv".to_string(),
                base_url,
            ),
        };
        (tmdb, trakt, discover)
    }

    /// `[plex]` and `[image]`.
    fn plex_and_images(&mut self) -> (PlexConfig, ImageConfig) {
        let plex = PlexConfig {
            timeline_interval: Duration::from_millis(self.get_int(
                "plex.timeline_interval_ms",
                10_000,
                100,
                60_000,
            )),
        };
        let proxy_hosts = self.get_list(
            "image.proxy_hosts",
            [
                "image.tmdb.org",
                "metadata-static.plex.tv",
                "images.plex.tv",
                "plex.tv",
                "assets.plex.tv",
            ]
            .map(String::from)
            .to_vec(),
            parse_image_host,
        );
        (plex, ImageConfig { proxy_hosts })
    }

    fn problem(&mut self, key: &str, origin: &Origin, shown: &str, why: String) {
        let message = if SECRET_KEYS.contains(&key) {
            format!("the value {why} (set by {origin})")
        } else {
            format!("{shown} {why} (set by {origin})")
        };
        self.problems.push(Problem {
            key: key.to_string(),
            message,
        });
    }

    /// Text of a scalar value, or a problem when a TOML value has the wrong shape.
    fn text(&mut self, key: &str) -> Option<(String, Origin)> {
        let (raw, origin) = self.values.get(key)?.clone();
        match raw {
            Raw::Text(s) => Some((s, origin)),
            Raw::Toml(toml::Value::String(s)) => Some((s, origin)),
            Raw::Toml(v @ (toml::Value::Integer(_) | toml::Value::Boolean(_))) => {
                Some((v.to_string(), origin))
            }
            Raw::Toml(v) => {
                let shown = v.to_string();
                self.problem(
                    key,
                    &origin,
                    &shown,
                    format!("must be a {}", "single value"),
                );
                None
            }
        }
    }

    fn get<T>(&mut self, key: &str, default: T, parse: impl Fn(&str) -> Result<T, String>) -> T {
        self.get_opt(key, parse).unwrap_or(default)
    }

    fn get_opt<T>(&mut self, key: &str, parse: impl Fn(&str) -> Result<T, String>) -> Option<T> {
        let (text, origin) = self.text(key)?;
        match parse(text.trim()) {
            Ok(v) => Some(v),
            Err(why) => {
                self.problem(key, &origin, &format!("{text:?}"), why);
                None
            }
        }
    }

    fn get_int(&mut self, key: &str, default: u64, min: u64, max: u64) -> u64 {
        self.get(key, default, |s| match s.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(format!("must be a whole number from {min} to {max}")),
        })
    }

    fn get_bool(&mut self, key: &str, default: bool) -> bool {
        self.get(key, default, |s| match s {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err("must be true or false".to_string()),
        })
    }

    fn get_secs(&mut self, key: &str, default: u64, min: u64, max: u64) -> Duration {
        Duration::from_secs(self.get_int(key, default, min, max))
    }

    /// A list: a TOML array of strings, or comma-separated text from env/flags.
    fn get_list<T>(
        &mut self,
        key: &str,
        default: Vec<T>,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Vec<T> {
        let Some((raw, origin)) = self.values.get(key).cloned() else {
            return default;
        };
        let items: Vec<String> = match raw {
            Raw::Text(s) => s
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
            Raw::Toml(toml::Value::Array(items)) => {
                let mut out = Vec::new();
                for item in items {
                    match item {
                        toml::Value::String(s) => out.push(s),
                        other => {
                            self.problem(
                                key,
                                &origin,
                                &other.to_string(),
                                "must be a string".to_string(),
                            );
                            return default;
                        }
                    }
                }
                out
            }
            Raw::Toml(other) => {
                self.problem(
                    key,
                    &origin,
                    &other.to_string(),
                    "must be a list of strings".to_string(),
                );
                return default;
            }
        };
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for item in &items {
            match parse(item) {
                Ok(v) => out.push(v),
                Err(why) => {
                    ok = false;
                    self.problem(key, &origin, &format!("{item:?}"), why);
                }
            }
        }
        if ok { out } else { default }
    }
}

fn parse_path(s: &str) -> Result<PathBuf, String> {
    if s.is_empty() {
        Err("is empty".to_string())
    } else {
        Ok(PathBuf::from(s))
    }
}

fn parse_cidr(s: &str) -> Result<IpNet, String> {
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| "is not an IP address or CIDR like 10.0.0.0/8".to_string())
}

/// `scheme://host[:port]` with an http(s) scheme and nothing after the authority.
fn parse_http_url(s: &str) -> Result<&str, String> {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .ok_or_else(|| "must start with http:// or https://".to_string())?;
    let authority = rest.split('/').next().unwrap_or("");
    if authority.is_empty() || authority.contains('@') {
        return Err("must name a host (and no user info)".to_string());
    }
    if s.contains('?') || s.contains('#') {
        return Err("must not contain a query or fragment".to_string());
    }
    Ok(s)
}

fn parse_public_url(s: &str) -> Result<String, String> {
    parse_http_url(s)?;
    let without_scheme = s.split_once("://").map(|(_, r)| r).unwrap_or(s);
    if without_scheme.trim_end_matches('/').contains('/') {
        return Err("must be an origin like https://flixor.example.com; put a path prefix in server.base_path".to_string());
    }
    Ok(s.trim_end_matches('/').to_string())
}

fn parse_origin(s: &str) -> Result<String, String> {
    if s == "*" {
        return Err(
            "must be an explicit origin: \"*\" cannot be used with credentials".to_string(),
        );
    }
    parse_public_url(s).map_err(|_| "is not an origin like https://app.example.com".to_string())
}

fn parse_base_path(s: &str) -> Result<String, String> {
    let trimmed = s.trim_end_matches('/');
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    if !trimmed.starts_with('/') {
        return Err("must start with / (for example /plexgate)".to_string());
    }
    let ok_chars = trimmed
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/-_.~".contains(&b));
    let bad_segment = trimmed[1..]
        .split('/')
        .any(|seg| seg.is_empty() || seg == "." || seg == "..");
    if !ok_chars || bad_segment {
        return Err("must be a plain path like /plexgate (letters, digits, - _ . ~)".to_string());
    }
    Ok(trimmed.to_string())
}

fn parse_secret_key(s: &str) -> Result<String, String> {
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(s)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s))
        .map_err(|_| "is not base64".to_string())?;
    if decoded.len() != 32 {
        return Err(format!("must decode to 32 bytes, not {}", decoded.len()));
    }
    Ok(s.to_string())
}

/// One `image.proxy_hosts` entry: `host`, `host:port` or `http(s)://host[:port]`, no path.
fn parse_image_host(s: &str) -> Result<String, String> {
    let entry = s.trim().trim_end_matches('/');
    let full = if entry.contains("://") {
        entry.to_string()
    } else {
        format!("https://{entry}")
    };
    match url::Url::parse(&full) {
        Ok(u)
            if matches!(u.scheme(), "http" | "https")
                && u.host_str().is_some()
                && u.username().is_empty()
                && u.password().is_none()
                && u.path() == "/"
                && u.query().is_none() =>
        {
            Ok(entry.to_string())
        }
        _ => Err("is not a host, host:port or http(s)://host[:port]".to_string()),
    }
}

/// A plex.tv account as the operator names it: its numeric id or its username.
fn parse_account(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.is_empty() || s.len() > 128 || s.chars().any(char::is_control) {
        Err("must be a plex.tv account id or username".to_string())
    } else {
        Ok(s.to_string())
    }
}

/// Keys earlier versions accepted and this one refuses with a hint.
const REPLACED_KEYS: &[&str] = &["stream.idle_timeout_secs"];

/// What replaced a key earlier versions accepted, so an old config file fails with the fix.
fn replaced_key_hint(key: &str) -> Option<&'static str> {
    match key {
        "stream.idle_timeout_secs" => Some(
            "replaced by stream.client_gone_secs (default 90): a transcode now ends when its \
             player shows no life for that long; remove this key",
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_path_rules() {
        assert_eq!(parse_base_path("/plexgate/").unwrap(), "/plexgate");
        assert_eq!(parse_base_path("/").unwrap(), "");
        assert!(parse_base_path("plexgate").is_err());
        assert!(parse_base_path("/a/../b").is_err());
        assert!(parse_base_path("/a b").is_err());
    }

    #[test]
    fn public_url_rules() {
        assert_eq!(
            parse_public_url("https://x.example.com/").unwrap(),
            "https://x.example.com"
        );
        assert!(parse_public_url("https://x.example.com/sub").is_err());
        assert!(parse_public_url("ftp://x").is_err());
        assert!(parse_public_url("https://u:p@x").is_err());
    }
}
