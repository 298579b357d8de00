//! `/api/plex/metadata/:id`: latency and throughput of a cache hit vs a miss (a real upstream
//! call to the embedded demo Plex over loopback), and resident memory after 10 000 distinct
//! cached `/api/plex/dir` entries.
//!
//! Run: `cargo bench --bench plex_metadata` (release profile). Everything is in one process
//! (plexgate, the demo Plex and the HTTP client), so the RSS figure is an upper bound for
//! plexgate itself. Only loopback addresses are used; every loop is bounded.

mod common;

use std::time::{Duration, Instant};

use common::{SignedIn, demo_signed_in, percentile};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

async fn sequential(
    client: &reqwest::Client,
    url: &str,
    cookie: &str,
    n: usize,
    before_each: impl Fn(),
    expect: &str,
) -> (Duration, Duration, f64) {
    let mut lat = Vec::with_capacity(n);
    let start = Instant::now();
    for _ in 0..n {
        before_each();
        let t = Instant::now();
        let r = client
            .get(url)
            .header("cookie", cookie)
            .send()
            .await
            .expect("request");
        let cache = r
            .headers()
            .get("x-cache")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let _ = r.bytes().await.expect("body");
        lat.push(t.elapsed());
        assert_eq!(cache, expect);
    }
    let total = start.elapsed();
    lat.sort();
    (
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        n as f64 / total.as_secs_f64(),
    )
}

async fn concurrent(client: &reqwest::Client, url: &str, cookie: &str, n: usize, c: usize) -> f64 {
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..c {
        let (client, url, cookie) = (client.clone(), url.to_string(), cookie.to_string());
        tasks.spawn(async move {
            for _ in (w..n).step_by(c) {
                let r = client.get(&url).header("cookie", &cookie).send().await;
                let _ = r.expect("request").bytes().await;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    n as f64 / start.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let SignedIn {
        demo,
        client,
        cookie,
        ..
    } = demo_signed_in(&[("cache.max_mb", "512")], |b| b.pool_max_idle_per_host(64)).await;
    let base = demo.url();
    let url = format!("{base}/api/plex/metadata/101");
    let _ = client.get(&url).header("cookie", &cookie).send().await;
    let state = demo.state().clone();
    let key = state
        .caches()
        .plex
        .keys("u")
        .into_iter()
        .find(|k| k.contains("metadata:101|"))
        .expect("cached metadata key");

    let n = 3000;
    let (hit50, hit99, hit_rps) = sequential(&client, &url, &cookie, n, || {}, "HIT").await;
    let plex = state.caches().plex.clone();
    let (miss50, miss99, miss_rps) = sequential(
        &client,
        &url,
        &cookie,
        n,
        || {
            let (plex, key) = (plex.clone(), key.clone());
            futures_lite_block(async move { plex.remove(&key).await });
        },
        "MISS",
    )
    .await;
    let hit_conc = concurrent(&client, &url, &cookie, 20_000, 32).await;

    println!(
        "metadata cache HIT : p50 {hit50:?}  p99 {hit99:?}  {hit_rps:.0} req/s sequential, {hit_conc:.0} req/s with 32 concurrent"
    );
    println!(
        "metadata cache MISS: p50 {miss50:?}  p99 {miss99:?}  {miss_rps:.0} req/s sequential (a demo Plex call each)"
    );

    let before = rss_kib();
    let mut tasks = tokio::task::JoinSet::new();
    let items = 10_000usize;
    for w in 0..16usize {
        let (client, base, cookie) = (client.clone(), base.clone(), cookie.clone());
        tasks.spawn(async move {
            for i in (w..items).step_by(16) {
                let r = client
                    .get(format!(
                        "{base}/api/plex/dir/library/metadata/101?includeMarkers=1&nocache={i}"
                    ))
                    .header("cookie", &cookie)
                    .send()
                    .await
                    .expect("request");
                assert!(r.status().is_success());
                let _ = r.bytes().await;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    state.caches().plex.sync().await;
    let stats = state.caches().plex.stats();
    let after = rss_kib();
    println!(
        "RSS: {:.1} MiB before, {:.1} MiB after {} distinct cached entries ({:.1} MiB of cached bodies and keys)",
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        stats.entries,
        stats.weighted_bytes as f64 / 1_048_576.0
    );
    demo.shutdown().await;
}

/// Runs a short future to completion from a synchronous closure (cache removal between timed
/// requests, outside the timed section).
fn futures_lite_block<F: std::future::Future<Output = bool> + Send + 'static>(f: F) {
    let handle = tokio::runtime::Handle::current();
    tokio::task::block_in_place(|| handle.block_on(f));
}
