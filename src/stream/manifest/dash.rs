//! Lossless DASH MPD rewriting with quick-xml events, and dash-mpd-core as a validator.
//!
//! Why not parse→modify→serialize: dash-mpd-core drops vendor namespaces (`plex:*`), unknown
//! elements and comments, adds attributes and renormalises numbers (`reference/crates-and-style.md`
//! §2). Here the input is copied byte for byte and only URL values are spliced in place:
//! BaseURL, Location, PatchLocation and ContentSteering text; SegmentTemplate
//! `@media/@initialization/@index/@bitstreamSwitching`; SegmentURL `@media/@index`;
//! Initialization/RepresentationIndex/BitstreamSwitching `@sourceURL`; any `xlink:href`.
//!
//! Every rewritten URL is absolute-path and correct on its own (players such as ffmpeg use only
//! the innermost BaseURL): BaseURLs resolve through their parents, and a segment URL resolves
//! against the effective BaseURL of the Representations that use it. That needs the BaseURL chain
//! before the segment URLs, so an MPD containing BaseURLs is read twice (first pass: bases only).
//!
//! This module must never: let a URL through unmapped; follow xlinks or fetch anything; emit
//! partial output on error; quote the body in an error.

use std::ops::Range;

use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;
use url::Url;

use super::xml::{
    XML_WS, bad, escape_attr, escape_text, position, raw_attributes, read_text, unescape,
};
use super::{MapUri, RewriteError};
use bases::{Bases, INCONSISTENT, collect_bases};

mod bases;

const DASH_NS: &str = "urn:mpeg:dash:schema:mpd:2011";
const XLINK_NS: &str = "http://www.w3.org/1999/xlink";
/// `xlink:href` value meaning "remove this element"; not a URL.
const RESOLVE_TO_ZERO: &str = "urn:mpeg:dash:resolve-to-zero:2013";

/// Rewrites every URL of the MPD `input` with `mapper` and appends the result to `out`.
///
/// On error `out` is left as it was: nothing of a rejected manifest may be served. The output is
/// bounded (see [`super::MAX_OUTPUT_BYTES`]).
pub fn rewrite_mpd<M: MapUri + ?Sized>(
    input: &str,
    mapper: &M,
    out: &mut String,
) -> Result<(), RewriteError> {
    super::rewrite_guarded(input, mapper, out, |m, out| rewrite_into(input, m, out))
}

/// Checks that an upstream body is an MPD before it is rewritten: UTF-8, well-formed XML whose
/// root is `MPD` with nothing left open (truncation), and accepted by dash-mpd-core.
///
/// The error never quotes the body (parser errors would echo it, tokens included).
pub fn validate_mpd(input: &[u8]) -> Result<(), RewriteError> {
    let text = std::str::from_utf8(input).map_err(|_| bad("not UTF-8"))?;
    let mut reader = Reader::from_str(text);
    let mut depth = 0usize;
    let mut root_seen = false;
    loop {
        let event = reader.read_event().map_err(|_| bad("malformed XML"))?;
        if let Event::Start(e) | Event::Empty(e) = &event {
            super::duration::check_durations(e)?;
        }
        match &event {
            Event::Start(e) | Event::Empty(e) if !root_seen => {
                Names::from_root(e)?;
                root_seen = true;
            }
            _ => {}
        }
        match event {
            Event::Start(_) => depth += 1,
            Event::End(_) => depth = depth.checked_sub(1).ok_or(bad("malformed XML"))?,
            Event::Eof => break,
            _ => {}
        }
    }
    if !root_seen {
        return Err(bad("no root element"));
    }
    if depth != 0 {
        return Err(bad("truncated (elements left open)"));
    }
    dash_mpd_core::parse(text).map_err(|_| bad("MPD parser rejected it"))?;
    Ok(())
}

fn rewrite_into<M: MapUri + ?Sized>(
    input: &str,
    mapper: &M,
    out: &mut String,
) -> Result<(), RewriteError> {
    // quick-xml skips a byte order mark without counting it in its positions: copy it here and
    // hand the reader the rest, so that positions index `input` exactly. All of them: with one
    // left, every splice would land 3 bytes off (found by fuzzing: a panic, or a URL half-kept).
    let body = input.trim_start_matches('\u{feff}');
    out.push_str(&input[..input.len() - body.len()]);
    let input = body;
    let bases = if input.contains("BaseURL") {
        Some(collect_bases(input, mapper.manifest_url())?)
    } else {
        None
    };
    let mut rw = Rewriter {
        input,
        mapper,
        bases,
        names: Names::default(),
        open: Vec::new(),
        containers: Vec::new(),
        next_container: 0,
        copied: 0,
        uses_representation_id: input.contains("$RepresentationID$"),
    };
    out.reserve(input.len() + input.len() / 8);
    rw.run(out)
}

