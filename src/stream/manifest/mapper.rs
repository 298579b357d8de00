//! [`UriMapper`]: one manifest URI in, its checked proxy form out; and [`upstream_path`], the
//! inverse the proxy applies to a request.
//!
//! Why: the proxy form is simply `<proxy prefix><upstream path>[?query]`, so the ticket travels in
//! the path and a relative URI resolved by the player keeps it (design §2). All the security of
//! the rewrite lives here: same origin as the manifest, canonical path inside the ticket's scope,
//! no token parameters.
//!
//! This module must never: return a URI it has not resolved and checked (except `data:` and
//! `skd:`, which are not fetched over HTTP); log anything (URIs may carry tokens); put a path,
//! query or the proxy prefix (it contains the ticket) into an error or a `Debug` string.

use std::fmt;

use url::Url;

use super::uri::{canonical_path, filter_query};
use super::{MapUri, RewriteError};

type ScopeFn = dyn Fn(&str) -> bool + Send + Sync + 'static;

/// Resolves and checks manifest URIs and maps them to the proxy form. Built per manifest response.
pub struct UriMapper {
    manifest_url: Url,
    origin: url::Origin,
    prefix: String,
    in_scope: Box<ScopeFn>,
    /// The manifest's directory, encoded and decoded, when it is canonical: the fast path for
    /// plain relative URIs (`00042.ts`), which are nearly all of a 10k-segment playlist.
    manifest_dir: Option<(String, String)>,
}

impl fmt::Debug for UriMapper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The manifest query may carry a token and the prefix carries the ticket.
        f.debug_struct("UriMapper")
            .field("origin", &self.origin.ascii_serialization())
            .field("manifest_path", &self.manifest_url.path())
            .finish_non_exhaustive()
    }
}

impl UriMapper {
    /// `manifest_url`: the absolute upstream URL of the manifest being rewritten (e.g.
    /// `http://127.0.0.1:32400/video/:/transcode/universal/start.m3u8?session=x`; PMS paths contain
    /// `:`). Every URI must resolve to its origin.
    ///
    /// `proxy_prefix`: e.g. `/plexgate/api/plex/proxy/<ticket>`; a trailing `/` is ignored.
    ///
    /// `in_scope`: a predicate over the resolved upstream path, decoded once and canonical
    /// (e.g. `/video/:/transcode/universal/session/abc/base/index.m3u8`; DASH template identifiers
    /// such as `$Number%05d$` appear as written).
    pub fn new(
        manifest_url: &Url,
        proxy_prefix: &str,
        in_scope: impl Fn(&str) -> bool + Send + Sync + 'static,
    ) -> Self {
        let path = manifest_url.path();
        let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
        let manifest_dir = canonical_path(dir)
            .ok()
            .filter(|_| manifest_url.username().is_empty() && manifest_url.password().is_none())
            .map(|decoded| (dir.to_owned(), decoded));
        UriMapper {
            origin: manifest_url.origin(),
            manifest_url: manifest_url.clone(),
            prefix: proxy_prefix.trim_end_matches('/').to_owned(),
            in_scope: Box::new(in_scope),
            manifest_dir,
        }
    }

    /// The manifest's upstream URL.
    pub fn manifest_url(&self) -> &Url {
        &self.manifest_url
    }

    /// Resolves `uri` (relative, absolute-path or absolute same-origin URL) against `base` (the
    /// manifest URL, or for DASH the effective BaseURL chain), checks origin, path and scope,
    /// strips token-ish query parameters (`X-Plex-*` in any case, `token`) and any fragment, and
    /// returns `proxy_prefix + path [+ "?" + remaining query]`.
    ///
    /// `data:` and `skd:` URIs are returned untouched. DASH template identifiers (`$Number$`,
    /// `$RepresentationID$`, `$Number%05d$`, `$Time$`, `$Bandwidth$`) survive untouched.
    pub fn map(&self, uri: &str, base: &Url) -> Result<String, RewriteError> {
        let mut out = String::new();
        self.map_into(uri, base, &mut out)?;
        Ok(out)
    }

