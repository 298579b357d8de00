//! Lossless HLS and DASH manifest rewriting (design §3).
//!
//! Why: the browser must never see a Plex token or reach Plex directly. Every URI in a manifest
//! that PMS hands back is therefore resolved against the manifest's upstream URL, checked (same
//! origin, inside the ticket's scope, no path tricks) and rewritten to the proxy form
//! `<proxy prefix><upstream path>[?query without token parameters]`, so the player's next request
//! lands on plexgate's proxy with the ticket in the path.
//!
//! What: [`rewrite_hls`] (line based) and [`rewrite_mpd`] (quick-xml events) copy every byte they
//! do not rewrite verbatim, so an identity mapping is byte-identical and the output is
//! deterministic (stable ETags). [`validate_hls`] and [`validate_mpd`] use m3u8-rs and
//! dash-mpd-core as validators only: their parse→serialize round trip loses data
//! (`reference/crates-and-style.md` §1–§3).
//!
//! This module must never: fetch anything; pass a URI through that resolves to another origin or
//! outside the ticket's scope (the whole manifest fails closed instead); emit a token-looking query
//! parameter; put a token, a query string or a ticket into an error message or a log line.

mod budget;
mod dash;
mod duration;
#[cfg(test)]
mod fuzz_regressions;
mod hls;
mod leak;
mod mapper;
mod uri;
mod xml;

use std::fmt;

pub use budget::MAX_OUTPUT_BYTES;
pub use dash::{rewrite_mpd, validate_mpd};
pub use hls::{MAX_PLAYLIST_LINES, rewrite_hls, validate_hls};
pub use leak::LeakGuard;
pub use mapper::{UriMapper, upstream_path};
pub use uri::expand_templates;

/// Which manifest format a response carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ManifestKind {
    /// An HLS playlist (RFC 8216), master or media.
    Hls,
    /// A DASH media presentation description.
    Dash,
}

impl ManifestKind {
    /// The `Content-Type` plexgate sends for a rewritten manifest of this kind.
    pub fn content_type(self) -> &'static str {
        match self {
            ManifestKind::Hls => "application/vnd.apple.mpegurl",
            ManifestKind::Dash => "application/dash+xml",
        }
    }
}

impl fmt::Display for ManifestKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ManifestKind::Hls => "HLS playlist",
            ManifestKind::Dash => "DASH MPD",
        })
    }
}

/// Decides whether an upstream response is a manifest that must be rewritten.
///
/// A manifest content type wins; PMS labels `start.mpd` inconsistently (even `text/html`), so any
/// other content type falls back to the extension of `path` (`.m3u8`, `.mpd`; a query is ignored).
pub fn kind_of(path: &str, content_type: Option<&str>) -> Option<ManifestKind> {
    if let Some(kind) = content_type.and_then(kind_of_content_type) {
        return Some(kind);
    }
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let file = path.rsplit('/').next().unwrap_or_default();
    let ext = file.rsplit_once('.').map(|(_, ext)| ext)?;
    if ext.eq_ignore_ascii_case("m3u8") {
        Some(ManifestKind::Hls)
    } else if ext.eq_ignore_ascii_case("mpd") {
        Some(ManifestKind::Dash)
    } else {
        None
    }
}

fn kind_of_content_type(content_type: &str) -> Option<ManifestKind> {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    const HLS: [&str; 4] = [
        "application/vnd.apple.mpegurl",
        "application/x-mpegurl",
        "audio/mpegurl",
        "audio/x-mpegurl",
    ];
    if HLS.iter().any(|t| essence.eq_ignore_ascii_case(t)) {
        Some(ManifestKind::Hls)
    } else if essence.eq_ignore_ascii_case("application/dash+xml") {
        Some(ManifestKind::Dash)
    } else {
        None
    }
}

/// Why a manifest could not be rewritten. Every variant means "do not serve this manifest" (502).
///
/// Messages carry only static reasons or an origin (`scheme://host:port`): never a path, a query
/// string, a token or a ticket, so they are safe to log and to return.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RewriteError {
    /// The body is not a playlist / MPD: an HTML error page, a truncated or malformed body.
    #[error("upstream body is not a valid {kind}: {reason}")]
    BadManifest {
        /// The format that was expected.
        kind: ManifestKind,
        /// What is wrong, in static words.
        reason: &'static str,
    },
    /// A URI resolves to another scheme, host or port than the manifest itself.
    #[error("manifest URI points to a foreign origin {origin}")]
    ForeignHost {
        /// `scheme://host[:port]` of the offending URI (no credentials, path or query).
        origin: String,
    },
    /// A URI resolves to a path the ticket does not grant.
    #[error("manifest URI resolves outside the ticket's scope")]
    OutOfScope,
    /// A URI's path is not canonical: `%2f`, `%5c`, a backslash, NUL or control characters,
    /// an empty or dot segment, or double percent-encoding.
    #[error("manifest URI has a forbidden path: {reason}")]
    BadPath {
        /// What is wrong, in static words.
        reason: &'static str,
    },
    /// A URI cannot be parsed or resolved, or carries credentials.
    #[error("manifest URI is invalid: {reason}")]
    BadUri {
        /// What is wrong, in static words.
        reason: &'static str,
    },
    /// The manifest uses a feature whose URIs plexgate cannot check (fails closed).
    #[error("manifest uses an unsupported feature: {reason}")]
    Unsupported {
        /// The feature, in static words.
        reason: &'static str,
    },
    /// The rewritten manifest would still contain `X-Plex-Token` somewhere outside a URI that
    /// was rewritten (a comment, an unknown attribute); last line of defence.
    #[error("rewritten manifest would still carry a Plex token parameter")]
    TokenLeak,
    /// The rewritten manifest contains the value of a token plexgate holds (raw or encoded);
    /// see [`LeakGuard`].
    #[error("the Plex server's manifest contains a secret; it was not served")]
    SecretLeak,
    /// The manifest, or its rewrite, is larger than plexgate handles ([`MAX_OUTPUT_BYTES`]).
    #[error("the manifest is larger than plexgate rewrites")]
    TooLarge,
}

