//! Response compression (brotli or gzip, chosen from Accept-Encoding) for what compresses well:
//! JSON, HTML, JavaScript, CSS, XML and HLS/DASH manifests. The Express backend compressed its
//! answers; a library listing of several hundred KB shrinks to a tenth (benches/README.md).
//!
//! tower-http's `CompressionLayer` does the work. It never touches a body that already has a
//! Content-Encoding (a precompressed `.br` file) or a Content-Range (a range), drops
//! Content-Length and Accept-Ranges of what it compresses, and adds `Vary: Accept-Encoding`.
//! The predicate here is an **allowlist** of content types: media (video, audio, MPEG-TS,
//! MP4), images and anything unlabelled (`application/octet-stream`) pass untouched, so the
//! streaming proxy's media bodies are never buffered by an encoder. Bodies known to be tiny
//! are left alone too: the headers would cost more than the saving.

use http::header::CONTENT_TYPE;
use http::{HeaderMap, Response};
use tower_http::compression::predicate::{Predicate, SizeAbove};
use tower_http::compression::{CompressionBody, CompressionLayer};

use crate::body::{Body, boxed};

/// Below this many bytes (when the length is known) a body is sent as it is.
const MIN_BYTES: u16 = 256;

/// The layer; its bodies go back into [`Body`] with [`unify`].
pub fn layer() -> CompressionLayer<impl Predicate> {
    CompressionLayer::new()
        .no_deflate()
        .no_zstd()
        .compress_when(SizeAbove::new(MIN_BYTES).and(Compressible))
}

/// Boxes a possibly compressed body back into the one body type.
pub fn unify(resp: Response<CompressionBody<Body>>) -> Response<Body> {
    resp.map(boxed)
}

/// Text-like content types, by their essence (`type/subtype`, parameters ignored).
#[derive(Debug, Clone, Copy)]
struct Compressible;

impl Predicate for Compressible {
    fn should_compress<B: http_body::Body>(&self, response: &Response<B>) -> bool {
        // A spliced body's frames are placeholders, not its bytes: nothing may read them.
        #[cfg(target_os = "linux")]
        if response
            .extensions()
            .get::<crate::relay::Spliced>()
            .is_some()
        {
            return false;
        }
        compressible(response.headers())
    }
}

fn compressible(headers: &HeaderMap) -> bool {
    let Some(essence) = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
    else {
        return false;
    };
    let (kind, subtype) = essence.split_once('/').unwrap_or((essence.as_str(), ""));
    match kind {
        // An event stream must reach the browser event by event, not when an encoder flushes.
        "text" => subtype != "event-stream",
        "application" => {
            matches!(
                subtype,
                "json" | "javascript" | "xml" | "vnd.apple.mpegurl" | "x-mpegurl"
            ) || subtype.ends_with("+json")
                || subtype.ends_with("+xml")
        }
        // HLS playlists are sometimes labelled as audio; they are text, not media.
        "audio" => matches!(subtype, "mpegurl" | "x-mpegurl"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn with_type(ct: &str) -> bool {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_str(ct).expect("header"));
        compressible(&headers)
    }

    #[test]
    fn text_and_manifests_compress() {
        for ct in [
            "application/json",
            "application/json; charset=utf-8",
            "text/html; charset=utf-8",
            "text/javascript",
            "text/css",
            "application/xml",
            "text/xml;charset=utf-8",
            "application/vnd.apple.mpegurl",
            "application/x-mpegURL",
            "audio/mpegurl",
            "application/dash+xml",
            "application/problem+json",
        ] {
            assert!(with_type(ct), "{ct}");
        }
    }

    #[test]
    fn media_images_and_unknown_bodies_do_not() {
        for ct in [
            "video/mp4",
            "video/mp2t",
            "audio/mp4",
            "audio/aac",
            "image/webp",
            "image/jpeg",
            "image/svg+xml",
            "application/octet-stream",
            "application/mp4",
            "text/event-stream",
            "",
        ] {
            assert!(!with_type(ct), "{ct}");
        }
        assert!(!compressible(&HeaderMap::new()));
    }
}
