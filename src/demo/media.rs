//! The embedded media (`fixtures/media/**`, compiled in by `build.rs`), its facts, and the one
//! function that serves a file: Range, HEAD, ETag/Last-Modified, content types and body faults.
//!
//! Why: `plexgate demo` must work from any directory, and every byte the demo streams (parts,
//! segments, playlists, images, subtitles) must behave like a PMS file response so plexgate's
//! pass-through is tested for real. It never reads the file system at run time and never
//! buffers or copies a body: frames are `Bytes::from_static` slices.

use http::header::{
    ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG, HeaderValue, IF_NONE_MATCH,
    IF_RANGE, LAST_MODIFIED,
};
use http::{Response, StatusCode};
use http_body_util::BodyExt;
use serde::Deserialize;

use super::body::MediaBody;
use super::faults::Faults;
use super::range::{self, RangeAnswer};
use super::request::Req;
use super::response::{self, Resp};

include!(concat!(env!("OUT_DIR"), "/demo_media.rs"));

/// Changestamp used for `Last-Modified` of every embedded file (the library's `updatedAt`).
const MODIFIED_AT: i64 = 1_716_000_000;

/// One embedded file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct File {
    pub path: &'static str,
    pub bytes: &'static [u8],
    pub etag: &'static str,
}

/// Looks up an embedded file by its path under `fixtures/media/`.
pub(crate) fn file(path: &str) -> Option<File> {
    FILES
        .binary_search_by(|(p, _, _)| (*p).cmp(path))
        .ok()
        .map(|i| {
            let (path, bytes, etag) = FILES[i];
            File { path, bytes, etag }
        })
}

/// Number of files under `dir/` whose name ends with `ext`.
#[cfg(test)]
pub(crate) fn count(dir: &str, ext: &str) -> usize {
    FILES
        .iter()
        .filter(|(p, _, _)| {
            p.strip_prefix(dir)
                .and_then(|rest| rest.strip_prefix('/'))
                .is_some_and(|name| !name.contains('/') && name.ends_with(ext))
        })
        .count()
}

/// The `Content-Type` PMS sends for a file name.
pub(crate) fn content_type(path: &str) -> &'static str {
    let name = path.rsplit('/').next().unwrap_or(path);
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("m3u8") => "application/vnd.apple.mpegurl",
        Some("ts") => "video/mp2t",
        Some("m4s" | "mp4") => "video/mp4",
        Some("vtt") => "text/vtt",
        Some("mpd") => "application/dash+xml",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("png") => "image/png",
        Some("json") => "application/json",
        _ if name == "header" => "video/mp4",
        _ => "application/octet-stream",
    }
}

/// Facts about the media, written by `make.sh` into `facts.json`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Facts {
    pub duration_ms: u64,
    pub segment_seconds: u64,
    pub frame_rate: u32,
    pub audio: AudioFacts,
    /// Video renditions, highest first.
    pub renditions: Vec<Rendition>,
}

/// The single audio representation.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct AudioFacts {
    pub dash_id: String,
    pub codecs: String,
    pub bandwidth: u64,
    pub sampling_rate: u32,
    pub channels: u32,
}

/// One video rendition (`base`, `base-low`).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Rendition {
    pub name: String,
    pub dash_id: String,
    pub width: u32,
    pub height: u32,
    pub codecs: String,
    /// Video-only bits per second (DASH `bandwidth`).
    pub video_bandwidth: u64,
    /// Peak muxed bits per second (HLS `BANDWIDTH`).
    pub hls_bandwidth: u64,
}

impl Facts {
    /// Parses the embedded `facts.json`.
    pub(crate) fn load() -> Result<Facts, String> {
        let f = file("facts.json").ok_or("fixtures/media/facts.json is not embedded")?;
        let facts: Facts =
            serde_json::from_slice(f.bytes).map_err(|e| format!("facts.json: {e}"))?;
        if facts.renditions.is_empty() {
            return Err("facts.json lists no rendition".into());
        }
        Ok(facts)
    }
}

/// Serves `f` for a GET or HEAD, honouring Range/If-Range/If-None-Match and the body faults.
pub(crate) fn serve(req: &Req, f: File, faults: &Faults) -> Resp {
    let len = f.bytes.len() as u64;
    let last_modified = response::http_date(MODIFIED_AT);
    let ignore_range = faults.ignores_range();

    let mut builder = Response::builder()
        .header(CONTENT_TYPE, content_type(f.path))
        .header(ETAG, f.etag)
        .header(LAST_MODIFIED, last_modified.as_str());
    if !ignore_range {
        builder = builder.header(ACCEPT_RANGES, "bytes");
    }

    if let Some(inm) = req.header(IF_NONE_MATCH.as_str())
        && inm
            .split(',')
            .any(|t| t.trim() == f.etag || t.trim() == "*")
    {
        return finish(builder.status(StatusCode::NOT_MODIFIED), response::empty());
    }

    let range_header = req.header(http::header::RANGE.as_str());
    let if_range_ok = req
        .header(IF_RANGE.as_str())
        .is_none_or(|v| v.trim() == f.etag || v.trim() == last_modified);
    let answer = if ignore_range || !if_range_ok {
        RangeAnswer::Full
    } else {
        range::parse(range_header, len)
    };

    let (status, start, end) = match answer {
        RangeAnswer::Full => (StatusCode::OK, 0, len),
        RangeAnswer::Partial { start, end } => {
            builder = builder.header(CONTENT_RANGE, format!("bytes {start}-{end}/{len}"));
            (StatusCode::PARTIAL_CONTENT, start, end + 1)
        }
        RangeAnswer::Unsatisfiable => {
            let mut resp = response::html_error(StatusCode::RANGE_NOT_SATISFIABLE);
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                resp.headers_mut().insert(CONTENT_RANGE, v);
            }
            return resp;
        }
    };
    builder = builder.status(status).header(CONTENT_LENGTH, end - start);
    if req.is_head() {
        return finish(builder, response::empty());
    }
    let body = MediaBody::new(
        f.bytes,
        usize::try_from(start).unwrap_or(usize::MAX),
        usize::try_from(end).unwrap_or(usize::MAX),
        faults.throttle_bps(),
        faults.reset_after(),
    );
    finish(builder, body.boxed_unsync())
}

fn finish(builder: http::response::Builder, body: response::Body) -> Resp {
    builder
        .body(body)
        .unwrap_or_else(|_| response::html_error(StatusCode::INTERNAL_SERVER_ERROR))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_and_facts_are_consistent() {
        let facts = Facts::load().expect("facts");
        assert!(file("movie.mp4").is_some());
        assert!(file("make.sh").is_none());
        let segments = (facts.duration_ms / 1000).div_ceil(facts.segment_seconds) as usize;
        for r in &facts.renditions {
            assert_eq!(count(&format!("hls-ts/{}", r.name), ".ts"), segments);
            assert_eq!(count(&format!("hls-fmp4/{}", r.name), ".m4s"), segments);
            assert!(file(&format!("hls-fmp4/{}/header", r.name)).is_some());
            assert!(count(&format!("dash/{}", r.dash_id), ".m4s") >= segments);
        }
        assert!(count(&format!("dash/{}", facts.audio.dash_id), ".m4s") >= segments);
        assert_eq!(content_type("dash/0/header"), "video/mp4");
        assert_eq!(content_type("hls-ts/base/00000.ts"), "video/mp2t");
    }
}
