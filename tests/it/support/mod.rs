//! Shared test support: start the real plexgate on 127.0.0.1:0 with a real SQLite file in a
//! temporary directory, and an HTTP client to talk to it.
#![allow(dead_code)]

pub mod browser;
pub mod canary;
pub mod fake_discover;
pub mod fake_plextv;
pub mod fake_tmdb;
pub mod fake_trakt;
pub mod node_suite;
pub mod odd_plex;
pub mod plex_world;
pub mod proxies;
pub mod server;
pub mod services;
pub mod web_app;

use std::collections::HashMap;
use std::path::Path;

use plexgate::config::{Config, Sources, env_name};

/// A configuration for tests: loopback port 0, database and key file in `dir`, plus `extra`
/// key/value overrides given as dotted keys (`server.max_body_bytes`).
pub fn test_config(dir: &Path, extra: &[(&str, &str)]) -> Config {
    let mut env: HashMap<String, String> = HashMap::new();
    env.insert(env_name("server.listen"), "127.0.0.1:0".into());
    env.insert(
        env_name("storage.database"),
        dir.join("plexgate.sqlite").display().to_string(),
    );
    env.insert(env_name("log.level"), "warn".into());
    for (key, value) in extra {
        env.insert(env_name(key), (*value).to_string());
    }
    Sources::new()
        .env(|name| env.get(name).cloned())
        .build()
        .expect("test config is valid")
}

/// plexgate in demo mode in front of the Plex server at `url` (a `DemoPlex` or a fake), its
/// database in `dir`, plus `extra` overrides.
pub async fn demo_against(
    url: &str,
    token: &str,
    dir: &Path,
    extra: &[(&str, &str)],
) -> plexgate::app::demo::Demo {
    let mut all = vec![("demo.plex_url", url), ("demo.plex_token", token)];
    all.extend_from_slice(extra);
    plexgate::app::demo::Demo::start(test_config(dir, &all))
        .await
        .expect("demo starts")
}

/// A running plexgate plus the directory holding its database.
pub struct TestApp {
    pub running: plexgate::app::Running,
    pub dir: tempfile::TempDir,
}

impl TestApp {
    /// Starts plexgate with `extra` configuration overrides.
    pub async fn start(extra: &[(&str, &str)]) -> TestApp {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = test_config(dir.path(), extra);
        let running = plexgate::app::start(config).await.expect("plexgate starts");
        TestApp { running, dir }
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.running.url(), path)
    }
}

/// A client that never follows redirects and never uses a proxy from the environment.
pub fn client() -> reqwest::Client {
    // reqwest is built without a bundled TLS provider; plexgate installs ring at start-up and
    // tests may build clients before that.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Reads `resp` to its end within `within`: `"clean end"`, or `"error"` when it was cut off
/// (a revoked body must never look complete). Panics when it does neither in time.
pub async fn how_body_ends(
    resp: &mut reqwest::Response,
    within: std::time::Duration,
) -> &'static str {
    tokio::time::timeout(within, async {
        loop {
            match resp.chunk().await {
                Ok(Some(_)) => continue,
                Ok(None) => return "clean end",
                Err(_) => return "error",
            }
        }
    })
    .await
    .expect("the body ends in time")
}

/// GETs `url` (expecting 200) and reads it to its end: `Ok(bytes)` for a clean end, `Err(bytes)`
/// when it was cut off. Panics when it does neither within 30 s (a hung player).
pub async fn body_outcome(url: &str) -> Result<usize, usize> {
    let mut resp = client().get(url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    tokio::time::timeout(std::time::Duration::from_secs(30), async {
        let mut got = 0;
        loop {
            match resp.chunk().await {
                Ok(Some(c)) => got += c.len(),
                Ok(None) => return Ok(got),
                Err(_) => return Err(got),
            }
        }
    })
    .await
    .expect("a failing upstream must not hang the player")
}

/// Asserts the response is our JSON error shape with `status` and `code`; returns the message.
pub async fn assert_error(resp: reqwest::Response, status: u16, code: &str) -> String {
    assert_eq!(resp.status().as_u16(), status, "status");
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(ct.starts_with("application/json"), "content-type {ct}");
    let body: serde_json::Value = resp.json().await.expect("json error body");
    assert_eq!(body["error"]["code"], code, "body {body}");
    let message = body["error"]["message"]
        .as_str()
        .expect("message")
        .to_string();
    assert!(!message.is_empty());
    message
}

/// GET `path` exactly as written (no client normalising `..` or `%2e`), the raw answer as text.
pub async fn raw_get(origin: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = origin.trim_start_matches("http://");
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tcp.read_to_end(&mut out).await.unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

/// One entry per loopback TCP socket (any state, TIME_WAIT included) whose remote end is
/// `remote`, from `/proc/net/tcp`: the bytes waiting in its receive queue.
#[cfg(target_os = "linux")]
pub fn receive_queues_to(remote: std::net::SocketAddr) -> Vec<u64> {
    let std::net::SocketAddr::V4(v4) = remote else {
        panic!("loopback v4 expected")
    };
    let want = format!(
        "{:08X}:{:04X}",
        u32::from_le_bytes(v4.ip().octets()),
        v4.port()
    );
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            (cols.get(2) == Some(&want.as_str())).then(|| {
                let rx = cols[4].split(':').nth(1).unwrap();
                u64::from_str_radix(rx, 16).unwrap()
            })
        })
        .collect()
}

/// Asks a child process to stop the way an operator (or systemd) does: SIGTERM.
pub fn sigterm(child: &std::process::Child) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success(), "kill -TERM {} failed", child.id());
}

/// Waits up to `limit` for `child` to exit; kills it and returns `None` when it does not.
pub fn exit_within(
    child: &mut std::process::Child,
    limit: std::time::Duration,
) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            return Some(status);
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
