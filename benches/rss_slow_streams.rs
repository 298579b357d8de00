//! Memory under many slow streams (design §4): a proxied body must hold no more than a few
//! frames in flight, so plexgate's resident set with 100 concurrent slow streams has to stay
//! near its idle size, nowhere near 100 × the body size.
//!
//! The bench starts the optimised `plexgate demo` binary as a separate process (so its RSS is
//! its own), pointed at an upstream in this process that plays Plex and serves an 8 MiB part at
//! `/library/parts/1/1/file.bin`. It signs in as the demo user, then runs two 100-stream
//! scenarios through the facade ticket, sampling `VmRSS` of the plexgate process every second:
//!
//! - slow upstream: Plex sends each stream at 256 KiB/s, clients read as fast as it comes;
//! - slow clients: Plex sends as fast as TCP lets it, each client reads 256 KiB/s, so TCP
//!   backpressure has to reach through plexgate to Plex (a buffering proxy would balloon here).
//!
//! It prints idle RSS, the steady-state maximum per scenario, RSS and open descriptors after the
//! clients went away, and the peak (`VmHWM`), then stops plexgate with SIGTERM. The slow-client
//! scenario runs twice, to tell memory that grows from memory the allocator keeps and reuses.
//! Linux only (`/proc`). Extra environment (e.g. `GLIBC_TUNABLES`) reaches the plexgate process.
//!
//! Run: `cargo bench --bench rss_slow_streams` (about 50 s). Under `cargo test --benches` it
//! does nothing.

use std::convert::Infallible;
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio::time::Sleep;

const STREAMS: usize = 100;
const RATE: u64 = 256 << 10;
/// How long each scenario runs; an 8 MiB part needs 32 s at 256 KiB/s, so none finishes.
const SCENARIO: Duration = Duration::from_secs(12);
const TOKEN: &str = "bench-upstream-token";
const MACHINE_ID: &str = "0123456789abcdef0123456789abcdef01234567";
const PART: &str = "/library/parts/1/1/file.bin";

/// Size of the part: 8 MiB, or `RSS_PART_MIB` MiB (a larger part shows that what plexgate holds
/// per stream does not grow with the body).
fn part_bytes() -> usize {
    static SIZE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *SIZE.get_or_init(|| {
        let mib: usize = std::env::var("RSS_PART_MIB")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(8);
        mib << 20
    })
}

// ---------------------------------------------------------------------------------------------
// The upstream: enough Plex for `plexgate demo` to seed it, and one 8 MiB part, optionally paced.

/// The part body, sent in 16 KiB frames, each `delay` after the previous one (none: as fast as
/// the connection takes them).
struct Paced {
    data: Bytes,
    delay: Option<Duration>,
    sleep: Option<Pin<Box<Sleep>>>,
}

const FRAME: usize = 16 << 10;

impl HttpBody for Paced {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.data.is_empty() {
            return Poll::Ready(None);
        }
        if let Some(sleep) = self.sleep.as_mut() {
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.sleep = None;
        }
        let n = FRAME.min(self.data.len());
        let frame = self.data.split_to(n);
        if let Some(delay) = self.delay {
            self.sleep = Some(Box::pin(tokio::time::sleep(delay)));
        }
        Poll::Ready(Some(Ok(Frame::data(frame))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.data.len() as u64)
    }
}

/// Upstream state: the part and the current per-connection rate (0 = unpaced).
struct Upstream {
    part: Bytes,
    rate: AtomicU64,
}

