//! What a verified ticket may reach: path canonicalisation and the two scopes of design §2.
//!
//! Canonicalisation runs before any scope check so that no encoding trick can make a path look
//! in scope to plexgate and mean something else to Plex. The facade allowlist is deliberately a
//! list of what the Flixor player needs, not a denylist of what is dangerous: anything new in
//! PMS is refused until someone decides it is safe.

use http::Method;

use super::ticket::{Scope, TicketError};

/// A path that passed canonicalisation: decoded once, absolute, no dot or empty segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalPath(String);

impl CanonicalPath {
    /// The decoded path, starting with `/`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path re-encoded for the upstream request line.
    pub fn to_upstream(&self) -> String {
        let keep = |b: u8| b.is_ascii_alphanumeric() || b"/-._~:@!$&'()*+,;=".contains(&b);
        // Part and segment paths are plain ASCII: nothing to escape, one copy.
        if self.0.bytes().all(keep) {
            return self.0.clone();
        }
        let mut out = String::with_capacity(self.0.len() + 8);
        for b in self.0.bytes() {
            if keep(b) {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    }
}

/// Canonicalises the raw (percent-encoded) rest of a proxy path, `a/b/c` or `/a/b/c`.
///
/// Refuses encoded separators (`%2f`, `%5c`), encoded NUL, backslashes, NUL, `.`/`..` and empty
/// segments (`//`), anything that still looks percent-encoded after one decode (double
/// encoding), and invalid UTF-8.
///
/// It runs on every part and segment request, so the path is decoded straight into the one
/// string it keeps, after a check of the raw bytes that allocates nothing.
pub fn canonicalize(raw: &str) -> Result<CanonicalPath, TicketError> {
    let raw = raw.strip_prefix('/').unwrap_or(raw);
    if raw.is_empty() {
        return Err(TicketError::BadPath);
    }
    // An encoded separator or NUL would mean one path here and another to Plex.
    let hides_a_separator = |w: &[u8]| {
        w[0] == b'%' && matches!(crate::util::hex_byte(w[1], w[2]), Some(b'/' | b'\\' | 0))
    };
    if raw.as_bytes().windows(3).any(hides_a_separator) {
        return Err(TicketError::BadPath);
    }
    let mut decoded = Vec::with_capacity(raw.len() + 1);
    decoded.push(b'/');
    let decoded =
        crate::util::percent_decode_after(decoded, raw, false).ok_or(TicketError::BadPath)?;
    // NUL is a control character too.
    if decoded.contains('\\') || decoded.chars().any(char::is_control) {
        return Err(TicketError::BadPath);
    }
    for segment in decoded[1..].split('/') {
        if segment.is_empty() || segment == "." || segment == ".." || looks_encoded(segment) {
            return Err(TicketError::BadPath);
        }
    }
    Ok(CanonicalPath(decoded))
}

fn looks_encoded(segment: &str) -> bool {
    let b = segment.as_bytes();
    b.windows(3)
        .any(|w| w[0] == b'%' && w[1].is_ascii_hexdigit() && w[2].is_ascii_hexdigit())
}

/// Checks `method` on `path` against `scope`: the method first, then the path.
pub fn check(scope: &Scope, method: &Method, path: &CanonicalPath) -> Result<(), TicketError> {
    match scope {
        Scope::Playback { prefix } => {
            if !matches!(*method, Method::GET | Method::HEAD) {
                return Err(TicketError::Method);
            }
            if path.as_str().starts_with(prefix.as_str())
                || path.as_str() == prefix.trim_end_matches('/')
            {
                Ok(())
            } else {
                Err(TicketError::Scope)
            }
        }
        Scope::Facade => facade(method, path.as_str()),
    }
}

/// Whether a GET of the decoded upstream `path` (as a manifest URI resolves to) is inside
/// `scope`; used to fail manifests closed. DASH template identifiers (`$Number%05d$`) are
/// template text, not escapes: they are checked as the concrete path a player will request.
/// A trailing `/` (a DASH BaseURL directory, never requested itself) is checked as the
/// directory.
pub fn allows_path(scope: &Scope, path: &str) -> bool {
    let concrete = super::manifest::expand_templates(path, "1");
    let dir = concrete.strip_suffix('/').filter(|d| !d.is_empty());
    canonicalize(dir.unwrap_or(&concrete)).is_ok_and(|p| check(scope, &Method::GET, &p).is_ok())
}

/// Library actions that are GETs in PMS but change state or cost a scan. The one list both the
/// facade and `/api/plex/dir` consult (through [`is_library_action`]).
const LIBRARY_ACTIONS: &[&str] = &[
    "refresh",
    "analyze",
    "emptyTrash",
    "optimize",
    "clean",
    "prefs",
    "match",
    "unmatch",
    "split",
    "merge",
    "unlock",
    "lock",
    "matches",
    "delete",
];

/// Whether a decoded path segment names a library action. PMS routes `REFRESH` and
/// `refresh;x` (a path parameter) to the same handler as `refresh`, so the comparison ignores
/// ASCII case and anything from the first `;`.
pub fn is_library_action(segment: &str) -> bool {
    let name = segment.split(';').next().unwrap_or(segment);
    LIBRARY_ACTIONS.iter().any(|a| a.eq_ignore_ascii_case(name))
}

/// The facade allowlist: what the Flixor player and screens call on PMS (design §2). A path
/// some other method may use is a method error; anything else is out of scope.
fn facade(method: &Method, path: &str) -> Result<(), TicketError> {
    let segments: Vec<&str> = path[1..].split('/').collect();
    if facade_allows(method, &segments) {
        Ok(())
    } else if [Method::GET, Method::PUT, Method::POST]
        .iter()
        .any(|m| facade_allows(m, &segments))
    {
        Err(TicketError::Method)
    } else {
        Err(TicketError::Scope)
    }
}

fn facade_allows(method: &Method, segments: &[&str]) -> bool {
    let read = matches!(*method, Method::GET | Method::HEAD);
    match segments {
        // Server identity and capabilities (the player reads transcoder limits).
        ["identity"] => read,
        // Per-user stream choice: PUT /library/parts/{id}?audioStreamID=…&subtitleStreamID=…
        ["library", "parts", id] if *method == Method::PUT => {
            id.bytes().all(|b| b.is_ascii_digit())
        }
        // Library reads, direct-play parts (Range), scrub thumbnails, sidecar subtitles.
        ["library", rest @ ..] => read && !rest.iter().any(|s| is_library_action(s)),
        ["hubs", ..] | ["search"] => read,
        // Image resizing; its url= is checked separately (same-server paths only).
        ["photo", ":", "transcode"] => read,
        // The universal transcoder: decision, start.*, session files, ping, stop, subtitles.
        ["video", ":", "transcode", "universal", leaf] => {
            let ok_leaf = matches!(*leaf, "decision" | "ping" | "stop" | "subtitles")
                || leaf.starts_with("start");
            ok_leaf && (read || (*leaf == "decision" && *method == Method::POST))
        }
        ["video", ":", "transcode", "universal", "session", _, ..] => read,
        // Progress and marks.
        [
            ":",
            "timeline" | "scrobble" | "unscrobble" | "rate" | "progress",
        ] => {
            matches!(
                *method,
                Method::GET | Method::HEAD | Method::PUT | Method::POST
            )
        }
        // Next/previous episode.
        ["playQueues"] => *method == Method::POST,
        ["playQueues", _, ..] => read,
        _ => false,
    }
}

/// Where library artwork lives: the only sources a photo transcode may read.
const ARTWORK_ROOTS: &[&str] = &["metadata", "parts", "collections", "streams"];

/// The one check for a photo transcode source: `url=` of the facade's `/photo/:/transcode` and
/// `path=` of `/api/image/plex` both come here.
///
/// PMS fetches the source itself, with its own rights, so anything but library artwork would
/// turn the transcoder into a proxy: another host (`http://169.254.169.254/…`), another
/// transcode whose own `url=` goes elsewhere, or a non-image endpoint such as `/:/prefs`. The
/// value is decoded once (as PMS decodes the parameter), its path canonicalised like a proxy path
/// (no `..`, `%2f`, `\`, …) and must sit under `/library/{metadata,parts,collections,streams}/`
/// with no library action in it. Query parameters naming a token, a Plex identity or a nested
/// `url` are dropped. Returns the value to forward (path as given, cleaned query).
pub fn photo_source(url_param: &str) -> Result<String, TicketError> {
    let decoded = crate::util::percent_decode(url_param, false).ok_or(TicketError::BadPath)?;
    if !decoded.starts_with('/') || decoded.starts_with("//") || decoded.contains('\\') {
        return Err(TicketError::Scope);
    }
    if decoded.contains('#') {
        return Err(TicketError::BadPath);
    }
    let (path, query) = decoded.split_once('?').unwrap_or((&decoded, ""));
    let canonical = canonicalize(path)?;
    let segments: Vec<&str> = canonical.as_str()[1..].split('/').collect();
    let artwork = matches!(segments.as_slice(), ["library", root, _, ..] if ARTWORK_ROOTS.contains(root))
        && !segments.iter().any(|s| is_library_action(s));
    if !artwork {
        return Err(TicketError::Scope);
    }
    let kept: Vec<&str> = query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .filter(|kv| {
            let key = kv.split('=').next().unwrap_or_default();
            let key = crate::util::percent_decode(key, true)
                .unwrap_or_else(|| key.to_string())
                .to_ascii_lowercase();
            !(key.starts_with("x-plex-") || key.contains("token") || key == "url")
        })
        .collect();
    Ok(if kept.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", kept.join("&"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dash_template_identifiers_are_not_escapes() {
        let scope = Scope::Playback {
            prefix: "/video/:/transcode/universal/session/s1/".into(),
        };
        for ok in [
            "/video/:/transcode/universal/session/s1/0/$Number%05d$.m4s",
            "/video/:/transcode/universal/session/s1/0/$Time%010d$-$Bandwidth%08d$.m4s",
            "/video/:/transcode/universal/session/s1/$RepresentationID$/$$-$Number%04x$.m4s",
            "/video/:/transcode/universal/session/s1/dash/",
        ] {
            assert!(allows_path(&scope, ok), "{ok}");
        }
        for bad in [
            "/video/:/transcode/universal/session/s2/$Number%05d$.m4s",
            "/video/:/transcode/universal/session/s1/%05.m4s",
            "/video/:/transcode/universal/session/s1/$Number%05d$/../../s2/x",
            "/video/:/transcode/universal/session/s1//",
        ] {
            assert!(!allows_path(&scope, bad), "{bad}");
        }
    }

    #[test]
    fn canonicalisation_refuses_every_trick() {
        for bad in [
            "",
            "/",
            "a/../b",
            "a/./b",
            "a//b",
            "a/%2e%2e/b",
            "a/%2E%2E/b",
            "a%2fb",
            "a%2Fb",
            "a%5cb",
            "a\\b",
            "a/%00",
            "a/%252e%252e/b",
            "a/%zz",
            "a/%c3%28",
            "a/b/",
        ] {
            assert_eq!(canonicalize(bad), Err(TicketError::BadPath), "{bad:?}");
        }
        let ok = canonicalize("video/:/transcode/universal/session/x%20y/0.m4s").unwrap();
        assert_eq!(
            ok.as_str(),
            "/video/:/transcode/universal/session/x y/0.m4s"
        );
        assert_eq!(
            ok.to_upstream(),
            "/video/:/transcode/universal/session/x%20y/0.m4s"
        );
    }

    /// The four-pass canonicalisation the current one replaced, kept as the oracle.
    fn canonicalize_before(raw: &str) -> Result<CanonicalPath, TicketError> {
        let raw = raw.strip_prefix('/').unwrap_or(raw);
        if raw.is_empty() {
            return Err(TicketError::BadPath);
        }
        let lower = raw.to_ascii_lowercase();
        if lower.contains("%2f") || lower.contains("%5c") || lower.contains("%00") {
            return Err(TicketError::BadPath);
        }
        let decoded = crate::util::percent_decode(raw, false).ok_or(TicketError::BadPath)?;
        if decoded.contains('\\') || decoded.contains('\0') || decoded.chars().any(char::is_control)
        {
            return Err(TicketError::BadPath);
        }
        for segment in decoded.split('/') {
            if segment.is_empty() || segment == "." || segment == ".." || looks_encoded(segment) {
                return Err(TicketError::BadPath);
            }
        }
        Ok(CanonicalPath(format!("/{decoded}")))
    }

    #[test]
    fn one_pass_canonicalisation_agrees_with_the_old_one_on_every_short_path() {
        // Every string of up to five of these pieces: separators, dots, escapes of the bytes
        // that matter (slash, backslash, NUL, percent, dot, a control, UTF-8 halves), bad
        // escapes and plain letters.
        let pieces = [
            "a", "/", ".", "%", "%2f", "%2F", "%5c", "%00", "%25", "%2e", "%2E", "%0a", "%c3",
            "%a9", "%zz", "2f", "\\", "\u{7f}", "é", ";",
        ];
        let mut paths = vec![String::new()];
        let mut checked = 0;
        for _ in 0..5 {
            let mut longer = Vec::with_capacity(paths.len() * pieces.len());
            for p in &paths {
                for piece in pieces {
                    let path = format!("{p}{piece}");
                    assert_eq!(canonicalize(&path), canonicalize_before(&path), "{path:?}");
                    checked += 1;
                    longer.push(path);
                }
            }
            paths = longer;
        }
        assert!(checked > 3_000_000, "{checked}");
    }

    fn allowed(method: Method, path: &str) -> Result<(), TicketError> {
        check(&Scope::Facade, &method, &canonicalize(path).unwrap())
    }

    #[test]
    fn facade_allows_what_the_player_needs() {
        for (m, p) in [
            (Method::GET, "/library/metadata/101"),
            (Method::GET, "/library/sections/1/all"),
            (Method::HEAD, "/library/parts/9101/1600100000/file.mp4"),
            (Method::GET, "/library/parts/9101/indexes/sd/1000"),
            (Method::PUT, "/library/parts/9101"),
            (Method::GET, "/video/:/transcode/universal/decision"),
            (Method::POST, "/video/:/transcode/universal/decision"),
            (Method::GET, "/video/:/transcode/universal/start.mpd"),
            (
                Method::GET,
                "/video/:/transcode/universal/session/abc/0/3.m4s",
            ),
            (Method::GET, "/video/:/transcode/universal/ping"),
            (Method::GET, "/video/:/transcode/universal/stop"),
            (Method::POST, "/:/timeline"),
            (Method::PUT, "/:/scrobble"),
            (Method::POST, "/playQueues"),
            (Method::GET, "/photo/:/transcode"),
            (Method::GET, "/hubs/home/continueWatching"),
        ] {
            assert_eq!(allowed(m.clone(), p), Ok(()), "{m} {p}");
        }
    }

    #[test]
    fn facade_refuses_admin_and_actions() {
        for (m, p, want) in [
            (Method::GET, "/:/prefs", TicketError::Scope),
            (Method::GET, "/accounts", TicketError::Scope),
            (
                Method::GET,
                "/library/sections/1/refresh",
                TicketError::Scope,
            ),
            (Method::DELETE, "/library/metadata/101", TicketError::Method),
            (
                Method::PUT,
                "/library/sections/1/analyze",
                TicketError::Scope,
            ),
            (Method::GET, "/butler", TicketError::Scope),
            (Method::GET, "/transcode/sessions", TicketError::Scope),
            (
                Method::POST,
                "/video/:/transcode/universal/start.m3u8",
                TicketError::Method,
            ),
            (Method::PUT, "/library/parts/abc", TicketError::Method),
            (
                Method::GET,
                "/library/sections/1/Refresh",
                TicketError::Scope,
            ),
            (
                Method::GET,
                "/library/sections/1/REFRESH",
                TicketError::Scope,
            ),
            (
                Method::GET,
                "/library/sections/1/refresh;x",
                TicketError::Scope,
            ),
            (
                Method::GET,
                "/library/sections/1/%52efresh",
                TicketError::Scope,
            ),
            (
                Method::GET,
                "/library/sections/EmptyTrash",
                TicketError::Scope,
            ),
        ] {
            assert_eq!(allowed(m.clone(), p), Err(want), "{m} {p}");
        }
    }

    #[test]
    fn playback_scope_is_a_prefix_and_read_only() {
        let scope = Scope::Playback {
            prefix: "/video/:/transcode/universal/session/abc/".into(),
        };
        let p = |s: &str| canonicalize(s).unwrap();
        assert!(
            check(
                &scope,
                &Method::GET,
                &p("/video/:/transcode/universal/session/abc/base/00001.ts")
            )
            .is_ok()
        );
        assert_eq!(
            check(
                &scope,
                &Method::GET,
                &p("/video/:/transcode/universal/session/abcd/x")
            ),
            Err(TicketError::Scope)
        );
        assert_eq!(
            check(
                &scope,
                &Method::PUT,
                &p("/video/:/transcode/universal/session/abc/x")
            ),
            Err(TicketError::Method)
        );
    }

    #[test]
    fn photo_source_is_same_server_only() {
        assert_eq!(
            photo_source("/library/metadata/101/thumb/1").unwrap(),
            "/library/metadata/101/thumb/1"
        );
        assert_eq!(
            photo_source("%2Flibrary%2Fmetadata%2F101%2Fthumb%2F1%3FX-Plex-Token%3Dsecret")
                .unwrap(),
            "/library/metadata/101/thumb/1"
        );
        assert_eq!(
            photo_source(
                "/library/collections/7/composite/1?width=300&url=%2F%3A%2Fprefs&xPlexToken=t"
            )
            .unwrap(),
            "/library/collections/7/composite/1?width=300"
        );
        for ok in [
            "/library/parts/301/indexes/sd/4000",
            "/library/streams/55",
            "%2Flibrary%2Fmetadata%2F101%2Fart%2F2",
        ] {
            assert!(photo_source(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://evil.example/x.jpg",
            "//evil.example/x",
            "/a/../../etc/passwd",
            "relative/path",
            "/photo/:/transcode?url=http://169.254.169.254/latest/meta-data",
            "%2Fphoto%2F%3A%2Ftranscode%3Furl%3Dhttp%253A%252F%252F169.254.169.254%252F",
            "/:/prefs",
            "/accounts",
            "/library/sections/1/all",
            "/library/metadata",
            "/library/metadata/1/refresh",
            "/library/metadata/1/REFRESH;x",
            "/library/metadata/../../:/prefs",
            "/library/metadata/%2e%2e/%2e%2e/:/prefs",
            "/library/metadata/1%2f..%2f..%2f:%2fprefs",
            "/library/metadata/1%252f..",
            "/library/metadata/1/thumb#frag",
            "/library\\metadata/1",
        ] {
            assert!(photo_source(bad).is_err(), "{bad}");
        }
    }
}
