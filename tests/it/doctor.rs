//! `plexgate doctor` against a real installation: the demo's database (a stored server whose
//! candidate is a real demo Plex), fake plex.tv, TMDB and Trakt. All good is ✓ lines and
//! success; each broken piece is a ✗ line with its fix and failure.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use plexgate::app::demo::Demo;
use plexgate::config::Config;
use plexgate::demo::{DemoPlex, DemoPlexOptions};

use crate::support::fake_plextv::FakePlexTv;
use crate::support::fake_tmdb::FakeTmdb;
use crate::support::fake_trakt::FakeTrakt;
use crate::support::test_config;

const TMDB_KEY: &str = "doctor-tmdb-key";

struct World {
    demo: Demo,
    _plex: DemoPlex,
    _fakes: (FakePlexTv, FakeTmdb, FakeTrakt),
    _dir: tempfile::TempDir,
}

impl World {
    async fn start() -> World {
        let plex = DemoPlex::start(DemoPlexOptions::default()).await.unwrap();
        let plextv = FakePlexTv::start(1, 1, "account-token-doctor").await;
        let tmdb = FakeTmdb::start(&[TMDB_KEY]).await;
        let trakt = FakeTrakt::start("doctor-client-id", "doctor-client-secret").await;
        let dir = tempfile::tempdir().unwrap();
        let url = plex.url();
        let config = test_config(
            dir.path(),
            &[
                ("demo.plex_url", url.as_str()),
                ("demo.plex_token", plex.token()),
                ("plextv.url", plextv.url.as_str()),
                ("tmdb.url", tmdb.url.as_str()),
                ("tmdb.default_key", TMDB_KEY),
                ("trakt.url", trakt.url.as_str()),
                ("trakt.client_id", "doctor-client-id"),
                ("trakt.client_secret", "doctor-client-secret"),
            ],
        );
        let demo = Demo::start(config).await.expect("demo starts");
        World {
            demo,
            _plex: plex,
            _fakes: (plextv, tmdb, trakt),
            _dir: dir,
        }
    }

    /// The configuration the demo runs with (its database and key file).
    fn config(&self) -> Config {
        self.demo.state().config().clone()
    }
}

async fn doctor(config: &Config) -> (bool, String) {
    let mut out = Vec::new();
    let ok = plexgate::app::doctor::run(config, &mut out).await;
    (ok, String::from_utf8(out).unwrap())
}

