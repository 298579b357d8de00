//! Typing raw values: the getters that turn a missing value into its default and a bad one into
//! a problem line (secrets shown as "the value"), and the parsers for each kind of value.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;

use super::sources::{Origin, Problem, Raw, SECRET_KEYS};

/// Typed reads over the layered values: a bad value is recorded and its default used, so one run
/// reports every bad key.
pub(super) struct Reader {
    pub(super) values: BTreeMap<String, (Raw, Origin)>,
    pub(super) problems: Vec<Problem>,
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

    pub(super) fn get<T>(
        &mut self,
        key: &str,
        default: T,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> T {
        self.get_opt(key, parse).unwrap_or(default)
    }

    pub(super) fn get_opt<T>(
        &mut self,
        key: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Option<T> {
        let (text, origin) = self.text(key)?;
        match parse(text.trim()) {
            Ok(v) => Some(v),
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
        self.get(key, default, |s| match s.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(format!("must be a whole number from {min} to {max}")),
        })
    }

    pub(super) fn get_bool(&mut self, key: &str, default: bool) -> bool {
        self.get(key, default, |s| match s {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err("must be true or false".to_string()),
        })
    }

    pub(super) fn get_secs(&mut self, key: &str, default: u64, min: u64, max: u64) -> Duration {
        Duration::from_secs(self.get_int(key, default, min, max))
    }

    /// A list: a TOML array of strings, or comma-separated text from env/flags.
    pub(super) fn get_list<T>(
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