/// The elements a BaseURL chain runs through.
fn is_container(local: &str) -> bool {
    matches!(local, "MPD" | "Period" | "AdaptationSet" | "Representation")
}

/// Namespace prefixes declared on the root: which element prefixes mean DASH and which
/// attribute prefixes mean XLink. Declarations below the root are not tracked.
#[derive(Debug, Default)]
struct Names {
    dash_prefixes: Vec<String>,
    xlink_prefixes: Vec<String>,
}

impl Names {
    fn from_root(root: &BytesStart<'_>) -> Result<Self, RewriteError> {
        let mut names = Names {
            dash_prefixes: Vec::new(),
            xlink_prefixes: vec!["xlink".to_owned()],
        };
        let tag = format!("<{}>", root_tag_body(root));
        for attr in raw_attributes(&tag) {
            let attr = attr?;
            let Some(prefix) = attr.name.strip_prefix("xmlns:") else {
                continue;
            };
            let value = unescape(&tag[attr.value.clone()])?;
            if value == DASH_NS {
                names.dash_prefixes.push(prefix.to_owned());
            } else if value == XLINK_NS {
                names.xlink_prefixes.push(prefix.to_owned());
            }
        }
        let local = names
            .dash_local(root.name().into_inner())
            .ok_or(bad("root element is not MPD"))?;
        if local != "MPD" {
            return Err(bad("root element is not MPD"));
        }
        Ok(names)
    }

    /// The local name of a DASH element: unprefixed, or prefixed with a DASH-bound prefix.
    fn dash_local<'n>(&self, qname: &'n str) -> Option<&'n str> {
        match qname.split_once(':') {
            None => Some(qname),
            Some((p, local)) if self.dash_prefixes.iter().any(|d| d == p) => Some(local),
            Some(_) => None,
        }
    }

    fn is_xlink_href(&self, attr: &str) -> bool {
        attr.split_once(':')
            .is_some_and(|(p, l)| l == "href" && self.xlink_prefixes.iter().any(|x| x == p))
    }
}

fn root_tag_body<'e>(e: &'e BytesStart<'_>) -> &'e str {
    let body: &str = e;
    body.trim_end_matches('/')
}

struct Rewriter<'a, M: ?Sized> {
    input: &'a str,
    mapper: &'a M,
    bases: Option<Bases>,
    names: Names,
    /// Per open element: its container ordinal, if it is one.
    open: Vec<Option<usize>>,
    containers: Vec<usize>,
    next_container: usize,
    /// Input up to here is already in `out`.
    copied: usize,
    uses_representation_id: bool,
}

