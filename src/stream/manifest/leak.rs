//! Last line of defence for a rewritten manifest: no Plex token may reach the browser, neither
//! by name nor by value.
//!
//! Why: the rewriters remove token parameters from every URI they map, but a manifest is
//! upstream text and can carry a token anywhere else. Looking for the name `X-Plex-Token` alone
//! let a hostile upstream hand the server token to the browser in `EXT-X-SESSION-DATA VALUE`, a
//! path segment and `xPlexToken=`. So [`LeakGuard`] looks for the secret values themselves in
//! every form a browser could turn back into them: as written, behind any mix of
//! percent-encoding (once or twice) and XML character references, and as base64 or base64url
//! (with or without padding, at any byte offset inside a longer encoded run).
//!
//! Must never: hold a secret in a `Debug` string or an error; name more than the form found.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};

use super::{MapUri, RewriteError};

/// The secret values a rewritten manifest must not contain, in every searched form. Built once
/// per manifest response from the tokens plexgate holds for that request.
pub struct LeakGuard {
    needles: Vec<(&'static str, String)>,
}

impl fmt::Debug for LeakGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeakGuard")
            .field("forms", &self.needles.len())
            .finish_non_exhaustive()
    }
}

/// A base64 run shorter than this could occur by chance; such forms are not searched (the raw
/// and decoded forms still are).
const MIN_ENCODED: usize = 8;

impl LeakGuard {
    /// Guards against `secrets` (empty ones are ignored).
    pub fn new(secrets: &[&str]) -> LeakGuard {
        let mut needles: Vec<(&'static str, String)> = Vec::new();
        for secret in secrets.iter().filter(|s| !s.is_empty()) {
            needles.push(("raw", (*secret).to_string()));
            for engine in [STANDARD_NO_PAD, URL_SAFE_NO_PAD] {
                for offset in 0..3 {
                    let core = base64_core(&engine, secret.as_bytes(), offset);
                    if core.len() >= MIN_ENCODED {
                        needles.push(("base64", core));
                    }
                }
            }
        }
        needles.sort();
        needles.dedup_by(|a, b| a.1 == b.1);
        LeakGuard { needles }
    }

    /// The form of a secret found in `text` (`raw`, `base64`, `decoded`), never the secret.
    pub fn find(&self, text: &str) -> Option<&'static str> {
        if let Some(form) = self.search(text) {
            return Some(form);
        }
        // An encoded secret cannot span a quote, a tag bracket or a blank: decode only the
        // pieces between them that hold an escape, so a huge manifest is never copied whole.
        let pieces = text.split(|c: char| c.is_ascii_whitespace() || "\"'<>".contains(c));
        for piece in pieces.filter(|p| p.contains(['%', '&'])) {
            let mut view = xml_unescape(piece);
            for _ in 0..3 {
                if self.search(&view).is_some() {
                    return Some("decoded");
                }
                if !view.contains('%') {
                    break;
                }
                view = percent_decode(&view);
            }
        }
        None
    }

    fn search(&self, text: &str) -> Option<&'static str> {
        self.needles
            .iter()
            .find(|(_, needle)| text.contains(needle.as_str()))
            .map(|(form, _)| *form)
    }
}

/// The part of the base64 of `secret` that does not depend on its neighbours when it starts at
/// byte `offset` (mod 3) of a longer encoded run: the characters that mix in bits of the bytes
/// before or after it are dropped.
fn base64_core(engine: &impl Engine, secret: &[u8], offset: usize) -> String {
    let mut padded = vec![0u8; offset];
    padded.extend_from_slice(secret);
    let encoded = engine.encode(&padded);
    let front = (offset * 8).div_ceil(6);
    let back = usize::from(!padded.len().is_multiple_of(3));
    encoded
        .get(front..encoded.len().saturating_sub(back))
        .unwrap_or_default()
        .to_string()
}

/// `%XX` decoded once; a malformed escape stays as written; a non-ASCII byte becomes `?`
/// (secrets are searched as ASCII).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |j: usize| b.get(j).and_then(|c| (*c as char).to_digit(16));
        let byte = match (b[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(hi), Some(lo)) => {
                i += 3;
                (hi * 16 + lo) as u8
            }
            (c, _, _) => {
                i += 1;
                c
            }
        };
        out.push(if byte.is_ascii() { byte as char } else { '?' });
    }
    out
}

