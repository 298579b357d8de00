//! Inputs the fuzz targets (`fuzz/`) found to break the rewriters, kept as unit tests. Each is also
//! in `fuzz/corpus/<target>/`.

use url::Url;

use super::{MapUri, RewriteError, UriMapper, rewrite_mpd, validate_mpd};

const SESSION: &str = "/video/:/transcode/universal/session/s1/";

fn mapper() -> UriMapper {
    let url =
        Url::parse("http://127.0.0.1:32400/video/:/transcode/universal/session/s1/a.mpd").unwrap();
    UriMapper::new(&url, "/P", |p| p.starts_with(SESSION))
}

fn rewrite(input: &str, m: &impl MapUri) -> Result<String, RewriteError> {
    let mut out = String::new();
    rewrite_mpd(input, m, &mut out).map(|()| out)
}

/// fuzz/corpus/dash/crash_double_bom: quick-xml skips a second byte order mark too, uncounted,
/// so every position was 3 bytes off: a panic slicing inside a character, or splices that keep
/// part of the original URL.
#[test]
fn a_doubled_byte_order_mark_keeps_positions_exact() {
    let crash = b"\xef\xbb\xbf\xef\xbb\xbf<?xm=\"1.0\"?><MPD xm\xcc\xcc\xcc\xcc\xcc\xcc\xcc\xcc\
        lns=\"ur\xfc\xfc\"><Location></Locati<?xm=\"1.0\"?><MPD xm\xcc\xcc\xcc\xcc\xcc\xcc\xcc\
        \xcclns=\"ur\xfc\xfc\"><Location></Location>-PepresentationID$<\x00\nr><>";
    let crash = String::from_utf8_lossy(crash);
    let _ = rewrite(&crash, &mapper());

    let mpd = "<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" type=\"static\" \
        mediaPresentationDuration=\"PT4S\" minBufferTime=\"PT2S\"><Period><AdaptationSet>\
        <SegmentTemplate media=\"http://127.0.0.1:32400/video/:/transcode/universal/session/s1/$Number$.m4s\" \
        initialization=\"init.mp4\"/><Representation id=\"0\" bandwidth=\"1\"/>\
        </AdaptationSet></Period></MPD>";
    let once = rewrite(mpd, &mapper()).unwrap();
    for boms in ["\u{feff}", "\u{feff}\u{feff}", "\u{feff}\u{feff}\u{feff}"] {
        let input = format!("{boms}{mpd}");
        assert_eq!(rewrite(&input, &mapper()).unwrap(), format!("{boms}{once}"));
    }
    let evil = mpd.replace(
        "http://127.0.0.1:32400/video/:/transcode/universal/session/s1/$Number$.m4s",
        "http://evil.example/x/$Number$.m4s",
    );
    assert!(matches!(
        rewrite(&format!("\u{feff}\u{feff}{evil}"), &mapper()),
        Err(RewriteError::ForeignHost { .. })
    ));
    // The proxy validates before it rewrites, and the validator refuses a doubled mark: the
    // rewriter fix is defence in depth.
    assert!(validate_mpd(format!("\u{feff}\u{feff}{mpd}").as_bytes()).is_err());
}
