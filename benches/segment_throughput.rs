//! Segment proxy cost (design §4, §10): what streaming a body through plexgate costs compared
//! with fetching it straight from Plex, in the same run, with the same client.
//!
//! A tiny in-process hyper upstream plays Plex: it answers `GET /` and `/identity` (what the demo
//! needs to seed the server) and serves prebuilt bodies of 8 MiB, 2 MiB and 1 KiB at
//! `/library/parts/{1,2,3}/1/file.bin`, only with the right `X-Plex-Token`. plexgate runs
//! in-process (`Demo::start` pointed at that upstream); the bench signs in as the demo user and
//! fetches the parts through the facade ticket from `/api/auth/servers`, exactly as a browser does.
//!
//! - `segment_8MiB/{direct,bare_proxy,proxied}/{1,16}` and `segment_2MiB/…`: whole bodies at 1
//!   and 16 concurrent requests, reported as bytes/s (target: proxied ≥ 80 % of direct at 16).
//!   `bare_proxy` is the floor any streaming proxy pays here: ~20 lines of hyper + reqwest that
//!   forward the path with the token and hand back `reqwest::Body`, nothing else. The gap between
//!   it and `proxied` is what plexgate's own work (tickets, scope, headers, counters) costs.
//! - `ttfb_1KiB/{direct,bare_proxy,proxied}`: time from sending the request to having the
//!   response headers, one request at a time. After the group the bench prints the p50/p90/p99
//!   of every sample it took and the p50 added over direct (target for plexgate: < 0.3 ms).
//!
//! Client, upstream and plexgate share one 2-worker runtime on a 2-vCPU box, so absolute numbers
//! are noisy; compare ratios within one run. Run: `cargo bench --bench segment_throughput -- --quick`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use plexgate::app::demo::Demo;
use plexgate::config::{Sources, env_name};
use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use tokio::task::JoinSet;

const MIB: usize = 1 << 20;
const TOKEN: &str = "bench-upstream-token";
const MACHINE_ID: &str = "0123456789abcdef0123456789abcdef01234567";
/// Part id → body size served at `/library/parts/{id}/1/file.bin`.
const PARTS: [(u32, usize); 3] = [(1, 8 * MIB), (2, 2 * MIB), (3, 1024)];

// ---------------------------------------------------------------------------------------------
// The upstream: just enough Plex for the demo to seed it, plus the parts.

/// Answers one upstream request from prebuilt bodies (cloning `Bytes` is a refcount bump).
fn upstream_answer(
    req: &Request<Incoming>,
    parts: &HashMap<String, Bytes>,
) -> Response<Full<Bytes>> {
    let authorised = req
        .headers()
        .get("x-plex-token")
        .is_some_and(|v| v.as_bytes() == TOKEN.as_bytes());
    let path = req.uri().path();
    let info = || {
        format!(
            r#"{{"MediaContainer":{{"friendlyName":"bench","machineIdentifier":"{MACHINE_ID}","version":"1"}}}}"#
        )
    };
    let (status, content_type, body) = match path {
        "/identity" => (StatusCode::OK, "application/json", Bytes::from(info())),
        _ if !authorised => (StatusCode::UNAUTHORIZED, "text/plain", Bytes::new()),
        "/" => (StatusCode::OK, "application/json", Bytes::from(info())),
        _ => match parts.get(path) {
            Some(body) => (StatusCode::OK, "application/octet-stream", body.clone()),
            None => (StatusCode::NOT_FOUND, "text/plain", Bytes::new()),
        },
    };
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(body))
        .expect("static response parts are valid")
}

