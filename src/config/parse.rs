//! Typing raw values: the getters that turn a missing value into its default and a bad one into
//! a problem line (secrets shown as "the value"), and the parsers for each kind of value.
//!
//! Each getter also records the value in effect (`shown`), so `check-config` prints what the
//! server will use, defaults included, without a second list of defaults to drift.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;

use super::sections::LogFormat;
use super::sources::{Origin, Problem, Raw, SECRET_KEYS};

/// Typed reads over the layered values: a bad value is recorded and its default used, so one run
/// reports every bad key.
pub(super) struct Reader {
    pub(super) values: BTreeMap<String, (Raw, Origin)>,
    pub(super) problems: Vec<Problem>,
    /// The value in effect per key, as TOML; a key that is unset and has no default is absent.
    pub(super) shown: BTreeMap<String, toml::Value>,
}

/// How a default prints in `check-config`.
pub(super) trait Shown {
    fn shown(&self) -> toml::Value;
}

impl Shown for String {
    fn shown(&self) -> toml::Value {
        toml::Value::String(self.clone())
    }
}

impl Shown for PathBuf {
    fn shown(&self) -> toml::Value {
        toml::Value::String(self.display().to_string())
    }
}

impl Shown for SocketAddr {
    fn shown(&self) -> toml::Value {
        toml::Value::String(self.to_string())
    }
}

impl Shown for IpNet {
    fn shown(&self) -> toml::Value {
        toml::Value::String(self.to_string())
    }
}

impl Shown for LogFormat {
    fn shown(&self) -> toml::Value {
        toml::Value::String(
            match self {
                LogFormat::Pretty => "pretty",
                LogFormat::Json => "json",
            }
            .to_string(),
        )
    }
}

impl Reader {
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