/// The ✗ line containing `what`, followed by its fix line containing `fix`.
fn assert_failed(report: &str, what: &str, fix: &str) {
    let lines: Vec<&str> = report.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.trim_start().starts_with('✗') && l.contains(what))
        .unwrap_or_else(|| panic!("no ✗ line with {what:?}:\n{report}"));
    let next = lines.get(at + 1).copied().unwrap_or_default();
    assert!(
        next.trim_start().starts_with("fix:") && next.contains(fix),
        "fix for {what:?} should mention {fix:?}:\n{report}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn all_good_is_only_check_marks() {
    let w = World::start().await;
    let (ok, report) = doctor(&w.config()).await;
    assert!(ok, "{report}");
    assert!(!report.contains('✗'), "{report}");
    for line in [
        "✓ configuration loads",
        "is writable",
        "matches the database (key ",
        "✓ plex.tv (http://127.0.0.1:",
        "clock within",
        "plexgate uses http://127.0.0.1:",
        "answers as this server in",
        "✓ TMDB: tmdb.default_key is accepted",
        "✓ Trakt: trakt.client_id is accepted",
    ] {
        assert!(report.contains(line), "missing {line:?}:\n{report}");
    }
    assert!(!report.contains(TMDB_KEY), "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn each_failure_is_a_cross_with_its_fix() {
    let w = World::start().await;
    let config = w.config();
    let key_file = config.storage.key_file.clone();

    // The key file readable by others.
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (ok, report) = doctor(&config).await;
    assert!(!ok);
    assert_failed(&report, "has mode 0644", "chmod 600");
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();

    // Another key than the one the database was sealed with.
    let original = std::fs::read(&key_file).unwrap();
    let other = tempfile::tempdir().unwrap();
    plexgate::crypto::keyfile::create(&other.path().join("k")).unwrap();
    std::fs::copy(other.path().join("k"), &key_file).unwrap();
    let (ok, report) = doctor(&config).await;
    assert!(!ok);
    assert_failed(
        &report,
        "but the database was sealed with key",
        "restore the original key file",
    );
    std::fs::write(&key_file, &original).unwrap();

    // plex.tv unreachable.
    let mut c = config.clone();
    c.plextv.url = "http://127.0.0.1:1".into();
    let (ok, report) = doctor(&c).await;
    assert!(!ok);
    assert_failed(
        &report,
        "plex.tv (http://127.0.0.1:1): connection refused",
        "plex.tv over HTTPS",
    );

    // A server candidate that does not answer (ranked after the working one).
    w.demo
        .state()
        .db()
        .write(|c| {
            c.execute(
                "INSERT INTO server_connections SELECT id, 'http://127.0.0.1:1', 'http', \
                 '127.0.0.1', 1, 0, 0, 0, 9 FROM servers",
                [],
            )?;
            Ok(())
        })
        .await
        .unwrap();
    let (ok, report) = doctor(&config).await;
    assert!(!ok);
    assert_failed(&report, "http://127.0.0.1:1: ", "firewall");
    assert!(
        report.contains("plexgate uses http://127.0.0.1:"),
        "{report}"
    );

    // A TMDB key TMDB refuses.
    let mut c = config.clone();
    c.tmdb.default_key = Some("not-the-key".into());
    let (ok, report) = doctor(&c).await;
    assert!(!ok);
    assert_failed(
        &report,
        "TMDB: tmdb.default_key is refused (HTTP 401)",
        "themoviedb.org",
    );
    assert!(!report.contains("not-the-key"), "{report}");
}

#[test]
fn the_binary_exits_1_on_a_cross_and_reports_a_bad_config_as_one() {
    let dir = tempfile::tempdir().unwrap();
    let run = |extra: &[(&str, &str)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_plexgate"));
        cmd.arg("doctor")
            .env(
                "PLEXGATE_STORAGE_DATABASE",
                dir.path().join("plexgate.sqlite"),
            )
            .env("PLEXGATE_PLEXTV_URL", "http://127.0.0.1:1");
        for (k, v) in extra {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let out = run(&[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("✓ configuration loads"), "{stdout}");
    assert!(stdout.contains("✗ plex.tv"), "{stdout}");

    let out = run(&[("PLEXGATE_TMDB_DEFUALT_KEY", "x")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.starts_with("✗ configuration loads"), "{stdout}");
    assert!(
        stdout.contains("did you mean PLEXGATE_TMDB_DEFAULT_KEY?"),
        "{stdout}"
    );
}

/// A reverse proxy on loopback that forwards to `upstream` adding the headers a real one adds.
async fn forwarding_proxy(upstream: String) -> String {
    use http_body_util::{BodyExt, Full};
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let upstream = upstream.clone();
                        async move {
                            let mut out = crate::support::client()
                                .get(format!("{upstream}{}", req.uri()))
                                .header("x-forwarded-for", "203.0.113.9")
                                .header("x-forwarded-proto", "http");
                            for (name, value) in req.headers() {
                                if name.as_str().starts_with("x-plexgate") {
                                    out = out.header(name, value);
                                }
                            }
                            let resp = out.send().await.unwrap();
                            let status = resp.status();
                            let body = resp.bytes().await.unwrap();
                            let mut reply = hyper::Response::new(Full::new(body).boxed());
                            *reply.status_mut() = status;
                            Ok::<_, std::convert::Infallible>(reply)
                        }
                    },
                );
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    url
}

#[tokio::test(flavor = "multi_thread")]
async fn the_public_url_probe_shows_whether_forwarded_headers_are_believed() {
    // Loopback is trusted by default: the proxy's headers are believed.
    let app = crate::support::TestApp::start(&[]).await;
    let proxy = forwarding_proxy(app.running.url()).await;
    let mut config = app.running.state().config().clone();
    config.server.public_url = Some(proxy.clone());
    let (_, report) = doctor(&config).await;
    let line = report
        .lines()
        .find(|l| l.contains("public URL"))
        .unwrap_or_default();
    assert!(
        line.starts_with("✓")
            && line.contains("through a trusted proxy")
            && line.contains("client 203.0.113.9"),
        "{report}"
    );
    // The probe is one-time and only for the doctor: without its token it is a 404.
    let resp = crate::support::client()
        .get(app.url("/api/doctor/probe"))
        .send()
        .await
        .unwrap();
    crate::support::assert_error(resp, 404, "not_found").await;

    // A proxy plexgate does not trust: its headers are ignored, and the doctor says which
    // address to trust.
    let app = crate::support::TestApp::start(&[("server.trusted_proxies", "10.0.0.0/8")]).await;
    let proxy = forwarding_proxy(app.running.url()).await;
    let mut config = app.running.state().config().clone();
    config.server.public_url = Some(proxy);
    let (ok, report) = doctor(&config).await;
    assert!(!ok);
    assert_failed(
        &report,
        "which is not in server.trusted_proxies",
        "\"127.0.0.1/32\"",
    );
}
