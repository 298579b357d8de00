//! `GET /api/plex/stream/:ratingKey` latency against two peers measured in the same run,
//! interleaved request by request:
//!
//! - a cached read (`/api/plex/metadata/101`, a cache HIT): what the route should cost now that
//!   it answers from local state (ticket minted, session recorded, the previous session of the
//!   item replaced);
//! - the facade `decision` + `start.mpd` pair against the embedded demo Plex: the work the route
//!   used to do inside the request before the lazy start (and what the first fetch of its URL
//!   does now).
//!
//! Run: `cargo bench --bench stream_start` (release profile). plexgate, the demo Plex and the
//! client share one process and loopback, so read the ratios, not the absolute values.

mod common;

use std::time::{Duration, Instant};

use common::{SignedIn, demo_signed_in, percentile};

async fn timed(client: &reqwest::Client, url: &str, cookie: &str) -> Duration {
    let t = Instant::now();
    let r = client
        .get(url)
        .header("cookie", cookie)
        .send()
        .await
        .expect("request");
    assert!(r.status().is_success(), "{url}: {}", r.status());
    let _ = r.bytes().await.expect("body");
    t.elapsed()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let SignedIn {
        demo,
        client,
        cookie,
        ..
    } = demo_signed_in(&[], |b| b).await;
    let base = demo.url();
    let servers: serde_json::Value = client
        .get(format!("{base}/api/auth/servers"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("servers")
        .json()
        .await
        .expect("servers json");
    let facade = format!("{base}{}", servers[0]["baseUrl"].as_str().expect("baseUrl"));
    let stream = format!("{base}/api/plex/stream/101?protocol=dash");
    let cached = format!("{base}/api/plex/metadata/101");
    let _ = timed(&client, &cached, &cookie).await;

    let rounds = 300;
    let (mut route, mut hit, mut inline) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..rounds {
        route.push(timed(&client, &stream, &cookie).await);
        hit.push(timed(&client, &cached, &cookie).await);
        let params = format!(
            "hasMDE=1&path=%2Flibrary%2Fmetadata%2F101&mediaIndex=0&partIndex=0&protocol=dash\
             &fastSeek=1&directPlay=0&directStream=1&session=bench-{i}"
        );
        let t = Instant::now();
        let _ = timed(
            &client,
            &format!("{facade}/video/:/transcode/universal/decision?{params}"),
            &cookie,
        )
        .await;
        let _ = timed(
            &client,
            &format!("{facade}/video/:/transcode/universal/start.mpd?{params}"),
            &cookie,
        )
        .await;
        inline.push(t.elapsed());
        // Outside the timed part: leave no transcode behind.
        let _ = timed(
            &client,
            &format!("{facade}/video/:/transcode/universal/stop?session=bench-{i}"),
            &cookie,
        )
        .await;
    }
    for v in [&mut route, &mut hit, &mut inline] {
        v.sort();
    }
    let show = |name: &str, v: &[Duration]| {
        println!(
            "{name:<44} p50 {:>9.3?}  p99 {:>9.3?}",
            percentile(v, 0.5),
            percentile(v, 0.99)
        );
    };
    show("/api/plex/stream/101 (lazy start)", &route);
    show("/api/plex/metadata/101 (cache HIT)", &hit);
    show("decision + start.mpd (the old inline work)", &inline);
    let p50 = |v: &[Duration]| percentile(v, 0.5).as_secs_f64();
    println!(
        "ratios at p50: stream / cached read = {:.2}, stream / old inline work = {:.3}",
        p50(&route) / p50(&hit),
        p50(&route) / p50(&inline)
    );
    demo.shutdown().await;
}
