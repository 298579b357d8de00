//! The address a forwarded request goes to: Plex's base URL, the canonical path, the cleaned
//! query, parsed once into an `http::Uri`.
//!
//! Why not through `url::Url` first, as reqwest does: that is a second full parse, host
//! normalisation included, on every part and segment request, the largest single item of
//! plexgate's own work per request in a profile (benches/fixed_cost.sh). `Url` stays the
//! fallback for an address `http::Uri` refuses, since it escapes such characters instead.
//!
//! Why skipping it is safe: `Url` also resolves `.` and `..` segments, and `http::Uri` does not.
//! A [`CanonicalPath`] has none: `scope::canonicalize` refuses dot segments (encoded or not),
//! empty segments and encoded separators, and `to_upstream` writes `.` only inside a segment
//! with other bytes, so there is no dot segment for `Url` to resolve. The tests hold both
//! parses to the same address for hostile paths.

use super::scope::CanonicalPath;

/// The upstream route (the encoded path, what logs may name) and `base` + route (+ `?query`) as
/// the request's URI, `None` if no parse takes it.
pub fn upstream_uri(
    base: &str,
    path: &CanonicalPath,
    query: Option<&str>,
) -> (String, Option<http::Uri>) {
    let route = path.to_upstream();
    let query = query.filter(|q| !q.is_empty());
    let mut address =
        String::with_capacity(base.len() + route.len() + query.map_or(0, |q| q.len() + 1));
    address.push_str(base);
    address.push_str(&route);
    if let Some(q) = query {
        address.push('?');
        address.push_str(q);
    }
    let uri = match http::Uri::try_from(address.as_str()) {
        Ok(uri) if uri.scheme().is_some() && uri.authority().is_some() => Some(uri),
        _ => url::Url::parse(&address)
            .ok()
            .and_then(|u| u.as_str().parse().ok()),
    };
    (route, uri)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plex::ServerAccess;
    use crate::stream::scope::canonicalize;

    /// What the old code sent: the same address through `Url` first.
    fn through_url(base: &str, path: &CanonicalPath, query: Option<&str>) -> String {
        let mut address = format!("{base}{}", path.to_upstream());
        if let Some(q) = query.filter(|q| !q.is_empty()) {
            address.push('?');
            address.push_str(q);
        }
        url::Url::parse(&address).unwrap().to_string()
    }

    #[test]
    fn hostile_paths_reach_plex_as_they_did_through_url() {
        let raw = [
            "library/parts/2/1/file.mp4",
            "video/:/transcode/universal/session/abc/0/header",
            "library/parts/1/2/a%20b%20c.mkv",
            "library/parts/1/2/%C3%A9t%C3%A9.mkv",
            "library/parts/1/..%3B/x",
            "library/parts/1/...",
            "library/parts/1/.hidden/..x",
            "library/parts/1/%3F%23/file",
            "library/parts/1/%25/file",
            "library/parts/1/a;b=c/file",
            "library/parts/1/%7B%7D%7C%5E%60/file",
            "library/parts/1/.%2e/file",
            "library/parts/1/%2e%2E/file",
            "library/parts/1/./file",
            "library/parts/1/../../../etc/passwd",
            "library/parts/1/%2e/file",
            "library/parts/1/%252e%252e/file",
            "library/parts//file",
        ];
        let queries = [
            None,
            Some(""),
            Some("offset=0&X-Plex-Client-Profile-Extra=a%2Bb"),
        ];
        let bases = [
            "http://127.0.0.1:32400",
            "http://[::1]:32400/",
            "https://Plex.Example:443/",
            "http://plex.example/behind/a/proxy/",
        ];
        for base in bases {
            // As requests get it: normalised once when the server's access is resolved.
            let base = ServerAccess::new(1, base, "m", "t").base;
            let base = base.as_str();
            for r in raw {
                let Ok(path) = canonicalize(r) else {
                    continue;
                };
                for q in queries {
                    let uri = upstream_uri(base, &path, q).1.expect(r);
                    assert_eq!(uri.to_string(), through_url(base, &path, q), "{r} {q:?}");
                    let p = uri.path();
                    assert!(
                        !p.split('/').any(|s| s == "." || s == ".."),
                        "a dot segment reached Plex: {p}"
                    );
                }
            }
        }
        // The dot segments above were refused before an address was ever built.
        for r in [
            "library/parts/1/.%2e/file",
            "library/parts/1/%2e%2E/file",
            "a/../b",
        ] {
            assert!(canonicalize(r).is_err(), "{r}");
        }
    }

    #[test]
    fn a_servers_base_is_normalised_once() {
        let base = |b: &str| ServerAccess::new(1, b, "m", "t").base;
        assert_eq!(base("https://Plex.Example:443/"), "https://plex.example");
        assert_eq!(base("http://127.0.0.1:32400/"), "http://127.0.0.1:32400");
        assert_eq!(base("http://h:80/plex/"), "http://h/plex");
    }

    #[test]
    fn what_http_uri_refuses_is_escaped_by_url_instead() {
        let path = canonicalize("library/parts/1/file").unwrap();
        let (route, uri) = upstream_uri("http://127.0.0.1:32400", &path, Some("a=b c"));
        assert_eq!(route, "/library/parts/1/file");
        let uri = uri.unwrap();
        assert_eq!(uri.query(), Some("a=b%20c"));
    }
}
