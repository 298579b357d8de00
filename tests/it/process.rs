//! The real binary as an operator runs it: SIGTERM drains in-flight requests and exits 0, and
//! nothing it logs or prints carries the Plex token, whatever the requests contain.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::{client, sigterm};
use plexgate::demo::{DemoPlex, DemoPlexOptions};

struct Plexgate {
    child: Child,
    url: String,
    stdout_seen: String,
}

/// Starts `plexgate demo` against `plex`, waits for the banner and returns its URL.
fn spawn_demo(plex: &DemoPlex) -> Plexgate {
    let mut child = Command::new(env!("CARGO_BIN_EXE_plexgate"))
        .args([
            "demo",
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--log-level",
            "debug",
        ])
        .env("PLEXGATE_DEMO_PLEX_URL", plex.url())
        .env("PLEXGATE_DEMO_PLEX_TOKEN", plex.token())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn plexgate");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = String::new();
    let url = loop {
        let line = lines
            .next()
            .expect("plexgate printed its banner")
            .expect("read stdout");
        seen.push_str(&line);
        seen.push('\n');
        if let Some(rest) = line.trim().strip_prefix("plexgate demo is running at ") {
            break rest.trim().to_string();
        }
    };
    // Keep draining stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Plexgate {
        child,
        url,
        stdout_seen: seen,
    }
}

fn wait_with_stderr(mut p: Plexgate) -> (std::process::ExitStatus, String) {
    let mut stderr = String::new();
    p.child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (p.child.wait().unwrap(), stderr)
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_the_in_flight_request_finish_then_exits_0() {
    let plex = DemoPlex::start(DemoPlexOptions::default()).await.unwrap();
    let p = spawn_demo(&plex);
    // /ready asks the Plex server; make that take a while so it is in flight at SIGTERM.
    plex.faults().delay(Some(Duration::from_millis(1200)));
    let url = format!("{}/ready", p.url);
    let in_flight = tokio::spawn(async move { client().get(url).send().await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    sigterm(&p.child);

    let resp = in_flight
        .await
        .unwrap()
        .expect("in-flight request answered");
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    let (status, stderr) = tokio::task::spawn_blocking(move || wait_with_stderr(p))
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("received SIGTERM"), "{stderr}");
    assert!(stderr.contains("all connections drained"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn no_token_in_logs_or_stdout_whatever_the_requests_carry() {
    let plex = DemoPlex::start(DemoPlexOptions::default()).await.unwrap();
    let token = plex.token().to_string();
    let p = spawn_demo(&plex);
    let c = client();
    let encoded = token.replace('-', "%2D");
    for path in [
        format!("/health?X-Plex-Token={token}"),
        format!("/ready?token={token}"),
        format!("/api/plex/{token}/x?X-Plex-Token={encoded}"),
        format!("/nothing?url=%2Flibrary%3FX-Plex-Token%3D{token}"),
    ] {
        let resp = c
            .get(format!("{}{path}", p.url))
            .header("X-Plex-Token", &token)
            .send()
            .await
            .unwrap();
        let body = resp.text().await.unwrap();
        assert!(!body.contains(&token), "{path}: {body}");
    }
    sigterm(&p.child);
    let stdout = p.stdout_seen.clone();
    let (status, stderr) = tokio::task::spawn_blocking(move || wait_with_stderr(p))
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(
        stderr.contains("\"target\":\"plexgate::access\""),
        "{stderr}"
    );
    assert!(stderr.contains("\"route\":\"/health\""), "{stderr}");
    assert!(!stderr.contains(&token), "token in stderr:\n{stderr}");
    assert!(!stdout.contains(&token), "token in stdout:\n{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn healthcheck_subcommand_reports_the_running_server() {
    let plex = DemoPlex::start(DemoPlexOptions::default()).await.unwrap();
    let p = spawn_demo(&plex);
    let listen = p.url.trim_start_matches("http://").to_string();
    let run = |addr: String| {
        Command::new(env!("CARGO_BIN_EXE_plexgate"))
            .args(["--listen", &addr, "healthcheck"])
            .output()
            .unwrap()
    };
    let ok = tokio::task::spawn_blocking({
        let a = listen.clone();
        move || run(a)
    })
    .await
    .unwrap();
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    sigterm(&p.child);
    let _ = tokio::task::spawn_blocking(move || wait_with_stderr(p)).await;
    let down = tokio::task::spawn_blocking(move || run(listen))
        .await
        .unwrap();
    assert_eq!(down.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&down.stderr).contains("no answer"));
}
