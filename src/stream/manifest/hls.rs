//! Line-based, byte-preserving HLS playlist rewriting, and m3u8-rs as a validator.
//!
//! Why not parse→modify→serialize: m3u8-rs drops LL-HLS tags after the last segment, extra
//! DATERANGEs and comments, corrupts comma titles and writes attributes in random order
//! (`reference/crates-and-style.md` §1). Here every line is copied as found (LF or CRLF, blank
//! lines, comments, unknown tags) and only URIs are replaced: URI lines, `URI="…"` on every
//! `#EXT-X-` tag, DATERANGE `X-ASSET-URI`/`X-ASSET-LIST` and CONTENT-STEERING `SERVER-URI`.
//!
//! This module must never: touch `#EXTINF` lines (titles may hold commas and quotes); let a URI
//! through unmapped (an attribute it cannot parse fails the manifest); emit partial output on
//! error.

use super::{MAX_OUTPUT_BYTES, ManifestKind, MapUri, RewriteError};

/// Most lines of a playlist plexgate validates. m3u8-rs builds about 500 bytes of structure per
/// line (measured: an 8 MiB playlist of one-letter segments peaked at 650 MB), so this bounds
/// validation at about 50 MB; it is 50,000 segments, 28 hours of 2-second segments.
pub const MAX_PLAYLIST_LINES: usize = 100_000;

fn bad(reason: &'static str) -> RewriteError {
    RewriteError::BadManifest {
        kind: ManifestKind::Hls,
        reason,
    }
}

/// Rewrites every URI of the HLS playlist `input` with `mapper` (resolving against
/// [`MapUri::manifest_url`]) and appends the result to `out`.
///
/// On error `out` is left as it was: nothing of a rejected manifest may be served. The output is
/// bounded (see [`super::MAX_OUTPUT_BYTES`]).
pub fn rewrite_hls<M: MapUri + ?Sized>(
    input: &str,
    mapper: &M,
    out: &mut String,
) -> Result<(), RewriteError> {
    super::rewrite_guarded(input, mapper, out, |m, out| rewrite_into(input, m, out))
}

fn rewrite_into<M: MapUri + ?Sized>(
    input: &str,
    mapper: &M,
    out: &mut String,
) -> Result<(), RewriteError> {
    if !input.starts_with("#EXTM3U") {
        return Err(bad("does not start with #EXTM3U"));
    }
    // Most lines of a media playlist are URI lines every other line: size the output once.
    let uri_lines = input.len() / 64;
    out.reserve(
        input
            .len()
            .saturating_add(uri_lines.saturating_mul(mapper.growth_hint()))
            .min(MAX_OUTPUT_BYTES),
    );
    let base = mapper.manifest_url();
    for line in input.split_inclusive('\n') {
        let (content, eol) = split_eol(line);
        if content.starts_with('#') {
            match uri_attributes_of(content) {
                Some(names) => rewrite_tag(content, names, mapper, out)?,
                None => out.push_str(content),
            }
        } else {
            let uri = content.trim_matches([' ', '\t']);
            if uri.is_empty() {
                out.push_str(content);
            } else {
                // Keep surrounding blanks where they were; only the URI itself changes.
                let lead = content.len() - content.trim_start_matches([' ', '\t']).len();
                out.push_str(&content[..lead]);
                check_hls_uri(uri)?;
                mapper.map_into(uri, base, out)?;
                out.push_str(&content[lead + uri.len()..]);
            }
        }
        out.push_str(eol);
    }
    Ok(())
}

fn check_hls_uri(uri: &str) -> Result<(), RewriteError> {
    // `contains(char)` is memchr-fast; the substring test only runs when a `{` is there.
    if uri.contains('{') && uri.contains("{$") {
        // EXT-X-DEFINE variables are substituted by the player after we checked the URI.
        return Err(RewriteError::Unsupported {
            reason: "HLS variable substitution in a URI",
        });
    }
    Ok(())
}

