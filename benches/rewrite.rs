//! Manifest rewrite cost (design §10): a 10,000-segment PMS-style HLS media playlist and a
//! 10,000-`<S>` SegmentTimeline MPD, with the real mapper and with an identity mapping (the pure
//! copy cost of the lossless rewriters).
//!
//! Run: `cargo bench --bench rewrite -- --quick`. Targets on a 2-vCPU box: HLS < 1 ms, DASH < 2 ms.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use plexgate::stream::manifest::{MapUri, RewriteError, UriMapper, rewrite_hls, rewrite_mpd};
use url::Url;

const SESSION: &str = "7d0f1e8a-5c44-4d3b-9e21-6a7b8c9d0e1f";
const PREFIX: &str =
    "/plexgate/api/plex/proxy/AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDE";

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
      <SegmentTemplate timescale="1000" startNumber="0" initialization="session/{SESSION}/$RepresentationID$/header" media="session/{SESSION}/$RepresentationID$/$Number%05d$.m4s">
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

/// Keeps every URI: measures the rewriters' scanning and copying alone.
struct Identity(Url);

impl MapUri for Identity {
    fn manifest_url(&self) -> &Url {
        &self.0
    }
    fn map(&self, uri: &str, _base: &Url) -> Result<String, RewriteError> {
        Ok(uri.to_owned())
    }
    fn map_into(&self, uri: &str, _base: &Url, out: &mut String) -> Result<(), RewriteError> {
        out.push_str(uri);
        Ok(())
    }
}

fn mapper(url: &Url) -> UriMapper {
    let scope = format!("/video/:/transcode/universal/session/{SESSION}/");
    UriMapper::new(url, PREFIX, move |p| p.starts_with(&scope))
}

fn bench(c: &mut Criterion) {
    let hls = hls_10k();
    let mpd = dash_10k();
    let media_url = Url::parse(&format!(
        "http://127.0.0.1:32400/video/:/transcode/universal/session/{SESSION}/base/index.m3u8"
    ))
    .expect("static URL");
    let mpd_url = Url::parse(&format!(
        "http://127.0.0.1:32400/video/:/transcode/universal/start.mpd?session={SESSION}"
    ))
    .expect("static URL");
    let (hls_mapper, mpd_mapper) = (mapper(&media_url), mapper(&mpd_url));
    let (hls_id, mpd_id) = (Identity(media_url.clone()), Identity(mpd_url.clone()));

    let mut g = c.benchmark_group("rewrite");
    g.throughput(Throughput::Bytes(hls.len() as u64));
    g.bench_function("hls_10k_segments", |b| {
        b.iter(|| {
            let mut out = String::new();
            rewrite_hls(black_box(&hls), &hls_mapper, &mut out).expect("rewrites");
            out
        })
    });
    g.bench_function("hls_10k_segments_identity", |b| {
        b.iter(|| {
            let mut out = String::new();
            rewrite_hls(black_box(&hls), &hls_id, &mut out).expect("rewrites");
            out
        })
    });
    g.throughput(Throughput::Bytes(mpd.len() as u64));
    g.bench_function("dash_10k_timeline", |b| {
        b.iter(|| {
            let mut out = String::new();
            rewrite_mpd(black_box(&mpd), &mpd_mapper, &mut out).expect("rewrites");
            out
        })
    });
    g.bench_function("dash_10k_timeline_identity", |b| {
        b.iter(|| {
            let mut out = String::new();
            rewrite_mpd(black_box(&mpd), &mpd_id, &mut out).expect("rewrites");
            out
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
