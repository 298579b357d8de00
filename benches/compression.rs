//! Response compression on `/api/plex/library/:id/all`: bytes on the wire and latency with
//! `Accept-Encoding` identity (what every client got before compression), gzip and br.
//!
//! A fake Plex on loopback answers `/` (server identity) and a `/library/sections/1/all` of
//! 1000 movies shaped like PMS's (several hundred KB of JSON), so the listing is as large as a
//! real library page; plexgate runs in demo mode against it. The first request fills the cache,
//! so the timed requests measure plexgate's own work: cached JSON out, through the
//! compression layer. Run: `cargo bench --bench compression`.

mod support;

use std::convert::Infallible;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::json;

use support::percentile;

fn listing(items: usize) -> Bytes {
    let metadata: Vec<_> = (0..items)
        .map(|i| {
            json!({
                "ratingKey": format!("{}", 10_000 + i),
                "key": format!("/library/metadata/{}", 10_000 + i),
                "guid": format!("plex://movie/5d7768{i:018x}"),
                "type": "movie",
                "title": format!("Movie number {i}: a title of usual length"),
                "titleSort": format!("Movie number {i}"),
                "contentRating": "PG-13",
                "summary": "A summary of a couple of sentences, as Plex sends for every movie \
                            in a library listing. It repeats words across items, like real ones.",
                "rating": 7.1, "audienceRating": 8.2, "year": 1990 + (i % 35),
                "thumb": format!("/library/metadata/{}/thumb/1716000000", 10_000 + i),
                "art": format!("/library/metadata/{}/art/1716000000", 10_000 + i),
                "duration": 6_000_000 + i, "originallyAvailableAt": "2001-05-04",
                "addedAt": 1_716_000_000 + i, "updatedAt": 1_716_000_500 + i,
                "Media": [{"id": i, "duration": 6_000_000 + i, "bitrate": 8000, "width": 1920,
                           "height": 1080, "videoCodec": "h264", "audioCodec": "aac",
                           "container": "mp4", "videoResolution": "1080"}],
                "Genre": [{"tag": "Drama"}, {"tag": "Comedy"}],
                "Director": [{"tag": "Someone Famous"}],
            })
        })
        .collect();
    let doc = json!({"MediaContainer": {"size": items, "totalSize": items, "offset": 0,
                                        "librarySectionID": 1, "Metadata": metadata}});
    Bytes::from(serde_json::to_vec(&doc).expect("json"))
}

/// The fake Plex: identity at `/`, the listing at `/library/sections/1/all`.
async fn fake_plex(listing: Bytes) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let root = Bytes::from_static(
        br#"{"MediaContainer":{"machineIdentifier":"bench0000","friendlyName":"bench","version":"1.43.1"}}"#,
    );
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let (root, listing) = (root.clone(), listing.clone());
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let body = if req.uri().path() == "/library/sections/1/all" {
                        listing.clone()
                    } else {
                        root.clone()
                    };
                    async move {
                        let mut resp = Response::new(Full::new(body));
                        resp.headers_mut()
                            .insert("content-type", "application/json".parse().expect("ct"));
                        Ok::<_, Infallible>(resp)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let upstream = listing(1000);
    let plex = fake_plex(upstream.clone()).await;
    let extra = [
        ("demo.plex_url", plex.as_str()),
        ("demo.plex_token", "bench-server-token"),
    ];
    let bench = support::start(&extra, reqwest::Client::builder()).await;
    let (base, client, cookie) = (
        bench.base.clone(),
        bench.client.clone(),
        bench.cookie.clone(),
    );
    let url = format!("{base}/api/plex/library/1/all?limit=1000");
    let warm = client
        .get(&url)
        .header("cookie", &cookie)
        .send()
        .await
        .expect("warm");
    assert_eq!(warm.status(), 200);

    println!("upstream listing: {} bytes (1000 movies)", upstream.len());
    println!("| Accept-Encoding | bytes | ratio | p50 | p99 | req/s (sequential) |");
    println!("|---|---|---|---|---|---|");
    let n = 300;
    let mut identity_bytes = 0;
    for accept in ["identity", "gzip", "br"] {
        let mut lat = Vec::with_capacity(n);
        let mut bytes = 0;
        let start = Instant::now();
        for _ in 0..n {
            let t = Instant::now();
            let r = client
                .get(&url)
                .header("cookie", &cookie)
                .header("accept-encoding", accept)
                .send()
                .await
                .expect("request");
            let encoding = r
                .headers()
                .get("content-encoding")
                .map(|v| v.to_str().expect("ascii").to_string());
            assert_eq!(
                encoding.as_deref(),
                (accept != "identity").then_some(accept)
            );
            bytes = r.bytes().await.expect("body").len();
            lat.push(t.elapsed());
        }
        let rps = n as f64 / start.elapsed().as_secs_f64();
        lat.sort();
        if accept == "identity" {
            identity_bytes = bytes;
        }
        println!(
            "| {accept} | {bytes} | {:.3} | {:.2} ms | {:.2} ms | {rps:.0} |",
            bytes as f64 / identity_bytes as f64,
            percentile(&lat, 0.5).as_secs_f64() * 1000.0,
            percentile(&lat, 0.99).as_secs_f64() * 1000.0,
        );
    }
    bench.demo.shutdown().await;
}