/// Splits a line from its terminator (`\n` or `\r\n`, kept verbatim; none on the last line).
fn split_eol(line: &str) -> (&str, &str) {
    if let Some(c) = line.strip_suffix("\r\n") {
        (c, "\r\n")
    } else if let Some(c) = line.strip_suffix('\n') {
        (c, "\n")
    } else {
        (line, "")
    }
}

type AttrNames = &'static [&'static str];

/// The URI-carrying attribute names of a tag line, or `None` when the line is copied as is.
/// The substring test keeps the common lines (EXTINF, BYTERANGE, …) on the fast path.
fn uri_attributes_of(line: &str) -> Option<AttrNames> {
    let tag = line.strip_prefix("#EXT-X-")?;
    let (name, payload) = tag.split_once(':')?;
    match name {
        "DATERANGE" if payload.contains("X-ASSET-") || payload.contains("URI=") => {
            Some(&["URI", "X-ASSET-URI", "X-ASSET-LIST"])
        }
        "CONTENT-STEERING" if payload.contains("URI=") => Some(&["URI", "SERVER-URI"]),
        _ if payload.contains("URI=") => Some(&["URI"]),
        _ => None,
    }
}

/// Rewrites the named quoted attributes of one tag line; everything else stays byte for byte.
fn rewrite_tag<M: MapUri + ?Sized>(
    line: &str,
    names: AttrNames,
    mapper: &M,
    out: &mut String,
) -> Result<(), RewriteError> {
    // `uri_attributes_of` only matches lines with a `:`.
    let list_start = line.find(':').map_or(line.len(), |i| i + 1);
    let mut copied = 0;
    for attr in AttributeList::new(line, list_start) {
        let attr = attr?;
        if !names.contains(&attr.name) {
            continue;
        }
        if !attr.quoted {
            return Err(bad("URI attribute is not a quoted string"));
        }
        let value = &line[attr.value.clone()];
        check_hls_uri(value)?;
        let mapped = mapper.map(value, mapper.manifest_url())?;
        if mapped.contains(['"', '\r', '\n']) {
            return Err(RewriteError::BadUri {
                reason: "mapped URI cannot be quoted",
            });
        }
        out.push_str(&line[copied..attr.value.start]);
        out.push_str(&mapped);
        copied = attr.value.end;
    }
    out.push_str(&line[copied..]);
    Ok(())
}

/// One `NAME=value` of an attribute list; `value` excludes the quotes of a quoted string.
struct Attribute<'a> {
    name: &'a str,
    value: std::ops::Range<usize>,
    quoted: bool,
}

/// A quote-aware scanner over an HLS attribute list (RFC 8216 §4.2): commas inside quoted strings
/// do not split. Blanks around names are tolerated because some servers write `, `.
struct AttributeList<'a> {
    line: &'a str,
    pos: usize,
    failed: bool,
}

impl<'a> AttributeList<'a> {
    fn new(line: &'a str, start: usize) -> Self {
        AttributeList {
            line,
            pos: start,
            failed: false,
        }
    }

    fn next_attr(&mut self) -> Result<Option<Attribute<'a>>, RewriteError> {
        let bytes = self.line.as_bytes();
        while self.pos < bytes.len() && bytes[self.pos] == b' ' {
            self.pos += 1;
        }
        if self.pos >= bytes.len() {
            return Ok(None);
        }
        let rest = &self.line[self.pos..];
        let eq = rest.find('=').ok_or(bad("attribute without '='"))?;
        let name = rest[..eq].trim_matches(' ');
        if name.is_empty() || name.contains([',', '"']) {
            return Err(bad("malformed attribute name"));
        }
        let mut pos = self.pos + eq + 1;
        let (value, quoted) = if bytes.get(pos) == Some(&b'"') {
            let open = pos + 1;
            let close = self.line[open..]
                .find('"')
                .map(|i| open + i)
                .ok_or(bad("unterminated quoted string"))?;
            pos = close + 1;
            (open..close, true)
        } else {
            let end = self.line[pos..].find(',').map_or(bytes.len(), |i| pos + i);
            let value = pos..end;
            pos = end;
            (value, false)
        };
        while pos < bytes.len() && bytes[pos] == b' ' {
            pos += 1;
        }
        match bytes.get(pos) {
            None => {}
            Some(b',') => pos += 1,
            Some(_) => return Err(bad("garbage after attribute value")),
        }
        self.pos = pos;
        Ok(Some(Attribute {
            name,
            value,
            quoted,
        }))
    }
}