impl<M: MapUri + ?Sized> Rewriter<'_, M> {
    fn run(&mut self, out: &mut String) -> Result<(), RewriteError> {
        let input = self.input;
        let mut reader = Reader::from_str(input);
        let mut root_seen = false;
        loop {
            let start = position(&reader)?;
            let event = reader.read_event().map_err(|_| bad("malformed XML"))?;
            let end = position(&reader)?;
            let (e, empty) = match event {
                Event::Start(e) => (e, false),
                Event::Empty(e) => (e, true),
                Event::End(_) => {
                    if let Some(Some(_)) = self.open.pop() {
                        self.containers.pop();
                    }
                    continue;
                }
                Event::Eof => break,
                _ => continue,
            };
            if !root_seen {
                self.names = Names::from_root(&e)?;
                root_seen = true;
            }
            let local = self.names.dash_local(e.name().into_inner()).unwrap_or("");
            match local {
                "BaseURL" | "Location" | "PatchLocation" | "ContentSteering" if !empty => {
                    self.rewrite_text_element(local, &mut reader, end, out)?;
                    continue;
                }
                _ => {}
            }
            if is_container(local) {
                let ord = self.next_container;
                self.next_container += 1;
                if !empty {
                    self.open.push(Some(ord));
                    self.containers.push(ord);
                }
                if local == "Representation" && self.uses_representation_id {
                    check_representation_id(&input[start..end])?;
                }
            } else if !empty {
                self.open.push(None);
            }
            self.rewrite_attributes(local, start..end, out)?;
        }
        if !root_seen {
            return Err(bad("no root element"));
        }
        if !self.open.is_empty() {
            return Err(bad("truncated (elements left open)"));
        }
        out.push_str(&input[self.copied..]);
        Ok(())
    }

    /// Splices mapped values into the URL attributes of one start tag.
    fn rewrite_attributes(
        &mut self,
        local: &str,
        span: Range<usize>,
        out: &mut String,
    ) -> Result<(), RewriteError> {
        let segment_attrs: &[&str] = match local {
            "SegmentTemplate" => &["media", "initialization", "index", "bitstreamSwitching"],
            "SegmentURL" => &["media", "index"],
            "Initialization" | "Initialisation" | "RepresentationIndex" | "BitstreamSwitching" => {
                &["sourceURL"]
            }
            _ => &[],
        };
        let tag = &self.input[span.clone()];
        // Most elements (`<S t=… d=…/>` by the thousand) carry no URL: a cheap `h` probe first.
        if segment_attrs.is_empty() && !(tag.contains('h') && tag.contains("href")) {
            return Ok(());
        }
        let mut edits: Vec<(Range<usize>, String)> = Vec::new();
        for attr in raw_attributes(tag) {
            let attr = attr?;
            let is_segment = segment_attrs.contains(&attr.name);
            let is_href = !is_segment && self.names.is_xlink_href(attr.name);
            if !is_segment && !is_href {
                continue;
            }
            let value = unescape(&tag[attr.value.clone()])?;
            let value = value.trim_matches(XML_WS);
            let mapped = if is_segment {
                self.map_segment(value)?
            } else if value == RESOLVE_TO_ZERO {
                continue;
            } else {
                // XLink resolves against the document, not against BaseURL elements.
                self.mapper.map(value, self.mapper.manifest_url())?
            };
            if mapped != value {
                edits.push((attr.value, escape_attr(&mapped).into_owned()));
            }
        }
        if !edits.is_empty() {
            out.push_str(&self.input[self.copied..span.start]);
            let mut from = 0;
            for (range, value) in edits {
                out.push_str(&tag[from..range.start]);
                out.push_str(&value);
                from = range.end;
            }
            out.push_str(&tag[from..]);
            self.copied = span.end;
        }
        Ok(())
    }

    /// Maps a segment URL declared at the current container level.
    fn map_segment(&self, uri: &str) -> Result<String, RewriteError> {
        let manifest = self.mapper.manifest_url();
        let (Some(bases), Some(&ord)) = (&self.bases, self.containers.last()) else {
            return self.mapper.map(uri, manifest);
        };
        let c = bases.containers.get(ord).ok_or(INCONSISTENT)?;
        match c.segment.as_slice() {
            [] => self.mapper.map(uri, bases.url(ord, |c| c.own)?),
            [one] => self
                .mapper
                .map(uri, bases.urls.get(*one).ok_or(INCONSISTENT)?),
            many => {
                let list: Vec<&Url> = many.iter().filter_map(|&i| bases.urls.get(i)).collect();
                self.mapper.map_shared(uri, &list)
            }
        }
    }

    /// Rewrites the text of BaseURL / Location / PatchLocation / ContentSteering (the start tag
    /// was just read and ends at `content_start`; this consumes through the end tag).
    fn rewrite_text_element(
        &mut self,
        local: &str,
        reader: &mut Reader<&[u8]>,
        content_start: usize,
        out: &mut String,
    ) -> Result<(), RewriteError> {
        let (text, span) = read_text(reader, content_start)?;
        let value = text.trim_matches(XML_WS);
        if value.is_empty() {
            // An empty BaseURL adds nothing to the chain; there is nothing to map.
            return Ok(());
        }
        let manifest = self.mapper.manifest_url();
        let base = match (local, &self.bases, self.open.last(), self.containers.last()) {
            // Directly inside a container: resolves against the parent's effective base.
            ("BaseURL", Some(bases), Some(Some(ord)), _) => bases.url(*ord, |c| c.inherited)?,
            ("BaseURL", Some(bases), _, Some(&ord)) => bases.url(ord, |c| c.own)?,
            _ => manifest,
        };
        let mapped = self.mapper.map(value, base)?;
        if mapped == value {
            return Ok(());
        }
        let raw = &self.input[span.clone()];
        let lead = raw.len() - raw.trim_start_matches(XML_WS).len();
        let trail = raw.len() - raw.trim_end_matches(XML_WS).len();
        out.push_str(&self.input[self.copied..span.start + lead]);
        out.push_str(&escape_text(&mapped));
        self.copied = span.end - trail.min(raw.len() - lead);
        Ok(())
    }
}

