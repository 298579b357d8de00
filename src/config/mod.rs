//! Configuration: defaults, then the TOML file, then `PLEXGATE_*` environment variables, then
//! command-line flags, each layer overriding the one before.
//!
//! Every key is read by one typed getter that records a problem instead of stopping, so a bad
//! configuration is reported in full, one line per key, naming the key and where its value came
//! from. Unknown keys are problems too: a typo must not silently fall back to a default.
//! Secrets (`storage.secret_key`, `demo.plex_token`) are never echoed in a problem line.
//!
//! This file holds [`Config`] and the one place that names each key's default and allowed range;
//! `sources` layers the raw values, `parse` types them, `sections` declares what callers see.

mod explain;
mod parse;
mod sections;
mod sources;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use explain::{Effective, Entry};
use parse::{
    Reader, parse_account, parse_base_path, parse_cidr, parse_http_url, parse_image_host,
    parse_log_level, parse_origin, parse_path, parse_public_url, parse_secret_key, parse_web_root,
};
pub use sections::{
    AuthConfig, CacheConfig, DemoConfig, DiscoverConfig, ImageConfig, LogConfig, LogFormat,
    MetricsConfig, PlexConfig, PlexTvConfig, SameSite, ServerConfig, StorageConfig, StreamConfig,
    TmdbConfig, TraktConfig, WebConfig,
};
pub use sources::{ConfigError, KEYS, Origin, Problem, Sources, env_name};

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
    /// `[web]`: the built frontend served at `/`.
    pub web: WebConfig,
}

impl Config {
    /// Types every key through `r`, with its default and range; problems accumulate in `r`.
    fn read(r: &mut Reader) -> Config {
        let listen = r.get(
            "server.listen",
            "127.0.0.1:3001".parse().expect("default"),
            |s| {
                s.parse::<SocketAddr>()
                    .map_err(|_| "is not a socket address like 127.0.0.1:3001".to_string())
            },
        );
        let public_url = r.get_opt("server.public_url", parse_public_url);
        let base_path = r.get("server.base_path", String::new(), parse_base_path);
        let trusted_proxies = r.get_list(
            "server.trusted_proxies",
            vec![
                "127.0.0.1/32".parse().expect("default"),
                "::1/128".parse().expect("default"),
            ],
            parse_cidr,
        );
        let cors_origins = r.get_list("server.cors_origins", Vec::new(), parse_origin);
        let request_timeout = r.get_secs("server.request_timeout_secs", 30, 1, 600);
        let header_read_timeout = r.get_secs("server.header_read_timeout_secs", 10, 1, 300);
        let shutdown_grace = r.get_secs("server.shutdown_grace_secs", 10, 0, 3600);
        let max_body_bytes = r.get_int("server.max_body_bytes", 1 << 20, 1024, 64 << 20) as usize;
        let max_concurrency = r.get_int("server.max_concurrency", 1024, 1, 100_000) as usize;
        let max_connections = r.get_int("server.max_connections", 4096, 1, 1_000_000) as usize;
        let max_connections_per_ip =
            r.get_int("server.max_connections_per_ip", 256, 1, 1_000_000) as usize;
        let send_buffer_bytes =
            r.get_int("server.send_buffer_bytes", 256 << 10, 0, 64 << 20) as usize;

        let database = r.get(
            "storage.database",
            PathBuf::from("./data/plexgate.sqlite"),
            parse_path,
        );
        let key_file = r.get_opt("storage.key_file", parse_path);
        let key_file = key_file.unwrap_or_else(|| {
            let beside = database
                .parent()
                .unwrap_or(Path::new("."))
                .join("plexgate.key");
            r.show_default("storage.key_file", parse::Shown::shown(&beside));
            beside
        });
        let secret_key = r.get_opt("storage.secret_key", parse_secret_key);

        let format = r.get("log.format", LogFormat::Pretty, |s| match s {
            "pretty" => Ok(LogFormat::Pretty),
            "json" => Ok(LogFormat::Json),
            _ => Err("must be \"pretty\" or \"json\"".to_string()),
        });
        let level = r.get("log.level", "info".to_string(), parse_log_level);
        // Show the filter as normalised (`warning` → `warn`), since that is what is used.
        r.shown
            .insert("log.level".into(), toml::Value::String(level.clone()));

        let auth = AuthConfig {
            cookie_secure: r
                .get_opt("auth.cookie_secure", |s| match s {
                    "auto" => Ok(None),
                    "true" => Ok(Some(true)),
                    "false" => Ok(Some(false)),
                    _ => Err("must be auto, true or false".to_string()),
                })
                .flatten(),
            cookie_same_site: r
                .get_opt("auth.cookie_same_site", |s| match s {
                    "auto" => Ok(None),
                    "lax" => Ok(Some(SameSite::Lax)),
                    "strict" => Ok(Some(SameSite::Strict)),
                    "none" => Ok(Some(SameSite::None)),
                    _ => Err("must be auto, lax, strict or none".to_string()),
                })
                .flatten(),
            pin_requests_per_minute: r.get_int("auth.pin_requests_per_minute", 60, 1, 10_000)
                as u32,
            session_purge_interval: r.get_secs("auth.session_purge_secs", 60, 1, 3600),
            owner: r.get_opt("auth.owner", parse_account),
            allowed_users: r.get_list("auth.allowed_users", Vec::new(), parse_account),
            denied_users: r.get_list("auth.denied_users", Vec::new(), parse_account),
        };
        let plextv = PlexTvConfig {
            url: r.get("plextv.url", "https://plex.tv".to_string(), |s| {
                parse_http_url(s).map(|u| u.trim_end_matches('/').to_string())
            }),
            app_url: r.get(
                "plextv.app_url",
                "https://app.plex.tv/auth".to_string(),
                |s| parse_http_url(s).map(str::to_string),
            ),
        };
        let stream = StreamConfig {
            allow_direct: r.get_bool("stream.allow_direct", false),
            ticket_ttl: r.get_secs("stream.ticket_ttl_secs", 6 * 3600, 60, 7 * 86400),
            facade_ttl: r.get_secs("stream.facade_ttl_secs", 7 * 86400, 60, 30 * 86400),
            client_gone: r.get_secs("stream.client_gone_secs", 90, 1, 86400),
            upstream_idle_timeout: r.get_secs("stream.upstream_idle_timeout_secs", 30, 1, 600),
            zero_copy: r.get_bool("stream.zero_copy", true),
            keepalive_interval: r.get_secs("stream.keepalive_secs", 20, 1, 60),
            ticket_key_id: r.get_int("stream.ticket_key_id", 1, 1, 255) as u8,
        };
        let cache = CacheConfig {
            max_mb: r.get_int("cache.max_mb", 128, 4, 65_536),
        };
        let metrics = MetricsConfig {
            enabled: r.get_bool("metrics.enabled", false),
            bearer: r.get_opt("metrics.bearer", |s| {
                if s.len() < 16 {
                    Err("must be at least 16 characters".to_string())
                } else {
                    Ok(s.to_string())
                }
            }),
        };

        let plex_url = r.get_opt("demo.plex_url", |s| {
            parse_http_url(s).map(|u| u.trim_end_matches('/').to_string())
        });
        let plex_token = r.get_opt("demo.plex_token", |s| {
            if s.trim().is_empty() {
                Err("is empty".to_string())
            } else {
                Ok(s.trim().to_string())
            }
        });
        r.require_together(
            ("demo.plex_url", plex_url.is_some()),
            ("demo.plex_token", plex_token.is_some()),
        );
        let (tmdb, trakt, discover) = external_services(r);

        let (plex, image) = plex_and_images(r);
        let web = WebConfig {
            root: r.get_opt("web.root", parse_web_root),
        };

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
                max_connections,
                max_connections_per_ip,
                send_buffer_bytes,
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
            web,
        }
    }
}

