//! What each `/api/tmdb/*` route asks TMDB for: the upstream path, the query it forwards (with
//! the contract's mappings: images' `language` → `include_image_language`, TV search's `year` →
//! `first_air_date_year`, `include_adult=false` on searches and discovery), how long the answer
//! may be cached, and the cache key.
//!
//! Every value the browser sends is validated before it reaches an upstream URL; path pieces are
//! fixed words or digits. What must never happen: a browser-supplied `api_key` (or any other
//! credential-looking parameter) forwarded to TMDB, or a cache key that depends on the key used.

use std::time::Duration;

const HOUR: u64 = 3600;
const DAY: u64 = 86_400;

/// A request the browser made that cannot be turned into a TMDB request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct EndpointError {
    /// Stable code (`invalid_media_type`, `missing_query`, …).
    pub code: &'static str,
    /// What is wrong, for the browser (never echoes a value).
    pub message: String,
}

fn invalid(code: &'static str, message: impl Into<String>) -> EndpointError {
    EndpointError {
        code,
        message: message.into(),
    }
}

/// One upstream TMDB request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Path below the API base, e.g. `/movie/949`.
    pub path: String,
    /// Query parameters to send (without any key).
    pub query: Vec<(String, String)>,
    /// How long the answer may be served from the cache.
    pub ttl: Duration,
}

impl Endpoint {
    fn new(path: String, query: Vec<(String, String)>, ttl_secs: u64) -> Self {
        Endpoint {
            path,
            query,
            ttl: Duration::from_secs(ttl_secs),
        }
    }

    /// The cache key: path and sorted query, never the key.
    pub fn cache_key(&self) -> String {
        let mut q = self.query.clone();
        q.sort();
        let q: Vec<String> = q
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    crate::util::percent_encode(k),
                    crate::util::percent_encode(v)
                )
            })
            .collect();
        format!("tmdb:{}?{}", self.path, q.join("&"))
    }

    /// `GET /configuration`, used to check a key (never cached).
    pub fn configuration() -> Self {
        Endpoint::new("/configuration".into(), Vec::new(), 0)
    }
}

/// The browser's query string, decoded. Names are case-sensitive, as in TMDB.
#[derive(Debug, Clone, Default)]
pub struct Query(Vec<(String, String)>);

/// Parameter names that carry credentials; dropped from anything forwarded.
const CREDENTIAL_PARAMS: &[&str] = &["api_key", "access_token", "session_id", "guest_session_id"];

impl Query {
    /// Parses `a=1&b=2` (percent-decoding, `+` as space). At most 50 parameters.
    pub fn parse(raw: Option<&str>) -> Result<Query, EndpointError> {
        let mut out = Vec::new();
        for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let k = crate::util::percent_decode(k, true);
            let v = crate::util::percent_decode(v, true);
            let (Some(k), Some(v)) = (k, v) else {
                return Err(invalid(
                    "invalid_query",
                    "the query string has a malformed escape",
                ));
            };
            out.push((k, v));
        }
        if out.len() > 50 {
            return Err(invalid("invalid_query", "too many query parameters"));
        }
        Ok(Query(out))
    }

    /// The last value of `name` (Express kept the last of repeated parameters too).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn page(&self) -> Result<Option<(String, String)>, EndpointError> {
        match self.get("page").filter(|p| !p.is_empty()) {
            None => Ok(None),
            Some(p) => match p.parse::<u32>() {
                Ok(n) if (1..=500).contains(&n) => Ok(Some(("page".into(), n.to_string()))),
                _ => Err(invalid(
                    "invalid_page",
                    "page must be a whole number from 1 to 500",
                )),
            },
        }
    }

    fn page_or_first(&self) -> Result<(String, String), EndpointError> {
        Ok(self.page()?.unwrap_or_else(|| ("page".into(), "1".into())))
    }

    fn year(&self, as_name: &str) -> Result<Option<(String, String)>, EndpointError> {
        match self.get("year").filter(|y| !y.is_empty()) {
            None => Ok(None),
            Some(y) => match y.parse::<u16>() {
                Ok(n) if (1800..=2200).contains(&n) => Ok(Some((as_name.into(), n.to_string()))),
                _ => Err(invalid("invalid_year", "year must be a four-digit year")),
            },
        }
    }

    fn region(&self) -> Result<Option<(String, String)>, EndpointError> {
        match self.get("region").filter(|r| !r.is_empty()) {
            None => Ok(None),
            Some(r) if r.len() == 2 && r.bytes().all(|b| b.is_ascii_alphabetic()) => {
                Ok(Some(("region".into(), r.to_ascii_uppercase())))
            }
            Some(_) => Err(invalid(
                "invalid_region",
                "region must be a two-letter country code",
            )),
        }
    }
}

