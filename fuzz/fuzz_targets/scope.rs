//! Scope check (`plexgate::stream::scope::{check, allows_path, photo_source}`, design §2).
//!
//! Input: one method byte, then `prefix \n path [\n photo url=]`.
//!
//! Invariants: no panic; a playback ticket allows only GET/HEAD at or under its prefix; the facade
//! allows only GET/HEAD/PUT/POST, on its own route roots, never a library action; `allows_path` (the
//! manifest-side check) agrees with canonicalise + check for a GET; a photo source is a same-server
//! absolute path without `X-Plex-*` parameters.
#![no_main]

use http::Method;
use libfuzzer_sys::fuzz_target;
use plexgate::stream::manifest::expand_templates;
use plexgate::stream::scope::{allows_path, canonicalize, check, photo_source};
use plexgate::stream::ticket::{Scope, TicketError};

const ACTIONS: &[&str] = &[
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
const ROOTS: &[&str] = &[
    "identity",
    "library",
    "hubs",
    "search",
    "photo",
    "video",
    ":",
    "playQueues",
];

fn method(b: u8) -> Method {
    match b % 8 {
        0 => Method::GET,
        1 => Method::HEAD,
        2 => Method::PUT,
        3 => Method::POST,
        4 => Method::DELETE,
        5 => Method::PATCH,
        6 => Method::OPTIONS,
        _ => Method::from_bytes(b"PROPFIND").unwrap(),
    }
}

fn read(m: &Method) -> bool {
    matches!(*m, Method::GET | Method::HEAD)
}

fuzz_target!(|data: &[u8]| {
    let Some((&m, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let method = method(m);
    let mut parts = text.splitn(3, '\n');
    let prefix = parts.next().unwrap_or_default();
    let path = parts.next().unwrap_or_default();
    let photo = parts.next();
    let playback = Scope::Playback {
        prefix: prefix.to_owned(),
    };

    if let Ok(p) = canonicalize(path) {
        match check(&playback, &method, &p) {
            Ok(()) => {
                assert!(read(&method), "playback allowed {method}");
                assert!(
                    p.as_str().starts_with(prefix) || p.as_str() == prefix.trim_end_matches('/'),
                    "playback allowed a path outside its prefix"
                );
            }
            Err(TicketError::Method) => assert!(!read(&method)),
            Err(e) => assert_eq!(e, TicketError::Scope, "playback check"),
        }
        match check(&Scope::Facade, &method, &p) {
            Ok(()) => {
                assert!(
                    matches!(
                        method,
                        Method::GET | Method::HEAD | Method::PUT | Method::POST
                    ),
                    "facade allowed {method}"
                );
                let segs: Vec<&str> = p.as_str()[1..].split('/').collect();
                assert!(ROOTS.contains(&segs[0]), "facade allowed an unknown root");
                if segs[0] == "library" {
                    assert!(
                        !segs.iter().any(|s| ACTIONS.contains(s)),
                        "facade allowed a library action"
                    );
                }
            }
            Err(e) => assert!(matches!(e, TicketError::Method | TicketError::Scope)),
        }
    }

    // The manifest-side check: a GET of the concrete (template-expanded) path, a trailing `/`
    // standing for its directory.
    for scope in [&playback, &Scope::Facade] {
        let allowed = allows_path(scope, path);
        let concrete = expand_templates(path, "1");
        let dir = concrete.strip_suffix('/').filter(|d| !d.is_empty());
        let expected = canonicalize(dir.unwrap_or(&concrete))
            .is_ok_and(|p| check(scope, &Method::GET, &p).is_ok());
        assert_eq!(allowed, expected, "allows_path disagrees with check");
    }

    if let Some(url) = photo
        && let Ok(src) = photo_source(url)
    {
        assert!(
            src.starts_with('/') && !src.starts_with("//"),
            "photo source not a local path"
        );
        let (p, q) = src.split_once('?').unwrap_or((&src, ""));
        assert!(canonicalize(p).is_ok(), "photo source path not canonical");
        assert!(
            !q.split('&')
                .any(|kv| kv.to_ascii_lowercase().starts_with("x-plex-")),
            "photo source kept an X-Plex parameter"
        );
    }
});
