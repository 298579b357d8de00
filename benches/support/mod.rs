//! What the benches against the embedded demo share: plexgate in demo mode on loopback (its
//! database in a temporary directory), a client signed in through the demo login, percentiles.
//! One copy, so the benches differ only in what they measure.

use std::collections::HashMap;
use std::time::Duration;

use plexgate::app::demo::Demo;
use plexgate::config::{Sources, env_name};

/// A running demo and a signed-in client.
pub struct Bench {
    /// plexgate in demo mode.
    pub demo: Demo,
    /// Its base URL.
    pub base: String,
    /// The HTTP client.
    pub client: reqwest::Client,
    /// `plex.sid=…`, the login session cookie.
    pub cookie: String,
    /// Holds the database for as long as the bench runs.
    _dir: tempfile::TempDir,
}

/// Starts the demo with `extra` config overrides and signs `client` in.
pub async fn start(extra: &[(&str, &str)], client: reqwest::ClientBuilder) -> Bench {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut env: HashMap<String, String> = HashMap::new();
    env.insert(env_name("server.listen"), "127.0.0.1:0".into());
    env.insert(
        env_name("storage.database"),
        dir.path().join("plexgate.sqlite").display().to_string(),
    );
    env.insert(env_name("log.level"), "error".into());
    for (k, v) in extra {
        env.insert(env_name(k), (*v).to_string());
    }
    let config = Sources::new()
        .env(|name| env.get(name).cloned())
        .build()
        .expect("config");
    let demo = Demo::start(config).await.expect("demo");
    let base = demo.url();
    let client = client.no_proxy().build().expect("client");
    let login = client
        .post(format!("{base}/api/auth/demo-login"))
        .header("origin", &base)
        .send()
        .await
        .expect("login");
    let cookie = login
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.split(';').next())
        .expect("cookie")
        .to_string();
    Bench {
        demo,
        base,
        client,
        cookie,
        _dir: dir,
    }
}

/// The `p` quantile (0–1) of sorted samples.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}