fn is_id(s: &str) -> bool {
    (1..=12).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

fn media(m: &str, allowed: &[&str]) -> Result<(), EndpointError> {
    if allowed.contains(&m) {
        Ok(())
    } else {
        Err(invalid(
            "invalid_media_type",
            format!("media type must be one of {}", allowed.join(", ")),
        ))
    }
}

/// `/trending/{all|movie|tv|person}/{day|week}?page`.
pub fn trending(media_type: &str, window: &str, q: &Query) -> Result<Endpoint, EndpointError> {
    media(media_type, &["all", "movie", "tv", "person"])?;
    if !["day", "week"].contains(&window) {
        return Err(invalid(
            "invalid_time_window",
            "time window must be day or week",
        ));
    }
    Ok(Endpoint::new(
        format!("/trending/{media_type}/{window}"),
        vec![q.page_or_first()?],
        HOUR,
    ))
}

/// `/search/{multi|movie|tv}?query&page&include_adult=false` (+ `year` or `first_air_date_year`).
pub fn search(kind: &str, q: &Query) -> Result<Endpoint, EndpointError> {
    media(kind, &["multi", "movie", "tv"])?;
    let text = q.get("query").map(str::trim).unwrap_or("");
    if text.is_empty() {
        return Err(invalid("missing_query", "query is required"));
    }
    if text.chars().count() > 500 {
        return Err(invalid("invalid_query", "query is too long"));
    }
    let mut query = vec![
        ("query".to_string(), text.to_string()),
        q.page_or_first()?,
        ("include_adult".into(), "false".into()),
    ];
    match kind {
        "movie" => query.extend(q.year("year")?),
        "tv" => query.extend(q.year("first_air_date_year")?),
        _ => {}
    }
    Ok(Endpoint::new(format!("/search/{kind}"), query, 30 * 60))
}

/// The list endpoints served under the details routes: `/movie/popular` and friends. The
/// Express router answered these with the details route (no `page`, no `region`, cached a day).
fn list(media_type: &str, name: &str) -> Option<(bool, u64)> {
    // (takes region, ttl)
    match (media_type, name) {
        ("movie", "popular" | "top_rated" | "upcoming" | "now_playing") => Some((true, HOUR)),
        ("tv", "popular" | "top_rated" | "on_the_air" | "airing_today") => Some((false, HOUR)),
        ("person", "popular") => Some((false, HOUR)),
        _ => None,
    }
}

/// `/{movie|tv|person}/{id}[?append_to_response]`, or a list such as `/movie/popular?page&region`.
pub fn details(media_type: &str, id: &str, q: &Query) -> Result<Endpoint, EndpointError> {
    media(media_type, &["movie", "tv", "person"])?;
    if let Some((takes_region, ttl)) = list(media_type, id) {
        let mut query = vec![q.page_or_first()?];
        if takes_region {
            query.extend(q.region()?);
        }
        return Ok(Endpoint::new(format!("/{media_type}/{id}"), query, ttl));
    }
    if !is_id(id) {
        return Err(invalid("invalid_id", "the TMDB id must be a number"));
    }
    let mut query = Vec::new();
    if let Some(append) = q.get("append_to_response").filter(|a| !a.is_empty()) {
        let ok_chars = append
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_,/".contains(&b));
        if !ok_chars || append.split(',').count() > 20 || append.len() > 400 {
            return Err(invalid(
                "invalid_append_to_response",
                "append_to_response must be up to 20 comma-separated names",
            ));
        }
        query.push(("append_to_response".to_string(), append.to_string()));
    }
    Ok(Endpoint::new(format!("/{media_type}/{id}"), query, DAY))
}

/// `/{movie|tv}/{id}/{credits|recommendations|similar|images|videos|external_ids}` and
/// `/person/{id}/combined_credits`.
pub fn sub_resource(
    media_type: &str,
    id: &str,
    sub: &str,
    q: &Query,
) -> Result<Endpoint, EndpointError> {
    media(media_type, &["movie", "tv", "person"])?;
    if !is_id(id) {
        return Err(invalid("invalid_id", "the TMDB id must be a number"));
    }
    let path = format!("/{media_type}/{id}/{sub}");
    let (query, ttl) = match (media_type, sub) {
        ("movie" | "tv", "credits" | "videos" | "external_ids") => (Vec::new(), DAY),
        ("movie" | "tv", "recommendations" | "similar") => (vec![q.page_or_first()?], DAY),
        ("movie" | "tv", "images") => {
            let lang = q
                .get("language")
                .filter(|l| !l.is_empty())
                .unwrap_or("en,null");
            let ok = lang.len() <= 64
                && lang
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b",-".contains(&b));
            if !ok {
                return Err(invalid(
                    "invalid_language",
                    "language must be comma-separated language codes such as en,null",
                ));
            }
            (
                vec![("include_image_language".to_string(), lang.to_string())],
                7 * DAY,
            )
        }
        ("person", "combined_credits") => (Vec::new(), DAY),
        _ => {
            return Err(invalid(
                "unknown_tmdb_resource",
                "no such TMDB resource for this media type",
            ));
        }
    };
    Ok(Endpoint::new(path, query, ttl))
}

