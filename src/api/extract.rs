//! Request parameters every handler may validate the same way: path parameters, rating keys,
//! section keys and `/dir` library paths.
//!
//! Why: the Express backend spliced unvalidated ids into upstream URLs; here a rating key is
//! digits only and a library path is canonicalised, so no parameter can reach another PMS
//! endpoint (prefs, accounts, library actions).

use http::Request;
use hyper::body::Incoming;

use crate::http::{ApiError, PathParams};
use crate::stream::scope;

/// A path parameter, still percent-encoded.
pub fn path_param<'r>(req: &'r Request<Incoming>, name: &str) -> &'r str {
    req.extensions()
        .get::<PathParams>()
        .and_then(|p| p.get(name))
        .unwrap_or("")
}

/// A Plex rating key: digits only (§5.1 #7: anything else could reach another PMS endpoint;
/// §5.3 #3: Discover ids fail fast instead of costing an upstream call).
pub fn rating_key(value: &str, what: &str) -> Result<String, ApiError> {
    let v = value.trim();
    if v.is_empty() || v.len() > 20 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::bad_request(
            "invalid_rating_key",
            format!("{what} must be a Plex rating key (digits)"),
        ));
    }
    Ok(v.to_string())
}

/// A library section key: digits only.
pub fn section_key(value: &str) -> Result<String, ApiError> {
    let v = value.trim();
    if v.is_empty() || v.len() > 20 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::bad_request(
            "invalid_section",
            "the library section must be a number",
        ));
    }
    Ok(v.to_string())
}

/// A `/dir/*` path: canonical (decoded once; no `..`, `.`, `//`, `%2f`, `\`), under `library/`
/// and free of library actions. Returns the path re-encoded for the upstream request.
pub fn library_path(raw: &str) -> Result<String, ApiError> {
    let bad = || {
        ApiError::bad_request(
            "invalid_path",
            "only plain /library/… read paths are allowed",
        )
    };
    let path = scope::canonicalize(raw).map_err(|_| bad())?;
    let segments: Vec<&str> = path.as_str()[1..].split('/').collect();
    if segments.first() != Some(&"library")
        || segments.len() < 2
        || segments.iter().any(|s| scope::is_library_action(s))
    {
        return Err(bad());
    }
    Ok(path.to_upstream())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_paths_are_library_reads_only() {
        assert_eq!(
            library_path("library/metadata/1000/children").unwrap(),
            "/library/metadata/1000/children"
        );
        assert_eq!(
            library_path("library/sections/1/genre/41").unwrap(),
            "/library/sections/1/genre/41"
        );
        for bad in [
            "",
            "identity",
            "library",
            "accounts/1",
            "library/../accounts",
            "library/%2e%2e/accounts",
            "library/sections/1/refresh",
            "library%2fsections",
            "library//sections",
            ":/prefs",
        ] {
            assert!(library_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rating_keys_are_digits() {
        assert_eq!(rating_key(" 101 ", "ratingKey").unwrap(), "101");
        for bad in ["", "5d776b59ad5437001f79c6f8", "101/../1", "1 1", "-1"] {
            assert!(rating_key(bad, "ratingKey").is_err(), "{bad}");
        }
    }
}
