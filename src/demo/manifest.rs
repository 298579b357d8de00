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

/// A media playlist played `loops` times back to back: the segments repeat after an
/// `EXT-X-DISCONTINUITY` (their timestamps start again), with the init segment named again.
pub(crate) fn looped_m3u8(playlist: &str, loops: u32) -> String {
    let body_start = playlist.find("#EXTINF").unwrap_or(playlist.len());
    let (head, rest) = playlist.split_at(body_start);
    let body = rest
        .replace("#EXT-X-ENDLIST\n", "")
        .replace("#EXT-X-ENDLIST", "");
    let map = head.lines().find(|l| l.starts_with("#EXT-X-MAP:"));
    let mut out = head.to_string();
    for i in 0..loops {
        if i > 0 {
            out.push_str("#EXT-X-DISCONTINUITY\n");
            if let Some(map) = map {
                let _ = writeln!(out, "{map}");
            }
        }
        out.push_str(&body);
    }
    out.push_str("#EXT-X-ENDLIST\n");
    out
}

/// The DASH MPD for a session: one video AdaptationSet with a Representation per rendition, one
/// audio AdaptationSet; ids are the `dash/<id>/` directories. A title longer than the media
/// (`loops` > 1) is that many Periods over the same segments, each starting where the last ended.
pub(crate) fn mpd(session: &str, renditions: &[usize], facts: &Facts, loops: u32) -> String {
    let dur = iso_duration(facts.duration_ms);
    let total = iso_duration(facts.duration_ms * u64::from(loops.max(1)));
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
        "<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" profiles=\"urn:mpeg:dash:profile:isoff-live:2011\" type=\"static\" mediaPresentationDuration=\"{total}\" maxSegmentDuration=\"PT{}S\" minBufferTime=\"PT4S\">",
        facts.segment_seconds
    );
    for k in 0..loops.max(1) {
        let start = iso_duration(facts.duration_ms * u64::from(k));
        let _ = writeln!(
            out,
            "  <Period id=\"{k}\" start=\"{start}\" duration=\"{dur}\">"
        );
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
        out.push_str("      </Representation>\n    </AdaptationSet>\n  </Period>\n");
    }
    out.push_str("</MPD>\n");
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
        let d = mpd("abc", &[0, 1], &facts, 1);
        assert!(d.contains("startNumber=\"0\""));
        assert!(d.contains("media=\"session/abc/$RepresentationID$/$Number$.m4s\""));
        assert!(d.contains("mediaPresentationDuration=\"PT10.000S\""));
        assert_eq!(iso_duration(7_260_500), "PT7260.500S");
        let long = mpd("abc", &[0], &facts, 6);
        assert!(long.contains("mediaPresentationDuration=\"PT60.000S\""));
        assert!(long.contains("<Period id=\"5\" start=\"PT50.000S\" duration=\"PT10.000S\">"));
    }

    #[test]
    fn a_looped_playlist_repeats_the_segments_after_a_discontinuity() {
        let one = "#EXTM3U\n#EXT-X-MAP:URI=\"header\"\n#EXTINF:2.0,\n0.m4s\n#EXTINF:2.0,\n1.m4s\n#EXT-X-ENDLIST\n";
        let three = looped_m3u8(one, 3);
        assert_eq!(three.matches("#EXTINF").count(), 6);
        assert_eq!(
            three
                .matches("#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"header\"\n")
                .count(),
            2
        );
        assert!(three.ends_with("1.m4s\n#EXT-X-ENDLIST\n"));
        assert_eq!(three.matches("#EXT-X-ENDLIST").count(), 1);
        assert_eq!(looped_m3u8(one, 1), one);
    }
}