    /// [`UriMapper::map`], appending to `out`; on error `out` may hold part of the URI.
    pub fn map_into(&self, uri: &str, base: &Url, out: &mut String) -> Result<(), RewriteError> {
        let Some((dir, decoded_dir)) = self.plain_relative(uri, base) else {
            out.push_str(&self.map_slow(uri, base)?);
            return Ok(());
        };
        // Resolving a plain relative path is appending it to the directory, and it needs no
        // decoding; the URL parser is skipped (nearly every line of a 10k-segment playlist).
        let result = if self.in_scope_joined(decoded_dir, uri) {
            out.reserve(self.prefix.len() + dir.len() + uri.len());
            out.push_str(&self.prefix);
            out.push_str(dir);
            out.push_str(uri);
            Ok(())
        } else {
            Err(RewriteError::OutOfScope)
        };
        #[cfg(debug_assertions)]
        {
            let fast = result
                .clone()
                .map(|()| format!("{}{dir}{uri}", self.prefix));
            debug_assert_eq!(fast, self.map_slow(uri, base), "fast path for {uri}");
        }
        result
    }

    fn map_slow(&self, uri: &str, base: &Url) -> Result<String, RewriteError> {
        if is_passthrough(uri) {
            return Ok(uri.to_owned());
        }
        let resolved = self.resolve(uri, base)?;
        Ok(self.proxy_form(&resolved))
    }

    /// The manifest directory (encoded, decoded) when `uri` is a relative path of unreserved
    /// characters without dot segments (`00042.ts`, `base/header`) and `base` is the manifest.
    fn plain_relative(&self, uri: &str, base: &Url) -> Option<(&str, &str)> {
        let (dir, decoded_dir) = self.manifest_dir.as_ref()?;
        let plain = !uri.is_empty()
            && uri.split('/').all(|seg| {
                !seg.is_empty()
                    && seg != "."
                    && seg != ".."
                    && seg.bytes().all(|b| {
                        b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
                    })
            });
        let same_base = std::ptr::eq(base, &self.manifest_url) || *base == self.manifest_url;
        (plain && same_base).then_some((dir.as_str(), decoded_dir.as_str()))
    }

    /// `in_scope(a + b)` without allocating for the usual short paths.
    fn in_scope_joined(&self, a: &str, b: &str) -> bool {
        let mut buf = [0u8; 512];
        let n = a.len() + b.len();
        if n > buf.len() {
            return (self.in_scope)(&format!("{a}{b}"));
        }
        buf[..a.len()].copy_from_slice(a.as_bytes());
        buf[a.len()..n].copy_from_slice(b.as_bytes());
        std::str::from_utf8(&buf[..n]).is_ok_and(|joined| (self.in_scope)(joined))
    }

    /// Resolves and checks `uri` against `base`; the checked upstream URL (token parameters
    /// still in its query).
    fn resolve(&self, uri: &str, base: &Url) -> Result<Url, RewriteError> {
        check_raw(uri)?;
        let resolved = base.join(uri).map_err(|_| RewriteError::BadUri {
            reason: "not a valid URI reference",
        })?;
        // Compare the parts, not `Url::origin` alone: `blob:http://pms/…` has the origin of its
        // inner URL but is not a request to it.
        let same_origin = resolved.scheme() == self.manifest_url.scheme()
            && resolved.host() == self.manifest_url.host()
            && resolved.port_or_known_default() == self.manifest_url.port_or_known_default();
        if !same_origin {
            let origin = resolved.origin();
            let origin = if origin.is_tuple() {
                origin.ascii_serialization()
            } else {
                format!("{}:", resolved.scheme())
            };
            return Err(RewriteError::ForeignHost { origin });
        }
        if !resolved.username().is_empty() || resolved.password().is_some() {
            return Err(RewriteError::BadUri {
                reason: "credentials in URI",
            });
        }
        let path = canonical_path(resolved.path())?;
        if !(self.in_scope)(&path) {
            return Err(RewriteError::OutOfScope);
        }
        Ok(resolved)
    }