impl Upstream {
    fn answer(&self, req: &Request<Incoming>) -> Response<Paced> {
        let authorised = req
            .headers()
            .get("x-plex-token")
            .is_some_and(|v| v.as_bytes() == TOKEN.as_bytes());
        let info = Bytes::from(format!(
            r#"{{"MediaContainer":{{"friendlyName":"bench","machineIdentifier":"{MACHINE_ID}","version":"1"}}}}"#
        ));
        let json = "application/json";
        let (status, content_type, body, delay) = match req.uri().path() {
            "/identity" => (StatusCode::OK, json, info, None),
            _ if !authorised => (StatusCode::UNAUTHORIZED, json, Bytes::new(), None),
            "/" => (StatusCode::OK, json, info, None),
            PART => {
                let rate = self.rate.load(Ordering::Relaxed);
                let delay = (rate > 0).then(|| Duration::from_secs_f64(FRAME as f64 / rate as f64));
                let part = self.part.clone();
                (StatusCode::OK, "application/octet-stream", part, delay)
            }
            _ => (StatusCode::NOT_FOUND, json, Bytes::new(), None),
        };
        Response::builder()
            .status(status)
            .header("content-type", content_type)
            .header("content-length", body.len())
            .body(Paced {
                data: body,
                delay,
                sleep: None,
            })
            .expect("static response parts are valid")
    }
}