/// XML character references (`&#97;`, `&#x61;`) and the five named entities decoded, as an XML
/// parser (dash.js) would before using an attribute; anything else stays as written.
fn xml_unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let decoded = rest.find(';').filter(|&end| end <= 12).and_then(|end| {
            let name = &rest[1..end];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                _ => name
                    .strip_prefix("#x")
                    .or_else(|| name.strip_prefix("#X"))
                    .map(|h| u32::from_str_radix(h, 16))
                    .or_else(|| name.strip_prefix('#').map(str::parse::<u32>))
                    .and_then(Result::ok)
                    .and_then(char::from_u32),
            };
            c.map(|c| (c, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The name guard both rewriters end with: only an input (or a base URL) that names the token
/// can produce an output that does; both are much smaller than the output, whose session ids
/// are full of dashes.
pub(crate) fn check_token_name<M: MapUri + ?Sized>(
    input: &str,
    mapper: &M,
    output: &str,
) -> Result<(), RewriteError> {
    let leak = mapper.guard_token_leaks()
        && (contains_plex_token(input) || contains_plex_token(mapper.manifest_url().as_str()))
        && contains_plex_token(output);
    if leak {
        Err(RewriteError::TokenLeak)
    } else {
        Ok(())
    }
}

/// Does `text` contain `X-Plex-Token` in any case?
///
/// `str::match_indices` with a `char` pattern is memchr-backed, so this stays cheap on a 1 MB
/// playlist (dashes are rare compared to other bytes).
pub(crate) fn contains_plex_token(text: &str) -> bool {
    const TAIL: &[u8] = b"plex-token";
    let bytes = text.as_bytes();
    text.match_indices('-').any(|(i, _)| {
        i > 0
            && bytes[i - 1].eq_ignore_ascii_case(&b'x')
            && bytes
                .get(i + 1..i + 1 + TAIL.len())
                .is_some_and(|t| t.eq_ignore_ascii_case(TAIL))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};

    const TOKEN: &str = "Zx9-q_Rt7+kP/w3sYb2=";

    fn pct(s: &str) -> String {
        crate::util::percent_encode(s)
    }

    #[test]
    fn finds_the_value_in_every_form_a_browser_could_decode() {
        let guard = LeakGuard::new(&["", "other-secret-0001", TOKEN]);
        let hex_refs: String = TOKEN.bytes().map(|b| format!("&#x{b:x};")).collect();
        let every_byte: String = TOKEN.bytes().map(|b| format!("%{b:02x}")).collect();
        let embedded = STANDARD.encode(format!("user={TOKEN};x"));
        for (place, want) in [
            (
                format!("#EXT-X-SESSION-DATA:DATA-ID=\"a\",VALUE=\"{TOKEN}\""),
                "raw",
            ),
            (format!("/session/{}/0.ts", pct(TOKEN)), "decoded"),
            (format!("0.ts?xPlexToken={}", pct(&pct(TOKEN))), "decoded"),
            (format!("0.ts?t={every_byte}"), "decoded"),
            (format!("<BaseURL>a/{hex_refs}/</BaseURL>"), "decoded"),
            (format!("v=\"{}\"", STANDARD.encode(TOKEN)), "base64"),
            (format!("v={}", URL_SAFE.encode(TOKEN)), "base64"),
            (format!("v={}", URL_SAFE_NO_PAD.encode(TOKEN)), "base64"),
            (format!("v={embedded}"), "base64"),
        ] {
            assert_eq!(guard.find(&place), Some(want), "{place}");
        }
        assert_eq!(guard.find("x other-secret-0001 y"), Some("raw"));
        // Base64 whose `+` was percent-encoded on top.
        let pluses = "??>??>??>??>";
        let encoded = pct(&STANDARD.encode(pluses));
        assert!(encoded.contains("%2B"), "{encoded}");
        assert_eq!(
            LeakGuard::new(&[pluses]).find(&format!("v={encoded}")),
            Some("decoded")
        );
    }

    #[test]
    fn ordinary_manifests_pass_and_debug_hides_the_values() {
        let guard = LeakGuard::new(&[TOKEN]);
        for clean in [
            "#EXTM3U\n#EXTINF:2.0,\n/api/plex/proxy/T/video/0.ts?a=1&b=%20\n",
            "<SegmentTemplate media=\"$Number%05d$.m4s\" initialization=\"a&amp;b\"/>",
            "&#xZZ; &#99999999; & &; %zz %",
            "",
        ] {
            assert_eq!(guard.find(clean), None, "{clean}");
        }
        assert!(!format!("{guard:?}").contains("Zx9"));
        assert_eq!(LeakGuard::new(&[""]).find("anything"), None);
    }

    #[test]
    fn base64_cores_ignore_their_neighbours() {
        for offset in 0..3 {
            let core = base64_core(&STANDARD_NO_PAD, TOKEN.as_bytes(), offset);
            for before in ["", "a", "ab", "abc"] {
                let run = STANDARD.encode(format!("{before}{TOKEN}!?"));
                if before.len() % 3 == offset {
                    assert!(run.contains(&core), "offset {offset} before {before:?}");
                }
            }
        }
    }

    #[test]
    fn token_name_detection_is_case_insensitive() {
        assert!(contains_plex_token("a?x-plex-token=1"));
        assert!(contains_plex_token("#X-PLEX-TOKEN"));
        assert!(contains_plex_token("X-Plex-Token"));
        assert!(!contains_plex_token("X-Plex-Client-Identifier=x"));
        assert!(!contains_plex_token("-plex-token at start"));
        assert!(!contains_plex_token("x-plex-toke"));
    }
}
