//! URI pieces shared by the mapper and the proxy inverse: the once-decoded canonical path and the
//! token filter for query strings.
//!
//! The rules match the ticket layer's canonicalisation (`stream::scope`) so that every URI a
//! rewritten manifest carries is one the proxy will accept, with two differences that only
//! manifests need: DASH template identifiers (`$Number%05d$`) are kept opaque instead of being
//! percent-decoded, and a trailing `/` is allowed (DASH BaseURL directories are never requested
//! themselves). Nothing here may log: its inputs can carry tokens.

use std::borrow::Cow;

use super::RewriteError;

fn bad_path(reason: &'static str) -> RewriteError {
    RewriteError::BadPath { reason }
}

/// Decodes an absolute, percent-encoded path once and checks that it is canonical.
///
/// Refused: no leading `/`; `%2f`, `%5c`, `%00` (any case); a raw backslash; a `%` that does not
/// start an escape (outside a DASH template identifier); control characters or invalid UTF-8
/// after decoding; empty segments other than a trailing one; `.` and `..` segments (raw or
/// encoded); anything that still looks percent-encoded after one decode (double encoding).
pub(crate) fn canonical_path(encoded: &str) -> Result<String, RewriteError> {
    let rest = encoded
        .strip_prefix('/')
        .ok_or(bad_path("path is not absolute"))?;
    let bytes = rest.as_bytes();
    // `decoded` is the result; `check` is the same with every template identifier replaced by
    // `0`, so that segment checks see what the player will request and an identifier spelled
    // with escapes (`%24Number%2505d%24`) is not mistaken for a template.
    let mut decoded: Vec<u8> = Vec::with_capacity(encoded.len());
    let mut check: Vec<u8> = Vec::with_capacity(encoded.len());
    decoded.push(b'/');
    let mut seg_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'%' => {
                let hi = bytes.get(i + 1).copied().and_then(hex_val);
                let lo = bytes.get(i + 2).copied().and_then(hex_val);
                let (Some(hi), Some(lo)) = (hi, lo) else {
                    return Err(bad_path("stray '%' in path"));
                };
                let v = hi * 16 + lo;
                match v {
                    b'/' => return Err(bad_path("encoded '/' (%2f) in path")),
                    b'\\' => return Err(bad_path("encoded '\\' (%5c) in path")),
                    0 => return Err(bad_path("encoded NUL in path")),
                    _ => {
                        decoded.push(v);
                        check.push(v);
                    }
                }
                i += 3;
            }
            b'$' => {
                // A DASH template identifier stays as written: its `%0Nd` format tag is not an
                // escape, and the player substitutes it before any request is made.
                let n = template_identifier_len(&bytes[i..]).unwrap_or(1);
                decoded.extend_from_slice(&bytes[i..i + n]);
                check.push(if n == 1 { b'$' } else { b'0' });
                i += n;
            }
            b'\\' => return Err(bad_path("backslash in path")),
            b'/' => {
                check_segment(&check[seg_start..], false)?;
                decoded.push(b'/');
                check.push(b'/');
                seg_start = check.len();
                i += 1;
            }
            _ => {
                decoded.push(b);
                check.push(b);
                i += 1;
            }
        }
    }
    check_segment(&check[seg_start..], true)?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad_path("path is not UTF-8"))?;
    if decoded.chars().any(char::is_control) {
        return Err(bad_path("control character in path"));
    }
    Ok(decoded)
}

fn check_segment(segment: &[u8], last: bool) -> Result<(), RewriteError> {
    match segment {
        b"" if last => Ok(()),
        b"" => Err(bad_path("empty path segment")),
        b"." | b".." => Err(bad_path("dot segment in path")),
        _ if looks_encoded(segment) => Err(bad_path("double percent-encoding in path")),
        _ => Ok(()),
    }
}

/// Does a decoded segment still contain `%XX`?
fn looks_encoded(segment: &[u8]) -> bool {
    segment
        .windows(3)
        .any(|w| w[0] == b'%' && w[1].is_ascii_hexdigit() && w[2].is_ascii_hexdigit())
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Length of a DASH template identifier at the start of `s` (ISO/IEC 23009-1 5.3.9.4.4):
/// `$$`, `$RepresentationID$`, or `$Number$`/`$Time$`/`$Bandwidth$`/`$SubNumber$` with an optional
/// `%0<width>[dxX]` format tag. `None` if `s` does not start with one.
pub(crate) fn template_identifier_len(s: &[u8]) -> Option<usize> {
    if s.first() != Some(&b'$') {
        return None;
    }
    if s.get(1) == Some(&b'$') {
        return Some(2);
    }
    if s[1..].starts_with(b"RepresentationID$") {
        return Some(2 + "RepresentationID".len());
    }
    for name in [&b"Number"[..], b"Time", b"Bandwidth", b"SubNumber"] {
        let Some(rest) = s[1..].strip_prefix(name) else {
            continue;
        };
        if rest.first() == Some(&b'$') {
            return Some(2 + name.len());
        }
        let fmt = rest.strip_prefix(b"%0")?;
        let digits = fmt.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        return match (fmt.get(digits), fmt.get(digits + 1)) {
            (Some(b'd' | b'x' | b'X'), Some(b'$')) => Some(1 + name.len() + 2 + digits + 2),
            _ => None,
        };
    }
    None
}

/// `path` as a player requests it: every DASH template identifier replaced by `value` (`$$` by
/// `$`), so scope checks see a concrete path instead of decoding `%05d` as an escape. Borrowed
/// when there is no `$`.
pub fn expand_templates<'a>(path: &'a str, value: &str) -> Cow<'a, str> {
    if !path.contains('$') {
        return Cow::Borrowed(path);
    }
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' {
            i += 1;
            continue;
        }
        let Some(n) = template_identifier_len(&bytes[i..]) else {
            i += 1;
            continue;
        };
        out.push_str(&path[copied..i]);
        out.push_str(if n == 2 { "$" } else { value });
        i += n;
        copied = i;
    }
    out.push_str(&path[copied..]);
    Cow::Owned(out)
}