    fn proxy_form(&self, resolved: &Url) -> String {
        let path = resolved.path();
        let query = resolved.query().and_then(filter_query);
        let mut out = String::with_capacity(
            self.prefix.len() + path.len() + query.as_ref().map_or(0, |q| q.len() + 1),
        );
        out.push_str(&self.prefix);
        out.push_str(path);
        if let Some(q) = query {
            out.push('?');
            out.push_str(&q);
        }
        out
    }

    /// See [`MapUri::map_shared`]. When the bases disagree, a relative-path reference may stay
    /// relative: it is accepted only if, for every base, resolving it against that base's proxy
    /// form gives exactly the proxy form of resolving it upstream.
    pub fn map_shared(&self, uri: &str, bases: &[&Url]) -> Result<String, RewriteError> {
        let Some((first, others)) = bases.split_first() else {
            return self.map(uri, &self.manifest_url);
        };
        let mapped = self.map(uri, first)?;
        let mut all_same = true;
        for base in others {
            all_same &= self.map(uri, base)? == mapped;
        }
        if all_same {
            return Ok(mapped);
        }
        let unsupported = RewriteError::Unsupported {
            reason: "segment URL inherited by representations with different BaseURLs",
        };
        if uri.starts_with('/') || uri.contains(':') || uri.contains('#') {
            return Err(unsupported);
        }
        let proxy_root = Url::parse("http://proxy.invalid/").map_err(|_| unsupported.clone())?;
        for base in bases {
            let upstream = self.resolve(uri, base)?;
            let proxy_base = proxy_root
                .join(&self.proxy_form(base))
                .map_err(|_| unsupported.clone())?;
            let via_proxy = proxy_base.join(uri).map_err(|_| unsupported.clone())?;
            let expected = proxy_root
                .join(&self.proxy_form(&upstream))
                .map_err(|_| unsupported.clone())?;
            if via_proxy.path() != expected.path() {
                return Err(unsupported);
            }
        }
        // Same reference, only token parameters removed from its query.
        Ok(match uri.split_once('?') {
            Some((path, query)) => match filter_query(query) {
                Some(q) => format!("{path}?{q}"),
                None => path.to_owned(),
            },
            None => uri.to_owned(),
        })
    }
}

impl MapUri for UriMapper {
    fn manifest_url(&self) -> &Url {
        &self.manifest_url
    }

    fn map(&self, uri: &str, base: &Url) -> Result<String, RewriteError> {
        UriMapper::map(self, uri, base)
    }

    fn map_into(&self, uri: &str, base: &Url, out: &mut String) -> Result<(), RewriteError> {
        UriMapper::map_into(self, uri, base, out)
    }

    fn growth_hint(&self) -> usize {
        self.prefix.len() + self.manifest_dir.as_ref().map_or(0, |(dir, _)| dir.len())
    }

    fn map_shared(&self, uri: &str, bases: &[&Url]) -> Result<String, RewriteError> {
        UriMapper::map_shared(self, uri, bases)
    }
}

/// URIs that are not fetched from the origin and must stay as they are: inline `data:` and
/// FairPlay `skd:` key URIs.
fn is_passthrough(uri: &str) -> bool {
    let scheme = uri.split_once(':').map(|(s, _)| s).unwrap_or_default();
    scheme.eq_ignore_ascii_case("data") || scheme.eq_ignore_ascii_case("skd")
}

/// Refuses what the URL parser would silently "fix": it drops tabs and newlines and reads `\` as
/// `/`, so `a\..\..\b` would otherwise escape.
fn check_raw(uri: &str) -> Result<(), RewriteError> {
    if uri.is_empty() {
        return Err(RewriteError::BadUri {
            reason: "empty URI",
        });
    }
    if uri.contains('\\') {
        return Err(RewriteError::BadPath {
            reason: "backslash in URI",
        });
    }
    if uri.chars().any(char::is_control) {
        return Err(RewriteError::BadPath {
            reason: "control character in URI",
        });
    }
    Ok(())
}

