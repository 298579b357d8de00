//! Images the size users expect: `/api/image/plex` answers lossy output at `image.quality`
//! (default 80), never larger than the JPEG Plex served when no resize was asked. Flixor asks
//! for WebP; the `image` crate's WebP encoder is lossless, which made a poster 3.6 times the
//! JPEG's size, so an opaque image asked as WebP comes back as a lossy JPEG.

use std::io::Cursor;

use crate::support::plex_world::PlexWorld;

/// What the demo Plex's `/photo/:/transcode` serves for the demo movie's poster (300x450).
const PLEX_JPEG: &[u8] = include_bytes!("../../fixtures/media/poster.jpg");
const POSTER: &str = "/library/metadata/101/thumb/1716000000";

fn lossless_webp_len(jpeg: &[u8]) -> usize {
    let img = image::load_from_memory(jpeg).unwrap();
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::WebP).unwrap();
    out.into_inner().len()
}

#[tokio::test]
async fn a_poster_asked_as_webp_at_w342_is_no_larger_than_the_jpeg_plex_serves() {
    let w = PlexWorld::start(&[]).await;
    let canary = w.canary();
    let mut a = w.alice(&canary).await;
    let path = plexgate::util::percent_encode(POSTER);
    let mut seen = Vec::new();
    for query in ["w=342&f=webp", "w=342", "w=200&f=webp", "w=200&f=webp&q=50"] {
        let r = a.get(&format!("/api/image/plex?path={path}&{query}")).await;
        assert_eq!(r.status, 200, "{query}: {}", r.text());
        assert_eq!(r.header("content-type"), Some("image/jpeg"), "{query}");
        image::load_from_memory(&r.body).expect("a readable image");
        seen.push((query, r.body.len()));
    }
    let lossless = lossless_webp_len(PLEX_JPEG);
    // Figures for the notes: cargo test --test it image_size -- --nocapture
    eprintln!(
        "Plex JPEG 300x450: {} bytes; lossless WebP of it (before): {lossless} bytes",
        PLEX_JPEG.len()
    );
    for (query, len) in &seen {
        eprintln!("/api/image/plex?{query}: {len} bytes");
    }
    assert!(seen[0].1 <= PLEX_JPEG.len(), "{seen:?}");
    assert!(seen[1].1 <= PLEX_JPEG.len(), "{seen:?}");
    assert!(seen[0].1 * 2 < lossless, "{seen:?} vs lossless {lossless}");
    assert!(seen[3].1 < seen[2].1, "q is honoured: {seen:?}");
}

#[tokio::test]
async fn image_quality_is_the_default_q() {
    let w = PlexWorld::start(&[("image.quality", "20")]).await;
    let canary = w.canary();
    let mut a = w.alice(&canary).await;
    let path = plexgate::util::percent_encode(POSTER);
    let len = |r: &crate::support::browser::Seen| {
        assert_eq!(r.status, 200, "{}", r.text());
        r.body.len()
    };
    let default = len(&a.get(&format!("/api/image/plex?path={path}&w=200")).await);
    let q20 = len(&a
        .get(&format!("/api/image/plex?path={path}&w=200&q=20"))
        .await);
    let q80 = len(&a
        .get(&format!("/api/image/plex?path={path}&w=200&q=80"))
        .await);
    assert_eq!(default, q20);
    assert!(q20 < q80, "{q20} < {q80}");
}

#[test]
fn image_quality_is_checked() {
    for bad in ["0", "101", "high"] {
        let err = plexgate::config::Sources::new()
            .env(|name| (name == "PLEXGATE_IMAGE_QUALITY").then(|| bad.to_string()))
            .build()
            .expect_err("refused");
        assert!(err.to_string().contains("image.quality"), "{err}");
    }
}
