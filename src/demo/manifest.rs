//! The manifests `start.m3u8` and `start.mpd` answer (protocol §5.4–§5.5).
//!
//! Why: these are what plexgate rewrites, so their shapes must be PMS's: a master playlist with
//! relative `session/<id>/<rendition>/index.m3u8` variant URIs (and, when asked, a
//! `vtt-base` subtitle rendition), and an MPD with AdaptationSet-level SegmentTemplates
//! `session/<id>/$RepresentationID$/header` / `…/$Number$.m4s` with `startNumber="0"`.
//! They never contain a token or an absolute URL: the session id in the path is the capability.
//! The media playlists themselves are the files `make.sh` wrote, served as they are.

use std::fmt::Write as _;

use super::media::Facts;

/// The HLS master playlist for a session: one variant per rendition (highest first).
pub(crate) fn master_m3u8(
    session: &str,
    renditions: &[usize],
    facts: &Facts,
    subtitles: bool,
) -> String {
    let mut out = String::from("#EXTM3U\n");
    if subtitles {
        let _ = writeln!(
            out,
            "#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"subs\",NAME=\"English\",LANGUAGE=\"en\",DEFAULT=NO,AUTOSELECT=YES,FORCED=NO,URI=\"session/{session}/vtt-base/index.m3u8\""
        );
    }
    for &i in renditions {
        let r = &facts.renditions[i];
        let _ = write!(
            out,
            "#EXT-X-STREAM-INF:PROGRAM-ID=1,BANDWIDTH={},RESOLUTION={}x{},FRAME-RATE={}.000000",
            r.hls_bandwidth, r.width, r.height, facts.frame_rate
        );
        if subtitles {
            out.push_str(",SUBTITLES=\"subs\"");
        }
        let _ = writeln!(out, "\nsession/{session}/{}/index.m3u8", r.name);
    }
    out
}

/// `PT10.000S` for a millisecond duration.
fn iso_duration(ms: u64) -> String {
    format!("PT{}.{:03}S", ms / 1000, ms % 1000)
}

/// The DASH MPD for a session: one video AdaptationSet with a Representation per rendition, one
/// audio AdaptationSet; ids are the `dash/<id>/` directories.
pub(crate) fn mpd(session: &str, renditions: &[usize], facts: &Facts) -> String {
    let dur = iso_duration(facts.duration_ms);
    let seg_ms = facts.segment_seconds * 1000;
    let template = format!(
        "      <SegmentTemplate timescale=\"1000\" duration=\"{seg_ms}\" startNumber=\"0\" initialization=\"session/{session}/$RepresentationID$/header\" media=\"session/{session}/$RepresentationID$/$Number$.m4s\"/>\n"
    );
    let (max_w, max_h) = renditions
        .iter()
        .map(|&i| (facts.renditions[i].width, facts.renditions[i].height))
        .max()
        .unwrap_or((0, 0));
    let mut out = String::new();
    out.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    let _ = writeln!(
        out,
        "<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" profiles=\"urn:mpeg:dash:profile:isoff-live:2011\" type=\"static\" mediaPresentationDuration=\"{dur}\" maxSegmentDuration=\"PT{}S\" minBufferTime=\"PT4S\">",
        facts.segment_seconds
    );
    let _ = writeln!(out, "  <Period id=\"0\" start=\"PT0S\" duration=\"{dur}\">");
    let _ = writeln!(
        out,
        "    <AdaptationSet id=\"0\" contentType=\"video\" mimeType=\"video/mp4\" segmentAlignment=\"true\" startWithSAP=\"1\" maxWidth=\"{max_w}\" maxHeight=\"{max_h}\" frameRate=\"{}\">",
        facts.frame_rate
    );
    out.push_str(&template);
    for &i in renditions {
        let r = &facts.renditions[i];
        let _ = writeln!(
            out,
            "      <Representation id=\"{}\" codecs=\"{}\" bandwidth=\"{}\" width=\"{}\" height=\"{}\" sar=\"1:1\"/>",
            r.dash_id, r.codecs, r.video_bandwidth, r.width, r.height
        );
    }
    out.push_str("    </AdaptationSet>\n");
    let a = &facts.audio;
    out.push_str("    <AdaptationSet id=\"1\" contentType=\"audio\" mimeType=\"audio/mp4\" lang=\"en\" segmentAlignment=\"true\" startWithSAP=\"1\">\n");
    out.push_str(&template);
    let _ = writeln!(
        out,
        "      <Representation id=\"{}\" codecs=\"{}\" bandwidth=\"{}\" audioSamplingRate=\"{}\">",
        a.dash_id, a.codecs, a.bandwidth, a.sampling_rate
    );
    let _ = writeln!(
        out,
        "        <AudioChannelConfiguration schemeIdUri=\"urn:mpeg:dash:23003:3:audio_channel_configuration:2011\" value=\"{}\"/>",
        a.channels
    );
    out.push_str("      </Representation>\n    </AdaptationSet>\n  </Period>\n</MPD>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn master_and_mpd_shapes() {
        let facts = Facts::load().expect("facts");
        let m = master_m3u8("abc", &[0, 1], &facts, true);
        assert!(m.starts_with("#EXTM3U\n#EXT-X-MEDIA:TYPE=SUBTITLES"));
        assert!(m.contains("\nsession/abc/base/index.m3u8\n"));
        assert!(m.contains("\nsession/abc/base-low/index.m3u8\n"));
        assert!(!m.contains("X-Plex-Token"));
        let d = mpd("abc", &[0, 1], &facts);
        assert!(d.contains("startNumber=\"0\""));
        assert!(d.contains("media=\"session/abc/$RepresentationID$/$Number$.m4s\""));
        assert!(d.contains("mediaPresentationDuration=\"PT10.000S\""));
        assert_eq!(iso_duration(7_260_500), "PT7260.500S");
    }
}
