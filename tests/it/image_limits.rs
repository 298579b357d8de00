//! The image proxy's decode limits, with PNGs generated here and served by a fake image host:
//! a small file that claims a huge size is refused from its header (422 `image_too_large`)
//! before anything is decoded, and requests that go away do not free their decode slot while
//! their decode still runs (cancelled requests once piled up gigabytes of decodes).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::support::plex_world::PlexWorld;
use crate::support::services::{Reply, serve};
use bytes::Bytes;
use image::ImageEncoder;
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use plexgate::image::codec as image_codec;

/// A solid grey `w`×`h` PNG: megapixels in a few kilobytes.
fn solid_png(w: u32, h: u32) -> Bytes {
    let pixels = vec![0x80u8; w as usize * h as usize];
    let mut out = Vec::new();
    PngEncoder::new_with_quality(&mut out, CompressionType::Fast, FilterType::Up)
        .write_image(&pixels, w, h, image::ExtendedColorType::L8)
        .unwrap();
    Bytes::from(out)
}

/// A fake image host serving `/huge.png` and `/big.png`.
async fn image_host(huge: Bytes, big: Bytes) -> String {
    serve(move |req| {
        let body = match req.path.as_str() {
            "/huge.png" => huge.clone(),
            "/big.png" => big.clone(),
            _ => return Reply::empty(404),
        };
        Reply {
            status: 200,
            body,
            content_type: "image/png",
            headers: Vec::new(),
            delay: None,
        }
    })
    .await
}

struct Setup {
    w: PlexWorld,
    host: String,
}

async fn setup() -> Setup {
    static PNGS: OnceLock<(Bytes, Bytes)> = OnceLock::new();
    let (huge, big) = PNGS
        .get_or_init(|| (solid_png(7000, 7000), solid_png(3000, 3000)))
        .clone();
    assert!(
        huge.len() < 1 << 20,
        "49 megapixels in {} bytes",
        huge.len()
    );
    let host = image_host(huge, big).await;
    let w = PlexWorld::start(&[("image.proxy_hosts", &host)]).await;
    Setup { w, host }
}

fn proxy_url(host: &str, file: &str, width: u32) -> String {
    format!(
        "/api/image/proxy?w={width}&url={}",
        plexgate::util::percent_encode(&format!("{host}/{file}"))
    )
}

#[tokio::test]
async fn an_image_claiming_too_many_pixels_is_refused_with_422() {
    let Setup { w, host } = setup().await;
    let canary = w.canary();
    let mut a = w.alice(&canary).await;
    // 7000×7000 is over the default image.max_pixels (40 million).
    a.get(&proxy_url(&host, "huge.png", 100))
        .await
        .assert_error(422, "image_too_large");
    // Under it, the same route resizes as usual.
    let ok = a.get(&proxy_url(&host, "big.png", 50)).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
}

#[tokio::test]
async fn requests_that_go_away_keep_their_decode_slot_until_the_decode_ends() {
    let Setup { w, host } = setup().await;
    let canary = w.canary();
    let a = w.alice(&canary).await;
    let cookie = a.cookie.clone().unwrap();
    let get = |width: u32| {
        let req = crate::support::client()
            .get(a.url(&proxy_url(&host, "big.png", width)))
            .header("cookie", cookie.clone());
        tokio::spawn(async move { req.send().await?.bytes().await })
    };
    // Two requests start decoding a 9-megapixel image, then go away mid-decode…
    let gone = [get(101), get(102)];
    wait_for(|| image_codec::running() == 2).await;
    for request in &gone {
        request.abort();
    }
    // …and two more arrive. Their decodes may start only as the first two end: never more
    // than two run at once, whoever is still waiting for them.
    let next = [get(103), get(104)];
    let mut peak = 0;
    while next.iter().any(|r| !r.is_finished()) {
        peak = peak.max(image_codec::running());
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(peak <= 2, "{peak} decodes ran at once");
    for r in next {
        let body = r.await.unwrap().unwrap();
        let img = image::load_from_memory(&body).expect("an image");
        assert!(img.width() == 103 || img.width() == 104);
    }
}

/// Polls `done` until it holds (fails after a generous while; never a timing assertion).
async fn wait_for(done: impl Fn() -> bool) {
    let give_up = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < give_up, "condition never held");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}
