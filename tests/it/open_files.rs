//! The open-file limit at start (`app::limits`): a soft limit below what
//! `server.max_connections` needs is raised to it when the hard limit allows, and when it does
//! not, one WARN line says so and names the fix. Linux only (`/proc/<pid>/limits`).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Starts `plexgate serve` under `sh -c '<ulimit>; exec plexgate …'` with
/// `server.max_connections = 500` (needs 1,128 descriptors); returns it once it listens, with
/// every line it wrote to stderr until then.
fn start_with(ulimit: &str, db: &std::path::Path) -> (Child, String) {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("{ulimit} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_plexgate"))
        .args(["--listen", "127.0.0.1:0", "--log-format", "json", "serve"])
        .env("PLEXGATE_STORAGE_DATABASE", db)
        .env("PLEXGATE_SERVER_MAX_CONNECTIONS", "500")
        .env_remove("PLEXGATE_SERVER_LISTEN")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut seen = String::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => {
                seen.push_str(&line);
                seen.push('\n');
                if line.contains("plexgate listening") {
                    return (child, seen);
                }
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("plexgate did not start listening:\n{seen}");
            }
        }
    }
}

/// The soft "Max open files" of a running process.
fn soft_open_files(pid: u32) -> u64 {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    line.split_whitespace().nth(3).unwrap().parse().unwrap()
}

#[test]
fn a_soft_limit_below_max_connections_is_raised_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, log) = start_with("ulimit -Sn 256", &dir.path().join("db.sqlite"));
    let soft = soft_open_files(child.id());
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(soft, plexgate::app::limits::needed(500), "{log}");
    assert!(
        log.contains("raised the open-file limit") && log.contains("\"from\":256"),
        "{log}"
    );
}

#[test]
fn a_hard_limit_below_max_connections_is_one_warning_naming_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, log) = start_with("ulimit -n 300", &dir.path().join("db.sqlite"));
    let soft = soft_open_files(child.id());
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(soft, 300, "{log}");
    let warning = log
        .lines()
        .find(|l| l.contains("open-file limit is below"))
        .unwrap_or_else(|| panic!("no warning:\n{log}"));
    assert!(warning.contains("\"level\":\"WARN\""), "{warning}");
    assert!(warning.contains("\"needed\":2128"), "{warning}");
    assert!(warning.contains("LimitNOFILE"), "{warning}");
    assert!(warning.contains("server.max_connections"), "{warning}");
}
