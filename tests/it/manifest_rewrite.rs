//! The lossless manifest rewriters (`plexgate::stream::manifest`, design §3) against the fixtures
//! in `fixtures/manifests/`, generated 10k-segment manifests and random playlists.
//!
//! Oracles: m3u8-rs and dash-mpd-core parse the input and the output, and everything but the URIs
//! must be equal; every rewritten URI must map back (through `upstream_path`) to exactly what the
//! original resolved to; an identity mapping must be byte-identical; no output may carry the fake
//! token in any encoding.

use base64::Engine as _;
use dash_mpd_core::MPD;
use plexgate::stream::manifest::{
    ManifestKind, MapUri, RewriteError, UriMapper, kind_of, rewrite_hls, rewrite_mpd,
    upstream_path, validate_hls, validate_mpd,
};
use plexgate::stream::scope;
use plexgate::stream::ticket::Scope;
use proptest::prelude::*;
use url::Url;

const TOKEN: &str = "T0kFAKEplexgate42";
const TICKET: &str = "TiCkEtAbC123";
const PREFIX: &str = "/plexgate/api/plex/proxy/TiCkEtAbC123";
const UPSTREAM: &str = "http://127.0.0.1:32400";
/// Where the browser fetched the rewritten manifest from (its relative URIs resolve against it).
const GATE: &str = "http://gate.test";
const HLS_SESSION: &str = "7d0f1e8a-5c44-4d3b-9e21-6a7b8c9d0e1f";
const DASH_SESSION: &str = "ws8ajlwvogju2sue33m2sqnl";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    Rewrite,
    ForeignHost,
    OutOfScope,
    BadPath,
}

struct Fixture {
    file: &'static str,
    /// Upstream path of the manifest.
    path: &'static str,
    expect: Expect,
}

const START_M3U8: &str = "/video/:/transcode/universal/start.m3u8";
const MEDIA_M3U8: &str =
    "/video/:/transcode/universal/session/7d0f1e8a-5c44-4d3b-9e21-6a7b8c9d0e1f/base/index.m3u8";
const START_MPD: &str = "/video/:/transcode/universal/start.mpd";
const LIST_MPD: &str =
    "/video/:/transcode/universal/session/ws8ajlwvogju2sue33m2sqnl/list/manifest.mpd";

const FIXTURES: &[Fixture] = &[
    fx("hls/pms_start_master.m3u8", START_M3U8, Expect::Rewrite),
    fx("hls/master_renditions.m3u8", START_M3U8, Expect::Rewrite),
    fx("hls/pms_media_ts.m3u8", MEDIA_M3U8, Expect::Rewrite),
    fx("hls/media_fmp4_key_map.m3u8", MEDIA_M3U8, Expect::Rewrite),
    fx("hls/media_llhls.m3u8", MEDIA_M3U8, Expect::Rewrite),
    fx("hls/media_crlf.m3u8", MEDIA_M3U8, Expect::Rewrite),
    fx("hls/media_comma_title.m3u8", MEDIA_M3U8, Expect::Rewrite),
    fx(
        "hls/hostile_foreign_host.m3u8",
        MEDIA_M3U8,
        Expect::ForeignHost,
    ),
    fx(
        "hls/hostile_key_foreign_host.m3u8",
        MEDIA_M3U8,
        Expect::ForeignHost,
    ),
    fx(
        "hls/hostile_dotdot_escape.m3u8",
        MEDIA_M3U8,
        Expect::OutOfScope,
    ),
    fx(
        "hls/hostile_encoded_dotdot.m3u8",
        MEDIA_M3U8,
        Expect::OutOfScope,
    ),
    fx(
        "hls/hostile_encoded_slash.m3u8",
        MEDIA_M3U8,
        Expect::BadPath,
    ),
    fx("dash/pms_start.mpd", START_MPD, Expect::Rewrite),
    fx(
        "dash/baseurl_levels_timeline.mpd",
        START_MPD,
        Expect::Rewrite,
    ),
    fx("dash/segment_list_base.mpd", LIST_MPD, Expect::Rewrite),
    fx("dash/vendor_xlink.mpd", START_MPD, Expect::Rewrite),
    fx("dash/template_identifiers.mpd", START_MPD, Expect::Rewrite),
    fx(
        "dash/hostile_foreign_baseurl.mpd",
        START_MPD,
        Expect::ForeignHost,
    ),
    fx(
        "dash/hostile_template_escape.mpd",
        START_MPD,
        Expect::OutOfScope,
    ),
    fx("dash/hostile_encoded_slash.mpd", START_MPD, Expect::BadPath),
    fx(
        "dash/hostile_representation_id.mpd",
        START_MPD,
        Expect::BadPath,
    ),
];

const fn fx(file: &'static str, path: &'static str, expect: Expect) -> Fixture {
    Fixture { file, path, expect }
}

impl Fixture {
    fn kind(&self) -> ManifestKind {
        kind_of(self.file, None).expect("fixture has a manifest extension")
    }

    fn text(&self) -> String {
        load(self.file)
    }

    fn session(&self) -> &'static str {
        match self.kind() {
            ManifestKind::Hls => HLS_SESSION,
            ManifestKind::Dash => DASH_SESSION,
        }
    }

    /// The upstream URL: `start.*` carries the session and (as PMS would see it) the token.
    fn upstream_url(&self) -> Url {
        let mut url = format!("{UPSTREAM}{}", self.path);
        if self.path.contains("/start.") {
            url.push_str(&format!("?session={}&X-Plex-Token={TOKEN}", self.session()));
        }
        Url::parse(&url).unwrap()
    }

    fn scope(&self) -> String {
        format!("/video/:/transcode/universal/session/{}/", self.session())
    }

    /// The mapper the proxy builds: the real scope check of a playback ticket for the session.
    fn mapper(&self) -> UriMapper {
        let scope = Scope::Playback {
            prefix: self.scope(),
        };
        UriMapper::new(&self.upstream_url(), PREFIX, move |p| {
            scope::allows_path(&scope, p)
        })
    }

    /// The URL the browser fetched the rewritten manifest from (the session parameter kept, the
    /// token never there).
    fn gate_url(&self) -> Url {
        let mut url = format!("{GATE}{PREFIX}{}", self.path);
        if self.path.contains("/start.") {
            url.push_str(&format!("?session={}", self.session()));
        }
        Url::parse(&url).unwrap()
    }

    fn good(&self) -> bool {
        self.expect == Expect::Rewrite
    }
}

