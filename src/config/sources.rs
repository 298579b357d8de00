//! The layers before typing: TOML text, `PLEXGATE_*` variables (and `*_FILE` for secrets, as
//! Docker and Kubernetes mount them), flags. A later layer replaces an earlier one key by key; an
//! unknown or replaced key or variable becomes a problem here, before any typing, naming the
//! closest known one, so a typo never falls back to a default.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::Config;
use super::explain::Effective;
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
    "server.send_buffer_bytes",
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
    "stream.zero_copy",
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
                // `listen = …` above every section: point at the section it belongs in.
                let hint = KEYS
                    .iter()
                    .find(|k| k.split_once('.').is_some_and(|(_, name)| name == section))
                    .map(|k| format!("; did you mean `{k}`?"))
                    .unwrap_or_default();
                self.problems.push(Problem {
                    key: shown_key(&section),
                    message: format!(
                        "unknown key (in file {}); expected a [section]{hint}",
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
                    let hint = closest(&key, KEYS.iter().copied())
                        .map(|near| format!("; did you mean `{near}`?"))
                        .unwrap_or_default();
                    self.problems.push(Problem {
                        message: format!("unknown key (in file {}){hint}", path.display()),
                        key,
                    });
                }
            }
        }
    }

    /// Layers `PLEXGATE_*` variables read through `lookup` (the real environment in `main`, a map
    /// in tests, so tests never touch the process environment). A secret may instead come from
    /// the file named by its `*_FILE` variable; setting both is a problem, not a precedence rule.
    pub fn env(mut self, lookup: impl Fn(&str) -> Option<String>) -> Self {
        for key in KEYS {
            let name = env_name(key);
            let direct = lookup(&name);
            let file_var = format!("{name}_FILE");
            let from_file = SECRET_KEYS
                .contains(key)
                .then(|| lookup(&file_var))
                .flatten();
            let value = match (direct, from_file) {
                (Some(_), Some(_)) => {
                    self.problems.push(Problem {
                        key: (*key).to_string(),
                        message: format!("both {name} and {file_var} are set; set only one"),
                    });
                    continue;
                }
                (Some(value), None) => (Raw::Text(value), Origin::Env(name)),
                (None, Some(path)) => match read_secret_file(Path::new(&path)) {
                    Ok(value) => (Raw::Text(value), Origin::Env(file_var)),
                    Err(why) => {
                        self.problems.push(Problem {
                            key: (*key).to_string(),
                            message: format!("{file_var} names {path:?}, which {why}"),
                        });
                        continue;
                    }
                },
                (None, None) => continue,
            };
            self.values.insert((*key).to_string(), value);
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

    /// Refuses every `PLEXGATE_*` name in `names` (the environment's variable names) that is no
    /// key's variable, naming the closest one: a misspelt variable must not leave its key at
    /// the default unnoticed.
    pub fn env_names(mut self, names: impl IntoIterator<Item = String>) -> Self {
        let known = known_env_names();
        for name in names {
            if !name.starts_with("PLEXGATE_") || known.contains(&name) {
                continue;
            }
            let hint = nearest(&name, known.iter().map(String::as_str))
                .map(|(near, _)| format!("; did you mean {near}?"))
                .unwrap_or_default();
            self.problems.push(Problem {
                key: name,
                message: format!("unknown environment variable{hint}"),
            });
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
        self.build_explained().map(|(config, _)| config)
    }

    /// Like [`Sources::build`], also returning each key's value in effect and its origin (what
    /// `check-config` prints).
    pub fn build_explained(self) -> Result<(Config, Effective), ConfigError> {
        let mut r = Reader {
            values: self.values,
            problems: self.problems,
            shown: BTreeMap::new(),
        };
        let config = Config::read(&mut r);
        if r.problems.is_empty() {
            Ok((config, Effective::new(&r.values, r.shown)))
        } else {
            r.problems.sort_by(|a, b| a.key.cmp(&b.key));
            // One problem, one line: a value quoted back (a TOML multi-line string, a path) may
            // hold line breaks or escape sequences that would split or repaint the operator's
            // terminal (a `config` fuzz finding).
            for p in &mut r.problems {
                p.message = one_line(&p.message);
            }
            Err(ConfigError {
                problems: r.problems,
            })
        }
    }
}

/// Every variable name [`Sources::env`] reads, plus `PLEXGATE_CONFIG` (the file, read by clap)
/// and the replaced keys' names (refused with their own hint).
fn known_env_names() -> Vec<String> {
    let mut names: Vec<String> = KEYS.iter().map(|k| env_name(k)).collect();
    names.extend(SECRET_KEYS.iter().map(|k| format!("{}_FILE", env_name(k))));
    names.extend(REPLACED_KEYS.iter().map(|k| env_name(k)));
    names.push("PLEXGATE_CONFIG".to_string());
    names
}

/// The candidate nearest to `word` by edit distance, with that distance (ties: the first).
pub(super) fn nearest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<(&'a str, usize)> {
    candidates
        .into_iter()
        .map(|c| (c, strsim::levenshtein(word, c)))
        .min_by_key(|(_, d)| *d)
}

/// The nearest candidate when it is near enough to be the likely intent (a third of the word's
/// length, at least 2 edits); otherwise a suggestion would only confuse.
pub(super) fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    nearest(word, candidates)
        .filter(|(_, d)| *d <= (word.chars().count() / 3).max(2))
        .map(|(c, _)| c)
}

/// The largest secret file read: secrets are one line; anything bigger is the wrong file.
const MAX_SECRET_FILE: u64 = 64 * 1024;

/// A Docker/Kubernetes secret file's text with one trailing newline removed (the one `echo`
/// and editors add). The error says why in words and never includes the contents.
fn read_secret_file(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| format!("cannot be read: {e}"))?;
    let mut bytes = Vec::new();
    file.take(MAX_SECRET_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot be read: {e}"))?;
    if bytes.len() as u64 > MAX_SECRET_FILE {
        return Err(format!(
            "is over {MAX_SECRET_FILE} bytes; a secret is one line"
        ));
    }
    let mut text = String::from_utf8(bytes).map_err(|_| "is not UTF-8 text".to_string())?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(text)
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

/// `text` with every control character escaped (`\n`, `\u{1b}`), so it prints on one line.
fn one_line(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_owned();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}
