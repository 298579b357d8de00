//! What the benches that drive plexgate in demo mode share: start it on loopback with a fresh
//! database (plus `extra` keys), sign in as the demo user, and read latency percentiles.
#![allow(dead_code)]

use std::collections::HashMap;
use std::time::Duration;

use plexgate::app::demo::Demo;
use plexgate::config::{Sources, env_name};

/// plexgate in demo mode, a client and the demo user's session cookie.
pub struct SignedIn {
    pub demo: Demo,
    pub client: reqwest::Client,
    pub cookie: String,
    _dir: tempfile::TempDir,
}

/// Starts plexgate in demo mode on 127.0.0.1 with `extra` configuration keys and signs in with
/// a client (no proxy, then `configure`d).
pub async fn demo_signed_in(
    extra: &[(&str, &str)],
    configure: fn(reqwest::ClientBuilder) -> reqwest::ClientBuilder,
) -> SignedIn {
    // Before any client is built: reqwest has no TLS provider of its own here.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = configure(reqwest::Client::builder().no_proxy())
        .build()
        .expect("client");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut env: HashMap<String, String> = HashMap::new();
    env.insert(env_name("server.listen"), "127.0.0.1:0".into());
    env.insert(
        env_name("storage.database"),
        dir.path().join("plexgate.sqlite").display().to_string(),
    );
    env.insert(env_name("log.level"), "error".into());
    for (key, value) in extra {
        env.insert(env_name(key), (*value).to_string());
    }
    let config = Sources::new()
        .env(|name| env.get(name).cloned())
        .build()
        .expect("config");
    let demo = Demo::start(config).await.expect("demo");
    let base = demo.url();
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
    SignedIn {
        demo,
        client,
        cookie,
        _dir: dir,
    }
}

/// The `p` quantile (0.0-1.0) of sorted latencies.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}