fn load(file: &str) -> String {
    let path = format!("{}/fixtures/manifests/{file}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn rewrite<M: MapUri + ?Sized>(
    kind: ManifestKind,
    input: &str,
    mapper: &M,
) -> Result<String, RewriteError> {
    let mut out = String::new();
    match kind {
        ManifestKind::Hls => rewrite_hls(input, mapper, &mut out)?,
        ManifestKind::Dash => rewrite_mpd(input, mapper, &mut out)?,
    }
    Ok(out)
}

/// Maps every URI to itself: isolates the rewriters' copying.
struct Identity(Url);

impl MapUri for Identity {
    fn manifest_url(&self) -> &Url {
        &self.0
    }
    fn map(&self, uri: &str, _base: &Url) -> Result<String, RewriteError> {
        Ok(uri.to_owned())
    }
    fn guard_token_leaks(&self) -> bool {
        false
    }
}

/// Test oracle for the token filter, written independently of the crate's: drop `X-Plex-*` and
/// `token` parameters (names compared case-insensitively after one percent-decode).
fn expected_upstream(resolved: &Url) -> String {
    let mut s = resolved.path().to_owned();
    if let Some(q) = resolved.query() {
        let kept: Vec<&str> = q
            .split('&')
            .filter(|pair| {
                let name = pair
                    .split('=')
                    .next()
                    .unwrap_or_default()
                    .replace("%2D", "-");
                let name = name.to_ascii_lowercase();
                !(name.starts_with("x-plex-") || name == "token")
            })
            .collect();
        if !kept.is_empty() {
            s.push('?');
            s.push_str(&kept.join("&"));
        }
    }
    s
}

/// `rewritten` (as the browser resolves it) must be a proxy URL whose upstream form equals what
/// `original` resolved to upstream, minus token parameters.
fn assert_maps_back(original: &Url, rewritten: &Url, what: &str) {
    if matches!(original.scheme(), "data" | "skd") {
        assert_eq!(original, rewritten, "{what}: passthrough URI changed");
        return;
    }
    assert_eq!(
        rewritten.origin(),
        Url::parse(GATE).unwrap().origin(),
        "{what}: {rewritten}"
    );
    let path = rewritten.path();
    let rest = path
        .strip_prefix(PREFIX)
        .filter(|r| r.starts_with('/'))
        .unwrap_or_else(|| panic!("{what}: {rewritten} does not start with the proxy prefix"));
    let mut rest = rest.to_owned();
    let (mut original, mut rewritten) = (original.clone(), rewritten.clone());
    if rest.ends_with('/') {
        // A BaseURL directory is never requested itself; compare what lies under it.
        rest.push_str("probe");
        original = original.join("probe").unwrap();
        rewritten = rewritten.join("probe").unwrap();
    }
    let (original, rewritten) = (&original, &rewritten);
    if let Some(q) = rewritten.query() {
        rest.push('?');
        rest.push_str(q);
    }
    let upstream = upstream_path(&rest).unwrap_or_else(|e| panic!("{what}: {e}"));
    let back = Url::parse(UPSTREAM).unwrap().join(&upstream).unwrap();
    assert_eq!(
        expected_upstream(&back),
        expected_upstream(original),
        "{what}: {rewritten} does not map back to {original}"
    );
    assert_eq!(upstream, expected_upstream(original), "{what}");
}

/// The rewritten text itself (not only what it resolves to) is in proxy form: an unrewritten
/// relative URI would also resolve under the prefix, but would keep its token.
fn assert_proxy_form(original: &str, rewritten: &str, what: &str) {
    let passthrough = ["data:", "skd:"].iter().any(|p| original.starts_with(p));
    if passthrough {
        assert_eq!(original, rewritten, "{what}");
    } else {
        assert!(
            rewritten.starts_with(&format!("{PREFIX}/")),
            "{what}: {rewritten}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// HLS helpers (an extractor simpler than the rewriter's, to cross-check it)

/// Values of `NAME="…"` for the URI-carrying attribute names, with the line where they sit
/// blanked, so that the rest of the line can be compared byte for byte.
fn hls_line_uris(line: &str) -> (Vec<String>, String) {
    if !line.starts_with("#EXT-X-") {
        return (Vec::new(), line.to_owned());
    }
    let mut uris = Vec::new();
    let mut blanked = String::new();
    let mut rest = line;
    loop {
        let hit = ["URI=\"", "X-ASSET-LIST=\""]
            .iter()
            .filter_map(|k| rest.find(k).map(|i| (i, k.len())))
            .min();
        let Some((i, klen)) = hit else { break };
        let open = i + klen;
        let close = open + rest[open..].find('"').unwrap();
        blanked.push_str(&rest[..open]);
        uris.push(rest[open..close].to_owned());
        rest = &rest[close..];
    }
    blanked.push_str(rest);
    (uris, blanked)
}

/// Line-by-line: same number of lines and terminators, same bytes outside URIs, every URI maps
/// back. Returns the number of URIs checked.
fn check_hls_lines(input: &str, output: &str, manifest: &Url, gate: &Url) -> usize {
    let a: Vec<&str> = input.split_inclusive('\n').collect();
    let b: Vec<&str> = output.split_inclusive('\n').collect();
    assert_eq!(a.len(), b.len(), "line count");
    let mut checked = 0;
    for (i, (la, lb)) in a.iter().zip(&b).enumerate() {
        assert_eq!(
            la.ends_with("\r\n"),
            lb.ends_with("\r\n"),
            "line {i} ending"
        );
        assert_eq!(la.ends_with('\n'), lb.ends_with('\n'), "line {i} ending");
        let (ca, cb) = (
            la.trim_end_matches(['\r', '\n']),
            lb.trim_end_matches(['\r', '\n']),
        );
        if ca.trim().is_empty() || (ca.starts_with('#') && !ca.starts_with("#EXT-X-")) {
            assert_eq!(ca, cb, "line {i} must be verbatim");
        } else if ca.starts_with('#') {
            let (ua, ba) = hls_line_uris(ca);
            let (ub, bb) = hls_line_uris(cb);
            assert_eq!(ba, bb, "line {i}: only URIs may change");
            assert_eq!(ua.len(), ub.len());
            for (x, y) in ua.iter().zip(&ub) {
                let what = format!("line {i} attribute {x}");
                assert_proxy_form(x, y, &what);
                assert_maps_back(&manifest.join(x).unwrap(), &gate.join(y).unwrap(), &what);
                checked += 1;
            }
        } else {
            let (x, y) = (ca.trim(), cb.trim());
            assert_eq!(
                ca.len() - ca.trim_start().len(),
                cb.len() - cb.trim_start().len()
            );
            let what = format!("line {i} URI {x}");
            assert_proxy_form(x, y, &what);
            assert_maps_back(&manifest.join(x).unwrap(), &gate.join(y).unwrap(), &what);
            checked += 1;
        }
    }
    checked
}

fn blank_rest(tag: &mut m3u8_rs::ExtTag) {
    if let Some(rest) = &tag.rest {
        tag.rest = Some(hls_line_uris(&format!("#EXT-X-:{rest}")).1["#EXT-X-:".len()..].to_owned());
    }
}

fn blank_key(key: &mut Option<m3u8_rs::Key>) {
    if let Some(k) = key.as_mut().filter(|k| k.uri.is_some()) {
        k.uri = Some(String::new());
    }
}

/// m3u8-rs's view of a playlist with every URI blanked.
fn hls_without_uris(text: &str) -> m3u8_rs::Playlist {
    let mut pl = m3u8_rs::parse_playlist_res(text.as_bytes())
        .unwrap_or_else(|_| panic!("m3u8-rs cannot parse:\n{text}"));
    match &mut pl {
        m3u8_rs::Playlist::MasterPlaylist(m) => {
            m.variants.iter_mut().for_each(|v| v.uri.clear());
            for a in &mut m.alternatives {
                if a.uri.is_some() {
                    a.uri = Some(String::new());
                }
            }
            for k in &mut m.session_key {
                if k.0.uri.is_some() {
                    k.0.uri = Some(String::new());
                }
            }
            for d in &mut m.session_data {
                if let m3u8_rs::SessionDataField::Uri(u) = &mut d.field {
                    u.clear();
                }
            }
            m.unknown_tags.iter_mut().for_each(blank_rest);
        }
        m3u8_rs::Playlist::MediaPlaylist(m) => {
            m.unknown_tags.iter_mut().for_each(blank_rest);
            for s in &mut m.segments {
                s.uri.clear();
                blank_key(&mut s.key);
                if let Some(map) = &mut s.map {
                    map.uri.clear();
                }
                if let Some(x) = s.daterange.as_mut().and_then(|d| d.x_prefixed.as_mut()) {
                    for key in ["X-ASSET-URI", "X-ASSET-LIST"] {
                        if let Some(v) = x.get_mut(key) {
                            *v = m3u8_rs::QuotedOrUnquoted::Quoted(String::new());
                        }
                    }
                }
                s.unknown_tags.iter_mut().for_each(blank_rest);
            }
        }
    }
    pl
}

// ---------------------------------------------------------------------------------------------
// DASH helpers: an independent resolver over dash-mpd-core's model

fn chain(base: &Url, urls: &[dash_mpd_core::BaseURL]) -> Url {
    match urls.first() {
        Some(b) if !b.base.trim().is_empty() => base.join(b.base.trim()).unwrap(),
        _ => base.clone(),
    }
}

/// Every URL a player would request for this MPD fetched from `doc`, labelled by where it comes
/// from, in document order. Segment information is inherited Representation ← AdaptationSet ←
/// Period, attribute by attribute.
fn dash_urls(mpd: &MPD, doc: &Url) -> Vec<(String, Url)> {
    let mut out = Vec::new();
    for (i, l) in mpd.locations.iter().enumerate() {
        out.push((format!("Location {i}"), doc.join(l.url.trim()).unwrap()));
    }
    let mpd_base = chain(doc, &mpd.base_url);
    out.push(("MPD base".into(), mpd_base.clone()));
    for (pi, p) in mpd.periods.iter().enumerate() {
        if let Some(h) = p.href.as_deref().filter(|h| !h.starts_with("urn:")) {
            out.push((format!("P{pi} xlink"), doc.join(h).unwrap()));
        }
        let pbase = chain(&mpd_base, &p.BaseURL);
        out.push((format!("P{pi} base"), pbase.clone()));
        for (ai, a) in p.adaptations.iter().enumerate() {
            let abase = chain(&pbase, &a.BaseURL);
            out.push((format!("P{pi}A{ai} base"), abase.clone()));
            for (ri, r) in a.representations.iter().enumerate() {
                let rbase = chain(&abase, &r.BaseURL);
                let at = format!("P{pi}A{ai}R{ri}");
                out.push((format!("{at} base"), rbase.clone()));
                let templates = [&r.SegmentTemplate, &a.SegmentTemplate, &p.SegmentTemplate];
                let pick = |f: fn(&dash_mpd_core::SegmentTemplate) -> Option<&String>| {
                    templates
                        .iter()
                        .find_map(|t| t.as_ref().and_then(f))
                        .cloned()
                };
                for (name, v) in [
                    ("media", pick(|t| t.media.as_ref())),
                    ("initialization", pick(|t| t.initialization.as_ref())),
                    ("index", pick(|t| t.index.as_ref())),
                ] {
                    if let Some(v) = v {
                        out.push((format!("{at} template {name}"), rbase.join(&v).unwrap()));
                    }
                }
                if let Some(list) = r.SegmentList.as_ref().or(a.SegmentList.as_ref()) {
                    if let Some(s) = list
                        .Initialization
                        .as_ref()
                        .and_then(|i| i.sourceURL.as_ref())
                    {
                        out.push((format!("{at} list init"), rbase.join(s).unwrap()));
                    }
                    for (si, s) in list.segment_urls.iter().enumerate() {
                        for (name, v) in [("media", &s.media), ("index", &s.index)] {
                            if let Some(v) = v {
                                out.push((
                                    format!("{at} list {si} {name}"),
                                    rbase.join(v).unwrap(),
                                ));
                            }
                        }
                    }
                }
                if let Some(sb) = r.SegmentBase.as_ref().or(a.SegmentBase.as_ref()) {
                    if let Some(s) = sb
                        .Initialization
                        .as_ref()
                        .and_then(|i| i.sourceURL.as_ref())
                    {
                        out.push((format!("{at} base init"), rbase.join(s).unwrap()));
                    }
                    if let Some(s) = sb
                        .representation_index
                        .as_ref()
                        .and_then(|i| i.sourceURL.as_ref())
                    {
                        out.push((format!("{at} base index"), rbase.join(s).unwrap()));
                    }
                }
            }
        }
    }
    out
}

/// Every URL as written in the MPD (not resolved), in document order.
fn dash_raw_urls(mpd: &MPD) -> Vec<String> {
    fn seg(
        out: &mut Vec<String>,
        t: &Option<dash_mpd_core::SegmentTemplate>,
        l: &Option<dash_mpd_core::SegmentList>,
        b: &Option<dash_mpd_core::SegmentBase>,
    ) {
        if let Some(t) = t {
            out.extend(
                [&t.media, &t.initialization, &t.index]
                    .into_iter()
                    .flatten()
                    .cloned(),
            );
        }
        if let Some(l) = l {
            out.extend(l.Initialization.as_ref().and_then(|i| i.sourceURL.clone()));
            for u in &l.segment_urls {
                out.extend([&u.media, &u.index].into_iter().flatten().cloned());
            }
        }
        if let Some(b) = b {
            out.extend(b.Initialization.as_ref().and_then(|i| i.sourceURL.clone()));
            out.extend(
                b.representation_index
                    .as_ref()
                    .and_then(|i| i.sourceURL.clone()),
            );
        }
    }
    let mut out: Vec<String> = mpd
        .locations
        .iter()
        .map(|l| l.url.trim().to_owned())
        .collect();
    let bases = |v: &[dash_mpd_core::BaseURL]| {
        v.iter()
            .map(|b| b.base.trim().to_owned())
            .collect::<Vec<_>>()
    };
    out.extend(bases(&mpd.base_url));
    for p in &mpd.periods {
        out.extend(p.href.clone());
        out.extend(bases(&p.BaseURL));
        seg(&mut out, &p.SegmentTemplate, &p.SegmentList, &p.SegmentBase);
        for a in &p.adaptations {
            out.extend(bases(&a.BaseURL));
            seg(&mut out, &a.SegmentTemplate, &a.SegmentList, &a.SegmentBase);
            for r in &a.representations {
                out.extend(bases(&r.BaseURL));
                seg(&mut out, &r.SegmentTemplate, &r.SegmentList, &r.SegmentBase);
            }
        }
    }
    out
}

/// dash-mpd-core's view of an MPD as JSON with every URL blanked.
fn dash_without_urls(text: &str) -> serde_json::Value {
    fn blank(v: &mut serde_json::Value, parent: &str) {
        const URL_ATTRS: [&str; 6] = [
            "@media",
            "@initialization",
            "@index",
            "@sourceURL",
            "@xlink:href",
            "@bitstreamSwitching",
        ];
        match v {
            serde_json::Value::Object(map) => {
                for (k, child) in map.iter_mut() {
                    let url_text =
                        k == "$text" && matches!(parent, "BaseURL" | "Location" | "PatchLocation");
                    if URL_ATTRS.contains(&k.as_str()) || url_text {
                        *child = serde_json::Value::String(String::new());
                    } else {
                        blank(child, k);
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|c| blank(c, parent)),
            _ => {}
        }
    }
    let mpd = dash_mpd_core::parse(text).unwrap_or_else(|e| panic!("dash-mpd-core: {e}"));
    let mut v = serde_json::to_value(&mpd).unwrap();
    blank(&mut v, "");
    v
}

// ---------------------------------------------------------------------------------------------
// Generators for the 10k manifests (the bench has its own copy)

fn hls_10k() -> String {
    let mut s = String::from(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:7\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n",
    );
    for i in 0..10_000 {
        s.push_str(&format!("#EXTINF:6.006000, nodesc\n{i:05}.ts\n"));
    }
    s.push_str("#EXT-X-ENDLIST\n");
    s
}

fn dash_10k() -> String {
    let mut s = format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011" type="static" mediaPresentationDuration="PT16H40M0S" minBufferTime="PT10S">
  <Period id="0" start="PT0S">
    <AdaptationSet segmentAlignment="true" mimeType="video/mp4">
      <SegmentTemplate timescale="1000" startNumber="0" initialization="session/{DASH_SESSION}/$RepresentationID$/header" media="session/{DASH_SESSION}/$RepresentationID$/$Number%05d$.m4s">
        <SegmentTimeline>
"#
    );
    for i in 0..10_000u64 {
        s.push_str(&format!("          <S t=\"{}\" d=\"6006\"/>\n", i * 6006));
    }
    s.push_str(
        r#"        </SegmentTimeline>
      </SegmentTemplate>
      <Representation id="0" codecs="avc1.640028" bandwidth="4000000" width="1920" height="800"/>
    </AdaptationSet>
  </Period>
</MPD>
"#,
    );
    s
}

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
fn identity_rewrite_is_byte_identical_for_every_fixture() {
    for f in FIXTURES {
        let input = f.text();
        let res = rewrite(f.kind(), &input, &Identity(f.upstream_url()));
        if f.file.ends_with("hostile_representation_id.mpd") {
            // Checked by the rewriter itself, whatever the mapper: the id is substituted later.
            assert!(matches!(res, Err(RewriteError::BadPath { .. })), "{res:?}");
            continue;
        }
        let out = res.unwrap();
        assert!(out == input, "{}: identity rewrite changed bytes", f.file);
    }
    let media = Url::parse(&format!("{UPSTREAM}{MEDIA_M3U8}")).unwrap();
    let start = Url::parse(&format!("{UPSTREAM}{START_MPD}")).unwrap();
    assert!(rewrite(ManifestKind::Hls, &hls_10k(), &Identity(media)).unwrap() == hls_10k());
    assert!(rewrite(ManifestKind::Dash, &dash_10k(), &Identity(start)).unwrap() == dash_10k());
}

#[test]
fn rewriting_rewritten_output_is_a_fixpoint() {
    // The real mapper is the identity on its own output (prefix "" and the proxy path as the
    // "upstream"): nothing but URIs was touched, and URIs are already canonical.
    for f in FIXTURES.iter().filter(|f| f.good()) {
        let once = rewrite(f.kind(), &f.text(), &f.mapper()).unwrap();
        let scope = format!("{PREFIX}{}", f.scope());
        let url = Url::parse(&format!("{UPSTREAM}{PREFIX}{}", f.path)).unwrap();
        let again = UriMapper::new(&url, "", move |p| p.starts_with(&scope));
        let twice = rewrite(f.kind(), &once, &again).unwrap();
        assert!(
            twice == once,
            "{}: not a fixpoint:\n{once}\n---\n{twice}",
            f.file
        );
    }
}

#[test]
fn rewrite_is_deterministic_and_appends() {
    for f in FIXTURES.iter().filter(|f| f.good()) {
        let a = rewrite(f.kind(), &f.text(), &f.mapper()).unwrap();
        let mut b = String::from("already here\n");
        match f.kind() {
            ManifestKind::Hls => rewrite_hls(&f.text(), &f.mapper(), &mut b).unwrap(),
            ManifestKind::Dash => rewrite_mpd(&f.text(), &f.mapper(), &mut b).unwrap(),
        }
        assert_eq!(format!("already here\n{a}"), b, "{}", f.file);
    }
}

#[test]
fn hls_fixtures_change_only_uris_and_every_uri_maps_back() {
    let mut total = 0;
    for f in FIXTURES
        .iter()
        .filter(|f| f.good() && f.kind() == ManifestKind::Hls)
    {
        let input = f.text();
        let out = rewrite(f.kind(), &input, &f.mapper()).unwrap();
        let n = check_hls_lines(&input, &out, &f.upstream_url(), &f.gate_url());
        assert!(n > 0, "{}: no URI checked", f.file);
        total += n;
    }
    assert!(total >= 40, "only {total} URIs checked");
}

#[test]
fn hls_comma_titles_are_untouched_line_by_line() {
    let f = FIXTURES
        .iter()
        .find(|f| f.file.ends_with("comma_title.m3u8"))
        .unwrap();
    let out = rewrite(f.kind(), &f.text(), &f.mapper()).unwrap();
    let base = format!("{PREFIX}{}", MEDIA_M3U8.trim_end_matches("index.m3u8"));
    let want = f
        .text()
        .replace("\n00000.ts\n", &format!("\n{base}00000.ts\n"))
        .replace("\n00001.ts\n", &format!("\n{base}00001.ts\n"));
    assert_eq!(out, want);
}

#[test]
fn hls_parse_equivalence_with_m3u8_rs() {
    // m3u8-rs bug #80 corrupts comma titles, so that fixture is not an oracle here.
    for f in FIXTURES
        .iter()
        .filter(|f| f.kind() == ManifestKind::Hls && !f.file.contains("comma"))
    {
        let input = f.text();
        let Ok(out) = rewrite(f.kind(), &input, &f.mapper()) else {
            continue;
        };
        assert_eq!(
            hls_without_uris(&input),
            hls_without_uris(&out),
            "{}",
            f.file
        );
    }
    // The model really sees the content: segments, durations, keys and maps are there.
    let fmp4 = load("hls/media_fmp4_key_map.m3u8");
    let m3u8_rs::Playlist::MediaPlaylist(m) = hls_without_uris(&fmp4) else {
        panic!("media playlist expected")
    };
    assert_eq!(m.segments.len(), 5);
    assert!(m.segments[0].key.is_some() && m.segments[0].map.is_some());
    assert!((m.segments[2].duration - 4.004).abs() < 1e-6);
    let master = load("hls/master_renditions.m3u8");
    let m3u8_rs::Playlist::MasterPlaylist(m) = hls_without_uris(&master) else {
        panic!("master playlist expected")
    };
    assert_eq!(
        (m.variants.len(), m.alternatives.len(), m.session_key.len()),
        (3, 3, 1)
    );
}

#[test]
fn dash_parse_equivalence_with_dash_mpd_core() {
    for f in FIXTURES
        .iter()
        .filter(|f| f.good() && f.kind() == ManifestKind::Dash)
    {
        let input = f.text();
        let out = rewrite(f.kind(), &input, &f.mapper()).unwrap();
        assert_eq!(
            dash_without_urls(&input),
            dash_without_urls(&out),
            "{}",
            f.file
        );
        // And the model is not trivially empty.
        let mpd = dash_mpd_core::parse(&out).unwrap();
        let reps: Vec<(Option<String>, Option<u64>)> = mpd
            .periods
            .iter()
            .flat_map(|p| &p.adaptations)
            .flat_map(|a| &a.representations)
            .map(|r| (r.id.clone(), r.bandwidth))
            .collect();
        assert!(!reps.is_empty(), "{}", f.file);
    }
}

#[test]
fn dash_every_url_resolves_to_the_same_upstream_url() {
    let mut total = 0;
    for f in FIXTURES
        .iter()
        .filter(|f| f.good() && f.kind() == ManifestKind::Dash)
    {
        let input = f.text();
        let out = rewrite(f.kind(), &input, &f.mapper()).unwrap();
        let before = dash_urls(&dash_mpd_core::parse(&input).unwrap(), &f.upstream_url());
        let after = dash_urls(&dash_mpd_core::parse(&out).unwrap(), &f.gate_url());
        let labels = |v: &[(String, Url)]| v.iter().map(|(l, _)| l.clone()).collect::<Vec<_>>();
        assert_eq!(labels(&before), labels(&after), "{}", f.file);
        for ((what, a), (_, b)) in before.iter().zip(&after) {
            assert_maps_back(a, b, &format!("{}: {what}", f.file));
            total += 1;
        }
        // As written, every URL is in proxy form, except the two templates shared by
        // Representations with different (rewritten) BaseURLs, and resolve-to-zero.
        let shared = ["init-$Bandwidth$.mp4", "chunk-$Bandwidth$-$Number$.m4s"];
        for raw in dash_raw_urls(&dash_mpd_core::parse(&out).unwrap()) {
            if !(shared.contains(&raw.as_str()) || raw.starts_with("urn:mpeg:dash:resolve-to-zero"))
            {
                assert_proxy_form(&raw, &raw, &format!("{}: raw URL", f.file));
            }
        }
    }
    assert!(total >= 40, "only {total} URLs checked");
}

#[test]
fn dash_rewritten_urls_are_correct_on_their_own() {
    // Players such as ffmpeg use only the innermost BaseURL: the Representation-level one must
    // already be the full proxy path, and a template under a single base is absolute.
    let f = FIXTURES
        .iter()
        .find(|f| f.file.ends_with("baseurl_levels_timeline.mpd"))
        .unwrap();
    let out = rewrite(f.kind(), &f.text(), &f.mapper()).unwrap();
    let s = format!("{PREFIX}/video/:/transcode/universal/session/{DASH_SESSION}");
    for want in [
        format!("<BaseURL>{s}/</BaseURL>"),
        format!("<BaseURL>{s}/dash/</BaseURL>"),
        format!("<BaseURL serviceLocation=\"lan\">{s}/dash/video/</BaseURL>"),
        format!("<BaseURL>{s}/dash/video/hd/</BaseURL>"),
        format!("<BaseURL>{s}/audio/a128/</BaseURL>"),
        format!("<BaseURL>{s}/subs/</BaseURL>"),
        format!("initialization=\"{s}/dash/video/hd/$RepresentationID$/init.mp4\""),
        format!("media=\"{s}/dash/video/hd/$RepresentationID$/seg-$Number%05d$.m4s?t=$Time$\""),
        format!("<Location>{s}/manifest.mpd</Location>"),
        // Inherited by two Representations with different BaseURLs: stays relative.
        "media=\"chunk-$Bandwidth$-$Number$.m4s\"".to_owned(),
        format!("media=\"{s}/subs/$RepresentationID$/$Number$.m4s\""),
    ] {
        assert!(out.contains(&want), "missing {want} in\n{out}");
    }
    let v = FIXTURES
        .iter()
        .find(|f| f.file.ends_with("vendor_xlink.mpd"))
        .unwrap();
    let out = rewrite(v.kind(), &v.text(), &v.mapper()).unwrap();
    for want in [
        format!("xlink:href=\"{s}/period1.xml?a=1\""),
        "xlink:href=\"urn:mpeg:dash:resolve-to-zero:2013\"".to_owned(),
        format!("initialization=\"{s}/$RepresentationID$/header?a=1&amp;b=2\""),
        format!("media='{s}/$RepresentationID$/$Number%05d$.m4s?a=1'"),
        "<plex:Extra plex:kind=\"debug\">kept <b>verbatim</b> &amp; untouched</plex:Extra>"
            .to_owned(),
        "<!-- a comment inside the period -->".to_owned(),
    ] {
        assert!(out.contains(&want), "missing {want} in\n{out}");
    }
    let l = FIXTURES
        .iter()
        .find(|f| f.file.ends_with("segment_list_base.mpd"))
        .unwrap();
    let out = rewrite(l.kind(), &l.text(), &l.mapper()).unwrap();
    for want in [
        format!("sourceURL=\"{s}/list/file.mp4?part=init\" range=\"0-719\""),
        format!(
            "media=\"{s}/list/file.mp4?part=2&amp;q=a%20b&amp;r=1\" mediaRange=\"100720-200719\""
        ),
        format!("<BaseURL>{s}/list/single.mp4</BaseURL>"),
        format!("<RepresentationIndex sourceURL=\"{s}/list/index-240.sidx\"/>"),
    ] {
        assert!(out.contains(&want), "missing {want} in\n{out}");
    }
}

#[test]
fn dash_template_identifiers_are_template_text_and_every_segment_url_is_in_scope() {
    // `$Number%05d$` and friends used to be percent-decoded by the scope check (`%05` as an
    // escape) and the whole manifest refused as out of scope.
    let f = FIXTURES
        .iter()
        .find(|f| f.file.ends_with("template_identifiers.mpd"))
        .unwrap();
    let input = f.text();
    let out = rewrite(f.kind(), &input, &f.mapper()).expect("template identifiers are valid");
    let s = format!("{PREFIX}/video/:/transcode/universal/session/{DASH_SESSION}");
    for want in [
        format!("media=\"{s}/$RepresentationID$/$Number%05d$.m4s\""),
        format!("initialization=\"{s}/t/init-$Bandwidth%08d$.mp4\""),
        format!("media=\"{s}/t/$Time%010d$-$Bandwidth$-$$-$Time$.m4s\""),
        format!(
            "media=\"{s}/a/$RepresentationID$-$Number$-$SubNumber$-$Number%04x$-$Number%06X$.m4s\""
        ),
    ] {
        assert!(out.contains(&want), "missing {want} in\n{out}");
    }
    // What a player derives from each template (identifiers substituted) is a URL the proxy
    // accepts under this ticket: canonical and inside the playback scope.
    let mpd = dash_mpd_core::parse(&out).unwrap();
    let scope = Scope::Playback { prefix: f.scope() };
    let mut checked = 0;
    for (what, url) in dash_urls(&mpd, &f.gate_url()) {
        if !what.contains("template") {
            continue;
        }
        for n in ["0", "1", "42", "00042", "123456789"] {
            let concrete = plexgate::stream::manifest::expand_templates(url.path(), n);
            let rest = concrete
                .strip_prefix(PREFIX)
                .unwrap_or_else(|| panic!("{what}: {concrete} is not under the proxy prefix"));
            let path = scope::canonicalize(rest)
                .unwrap_or_else(|e| panic!("{what}: {concrete} is not canonical: {e:?}"));
            scope::check(&scope, &http::Method::GET, &path)
                .unwrap_or_else(|e| panic!("{what}: {concrete} is out of scope: {e:?}"));
            checked += 1;
        }
    }
    assert!(checked >= 5 * 6, "checked {checked} derived URLs");
    // An escape out of the scope through a template is still refused.
    let escape = input.replace(
        "session/ws8ajlwvogju2sue33m2sqnl/a/$RepresentationID$-init.mp4",
        "session/ws8ajlwvogju2sue33m2sqnl/../other/$Number%05d$-init.mp4",
    );
    assert!(matches!(
        rewrite(f.kind(), &escape, &f.mapper()),
        Err(RewriteError::OutOfScope)
    ));
}

#[test]
fn dash_crlf_and_byte_order_mark_keep_their_bytes() {
    for f in FIXTURES
        .iter()
        .filter(|f| f.good() && f.kind() == ManifestKind::Dash)
    {
        let lf = rewrite(f.kind(), &f.text(), &f.mapper()).unwrap();
        let crlf_input = format!("\u{feff}{}", f.text().replace('\n', "\r\n"));
        let crlf = rewrite(f.kind(), &crlf_input, &f.mapper()).unwrap();
        assert_eq!(
            crlf,
            format!("\u{feff}{}", lf.replace('\n', "\r\n")),
            "{}",
            f.file
        );
    }
}

#[test]
fn pms_start_manifests_rewrite_to_the_documented_paths() {
    let f = &FIXTURES[0];
    let out = rewrite(f.kind(), &f.text(), &f.mapper()).unwrap();
    assert_eq!(
        out,
        format!(
            "#EXTM3U\n#EXT-X-STREAM-INF:PROGRAM-ID=1,BANDWIDTH=4376000,RESOLUTION=1280x534,FRAME-RATE=23.976000\n\
             {PREFIX}/video/:/transcode/universal/session/{HLS_SESSION}/base/index.m3u8\n"
        )
    );
    let d = FIXTURES
        .iter()
        .find(|f| f.file == "dash/pms_start.mpd")
        .unwrap();
    let out = rewrite(d.kind(), &d.text(), &d.mapper()).unwrap();
    let s = format!("{PREFIX}/video/:/transcode/universal/session/{DASH_SESSION}");
    assert_eq!(
        out,
        d.text()
            .replace(
                &format!("\"session/{DASH_SESSION}/$RepresentationID$/header\""),
                &format!("\"{s}/$RepresentationID$/header\"")
            )
            .replace(
                &format!("\"session/{DASH_SESSION}/$RepresentationID$/$Number$.m4s\""),
                &format!("\"{s}/$RepresentationID$/$Number$.m4s\"")
            )
    );
}

/// Every encoding of the fake token the leak canary looks for.
fn token_forms() -> Vec<String> {
    let enc_all = |s: &str| s.bytes().map(|b| format!("%{b:02X}")).collect::<String>();
    let mut forms = vec![TOKEN.to_owned(), enc_all(TOKEN), enc_all(&enc_all(TOKEN))];
    for s in [TOKEN.to_owned(), format!("X-Plex-Token={TOKEN}")] {
        forms.push(base64::engine::general_purpose::STANDARD.encode(&s));
        forms.push(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&s));
    }
    forms.iter().map(|f| f.to_ascii_lowercase()).collect()
}

#[test]
fn no_output_leaks_the_token() {
    let forms = token_forms();
    let outputs: Vec<(String, String)> = FIXTURES
        .iter()
        .filter(|f| f.good())
        .map(|f| {
            (
                f.file.to_owned(),
                rewrite(f.kind(), &f.text(), &f.mapper()).unwrap(),
            )
        })
        .collect();
    // Sanity: the canary would fire on the inputs.
    let inputs_with_token = FIXTURES
        .iter()
        .filter(|f| f.good() && f.text().contains(TOKEN))
        .count();
    assert!(inputs_with_token >= 6);
    for (file, out) in outputs {
        let lower = out.to_ascii_lowercase();
        assert!(
            !lower.contains("x-plex-token"),
            "{file}: X-Plex-Token in output"
        );
        assert!(!lower.contains("x-plex-client-identifier"), "{file}");
        for form in &forms {
            assert!(
                !lower.contains(form.as_str()),
                "{file}: token form {form} in output"
            );
        }
    }
}

#[test]
fn hostile_manifests_fail_closed_with_the_right_error() {
    for f in FIXTURES.iter().filter(|f| !f.good()) {
        let mut out = String::from("untouched");
        let res = match f.kind() {
            ManifestKind::Hls => rewrite_hls(&f.text(), &f.mapper(), &mut out),
            ManifestKind::Dash => rewrite_mpd(&f.text(), &f.mapper(), &mut out),
        };
        let err = res.expect_err(f.file);
        let ok = match f.expect {
            Expect::ForeignHost => matches!(err, RewriteError::ForeignHost { .. }),
            Expect::OutOfScope => matches!(err, RewriteError::OutOfScope),
            Expect::BadPath => matches!(err, RewriteError::BadPath { .. }),
            Expect::Rewrite => unreachable!(),
        };
        assert!(ok, "{}: expected {:?}, got {err:?}", f.file, f.expect);
        assert_eq!(out, "untouched", "{}: partial output on error", f.file);
        let msg = format!("{err} {err:?}");
        for secret in [TOKEN, TICKET, "?", "session/", HLS_SESSION, DASH_SESSION] {
            assert!(
                !msg.contains(secret),
                "{}: error message leaks {secret}: {msg}",
                f.file
            );
        }
        // The fixtures parse as manifests: validation alone would not have caught them.
        match f.kind() {
            ManifestKind::Hls => validate_hls(f.text().as_bytes()).unwrap(),
            ManifestKind::Dash => validate_mpd(f.text().as_bytes()).unwrap(),
        }
    }
}

#[test]
fn data_and_skd_uris_pass_untouched() {
    let f = FIXTURES
        .iter()
        .find(|f| f.file.ends_with("fmp4_key_map.m3u8"))
        .unwrap();
    let out = rewrite(f.kind(), &f.text(), &f.mapper()).unwrap();
    assert!(out.contains("URI=\"skd://twelve-key-ids\""));
    assert!(out.contains("URI=\"data:text/plain;base64,AAECAwQFBgcICQoLDA0ODw==\""));
}

#[test]
fn validators_accept_the_corpus_and_reject_html_and_truncated_bodies() {
    for f in FIXTURES {
        match f.kind() {
            ManifestKind::Hls => validate_hls(f.text().as_bytes()).expect(f.file),
            ManifestKind::Dash => validate_mpd(f.text().as_bytes()).expect(f.file),
        }
    }
    let is_bad = |r: Result<(), RewriteError>| matches!(r, Err(RewriteError::BadManifest { .. }));
    let html = load("html_404.html");
    assert!(is_bad(validate_hls(html.as_bytes())));
    assert!(is_bad(validate_mpd(html.as_bytes())));
    let json = br#"{"MediaContainer":{"size":0}}"#;
    assert!(is_bad(validate_hls(json)) && is_bad(validate_mpd(json)));
    for (file, cut) in [
        ("hls/pms_media_ts.m3u8", 0.6),
        ("hls/media_fmp4_key_map.m3u8", 0.5),
        ("hls/media_fmp4_key_map.m3u8", 0.7),
        ("hls/master_renditions.m3u8", 0.6),
    ] {
        let text = load(file);
        let body = &text.as_bytes()[..(text.len() as f64 * cut) as usize];
        assert!(is_bad(validate_hls(body)), "{file} cut at {cut}");
    }
    for file in [
        "dash/pms_start.mpd",
        "dash/vendor_xlink.mpd",
        "dash/baseurl_levels_timeline.mpd",
    ] {
        let text = load(file);
        for cut in [0.3, 0.5, 0.9, 0.99] {
            let body = &text.as_bytes()[..(text.len() as f64 * cut) as usize];
            assert!(is_bad(validate_mpd(body)), "{file} cut at {cut}");
        }
    }
    validate_hls(hls_10k().as_bytes()).unwrap();
    validate_mpd(dash_10k().as_bytes()).unwrap();
    // The rewriters themselves refuse what is obviously not a manifest.
    let f = &FIXTURES[0];
    assert!(is_bad(
        rewrite(ManifestKind::Hls, &html, &f.mapper()).map(drop)
    ));
    assert!(is_bad(
        rewrite(ManifestKind::Dash, &html, &f.mapper()).map(drop)
    ));
    let d = FIXTURES
        .iter()
        .find(|f| f.file == "dash/pms_start.mpd")
        .unwrap();
    let mpd = d.text();
    for cut in [0.3, 0.5, 0.9, 0.99] {
        let body = &mpd[..(mpd.len() as f64 * cut) as usize];
        assert!(
            is_bad(rewrite(ManifestKind::Dash, body, &d.mapper()).map(drop)),
            "cut {cut}"
        );
    }
}

#[test]
fn generated_10k_manifests_keep_their_counts() {
    let media = Url::parse(&format!("{UPSTREAM}{MEDIA_M3U8}")).unwrap();
    let scope = format!("/video/:/transcode/universal/session/{HLS_SESSION}/");
    let m = UriMapper::new(&media, PREFIX, move |p| p.starts_with(&scope));
    let input = hls_10k();
    let out = rewrite(ManifestKind::Hls, &input, &m).unwrap();
    let segments = |t: &str| match m3u8_rs::parse_playlist_res(t.as_bytes()).unwrap() {
        m3u8_rs::Playlist::MediaPlaylist(p) => p.segments.len(),
        m3u8_rs::Playlist::MasterPlaylist(_) => 0,
    };
    assert_eq!((segments(&input), segments(&out)), (10_000, 10_000));
    let gate = Url::parse(&format!("{GATE}{PREFIX}{MEDIA_M3U8}")).unwrap();
    assert_eq!(check_hls_lines(&input, &out, &media, &gate), 10_000);

    let start = Url::parse(&format!("{UPSTREAM}{START_MPD}?session={DASH_SESSION}")).unwrap();
    let scope = format!("/video/:/transcode/universal/session/{DASH_SESSION}/");
    let m = UriMapper::new(&start, PREFIX, move |p| p.starts_with(&scope));
    let input = dash_10k();
    let out = rewrite(ManifestKind::Dash, &input, &m).unwrap();
    let count = |t: &str| {
        let mpd = dash_mpd_core::parse(t).unwrap();
        let st = mpd.periods[0].adaptations[0]
            .SegmentTemplate
            .clone()
            .unwrap();
        (
            st.SegmentTimeline.unwrap().segments.len(),
            st.media.unwrap(),
        )
    };
    let (n_in, _) = count(&input);
    let (n_out, media_out) = count(&out);
    assert_eq!((n_in, n_out), (10_000, 10_000));
    assert_eq!(
        media_out,
        format!(
            "{PREFIX}/video/:/transcode/universal/session/{DASH_SESSION}/$RepresentationID$/$Number%05d$.m4s"
        )
    );
    assert_eq!(input.lines().count(), out.lines().count());
}

// ---------------------------------------------------------------------------------------------
// Property test: random HLS playlists

const PROP_SCOPE: &str =
    "/video/:/transcode/universal/session/7d0f1e8a-5c44-4d3b-9e21-6a7b8c9d0e1f/";

fn prop_uri() -> impl Strategy<Value = String> {
    let file = (
        "[a-z0-9]{1,8}",
        prop::sample::select(vec!["ts", "m4s", "m3u8", "key", "mp4"]),
    )
        .prop_map(|(n, e)| format!("{n}.{e}"));
    let dir = prop::sample::select(vec![
        "",
        "sub/",
        "./",
        "../audio/",
        "../base/x/../",
        "deep/er/",
    ]);
    let form = prop::sample::select(vec![0u8, 1, 2]);
    let query = prop::sample::select(vec![
        "",
        "?a=1",
        "?X-Plex-Token=T0kFAKEplexgate42",
        "?a=1&x-plex-token=T0kFAKEplexgate42&b=2",
        "?X-Plex-Client-Identifier=c1&n=$x",
        "?token=T0kFAKEplexgate42",
    ]);
    (form, dir, file, query).prop_map(|(form, dir, file, query)| match form {
        0 => format!("{dir}{file}{query}"),
        1 => format!("{PROP_SCOPE}base/{dir}{file}{query}"),
        _ => format!("{UPSTREAM}{PROP_SCOPE}base/{dir}{file}{query}"),
    })
}

/// An attribute list in a random order; `(name, value)` with values already quoted as needed.
fn attr_list(attrs: Vec<(&'static str, String)>) -> impl Strategy<Value = String> {
    Just(attrs).prop_shuffle().prop_map(|attrs| {
        attrs
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    })
}

fn prop_media_playlist() -> impl Strategy<Value = Vec<String>> {
    let key = prop::option::of((prop_uri(), "[0-9a-f]{32}").prop_flat_map(|(u, iv)| {
        attr_list(vec![
            ("METHOD", "AES-128".into()),
            ("URI", format!("\"{u}\"")),
            ("IV", format!("0x{iv}")),
            ("KEYFORMAT", "\"identity\"".into()),
        ])
        .prop_map(|a| format!("#EXT-X-KEY:{a}"))
    }));
    let vendor = prop::option::of(prop_uri().prop_flat_map(|u| {
        attr_list(vec![
            ("A", "\"x,y\"".into()),
            ("URI", format!("\"{u}\"")),
            ("B", "7".into()),
        ])
        .prop_map(|a| format!("#EXT-X-PLEX-NOTE:{a}"))
    }));
    let date = prop::option::of((prop_uri(), 0u32..59).prop_flat_map(|(u, s)| {
        attr_list(vec![
            ("ID", format!("\"d{s}\"")),
            ("START-DATE", format!("\"2024-01-01T00:00:{s:02}.000Z\"")),
            ("X-ASSET-URI", format!("\"{u}\"")),
            ("X-COM-NOTE", "\"a,b\"".into()),
        ])
        .prop_map(|a| format!("#EXT-X-DATERANGE:{a}"))
    }));
    let segment = (
        key,
        vendor,
        date,
        any::<bool>(),
        (1u32..10_000, "[A-Za-z ]{0,10}", prop_uri()),
        prop::option::of((1u32..100_000, 0u32..100_000)),
    )
        .prop_map(|(key, vendor, date, comment, (dur, title, uri), range)| {
            let mut lines: Vec<String> = key.into_iter().chain(vendor).chain(date).collect();
            if comment {
                lines.push("# a comment, with URI=\"x\"".into());
            }
            lines.push(format!("#EXTINF:{}.{:03},{title}", dur / 1000, dur % 1000));
            if let Some((len, off)) = range {
                lines.push(format!("#EXT-X-BYTERANGE:{len}@{off}"));
            }
            lines.push(uri);
            lines
        });
    (
        prop::option::of(prop_uri()),
        prop::collection::vec(segment, 1..12),
        any::<bool>(),
        prop::option::of(prop_uri()),
    )
        .prop_map(|(map, segments, endlist, part)| {
            let mut lines = vec![
                "#EXTM3U".to_owned(),
                "#EXT-X-VERSION:7".into(),
                "#EXT-X-TARGETDURATION:10".into(),
                "#EXT-X-MEDIA-SEQUENCE:3".into(),
            ];
            if let Some(m) = map {
                lines.push(format!("#EXT-X-MAP:URI=\"{m}\",BYTERANGE=\"720@0\""));
            }
            lines.extend(segments.into_iter().flatten());
            if let Some(p) = part {
                lines.push(format!("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{p}\""));
            }
            if endlist {
                lines.push("#EXT-X-ENDLIST".into());
            }
            lines
        })
}

fn prop_master_playlist() -> impl Strategy<Value = Vec<String>> {
    let media = (prop_uri(), "[A-Za-z]{1,6}", any::<bool>()).prop_flat_map(|(u, name, default)| {
        attr_list(vec![
            ("TYPE", "AUDIO".into()),
            ("GROUP-ID", "\"aud\"".into()),
            ("NAME", format!("\"{name}, stereo\"")),
            ("LANGUAGE", "\"en\"".into()),
            ("DEFAULT", if default { "YES" } else { "NO" }.into()),
            ("URI", format!("\"{u}\"")),
        ])
        .prop_map(|a| vec![format!("#EXT-X-MEDIA:{a}")])
    });
    let variant = (prop_uri(), 1u64..10_000_000).prop_flat_map(|(u, bw)| {
        attr_list(vec![
            ("BANDWIDTH", bw.to_string()),
            ("CODECS", "\"avc1.64001f,mp4a.40.2\"".into()),
            ("RESOLUTION", "1280x720".into()),
            ("AUDIO", "\"aud\"".into()),
        ])
        .prop_map(move |a| vec![format!("#EXT-X-STREAM-INF:{a}"), u.clone()])
    });
    let iframe = (prop_uri(), 1u64..1_000_000).prop_flat_map(|(u, bw)| {
        attr_list(vec![
            ("BANDWIDTH", bw.to_string()),
            ("URI", format!("\"{u}\"")),
        ])
        .prop_map(|a| vec![format!("#EXT-X-I-FRAME-STREAM-INF:{a}")])
    });
    (
        prop::collection::vec(media, 0..4),
        prop::collection::vec(variant, 1..5),
        prop::collection::vec(iframe, 0..3),
    )
        .prop_map(|(media, variants, iframes)| {
            let mut lines = vec!["#EXTM3U".to_owned(), "#EXT-X-INDEPENDENT-SEGMENTS".into()];
            // Distinct NAMEs within the group, as RFC 8216 requires.
            for (i, mut m) in media.into_iter().enumerate() {
                m[0] = m[0].replacen(", stereo", &format!(", stereo {i}"), 1);
                lines.extend(m);
            }
            lines.extend(variants.into_iter().flatten());
            lines.extend(iframes.into_iter().flatten());
            lines
        })
}

fn prop_playlist() -> impl Strategy<Value = String> {
    let lines = prop_oneof![prop_media_playlist(), prop_master_playlist()];
    (
        lines,
        prop::collection::vec(any::<bool>(), 64),
        any::<bool>(),
    )
        .prop_map(|(lines, crlf, final_eol)| {
            let n = lines.len();
            let mut s = String::new();
            for (i, l) in lines.into_iter().enumerate() {
                s.push_str(&l);
                if i + 1 < n || final_eol {
                    s.push_str(if crlf[i % crlf.len()] { "\r\n" } else { "\n" });
                }
            }
            s
        })
}

proptest! {
    // No regression file: failures print their minimal case, and the checkout is shared.
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_hls_playlists_rewrite_losslessly(input in prop_playlist()) {
        let manifest = Url::parse(&format!("{UPSTREAM}{MEDIA_M3U8}")).unwrap();
        let identity = rewrite(ManifestKind::Hls, &input, &Identity(manifest.clone())).unwrap();
        prop_assert!(identity == input, "identity changed bytes");

        let m = UriMapper::new(&manifest, PREFIX, |p| p.starts_with(PROP_SCOPE));
        let out = rewrite(ManifestKind::Hls, &input, &m).unwrap();
        prop_assert_eq!(input.matches('\n').count(), out.matches('\n').count());
        let gate = Url::parse(&format!("{GATE}{PREFIX}{MEDIA_M3U8}")).unwrap();
        check_hls_lines(&input, &out, &manifest, &gate);
        prop_assert_eq!(hls_without_uris(&input), hls_without_uris(&out));
        prop_assert!(!out.to_ascii_lowercase().contains("x-plex-token"));
        prop_assert!(!out.contains(TOKEN));
    }
}
