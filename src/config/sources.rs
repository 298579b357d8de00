//! The layers before typing: TOML text, `PLEXGATE_*` variables, flags. A later layer replaces an
//! earlier one key by key; an unknown or replaced key becomes a problem here, before any typing, so
//! a typo never falls back to a default.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::Config;
use super::parse::Reader;

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
    "server.max_connections",
    "server.max_connections_per_ip",
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
    "image.max_pixels",
    "image.quality",
    "web.root",
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

pub(super) const SECRET_KEYS: &[&str] = &[
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
pub(super) enum Raw {
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
                    key: shown_key(&section),
                    message: format!(
                        "unknown key (in file {}); expected a [section]",
                        path.display()
                    ),
                });
                continue;
            };
            for (name, value) in inner {
                let key = format!("{}.{}", shown_key(&section), shown_key(&name));
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
        let config = Config::read(&mut r);
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

/// A TOML key as the operator would write it: bare when it can be (`listen`), quoted otherwise
/// (`""`, `"a b"`), so an empty or multi-line key still names itself on one line of the error.
fn shown_key(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if bare {
        key.to_owned()
    } else {
        format!("{key:?}")
    }
}
