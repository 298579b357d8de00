//! Response compression: JSON, text and manifests go out as br or gzip when the browser asks,
//! with `Vary: Accept-Encoding`; media, images, ranges, tiny bodies and bodies that already
//! have an encoding (a precompressed web-root sibling, see `web_root`) never do.

use std::io::Read;

use crate::support::browser::{Browser, Seen};
use crate::support::plex_world::PlexWorld;

fn gunzip(seen: &Seen) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&seen.body[..])
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

async fn with_encoding(b: &mut Browser<'_>, path: &str, accept: &str) -> Seen {
    b.get_with(path, &[("accept-encoding", accept)]).await
}

#[tokio::test]
async fn json_is_compressed_as_asked_and_varies_on_accept_encoding() {
    let w = PlexWorld::start(&[]).await;
    let canary = w.canary();
    let mut a = w.alice(&canary).await;
    let path = "/api/plex/library/1/all";
    let plain = with_encoding(&mut a, path, "identity").await;
    assert_eq!(plain.status, 200, "{}", plain.text());
    assert!(plain.body.len() > 256, "big enough to be worth it");
    assert_eq!(plain.header("content-encoding"), None);
    assert!(
        plain
            .header("vary")
            .unwrap_or_default()
            .contains("accept-encoding")
    );

    let gz = with_encoding(&mut a, path, "gzip").await;
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    assert!(
        gz.header("vary")
            .unwrap_or_default()
            .contains("accept-encoding")
    );
    assert_eq!(
        gz.header("content-length"),
        None,
        "the length was the plain body's"
    );
    assert_eq!(gunzip(&gz), plain.body);
    assert!(gz.body.len() < plain.body.len());

    let br = with_encoding(&mut a, path, "gzip, deflate, br").await;
    assert_eq!(br.header("content-encoding"), Some("br"));
    assert!(br.body.len() < plain.body.len());

    // A tiny answer is not worth the encoder.
    let health = with_encoding(&mut a, "/health", "gzip").await;
    assert_eq!(health.status, 200);
    assert_eq!(health.header("content-encoding"), None);
}

#[tokio::test]
async fn manifests_compress_but_media_parts_ranges_and_images_never_do() {
    let w = PlexWorld::start(&[]).await;
    let canary = w.canary();
    let mut a = w.alice(&canary).await;

    // The direct-play part (before any transcode: the demo Plex then refuses parts): video/mp4,
    // whole and as a range.
    let servers = a.get("/api/auth/servers").await.json();
    let base = servers[0]["baseUrl"].as_str().unwrap().to_string();
    let meta = a.get(&format!("{base}/library/metadata/101")).await.json();
    let part = meta["MediaContainer"]["Metadata"][0]["Media"][0]["Part"][0]["key"]
        .as_str()
        .unwrap()
        .to_string();
    let whole = with_encoding(&mut a, &format!("{base}{part}"), "gzip, br").await;
    assert_eq!(whole.status, 200);
    assert_eq!(whole.header("content-encoding"), None);
    assert_eq!(
        whole.header("content-length").map(str::to_string),
        Some(whole.body.len().to_string())
    );
    let range = a
        .get_with(
            &format!("{base}{part}"),
            &[("accept-encoding", "gzip"), ("range", "bytes=0-99")],
        )
        .await;
    assert_eq!(range.status, 206);
    assert_eq!(range.header("content-encoding"), None);
    assert_eq!(range.body.len(), 100);

    let stream = a.get("/api/plex/stream/101?protocol=hls").await;
    assert_eq!(stream.status, 200, "{}", stream.text());
    let manifest_url = stream.json()["url"].as_str().unwrap().to_string();
    let m3u8 = with_encoding(&mut a, &manifest_url, "gzip").await;
    assert_eq!(m3u8.status, 200, "{}", m3u8.text());
    assert_eq!(m3u8.header("content-encoding"), Some("gzip"));
    assert!(gunzip(&m3u8).starts_with(b"#EXTM3U"));
    // The segments it names are media: never encoded.
    let text = String::from_utf8(gunzip(&m3u8)).unwrap();
    let variant = text
        .lines()
        .find(|l| !l.starts_with('#') && !l.is_empty())
        .unwrap();
    let variant_url = absolute(&manifest_url, variant);
    let playlist = with_encoding(&mut a, &variant_url, "identity").await;
    let playlist = playlist.text();
    let segment = playlist
        .lines()
        .find(|l| !l.starts_with('#') && !l.is_empty())
        .unwrap();
    let seg = with_encoding(&mut a, &absolute(&variant_url, segment), "gzip, br").await;
    assert_eq!(seg.status, 200);
    assert_eq!(seg.header("content-encoding"), None, "{:?}", seg.headers);
    assert!(seg.body.len() > 1000);

    // Images: already compressed formats.
    let thumb = meta["MediaContainer"]["Metadata"][0]["thumb"]
        .as_str()
        .unwrap()
        .to_string();
    let path = plexgate::util::percent_encode(&thumb);
    let img = with_encoding(
        &mut a,
        &format!("/api/image/plex?path={path}&w=100"),
        "gzip, br",
    )
    .await;
    assert_eq!(img.status, 200, "{}", img.text());
    assert!(img.header("content-type").unwrap().starts_with("image/"));
    assert_eq!(img.header("content-encoding"), None);
}

/// Resolves a manifest's relative `uri` against the manifest's own path.
fn absolute(manifest: &str, uri: &str) -> String {
    if uri.starts_with('/') || uri.starts_with("http") {
        return uri.to_string();
    }
    let dir = manifest.split('?').next().unwrap();
    format!("{}/{uri}", &dir[..dir.rfind('/').unwrap()])
}