/// `/discover/{movie|tv}` with the browser's whole query (validated) and `include_adult=false`.
pub fn discover(kind: &str, q: &Query) -> Result<Endpoint, EndpointError> {
    media(kind, &["movie", "tv"])?;
    let mut query = Vec::new();
    for (k, v) in &q.0 {
        if CREDENTIAL_PARAMS.contains(&k.as_str()) || k == "include_adult" {
            continue;
        }
        let name_ok = (1..=64).contains(&k.len())
            && k.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.".contains(&b));
        if !name_ok || v.len() > 256 || v.chars().any(char::is_control) {
            return Err(invalid(
                "invalid_query",
                "discover parameters must be plain names with short values",
            ));
        }
        if k == "page" {
            continue;
        }
        query.push((k.clone(), v.clone()));
    }
    query.push(q.page_or_first()?);
    query.push(("include_adult".into(), "false".into()));
    Ok(Endpoint::new(format!("/discover/{kind}"), query, 30 * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Query {
        Query::parse(Some(s)).unwrap()
    }

    #[test]
    fn mappings_from_the_contract() {
        let e = sub_resource("movie", "949", "images", &q("language=en%2Cnull")).unwrap();
        assert_eq!(
            e.query,
            [("include_image_language".into(), "en,null".into())]
        );
        assert_eq!(e.ttl, Duration::from_secs(604_800));
        let e = search("tv", &q("query=Severance&year=2022")).unwrap();
        assert!(
            e.query
                .contains(&("first_air_date_year".into(), "2022".into()))
        );
        assert!(e.query.contains(&("include_adult".into(), "false".into())));
        assert!(!e.query.iter().any(|(k, _)| k == "year"));
        let e = search("movie", &q("query=Heat&year=1995")).unwrap();
        assert!(e.query.contains(&("year".into(), "1995".into())));
    }

    #[test]
    fn lists_take_page_and_region() {
        let e = details("movie", "upcoming", &q("region=us&page=2")).unwrap();
        assert_eq!(e.path, "/movie/upcoming");
        assert!(e.query.contains(&("region".into(), "US".into())));
        assert!(e.query.contains(&("page".into(), "2".into())));
        assert_eq!(e.ttl, Duration::from_secs(3600));
        let e = details("tv", "popular", &q("region=US")).unwrap();
        assert_eq!(e.query, [("page".into(), "1".into())]);
        assert_ne!(
            details("movie", "popular", &q("page=1"))
                .unwrap()
                .cache_key(),
            details("movie", "popular", &q("page=2"))
                .unwrap()
                .cache_key()
        );
    }

    #[test]
    fn browser_keys_are_dropped_and_input_is_validated() {
        let e = discover("movie", &q("with_genres=80&api_key=stolen&page=3")).unwrap();
        assert!(!e.query.iter().any(|(k, _)| k == "api_key"));
        assert!(e.query.contains(&("with_genres".into(), "80".into())));
        assert!(e.query.contains(&("page".into(), "3".into())));
        assert_eq!(
            trending("film", "day", &q("")).unwrap_err().code,
            "invalid_media_type"
        );
        assert_eq!(
            trending("tv", "year", &q("")).unwrap_err().code,
            "invalid_time_window"
        );
        assert_eq!(
            details("movie", "../x", &q("")).unwrap_err().code,
            "invalid_id"
        );
        assert_eq!(search("multi", &q("")).unwrap_err().code, "missing_query");
        assert_eq!(
            trending("tv", "day", &q("page=0")).unwrap_err().code,
            "invalid_page"
        );
        assert_eq!(
            sub_resource("tv", "1", "reviews", &q("")).unwrap_err().code,
            "unknown_tmdb_resource"
        );
        assert!(details("movie", "1", &q("append_to_response=x%26api_key%3D1")).is_err());
    }

    #[test]
    fn cache_key_ignores_parameter_order() {
        let a = discover("tv", &q("a=1&b=2")).unwrap();
        let b = discover("tv", &q("b=2&a=1")).unwrap();
        assert_eq!(a.cache_key(), b.cache_key());
    }
}