/// Starts the upstream on a loopback port and returns its base URL.
async fn start_upstream() -> String {
    let parts: Arc<HashMap<String, Bytes>> = Arc::new(
        PARTS
            .iter()
            .map(|&(id, size)| {
                let body: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
                (format!("/library/parts/{id}/1/file.bin"), Bytes::from(body))
            })
            .collect(),
    );
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind upstream");
    let addr = listener.local_addr().expect("upstream address");
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let parts = parts.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let resp = upstream_answer(&req, &parts);
                    async move { Ok::<_, Infallible>(resp) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    format!("http://{addr}")
}

/// The baseline proxy: forwards the path with the token, streams `reqwest::Body` back as is.
async fn start_bare_proxy(upstream: String) -> String {
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(64)
        .tcp_nodelay(true)
        .build()
        .expect("bare proxy client");
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind bare proxy");
    let addr = listener.local_addr().expect("bare proxy address");
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let (client, upstream) = (client.clone(), upstream.clone());
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<Incoming>| {
                    let url = format!("{upstream}{}", req.uri().path());
                    let sent = client.get(url).header("X-Plex-Token", TOKEN).send();
                    async move { sent.await.map(http::Response::<reqwest::Body>::from) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    format!("http://{addr}")
}

// ---------------------------------------------------------------------------------------------
// plexgate in front of it, and a browser-like client.

/// The two ways to fetch a part: straight from the upstream with the token, or through
/// plexgate's facade with only the ticket in the path.
struct World {
    client: reqwest::Client,
    upstream: String,
    bare_proxy: String,
    /// `http://127.0.0.1:PORT/api/plex/proxy/<facade ticket>`
    facade: String,
    demo: Demo,
    _dir: tempfile::TempDir,
}

#[derive(Clone, Copy)]
enum Route {
    Direct,
    BareProxy,
    Proxied,
}

impl Route {
    fn name(self) -> &'static str {
        match self {
            Route::Direct => "direct",
            Route::BareProxy => "bare_proxy",
            Route::Proxied => "proxied",
        }
    }
}

impl World {
    async fn start() -> World {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let upstream = start_upstream().await;
        let bare_proxy = start_bare_proxy(upstream.clone()).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let env: HashMap<String, String> = [
            ("server.listen", "127.0.0.1:0".to_string()),
            (
                "storage.database",
                dir.path().join("plexgate.sqlite").display().to_string(),
            ),
            ("log.level", "warn".to_string()),
            ("demo.plex_url", upstream.clone()),
            ("demo.plex_token", TOKEN.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (env_name(k), v))
        .collect();
        let config = Sources::new()
            .env(|name| env.get(name).cloned())
            .build()
            .expect("bench config is valid");
        let demo = Demo::start(config).await.expect("plexgate demo starts");
        let client = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(64)
            .tcp_nodelay(true)
            .build()
            .expect("client");
        let facade = facade_base(&client, &demo.url()).await;
        World {
            client,
            upstream,
            bare_proxy,
            facade,
            demo,
            _dir: dir,
        }
    }

    fn part_url(&self, route: Route, id: u32) -> String {
        let base = match route {
            Route::Direct => &self.upstream,
            Route::BareProxy => &self.bare_proxy,
            Route::Proxied => &self.facade,
        };
        format!("{base}/library/parts/{id}/1/file.bin")
    }

    fn request(&self, route: Route, url: &str) -> reqwest::RequestBuilder {
        let req = self.client.get(url);
        match route {
            Route::Direct => req.header("X-Plex-Token", TOKEN),
            Route::BareProxy | Route::Proxied => req,
        }
    }
}

/// Signs in as the demo user and returns the facade base URL the servers list hands out.
async fn facade_base(client: &reqwest::Client, origin: &str) -> String {
    let login = client
        .post(format!("{origin}/api/auth/demo-login"))
        .header("origin", origin) // a same-origin POST, as the browser sends it (CSRF check)
        .send()
        .await
        .expect("demo-login");
    assert_eq!(login.status(), 200, "demo-login");
    let cookie = login
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("session cookie")
        .to_string();
    let servers: serde_json::Value = client
        .get(format!("{origin}/api/auth/servers"))
        .header("cookie", cookie)
        .send()
        .await
        .expect("servers")
        .json()
        .await
        .expect("servers JSON");
    let base = servers[0]["baseUrl"].as_str().expect("baseUrl");
    format!("{origin}{base}")
}

/// Fetches `url` to the end and checks the length; returns the byte count.
async fn fetch(req: reqwest::RequestBuilder, expect: usize) -> usize {
    let mut resp = req.send().await.expect("request");
    assert_eq!(resp.status(), 200);
    let mut n = 0;
    while let Some(chunk) = resp.chunk().await.expect("body") {
        n += chunk.len();
    }
    assert_eq!(n, expect, "whole body");
    n
}

// ---------------------------------------------------------------------------------------------
// The benches.

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn throughput(c: &mut Criterion, rt: &Runtime, world: &Arc<World>) {
    for (id, size, label) in [(1, 8 * MIB, "8MiB"), (2, 2 * MIB, "2MiB")] {
        let mut group = c.benchmark_group(format!("segment_{label}"));
        group
            .sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3));
        for concurrency in [1usize, 16] {
            group.throughput(Throughput::Bytes((size * concurrency) as u64));
            for route in [Route::Direct, Route::BareProxy, Route::Proxied] {
                let url = world.part_url(route, id);
                group.bench_with_input(
                    BenchmarkId::new(route.name(), concurrency),
                    &concurrency,
                    |b, &n| {
                        b.to_async(rt).iter(|| async {
                            let mut set = JoinSet::new();
                            for _ in 0..n {
                                set.spawn(fetch(world.request(route, &url), size));
                            }
                            set.join_all().await
                        })
                    },
                );
            }
        }
        group.finish();
    }
}

const ROUTES: [Route; 3] = [Route::Direct, Route::BareProxy, Route::Proxied];

type Samples = Arc<Mutex<Vec<Duration>>>;

fn ttfb(c: &mut Criterion, rt: &Runtime, world: &Arc<World>) {
    let (id, size) = (3, 1024);
    let samples: [Samples; 3] = Default::default();
    let mut group = c.benchmark_group("ttfb_1KiB");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for (route, seen) in ROUTES.into_iter().zip(&samples) {
        let url = world.part_url(route, id);
        group.bench_function(route.name(), |b| {
            b.to_async(rt).iter_custom(|iters| {
                let (world, url, seen) = (world.clone(), url.clone(), seen.clone());
                async move {
                    let mut total = Duration::ZERO;
                    let mut mine = Vec::with_capacity(iters as usize);
                    for _ in 0..iters {
                        let started = Instant::now();
                        let resp = world.request(route, &url).send().await.expect("request");
                        let t = started.elapsed();
                        assert_eq!(resp.bytes().await.expect("body").len(), size);
                        total += t;
                        mine.push(t);
                    }
                    seen.lock().expect("samples").extend(mine);
                    total
                }
            })
        });
    }
    group.finish();
    report_ttfb(&samples);
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e6
}

/// Prints the TTFB distribution (µs) of every sample criterion took, warm-up included, and what
/// each proxy adds to the direct median.
fn report_ttfb(samples: &[Samples; 3]) {
    let sorted: Vec<Vec<Duration>> = samples
        .iter()
        .map(|s| {
            let mut v = s.lock().expect("samples").clone();
            v.sort();
            v
        })
        .collect();
    if sorted.iter().any(|v| v.len() < 100) {
        return; // filtered out, or test mode: too few samples to say anything
    }
    let direct_p50 = percentile(&sorted[0], 0.5);
    for (route, v) in ROUTES.iter().zip(&sorted) {
        let p50 = percentile(v, 0.5);
        println!(
            "ttfb_1KiB/{:<10} n={:<6} p50 {p50:>6.1} µs  p90 {:>6.1} µs  p99 {:>6.1} µs  added p50 {:>6.1} µs",
            route.name(),
            v.len(),
            percentile(v, 0.9),
            percentile(v, 0.99),
            p50 - direct_p50,
        );
    }
}

fn benches(c: &mut Criterion) {
    let rt = runtime();
    let world = Arc::new(rt.block_on(World::start()));
    throughput(c, &rt, &world);
    ttfb(c, &rt, &world);
    if let Some(world) = Arc::into_inner(world) {
        rt.block_on(world.demo.shutdown());
    }
}

criterion_group!(segment_throughput, benches);
criterion_main!(segment_throughput);