impl<'a> Iterator for AttributeList<'a> {
    type Item = Result<Attribute<'a>, RewriteError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let next = self.next_attr().transpose();
        self.failed = matches!(next, Some(Err(_)));
        next
    }
}

/// Checks that an upstream body is an HLS playlist before it is rewritten: UTF-8, starts with
/// `#EXTM3U`, parses with m3u8-rs, and shows no sign of truncation (a tag line with an open quote,
/// an `#EXTINF`/`#EXT-X-STREAM-INF` with no URI after it, a VOD playlist without
/// `#EXT-X-ENDLIST`).
///
/// The error never quotes the body (m3u8-rs errors would echo it, tokens included). A playlist
/// of more than [`MAX_PLAYLIST_LINES`] lines is [`RewriteError::TooLarge`].
pub fn validate_hls(input: &[u8]) -> Result<(), RewriteError> {
    let text = std::str::from_utf8(input).map_err(|_| bad("not UTF-8"))?;
    if !text.starts_with("#EXTM3U") {
        return Err(bad("does not start with #EXTM3U"));
    }
    if text.bytes().filter(|&b| b == b'\n').count() > MAX_PLAYLIST_LINES {
        return Err(RewriteError::TooLarge);
    }
    m3u8_rs::parse_playlist_res(input).map_err(|_| bad("m3u8 parser rejected it"))?;
    let mut pending_uri = false;
    let mut vod = false;
    let mut endlist = false;
    for line in text.lines() {
        let line = line.trim_end_matches([' ', '\t', '\r']);
        if let Some(tag) = line.strip_prefix('#') {
            // EXTINF titles are free text; every other EXT tag holds an attribute list.
            let free_text = tag.starts_with("EXTINF");
            if tag.starts_with("EXT")
                && !free_text
                && tag.bytes().filter(|&b| b == b'"').count() % 2 == 1
            {
                return Err(bad("unterminated quoted string (truncated?)"));
            }
            if tag.starts_with("EXTINF:") || tag.starts_with("EXT-X-STREAM-INF:") {
                pending_uri = true;
            } else if tag == "EXT-X-PLAYLIST-TYPE:VOD" {
                vod = true;
            } else if tag == "EXT-X-ENDLIST" {
                endlist = true;
            }
        } else if !line.trim_start().is_empty() {
            pending_uri = false;
        }
    }
    if pending_uri {
        return Err(bad("tag without its URI at the end (truncated?)"));
    }
    if vod && !endlist {
        return Err(bad("VOD playlist without #EXT-X-ENDLIST (truncated?)"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use url::Url;

    /// Maps `u` to `<u>` so that tests see exactly which spans were treated as URIs.
    struct Brackets(Url);

    impl MapUri for Brackets {
        fn manifest_url(&self) -> &Url {
            &self.0
        }
        fn map(&self, uri: &str, _base: &Url) -> Result<String, RewriteError> {
            Ok(format!("<{uri}>"))
        }
    }

    fn brackets(input: &str) -> Result<String, RewriteError> {
        let m = Brackets(Url::parse("http://pms.test:32400/a/start.m3u8").unwrap());
        let mut out = String::from("keep:");
        rewrite_hls(input, &m, &mut out).map(|()| out)
    }

    #[test]
    fn rewrites_uri_lines_and_uri_attributes_only() {
        let input = "#EXTM3U\r\n#EXTINF:6.0,title, with \"URI=x\"\r\nseg.ts\r\n\r\n# c URI=\"x\"\r\n\
            #EXT-X-KEY:METHOD=AES-128,URI=\"k,1.key\",IV=0x1\r\n  spaced.ts \r\n\
            #EXT-X-DATERANGE:ID=\"a\",START-DATE=\"2024-01-01T00:00:00Z\",X-ASSET-URI=\"i.m3u8\",X-ASSET-LIST=\"l.json\",X-OTHER-URI=\"o\"\r\n\
            #EXT-X-CONTENT-STEERING:SERVER-URI=\"s.json\",PATHWAY-ID=\"p\"\r\n\
            #EXT-X-PLEX-FOO:A=\"1,2\", URI=\"v\"\r\n#EXT-X-ENDLIST";
        let want = "keep:#EXTM3U\r\n#EXTINF:6.0,title, with \"URI=x\"\r\n<seg.ts>\r\n\r\n# c URI=\"x\"\r\n\
            #EXT-X-KEY:METHOD=AES-128,URI=\"<k,1.key>\",IV=0x1\r\n  <spaced.ts> \r\n\
            #EXT-X-DATERANGE:ID=\"a\",START-DATE=\"2024-01-01T00:00:00Z\",X-ASSET-URI=\"<i.m3u8>\",X-ASSET-LIST=\"<l.json>\",X-OTHER-URI=\"o\"\r\n\
            #EXT-X-CONTENT-STEERING:SERVER-URI=\"<s.json>\",PATHWAY-ID=\"p\"\r\n\
            #EXT-X-PLEX-FOO:A=\"1,2\", URI=\"<v>\"\r\n#EXT-X-ENDLIST";
        assert_eq!(brackets(input).unwrap(), want);
    }

    #[test]
    fn fails_closed_on_unparseable_uri_attributes() {
        for input in [
            "#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI=\"k.key\n",
            "#EXTM3U\n#EXT-X-MAP:URI=init.mp4\n",
            "#EXTM3U\n#EXT-X-MAP:URI=\"a\"x\n",
            "#EXTM3U\n#EXT-X-PLEX:junk,URI=\"a\"\n",
        ] {
            let err = brackets(input).unwrap_err();
            assert!(
                matches!(err, RewriteError::BadManifest { .. }),
                "{input:?}: {err:?}"
            );
        }
        assert!(matches!(
            brackets("<html>"),
            Err(RewriteError::BadManifest { .. })
        ));
        assert!(matches!(
            brackets("#EXTM3U\n#EXT-X-DEFINE:NAME=\"v\",VALUE=\"x\"\n{$v}/seg.ts\n"),
            Err(RewriteError::Unsupported { .. })
        ));
    }

    #[test]
    fn errors_leave_output_untouched_and_token_guard_fires() {
        let m = Brackets(Url::parse("http://pms.test:32400/a/start.m3u8").unwrap());
        let mut out = String::from("before");
        let err = rewrite_hls("#EXTM3U\n# X-Plex-Token=abc\nseg.ts\n", &m, &mut out).unwrap_err();
        assert_eq!(err, RewriteError::TokenLeak);
        assert_eq!(out, "before");
    }

    #[test]
    fn validate_refuses_more_lines_than_the_limit_before_parsing() {
        let mut long = String::from("#EXTM3U\n");
        for _ in 0..MAX_PLAYLIST_LINES / 2 + 1 {
            long.push_str("#EXTINF:1,\na\n");
        }
        assert_eq!(validate_hls(long.as_bytes()), Err(RewriteError::TooLarge));
    }

    #[test]
    fn validate_rejects_html_and_truncation() {
        let good = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXTINF:2,\na.ts\n#EXT-X-ENDLIST\n";
        validate_hls(good.as_bytes()).unwrap();
        for bad_body in [
            "<html><body>404 Not Found</body></html>",
            "",
            "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXTINF:2,\na.ts\n",
            "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\na.ts\n#EXTINF:2,\n",
            "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n",
            "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-KEY:METHOD=AES-128,URI=\"k",
        ] {
            assert!(
                matches!(
                    validate_hls(bad_body.as_bytes()),
                    Err(RewriteError::BadManifest { .. })
                ),
                "{bad_body:?}"
            );
        }
        assert!(validate_hls(b"#EXTM3U\n\xff\n").is_err());
    }
}