impl RewriteError {
    /// A stable machine-readable code for the error body and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            RewriteError::BadManifest { .. } => "manifest_invalid",
            RewriteError::ForeignHost { .. } => "manifest_foreign_host",
            RewriteError::OutOfScope => "manifest_out_of_scope",
            RewriteError::BadPath { .. } => "manifest_bad_path",
            RewriteError::BadUri { .. } => "manifest_bad_uri",
            RewriteError::Unsupported { .. } => "manifest_unsupported",
            RewriteError::TokenLeak => "manifest_token_leak",
            RewriteError::SecretLeak => "upstream_manifest_leak",
            RewriteError::TooLarge => "upstream_manifest_too_large",
        }
    }
}

/// How the rewriters turn one URI into its output form.
///
/// [`UriMapper`] is the production implementation. The trait exists so that the rewriters' copying
/// can be tested and measured on its own (an identity mapping must give byte-identical output)
/// without giving `UriMapper` a mode that skips its checks.
pub trait MapUri {
    /// The absolute upstream URL of the manifest being rewritten; relative URIs in an HLS
    /// playlist and DASH `Location`/`xlink:href` resolve against it.
    fn manifest_url(&self) -> &url::Url;

    /// Maps `uri` as resolved against `base`.
    fn map(&self, uri: &str, base: &url::Url) -> Result<String, RewriteError>;

    /// [`MapUri::map`], appending to `out` (saves an allocation per URI line). On error `out` may
    /// hold part of the URI; the rewriters then discard their whole output.
    fn map_into(&self, uri: &str, base: &url::Url, out: &mut String) -> Result<(), RewriteError> {
        out.push_str(&self.map(uri, base)?);
        Ok(())
    }

    /// How many bytes mapping a short relative URI typically adds, to size the output once.
    fn growth_hint(&self) -> usize {
        0
    }

    /// Whether the rewriter refuses an output that still contains `X-Plex-Token` anywhere (a
    /// comment, an attribute it does not rewrite). Only a test mapper that deliberately keeps
    /// every URI as it is turns this off.
    fn guard_token_leaks(&self) -> bool {
        true
    }

    /// Maps a DASH segment URL that will be resolved against each of `bases` (a template on an
    /// AdaptationSet inherited by Representations with different BaseURLs).
    ///
    /// The default accepts only a URI whose mapping is the same for every base.
    fn map_shared(&self, uri: &str, bases: &[&url::Url]) -> Result<String, RewriteError> {
        let mut mapped: Option<String> = None;
        for base in bases {
            let one = self.map(uri, base)?;
            match &mapped {
                Some(prev) if *prev != one => {
                    return Err(RewriteError::Unsupported {
                        reason: "segment URL inherited by representations with different BaseURLs",
                    });
                }
                Some(_) => {}
                None => mapped = Some(one),
            }
        }
        match mapped {
            Some(m) => Ok(m),
            None => self.map(uri, self.manifest_url()),
        }
    }
}

/// The frame both rewriters run in: every URI is mapped through a [`budget::Bounded`] mapper,
/// the finished output is checked against the budget and the token-name guard, and on any error
/// nothing of the rejected manifest stays in `out`.
fn rewrite_guarded<M: MapUri + ?Sized>(
    input: &str,
    mapper: &M,
    out: &mut String,
    rewrite: impl FnOnce(&budget::Bounded<'_, M>, &mut String) -> Result<(), RewriteError>,
) -> Result<(), RewriteError> {
    let start = out.len();
    let bounded = budget::Bounded::new(mapper, input.len());
    let result = rewrite(&bounded, out)
        .and_then(|()| bounded.check_total(out.len() - start))
        .and_then(|()| leak::check_token_name(input, mapper, &out[start..]));
    if result.is_err() {
        out.truncate(start);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_of_prefers_manifest_content_types_then_extension() {
        assert_eq!(kind_of("/x/start.m3u8?a=b", None), Some(ManifestKind::Hls));
        assert_eq!(kind_of("/x/START.MPD", None), Some(ManifestKind::Dash));
        assert_eq!(kind_of("/x/00001.ts", None), None);
        assert_eq!(kind_of("/x/header", Some("video/mp4")), None);
        assert_eq!(
            kind_of(
                "/x/start",
                Some("application/vnd.apple.mpegurl; charset=utf-8")
            ),
            Some(ManifestKind::Hls)
        );
        assert_eq!(
            kind_of("/x/a", Some("Audio/X-MpegURL")),
            Some(ManifestKind::Hls)
        );
        assert_eq!(
            kind_of("/x/a", Some("application/dash+xml")),
            Some(ManifestKind::Dash)
        );
        // PMS may label start.mpd text/html: the extension decides.
        assert_eq!(
            kind_of("/video/:/transcode/universal/start.mpd", Some("text/html")),
            Some(ManifestKind::Dash)
        );
        assert_eq!(kind_of("/a.m3u8/b", None), None);
    }

    #[test]
    fn error_messages_carry_no_details_beyond_static_reasons() {
        let e = RewriteError::ForeignHost {
            origin: "http://evil.example".into(),
        };
        assert_eq!(
            e.to_string(),
            "manifest URI points to a foreign origin http://evil.example"
        );
        assert_eq!(e.code(), "manifest_foreign_host");
    }
}