/// Is this (once-decoded) query parameter name one plexgate must never forward or emit?
/// `X-Plex-*` covers the token and every client-identity parameter plexgate sets itself.
pub(crate) fn is_token_param(name: &str) -> bool {
    name.eq_ignore_ascii_case("token")
        || name
            .get(..7)
            .is_some_and(|p| p.eq_ignore_ascii_case("x-plex-"))
}

/// Removes token-ish parameters from a raw query string (without `?`), keeping every other byte
/// and the order of what remains. A parameter also goes when its value, decoded once, names
/// `X-Plex-Token` (a nested URL). Returns `None` when nothing is left.
pub(crate) fn filter_query(query: &str) -> Option<Cow<'_, str>> {
    let drop = |pair: &str| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        is_token_param(&lossy_decode(name))
            || super::leak::contains_plex_token(&lossy_decode(value))
    };
    if !query.split('&').any(drop) {
        return (!query.is_empty()).then_some(Cow::Borrowed(query));
    }
    let kept: Vec<&str> = query.split('&').filter(|p| !drop(p)).collect();
    let joined = kept.join("&");
    (!joined.is_empty()).then_some(Cow::Owned(joined))
}

/// Percent- and `+`-decoding for comparisons only (never emitted).
fn lossy_decode(s: &str) -> Cow<'_, str> {
    if !s.contains(['%', '+']) {
        return Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => match (
                bytes.get(i + 1).copied().and_then(hex_val),
                bytes.get(i + 2).copied().and_then(hex_val),
            ) {
                (Some(hi), Some(lo)) => {
                    out.push(hi * 16 + lo);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_path_decodes_once_and_keeps_templates() {
        assert_eq!(
            canonical_path("/video/:/a%20b/c").unwrap(),
            "/video/:/a b/c"
        );
        assert_eq!(
            canonical_path("/s/$RepresentationID$/$Number%05d$.m4s").unwrap(),
            "/s/$RepresentationID$/$Number%05d$.m4s"
        );
        assert_eq!(canonical_path("/s/dir/").unwrap(), "/s/dir/");
        assert_eq!(canonical_path("/s/$Time%010x$").unwrap(), "/s/$Time%010x$");
        assert_eq!(canonical_path("/s/a$b").unwrap(), "/s/a$b");
    }

    #[test]
    fn canonical_path_refuses_tricks() {
        for bad in [
            "rel/x",
            "/a%2fb",
            "/a%2Fb",
            "/a%5cb",
            "/a\\b",
            "/a%00b",
            "/a//b",
            "/a/./b",
            "/a/../b",
            "/a/%2e%2e/b",
            "/a/%252e%252e/b",
            "/a/100%",
            "/a/%zz",
            "/a/%0a",
            "/a/%ff",
            "/s/$Number%2f$",
            "/s/$Number%05d$%2fx",
            "/s/%24Number%2505d%24",
        ] {
            assert!(
                matches!(canonical_path(bad), Err(RewriteError::BadPath { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn template_identifiers() {
        assert_eq!(template_identifier_len(b"$Number$x"), Some(8));
        assert_eq!(template_identifier_len(b"$Number%05d$"), Some(12));
        assert_eq!(template_identifier_len(b"$$"), Some(2));
        assert_eq!(template_identifier_len(b"$RepresentationID$"), Some(18));
        assert_eq!(template_identifier_len(b"$RepresentationID%05d$"), None);
        assert_eq!(template_identifier_len(b"$Number%5d$"), None);
        assert_eq!(template_identifier_len(b"$Number%0d$"), None);
        assert_eq!(template_identifier_len(b"$Other$"), None);
    }

    #[test]
    fn query_filter_drops_token_params_only() {
        assert_eq!(filter_query("a=1&b=2").as_deref(), Some("a=1&b=2"));
        assert_eq!(filter_query("X-Plex-Token=abc").as_deref(), None);
        assert_eq!(
            filter_query("a=1&x-plex-token=abc&X-Plex-Client-Identifier=c&b=$Number$").as_deref(),
            Some("a=1&b=$Number$")
        );
        assert_eq!(
            filter_query("X%2DPlex%2DToken=abc&k=v").as_deref(),
            Some("k=v")
        );
        assert_eq!(
            filter_query("TOKEN=1&tokens=2").as_deref(),
            Some("tokens=2")
        );
        assert_eq!(
            filter_query("url=%2Fphoto%3FX-Plex-Token%3Dabc&w=1").as_deref(),
            Some("w=1")
        );
        assert_eq!(filter_query("").as_deref(), None);
    }
}