/// `[tmdb]`, `[trakt]` and `[discover]`.
fn external_services(r: &mut Reader) -> (TmdbConfig, TraktConfig, DiscoverConfig) {
    let base_url = |s: &str| parse_http_url(s).map(|u| u.trim_end_matches('/').to_string());
    let credential = |s: &str| {
        if s.is_empty() || s.len() > 1024 || !s.bytes().all(|b| b.is_ascii_graphic()) {
            Err("must be 1-1024 visible ASCII characters".to_string())
        } else {
            Ok(s.to_string())
        }
    };
    let tmdb = TmdbConfig {
        url: r.get(
            "tmdb.url",
            "https://api.themoviedb.org/3".to_string(),
            base_url,
        ),
        default_key: r.get_opt("tmdb.default_key", credential),
        rate_limit_requests: r.get_int("tmdb.rate_limit_requests", 40, 1, 10_000) as u32,
        rate_limit_window: Duration::from_millis(r.get_int(
            "tmdb.rate_limit_window_ms",
            10_000,
            100,
            3_600_000,
        )),
    };
    let trakt = TraktConfig {
        url: r.get("trakt.url", "https://api.trakt.tv".to_string(), base_url),
        client_id: r.get_opt("trakt.client_id", credential),
        client_secret: r.get_opt("trakt.client_secret", credential),
    };
    r.require_together(
        ("trakt.client_id", trakt.client_id.is_some()),
        ("trakt.client_secret", trakt.client_secret.is_some()),
    );
    let discover = DiscoverConfig {
        url: r.get(
            "discover.url",
            "https://discover.provider.plex.tv".to_string(),
            base_url,
        ),
        metadata_url: r.get(
            "discover.metadata_url",
            "https://metadata.provider.plex.tv".to_string(),
            base_url,
        ),
        vod_url: r.get(
            "discover.vod_url",
            "https://vod.provider.plex.tv".to_string(),
            base_url,
        ),
    };
    (tmdb, trakt, discover)
}

/// `[plex]` and `[image]`.
fn plex_and_images(r: &mut Reader) -> (PlexConfig, ImageConfig) {
    let plex = PlexConfig {
        timeline_interval: Duration::from_millis(r.get_int(
            "plex.timeline_interval_ms",
            10_000,
            100,
            60_000,
        )),
    };
    let proxy_hosts = r.get_list(
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
    let max_pixels = r.get_int("image.max_pixels", 40_000_000, 10_000, 400_000_000);
    let quality = r.get_int("image.quality", 80, 1, 100) as u8;
    (
        plex,
        ImageConfig {
            proxy_hosts,
            max_pixels,
            quality,
        },
    )
}