    pub(super) fn get<T: Shown>(
        &mut self,
        key: &str,
        default: T,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> T {
        self.get_opt(key, parse).unwrap_or_else(|| {
            self.show_default(key, default.shown());
            default
        })
    }

    /// Records `value` as what `key` is when nothing set it (a default derived from another key).
    pub(super) fn show_default(&mut self, key: &str, value: toml::Value) {
        self.shown.entry(key.to_string()).or_insert(value);
    }

    pub(super) fn get_opt<T>(
        &mut self,
        key: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Option<T> {
        let (text, origin) = self.text(key)?;
        match parse(text.trim()) {
            Ok(v) => {
                let shown = match self.values.get(key) {
                    Some((Raw::Toml(v), _)) => v.clone(),
                    _ => toml::Value::String(text.trim().to_string()),
                };
                self.shown.insert(key.to_string(), shown);
                Some(v)
            }
            Err(why) => {
                self.problem(key, &origin, &format!("{text:?}"), why);
                None
            }
        }
    }

    /// Two keys that only work together (a URL and its token, an id and its secret): one set
    /// without the other is a problem on the missing key.
    pub(super) fn require_together(&mut self, (a, a_set): (&str, bool), (b, b_set): (&str, bool)) {
        if a_set != b_set {
            let (missing, present) = if a_set { (b, a) } else { (a, b) };
            self.problems.push(Problem {
                key: missing.to_string(),
                message: format!("must be set together with {present}"),
            });
        }
    }

    pub(super) fn get_int(&mut self, key: &str, default: u64, min: u64, max: u64) -> u64 {
        let n = self
            .get_opt(key, |s| match s.parse::<u64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(n),
                _ => Err(format!("must be a whole number from {min} to {max}")),
            })
            .unwrap_or(default);
        let shown = i64::try_from(n)
            .map_or_else(|_| toml::Value::String(n.to_string()), toml::Value::Integer);
        self.shown.insert(key.to_string(), shown);
        n
    }

    pub(super) fn get_bool(&mut self, key: &str, default: bool) -> bool {
        let b = self
            .get_opt(key, |s| match s {
                "true" | "1" | "yes" | "on" => Ok(true),
                "false" | "0" | "no" | "off" => Ok(false),
                _ => Err("must be true or false".to_string()),
            })
            .unwrap_or(default);
        self.shown.insert(key.to_string(), toml::Value::Boolean(b));
        b
    }

    pub(super) fn get_secs(&mut self, key: &str, default: u64, min: u64, max: u64) -> Duration {
        Duration::from_secs(self.get_int(key, default, min, max))
    }

    /// A list: a TOML array of strings, or comma-separated text from env/flags.
    pub(super) fn get_list<T: Shown>(
        &mut self,
        key: &str,
        default: Vec<T>,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Vec<T> {
        let list = self.list(key, default, parse);
        let shown = list.iter().map(Shown::shown).collect();
        self.shown
            .insert(key.to_string(), toml::Value::Array(shown));
        list
    }

    fn list<T>(
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

pub(super) fn parse_path(s: &str) -> Result<PathBuf, String> {
    if s.is_empty() {
        Err("is empty".to_string())
    } else {
        Ok(PathBuf::from(s))
    }
}

/// A web root must be usable at start: a directory we can list, holding a readable
/// `index.html` (the SPA fallback), so a typo or a missing build fails here, not on a request.
pub(super) fn parse_web_root(s: &str) -> Result<PathBuf, String> {
    let root = parse_path(s)?;
    match std::fs::read_dir(&root) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(
                "does not exist (point it at the built web app, e.g. Flixor's dist/)".into(),
            );
        }
        Err(e) => return Err(format!("is not a readable directory ({e})")),
    }
    std::fs::File::open(root.join("index.html"))
        .map(|_| root)
        .map_err(|e| format!("has no readable index.html ({e}); is it the built app's dist/?"))
}

pub(super) fn parse_cidr(s: &str) -> Result<IpNet, String> {
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| "is not an IP address or CIDR like 10.0.0.0/8".to_string())
}

/// `scheme://host[:port]` with an http(s) scheme and nothing after the authority.
pub(super) fn parse_http_url(s: &str) -> Result<&str, String> {
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

pub(super) fn parse_public_url(s: &str) -> Result<String, String> {
    parse_http_url(s)?;
    let without_scheme = s.split_once("://").map(|(_, r)| r).unwrap_or(s);
    if without_scheme.trim_end_matches('/').contains('/') {
        return Err("must be an origin like https://flixor.example.com; put a path prefix in server.base_path".to_string());
    }
    Ok(s.trim_end_matches('/').to_string())
}

pub(super) fn parse_origin(s: &str) -> Result<String, String> {
    if s == "*" {
        return Err(
            "must be an explicit origin: \"*\" cannot be used with credentials".to_string(),
        );
    }
    parse_public_url(s).map_err(|_| "is not an origin like https://app.example.com".to_string())
}

pub(super) fn parse_base_path(s: &str) -> Result<String, String> {
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

pub(super) fn parse_secret_key(s: &str) -> Result<String, String> {
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
pub(super) fn parse_image_host(s: &str) -> Result<String, String> {
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

/// The levels a log directive may name, quietest first.
const LEVELS: &[&str] = &["off", "error", "warn", "info", "debug", "trace"];

/// `log.level`: an `EnvFilter` such as `info` or `plexgate=debug,info`, where every bare word
/// must be a level. EnvFilter itself takes a bare word as a target name, so a typo like `inof`
/// would silently log nothing; `warning` (what syslog and Python call it) means `warn`.
/// Only ASCII, each directive trimmed: tracing-subscriber 0.3.23 slices a directive by indices of
/// its trimmed form and panicked on a multi-byte character after a space (a `config` fuzz finding).
pub(super) fn parse_log_level(s: &str) -> Result<String, String> {
    if !s.is_ascii() {
        return Err("is not a log filter such as info or plexgate=debug (ASCII only)".to_string());
    }
    // A field filter (`target[span{field=value}]`) is compiled by tracing-subscriber into a DFA
    // whose size can explode: a 40-byte one held start-up for over 10 s in the `config` fuzz
    // target. Targets, span names and levels are all an operator needs.
    if s.contains('{') || s.len() > 1024 {
        return Err(
            "is not a log filter such as info or plexgate=debug (span field filters `{…}` \
             are not supported; at most 1024 characters)"
                .to_string(),
        );
    }
    let level = |word: &str| -> Result<String, String> {
        let word = word.trim().to_ascii_lowercase();
        let word = if word == "warning" {
            "warn".to_string()
        } else {
            word
        };
        if LEVELS.contains(&word.as_str()) {
            return Ok(word);
        }
        let hint = crate::config::sources::closest(&word, LEVELS.iter().copied())
            .map(|c| format!("; did you mean `{c}`?"))
            .unwrap_or_default();
        Err(format!(
            "names `{word}`, which is not a level (off, error, warn, info, debug, trace){hint} \
             A target takes a level: plexgate=debug"
        ))
    };
    let mut directives = Vec::new();
    for directive in s.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        if directive.contains('[') {
            // A span filter (`target[span{field}]=level`): EnvFilter judges it below.
            directives.push(directive.to_string());
            continue;
        }
        directives.push(match directive.rsplit_once('=') {
            Some((target, lvl)) => format!("{}={}", target.trim(), level(lvl)?),
            None => level(directive)?,
        });
    }
    if directives.is_empty() {
        return Err("is empty; use a level such as info".to_string());
    }
    let filter = directives.join(",");
    tracing_subscriber::EnvFilter::try_new(&filter)
        .map(|_| filter)
        .map_err(|e| format!("is not a log filter such as info or plexgate=debug ({e})"))
}

/// A plex.tv account as the operator names it: its numeric id or its username.
pub(super) fn parse_account(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.is_empty() || s.len() > 128 || s.chars().any(char::is_control) {
        Err("must be a plex.tv account id or username".to_string())
    } else {
        Ok(s.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_filter_rules() {
        assert_eq!(
            parse_log_level(" info , plexgate=debug ").unwrap(),
            "info,plexgate=debug"
        );
        // The fuzz finding: leading spaces then a multi-byte character panicked inside
        // tracing-subscriber before it was refused.
        assert!(parse_log_level(" :\u{fffd}]o=info").is_err());
        assert!(parse_log_level(" x[\u{fffd}]=info").is_err());
        // The second: a field filter whose regex took over 10 s to compile.
        assert!(parse_log_level("5,[[[lseerv r= {;list =e[stoagre]uPL|").is_err());
        assert!(parse_log_level("plexgate[request]=debug,info").is_ok());
        assert!(parse_log_level("plexgate=loud").is_err());
    }

    #[test]
    fn base_path_rules() {
        assert_eq!(parse_base_path("/plexgate/").unwrap(), "/plexgate");
        assert_eq!(parse_base_path("/").unwrap(), "");
        assert!(parse_base_path("plexgate").is_err());
        assert!(parse_base_path("/a/../b").is_err());
        assert!(parse_base_path("/a b").is_err());
    }

    #[test]
    fn log_level_rules() {
        assert_eq!(parse_log_level("warning").unwrap(), "warn");
        assert_eq!(
            parse_log_level("plexgate=Debug, warning").unwrap(),
            "plexgate=debug,warn"
        );
        let err = parse_log_level("inof").unwrap_err();
        assert!(err.contains("did you mean `info`?"), "{err}");
        assert!(parse_log_level("plexgate=loud").is_err());
        assert!(parse_log_level("").is_err());
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