/// The inverse of the proxy form: what follows the proxy prefix in a request target
/// (`/video/:/transcode/universal/session/abc/base/00001.ts?x=1`) → the upstream path and query.
///
/// The proxy form is the upstream path itself, so this is nearly the identity; it still refuses a
/// non-canonical path (same rules as [`UriMapper::map`]; a trailing `/` is refused too, nothing
/// under a ticket is a directory) and drops token-ish query parameters the browser may add.
/// Scope is the ticket layer's business.
pub fn upstream_path(proxy_rest: &str) -> Result<String, RewriteError> {
    if proxy_rest.contains('#') {
        return Err(RewriteError::BadUri {
            reason: "fragment in request target",
        });
    }
    check_raw(proxy_rest)?;
    let (path, query) = match proxy_rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (proxy_rest, None),
    };
    canonical_path(path)?;
    if path.ends_with('/') {
        return Err(RewriteError::BadPath {
            reason: "empty path segment",
        });
    }
    let mut out = String::with_capacity(proxy_rest.len());
    out.push_str(path);
    if let Some(q) = query.and_then(filter_query) {
        out.push('?');
        out.push_str(&q);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = "http://127.0.0.1:32400/video/:/transcode/universal/start.m3u8?session=abc&X-Plex-Token=t0k";
    const PREFIX: &str = "/plexgate/api/plex/proxy/TICKET";

    fn mapper() -> UriMapper {
        let url = Url::parse(MANIFEST).unwrap();
        UriMapper::new(&url, PREFIX, |p| {
            p.starts_with("/video/:/transcode/universal/session/abc/")
        })
    }

    fn map(uri: &str) -> Result<String, RewriteError> {
        let m = mapper();
        m.map(uri, m.manifest_url())
    }

    #[test]
    fn maps_relative_absolute_path_and_same_origin_urls() {
        let want = format!("{PREFIX}/video/:/transcode/universal/session/abc/base/index.m3u8");
        assert_eq!(map("session/abc/base/index.m3u8").unwrap(), want);
        assert_eq!(
            map("/video/:/transcode/universal/session/abc/base/index.m3u8").unwrap(),
            want
        );
        assert_eq!(
            map("http://127.0.0.1:32400/video/:/transcode/universal/session/abc/base/index.m3u8")
                .unwrap(),
            want
        );
        assert_eq!(
            map("HTTP://127.0.0.1:32400/video/:/transcode/universal/session/abc/base/index.m3u8")
                .unwrap(),
            want
        );
        assert_eq!(
            map("session/abc/base/../vtt/index.m3u8").unwrap(),
            format!("{PREFIX}/video/:/transcode/universal/session/abc/vtt/index.m3u8")
        );
    }

    #[test]
    fn strips_token_params_and_fragments_but_keeps_the_rest() {
        assert_eq!(
            map("session/abc/k.key?X-Plex-Token=t0k&a=1&x-plex-client-identifier=c#frag").unwrap(),
            format!("{PREFIX}/video/:/transcode/universal/session/abc/k.key?a=1")
        );
        assert_eq!(
            map("session/abc/k.key?token=t0k").unwrap(),
            format!("{PREFIX}/video/:/transcode/universal/session/abc/k.key")
        );
    }

    #[test]
    fn keeps_dash_templates() {
        assert_eq!(
            map("session/abc/$RepresentationID$/$Number%05d$.m4s?t=$Time$&b=$Bandwidth$").unwrap(),
            format!(
                "{PREFIX}/video/:/transcode/universal/session/abc/$RepresentationID$/$Number%05d$.m4s?t=$Time$&b=$Bandwidth$"
            )
        );
    }

    #[test]
    fn passes_data_and_skd_untouched() {
        assert_eq!(
            map("data:text/plain;base64,AAAA").unwrap(),
            "data:text/plain;base64,AAAA"
        );
        assert_eq!(map("skd://key-id-1").unwrap(), "skd://key-id-1");
        assert_eq!(map("SKD://key").unwrap(), "SKD://key");
    }

    #[test]
    fn refuses_foreign_origins() {
        for uri in [
            "http://evil.example/video/:/transcode/universal/session/abc/x",
            "//evil.example/x",
            "https://127.0.0.1:32400/video/:/transcode/universal/session/abc/x",
            "http://127.0.0.1:32401/video/:/transcode/universal/session/abc/x",
            "http://127.0.0.1/video/:/transcode/universal/session/abc/x",
            "blob:http://127.0.0.1:32400/x",
        ] {
            let err = map(uri).unwrap_err();
            assert!(
                matches!(err, RewriteError::ForeignHost { .. }),
                "{uri}: {err:?}"
            );
        }
        let err = map("http://evil.example/a?X-Plex-Token=t0k").unwrap_err();
        assert!(!err.to_string().contains("t0k") && !err.to_string().contains("/a"));
    }

    #[test]
    fn refuses_scope_escapes_and_bad_paths() {
        for uri in [
            "../x",
            "session/abc/../../x",
            "session/abc/%2e%2e/%2E%2E/x",
            "session/other/x",
            "/library/sections",
        ] {
            assert_eq!(map(uri).unwrap_err(), RewriteError::OutOfScope, "{uri}");
        }
        for uri in [
            "session/abc/a%2fb",
            "session/abc/a%5Cb",
            "session/abc/a\\b",
            "session/abc/a\u{0}b",
            "session/abc/a\tb",
            "session/abc//b",
            "session/abc/%252e%252e/x",
        ] {
            assert!(
                matches!(map(uri), Err(RewriteError::BadPath { .. })),
                "{uri:?}"
            );
        }
        assert!(matches!(
            map("http://u:p@127.0.0.1:32400/video/:/transcode/universal/session/abc/x"),
            Err(RewriteError::BadUri { .. })
        ));
        assert!(matches!(map(""), Err(RewriteError::BadUri { .. })));
    }

    #[test]
    fn debug_hides_ticket_and_query() {
        let dbg = format!("{:?}", mapper());
        assert!(!dbg.contains("TICKET") && !dbg.contains("t0k") && !dbg.contains("session=abc"));
    }

    #[test]
    fn upstream_path_inverts_the_proxy_form() {
        let m = mapper();
        for uri in [
            "session/abc/base/index.m3u8",
            "session/abc/k.key?a=1&X-Plex-Token=t0k",
        ] {
            let proxied = m.map(uri, m.manifest_url()).unwrap();
            let rest = proxied.strip_prefix(PREFIX).unwrap();
            let upstream = upstream_path(rest).unwrap();
            let original = m.manifest_url().join(uri).unwrap();
            let mut want = original.path().to_owned();
            if let Some(q) = original.query().and_then(filter_query) {
                want = format!("{want}?{q}");
            }
            assert_eq!(upstream, want);
        }
        assert_eq!(
            upstream_path("/a/b?X-Plex-Token=x&c=d").unwrap(),
            "/a/b?c=d"
        );
        assert_eq!(upstream_path("/a/b?X-Plex-Token=x").unwrap(), "/a/b");
        for bad in [
            "a/b", "/a/../b", "/a/%2fb", "/a//b", "/a/b/", "/a#f", "/a/\\b", "/a/%00",
        ] {
            assert!(upstream_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn map_shared_keeps_relative_references_only_when_exact() {
        let m = mapper();
        let a = m.manifest_url().join("session/abc/720/").unwrap();
        let b = m.manifest_url().join("session/abc/1080/").unwrap();
        assert_eq!(
            m.map_shared("$Number$.m4s?X-Plex-Token=t&n=1", &[&a, &b])
                .unwrap(),
            "$Number$.m4s?n=1"
        );
        // Same absolute target from every base: the absolute proxy form.
        assert_eq!(
            m.map_shared("/video/:/transcode/universal/session/abc/x.m4s", &[&a, &b])
                .unwrap(),
            format!("{PREFIX}/video/:/transcode/universal/session/abc/x.m4s")
        );
        assert!(m.map_shared("../../x.m4s", &[&a, &b]).is_err());
    }
}
