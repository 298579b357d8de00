//! Small XML helpers for the MPD rewriter: attribute spans inside a raw start tag, entity
//! (un)escaping and reading the text of a URL element.
//!
//! Why our own attribute scanner: to replace one attribute value in place, we need where it
//! sits in the original bytes; quick-xml only hands out values. Splicing keeps attribute order,
//! quotes and line breaks of the tag exactly as PMS wrote them.

use std::borrow::Cow;
use std::ops::Range;

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::Event;
use quick_xml::reader::Reader;

use super::{ManifestKind, RewriteError};

pub(crate) fn bad(reason: &'static str) -> RewriteError {
    RewriteError::BadManifest {
        kind: ManifestKind::Dash,
        reason,
    }
}

/// XML whitespace (S production).
pub(crate) const XML_WS: [char; 4] = [' ', '\t', '\r', '\n'];

/// One attribute of a raw start tag; `value` is the span inside the quotes.
#[derive(Debug)]
pub(crate) struct RawAttr<'a> {
    pub(crate) name: &'a str,
    pub(crate) value: Range<usize>,
}

/// Iterates the attributes of a raw start tag `<name a="1" b='2'/>` with their value spans.
pub(crate) fn raw_attributes(tag: &str) -> RawAttrs<'_> {
    let bytes = tag.as_bytes();
    let mut pos = usize::from(bytes.first() == Some(&b'<'));
    while pos < bytes.len() && !is_ws(bytes[pos]) && bytes[pos] != b'/' && bytes[pos] != b'>' {
        pos += 1;
    }
    RawAttrs {
        tag,
        pos,
        done: false,
    }
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// See [`raw_attributes`].
#[derive(Debug)]
pub(crate) struct RawAttrs<'a> {
    tag: &'a str,
    pos: usize,
    done: bool,
}

impl<'a> RawAttrs<'a> {
    fn next_attr(&mut self) -> Result<Option<RawAttr<'a>>, RewriteError> {
        let bytes = self.tag.as_bytes();
        let mut pos = self.pos;
        while pos < bytes.len() && is_ws(bytes[pos]) {
            pos += 1;
        }
        if pos >= bytes.len() || bytes[pos] == b'/' || bytes[pos] == b'>' {
            return Ok(None);
        }
        let name_start = pos;
        while pos < bytes.len() && !is_ws(bytes[pos]) && bytes[pos] != b'=' {
            pos += 1;
        }
        let name = &self.tag[name_start..pos];
        while pos < bytes.len() && is_ws(bytes[pos]) {
            pos += 1;
        }
        if bytes.get(pos) != Some(&b'=') {
            return Err(bad("attribute without value"));
        }
        pos += 1;
        while pos < bytes.len() && is_ws(bytes[pos]) {
            pos += 1;
        }
        let quote = match bytes.get(pos) {
            Some(&q @ (b'"' | b'\'')) => q,
            _ => return Err(bad("unquoted attribute value")),
        };
        let open = pos + 1;
        let close = bytes[open..]
            .iter()
            .position(|&b| b == quote)
            .map(|i| open + i)
            .ok_or(bad("unterminated attribute value"))?;
        self.pos = close + 1;
        Ok(Some(RawAttr {
            name,
            value: open..close,
        }))
    }
}

impl<'a> Iterator for RawAttrs<'a> {
    type Item = Result<RawAttr<'a>, RewriteError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = self.next_attr().transpose();
        self.done = !matches!(next, Some(Ok(_)));
        next
    }
}

/// Resolves the predefined entities and character references of an attribute value or text.
pub(crate) fn unescape(raw: &str) -> Result<Cow<'_, str>, RewriteError> {
    quick_xml::escape::unescape(raw).map_err(|_| bad("unknown entity or bad character reference"))
}

/// Escapes a value for an attribute: `&`, `<`, `>` and both quotes, so the original delimiter
/// can stay whatever it was.
pub(crate) fn escape_attr(value: &str) -> Cow<'_, str> {
    quick_xml::escape::escape(value)
}

/// Escapes a value for element text.
pub(crate) fn escape_text(value: &str) -> Cow<'_, str> {
    quick_xml::escape::partial_escape(value)
}

/// Reads the text content of the element whose start tag was just read, up to and including its
/// end tag. Returns the decoded text and the span of the raw content (between `>` and `</`).
pub(crate) fn read_text(
    reader: &mut Reader<&[u8]>,
    content_start: usize,
) -> Result<(String, Range<usize>), RewriteError> {
    let mut value = String::new();
    loop {
        let before = position(reader)?;
        match reader.read_event().map_err(|_| bad("malformed XML"))? {
            Event::Text(t) => value.push_str(&t),
            Event::CData(c) => value.push_str(&c),
            Event::GeneralRef(r) => {
                match r
                    .resolve_char_ref()
                    .map_err(|_| bad("bad character reference"))?
                {
                    Some(ch) => value.push(ch),
                    None => value.push_str(
                        resolve_predefined_entity(&r).ok_or(bad("unknown entity in URL text"))?,
                    ),
                }
            }
            Event::Comment(_) | Event::PI(_) => {}
            Event::End(_) => return Ok((value, content_start..before)),
            Event::Eof => return Err(bad("truncated (end of input inside an element)")),
            Event::Start(_) | Event::Empty(_) | Event::Decl(_) | Event::DocType(_) => {
                return Err(bad("markup inside a URL element"));
            }
        }
    }
}

/// The reader's byte offset as an index into the input.
pub(crate) fn position(reader: &Reader<&[u8]>) -> Result<usize, RewriteError> {
    usize::try_from(reader.buffer_position()).map_err(|_| bad("input too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_attribute_spans() {
        let tag = "<SegmentTemplate timescale = '1'\n media=\"a&amp;b\" plex:x=\"'\"/>";
        let attrs: Vec<_> = raw_attributes(tag).collect::<Result<_, _>>().unwrap();
        let got: Vec<_> = attrs
            .iter()
            .map(|a| (a.name, &tag[a.value.clone()]))
            .collect();
        assert_eq!(
            got,
            [("timescale", "1"), ("media", "a&amp;b"), ("plex:x", "'")]
        );
        assert!(raw_attributes("<a b=c>").any(|a| a.is_err()));
        assert!(raw_attributes("<a b=\"c>").any(|a| a.is_err()));
        assert_eq!(raw_attributes("<a>").count(), 0);
    }

    #[test]
    fn escapes_round_trip() {
        let v = "/p?a=1&b=<'\">";
        let escaped = escape_attr(v);
        assert!(!escaped.contains(['<', '"', '\'']));
        assert_eq!(unescape(&escaped).unwrap(), v);
        assert_eq!(escape_text("a&b"), "a&amp;b");
        assert!(unescape("&nbsp;").is_err());
    }
}
