//! The first pass over an MPD that contains BaseURLs: the effective base of every container
//! (MPD, Period, AdaptationSet, Representation), and for each container the bases of the
//! Representations below it, so the rewriting pass can resolve a segment URL against every
//! base it will really be used with.
//!
//! Why a pass of its own: a segment URL may be declared above the BaseURLs that apply to it,
//! so they must be known before the first segment URL is rewritten. It reads only; it never
//! writes output and never fetches anything.

use quick_xml::events::Event;
use quick_xml::reader::Reader;
use url::Url;

use super::{Names, is_container};
use crate::stream::manifest::xml::{XML_WS, bad, position, read_text};
use crate::stream::manifest::{ManifestKind, RewriteError};

/// More distinct BaseURLs under one segment URL than this is not a media server's MPD.
const MAX_SHARED_BASES: usize = 64;

/// Base URLs per container (MPD, Period, AdaptationSet, Representation), in document order.
#[derive(Debug)]
pub(super) struct Bases {
    /// Distinct URLs; `urls[0]` is the manifest URL.
    pub(super) urls: Vec<Url>,
    pub(super) containers: Vec<ContainerBases>,
}

#[derive(Debug, Clone)]
pub(super) struct ContainerBases {
    /// The parent's effective base: what this container's BaseURLs resolve against.
    pub(super) inherited: usize,
    /// This container's effective base (its first BaseURL, else `inherited`).
    pub(super) own: usize,
    pub(super) has_base_url: bool,
    pub(super) is_representation: bool,
    /// Distinct effective bases of the Representations at or below this container: the bases a
    /// segment URL declared here is resolved against.
    pub(super) segment: Vec<usize>,
}

/// The two passes saw a different structure; cannot happen for input both passes accepted, but
/// an index into the first pass's tables must not panic on hostile input either.
pub(super) const INCONSISTENT: RewriteError = RewriteError::BadManifest {
    kind: ManifestKind::Dash,
    reason: "inconsistent structure",
};

impl Bases {
    /// The URL a container's `pick`ed base index points at.
    pub(super) fn url(
        &self,
        ord: usize,
        pick: fn(&ContainerBases) -> usize,
    ) -> Result<&Url, RewriteError> {
        let c = self.containers.get(ord).ok_or(INCONSISTENT)?;
        self.urls.get(pick(c)).ok_or(INCONSISTENT)
    }

    fn intern(&mut self, url: Url) -> usize {
        match self.urls.iter().position(|u| *u == url) {
            Some(i) => i,
            None => {
                self.urls.push(url);
                self.urls.len() - 1
            }
        }
    }
}

/// First pass: the effective BaseURL of every container.
pub(super) fn collect_bases(input: &str, manifest_url: &Url) -> Result<Bases, RewriteError> {
    let mut bases = Bases {
        urls: vec![manifest_url.clone()],
        containers: Vec::new(),
    };
    let mut reader = Reader::from_str(input);
    let mut names: Option<Names> = None;
    // Per open element: its container ordinal, if it is one.
    let mut open: Vec<Option<usize>> = Vec::new();
    let mut stack: Vec<usize> = Vec::new();
    loop {
        let event = reader.read_event().map_err(|_| bad("malformed XML"))?;
        let (e, empty) = match event {
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            Event::End(_) => {
                if let Some(Some(ord)) = open.pop() {
                    close_container(&mut bases, &stack, ord)?;
                    stack.pop();
                }
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        let names = match &names {
            Some(n) => n,
            None => names.insert(Names::from_root(&e)?),
        };
        let local = names.dash_local(e.name().into_inner()).unwrap_or("");
        if is_container(local) {
            let parent = stack.last().map_or(0, |&p| bases.containers[p].own);
            let ord = bases.containers.len();
            bases.containers.push(ContainerBases {
                inherited: parent,
                own: parent,
                has_base_url: false,
                is_representation: local == "Representation",
                segment: Vec::new(),
            });
            if empty {
                stack.push(ord);
                close_container(&mut bases, &stack, ord)?;
                stack.pop();
            } else {
                open.push(Some(ord));
                stack.push(ord);
            }
        } else if local == "BaseURL" && !empty {
            let content_start = position(&reader)?;
            let (text, _) = read_text(&mut reader, content_start)?;
            let text = text.trim_matches(XML_WS);
            // Only a BaseURL directly inside a container starts a chain level.
            if let (Some(Some(ord)), false) = (open.last(), text.is_empty()) {
                let c = &bases.containers[*ord];
                if !c.has_base_url {
                    let url =
                        bases.urls[c.inherited]
                            .join(text)
                            .map_err(|_| RewriteError::BadUri {
                                reason: "BaseURL is not a valid URI reference",
                            })?;
                    let idx = bases.intern(url);
                    let c = &mut bases.containers[*ord];
                    c.own = idx;
                    c.has_base_url = true;
                }
            }
        } else if !empty {
            open.push(None);
        }
    }
    Ok(bases)
}

/// A Representation's base becomes a segment base of itself and of every enclosing container
/// (`stack` ends with `ord`).
fn close_container(bases: &mut Bases, stack: &[usize], ord: usize) -> Result<(), RewriteError> {
    if !bases.containers[ord].is_representation {
        return Ok(());
    }
    let own = bases.containers[ord].own;
    for &c in stack {
        let segment = &mut bases.containers[c].segment;
        if !segment.contains(&own) {
            if segment.len() >= MAX_SHARED_BASES {
                return Err(RewriteError::Unsupported {
                    reason: "too many distinct BaseURLs",
                });
            }
            segment.push(own);
        }
    }
    Ok(())
}