async fn start_upstream() -> (String, Arc<Upstream>) {
    let upstream = Arc::new(Upstream {
        part: Bytes::from(vec![0x47u8; part_bytes()]),
        rate: AtomicU64::new(0),
    });
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind upstream");
    let addr = listener.local_addr().expect("upstream address");
    let shared = upstream.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let shared = shared.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let resp = shared.answer(&req);
                    async move { Ok::<_, Infallible>(resp) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    (format!("http://{addr}"), upstream)
}

// ---------------------------------------------------------------------------------------------
// The plexgate process.

/// `plexgate demo` as a child process, killed if the bench panics.
struct Plexgate {
    child: Child,
    origin: String,
}

impl Plexgate {
    fn spawn(plex_url: &str) -> Plexgate {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let listen = format!("127.0.0.1:{port}");
        let child = Command::new(env!("CARGO_BIN_EXE_plexgate"))
            .args(["--listen", &listen, "--log-level", "warn", "demo"])
            .args(["--plex-url", plex_url, "--plex-token", TOKEN])
            .stdout(Stdio::null())
            .spawn()
            .expect("start plexgate");
        Plexgate {
            child,
            origin: format!("http://{listen}"),
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `(VmRSS, VmHWM)` in KiB, from `/proc/<pid>/status`.
    fn memory_kib(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("plexgate is running");
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// Open file descriptors (sockets included): streams that were not torn down show up here.
    fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// SIGTERM, then waits up to 10 s for a clean exit.
    fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return format!("exited: {status}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        "did not exit within 10 s of SIGTERM".into()
    }
}

impl Drop for Plexgate {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn wait_healthy(client: &reqwest::Client, origin: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ok = client
            .get(format!("{origin}/health"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ok {
            return;
        }
        assert!(Instant::now() < deadline, "plexgate did not become healthy");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Signs in as the demo user; returns the facade base URL from `/api/auth/servers`.
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

// ---------------------------------------------------------------------------------------------
// The scenarios.

/// Reads `url` to the end (or until aborted), adding to `received`; with `rate`, never faster
/// than that many bytes per second.
async fn stream(client: reqwest::Client, url: String, rate: Option<u64>, received: Arc<AtomicU64>) {
    let mut resp = client.get(url).send().await.expect("request");
    assert_eq!(resp.status(), 200, "proxied part");
    let started = Instant::now();
    let mut total = 0u64;
    while let Some(chunk) = resp.chunk().await.expect("body") {
        total += chunk.len() as u64;
        received.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        if let Some(rate) = rate {
            let due = Duration::from_secs_f64(total as f64 / rate as f64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
    }
}

struct Outcome {
    max_rss: u64,
    received: u64,
    fds_during: usize,
    /// RSS and open descriptors 3 s after the clients went away.
    after_rss: u64,
    fds_after: usize,
}

async fn scenario(pg: &Plexgate, url: &str, client_rate: Option<u64>) -> Outcome {
    // One connection per stream, as 100 separate players would have.
    let received = Arc::new(AtomicU64::new(0));
    let mut set = JoinSet::new();
    for _ in 0..STREAMS {
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");
        set.spawn(stream(
            client,
            url.to_string(),
            client_rate,
            received.clone(),
        ));
    }
    let started = Instant::now();
    let mut max_rss = 0;
    while started.elapsed() < SCENARIO {
        tokio::time::sleep(Duration::from_secs(1)).await;
        max_rss = max_rss.max(pg.memory_kib().0);
        match set.try_join_next() {
            None => {}
            Some(Ok(())) => panic!("a stream ended before the scenario did"),
            Some(Err(e)) => panic!("a stream failed: {e}"),
        }
    }
    let fds_during = pg.fds();
    set.shutdown().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    Outcome {
        max_rss,
        received: received.load(Ordering::Relaxed),
        fds_during,
        after_rss: pg.memory_kib().0,
        fds_after: pg.fds(),
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn print_outcome(name: &str, o: &Outcome, idle: u64) {
    let secs = SCENARIO.as_secs_f64();
    let over = o.max_rss.saturating_sub(idle);
    println!(
        "{name:<38} RSS max {:>6.1} MiB (+{:>5.1} MiB, {:>4.0} KiB/stream), {:>3} fds; \
         {:>4.0} KiB/s per stream; 3 s after: {:>6.1} MiB, {:>3} fds",
        mib(o.max_rss),
        mib(over),
        over as f64 / STREAMS as f64,
        o.fds_during,
        o.received as f64 / 1024.0 / secs / STREAMS as f64,
        mib(o.after_rss),
        o.fds_after,
    );
}

async fn run() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (plex_url, upstream) = start_upstream().await;
    let pg = Plexgate::spawn(&plex_url);
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    wait_healthy(&client, &pg.origin).await;
    let part_url = format!("{}{PART}", facade_base(&client, &pg.origin).await);
    // One proxied request first, so idle includes what any first stream allocates once.
    let warm = client.get(&part_url).send().await.expect("warm-up");
    assert_eq!(
        warm.bytes().await.expect("warm-up body").len(),
        part_bytes()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (idle, _) = pg.memory_kib();

    println!(
        "rss_slow_streams: plexgate pid {} ({}), {STREAMS} streams of one {} MiB part, {} s per scenario",
        pg.pid(),
        env!("CARGO_BIN_EXE_plexgate"),
        part_bytes() >> 20,
        SCENARIO.as_secs(),
    );
    println!(
        "{:<38} RSS {:>6.1} MiB, {:>3} fds",
        "idle (after start, login, one part)",
        mib(idle),
        pg.fds(),
    );
    // The slow-client scenario runs twice: if the second run's RSS climbs again the memory is
    // growing; if it stays level it is reused (the allocator keeping freed pages).
    let scenarios = [
        ("slow upstream (Plex sends 256 KiB/s)", RATE, None),
        ("slow clients (each reads 256 KiB/s)", 0, Some(RATE)),
        ("slow clients, second run", 0, Some(RATE)),
    ];
    for (name, upstream_rate, client_rate) in scenarios {
        upstream.rate.store(upstream_rate, Ordering::Relaxed);
        let outcome = scenario(&pg, &part_url, client_rate).await;
        print_outcome(name, &outcome, idle);
    }
    let (_, peak) = pg.memory_kib();
    println!(
        "peak VmHWM {:.1} MiB (buffering whole bodies would need ~{} MiB)",
        mib(peak),
        (STREAMS * part_bytes()) >> 20,
    );
    println!("plexgate {}", pg.stop());
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` does not, and then this is skipped.
    if !std::env::args().any(|a| a == "--bench") {
        println!("rss_slow_streams: skipped (run it with `cargo bench --bench rss_slow_streams`)");
        return;
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(run());
}