/// `$RepresentationID$` is substituted by the player after our checks, so an id that could change
/// the path (`..`, `/`, `%2f`, `?`) is refused.
fn check_representation_id(tag: &str) -> Result<(), RewriteError> {
    for attr in raw_attributes(tag) {
        let attr = attr?;
        if attr.name != "id" {
            continue;
        }
        let id = unescape(&tag[attr.value])?;
        let unsafe_id = id.is_empty()
            || id == "."
            || id == ".."
            || id.contains(['/', '\\', '?', '#', '%'])
            || id.chars().any(char::is_control);
        if unsafe_id {
            return Err(RewriteError::BadPath {
                reason: "Representation@id unsafe for $RepresentationID$",
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::manifest::UriMapper;

    fn rewrite(input: &str) -> Result<String, RewriteError> {
        let url = Url::parse("http://pms:32400/v/start.mpd?X-Plex-Token=t").unwrap();
        let m = UriMapper::new(&url, "/P", |p| p.starts_with("/v/"));
        let mut out = String::new();
        rewrite_mpd(input, &m, &mut out).map(|()| out)
    }

    #[test]
    fn splices_values_in_place() {
        let input = "<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\"><Period><AdaptationSet>\n\
            <SegmentTemplate timescale=\"1\"\n   media='s/$Number$.m4s?a=1&amp;X-Plex-Token=t&amp;b=&lt;'  plex:x=\"media\"/>\n\
            <Representation id=\"0\"/></AdaptationSet></Period></MPD>";
        let want = "<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\"><Period><AdaptationSet>\n\
            <SegmentTemplate timescale=\"1\"\n   media='/P/v/s/$Number$.m4s?a=1&amp;b=%3C'  plex:x=\"media\"/>\n\
            <Representation id=\"0\"/></AdaptationSet></Period></MPD>";
        assert_eq!(rewrite(input).unwrap(), want);
    }

    #[test]
    fn base_url_text_with_cdata_and_prefixed_dash_namespace() {
        let input = "<d:MPD xmlns:d=\"urn:mpeg:dash:schema:mpd:2011\" xmlns:v=\"urn:vendor\">\
            <d:BaseURL> <![CDATA[a/]]> </d:BaseURL><v:BaseURL>http://elsewhere/</v:BaseURL>\
            <d:Period><d:AdaptationSet><d:Representation id=\"1\"><d:SegmentBase>\
            <d:Initialization sourceURL=\"i.mp4\"/></d:SegmentBase></d:Representation>\
            </d:AdaptationSet></d:Period></d:MPD>";
        let out = rewrite(input).unwrap();
        assert!(out.contains("<d:BaseURL> /P/v/a/ </d:BaseURL>"), "{out}");
        assert!(
            out.contains("<v:BaseURL>http://elsewhere/</v:BaseURL>"),
            "{out}"
        );
        assert!(out.contains("sourceURL=\"/P/v/a/i.mp4\""), "{out}");
    }

    #[test]
    fn byte_order_mark_and_doctype_stay_in_place() {
        let input = "\u{feff}<?xml version=\"1.0\"?>\n<!DOCTYPE MPD>\n<MPD><Period><AdaptationSet>\
            <SegmentTemplate media=\"$Number$.m4s\"/><Representation id=\"0\"/>\
            </AdaptationSet></Period></MPD>\n";
        let want = input.replace("\"$Number$.m4s\"", "\"/P/v/$Number$.m4s\"");
        assert_eq!(rewrite(input).unwrap(), want);
    }

    #[test]
    fn refuses_non_mpd_and_malformed_input() {
        for input in [
            "<html><body>404</body></html>",
            "<MPD><Period></MPD>",
            "<MPD><Period>",
            "",
            "<MPD><BaseURL>a<b/></BaseURL></MPD>",
            "<MPD><BaseURL>&nbsp;</BaseURL></MPD>",
            "<MPD><SegmentTemplate media=s.m4s/></MPD>",
        ] {
            assert!(
                matches!(rewrite(input), Err(RewriteError::BadManifest { .. })),
                "{input}: {:?}",
                rewrite(input)
            );
        }
    }

    #[test]
    fn representation_ids_are_checked_only_when_substituted() {
        let tpl = |id: &str, media: &str| {
            format!(
                "<MPD><Period><AdaptationSet><SegmentTemplate media=\"{media}\"/>\
                 <Representation id=\"{id}\"/></AdaptationSet></Period></MPD>"
            )
        };
        assert!(rewrite(&tpl("video=1000", "$RepresentationID$/$Number$.m4s")).is_ok());
        assert!(rewrite(&tpl("a/b", "$Number$.m4s")).is_ok());
        for id in ["..", "a/b", "a%2fb", "a?b", ""] {
            assert!(matches!(
                rewrite(&tpl(id, "$RepresentationID$/$Number$.m4s")),
                Err(RewriteError::BadPath { .. })
            ));
        }
    }
}
