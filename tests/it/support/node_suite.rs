//! The Rust half of the browser suite: runs `tests/browser/run.mjs` (playwright-core driving
//! Debian's Chromium) and reads what Chromium saw, so the leak canary can scan it here.
//!
//! Include with `#[path = "support/node_suite.rs"] mod node_suite;` next to `mod support;`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::canary::Canary;

fn browser_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// Panics with what to install when node, the npm packages or Chromium are missing.
pub fn require_tools() {
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.as_ref().is_ok_and(|o| o.status.success()),
        "node is required for the browser suite: apt-get install nodejs npm (.ci/run installs it)"
    );
    for pkg in ["playwright-core", "hls.js", "dashjs"] {
        assert!(
            browser_dir().join("node_modules").join(pkg).is_dir(),
            "tests/browser/node_modules/{pkg} is missing: run `npm ci` in tests/browser"
        );
    }
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "Chromium is required at {chromium}: apt-get install chromium (or set CHROMIUM)"
    );
}

/// Runs `run.mjs` with `args` (blocking; call it from `spawn_blocking`) and returns its JSON.
/// A runner that cannot run, or a suite that threw, fails the test with its output.
pub fn run(args: &[String]) -> Value {
    require_tools();
    let out_dir = tempfile::tempdir().expect("tempdir");
    let out = out_dir.path().join("result.json");
    let output = Command::new("node")
        .arg(browser_dir().join("run.mjs"))
        .args(args)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("start node");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "run.mjs failed ({}):\n{stderr}",
        output.status
    );
    let text = std::fs::read_to_string(&out).expect("run.mjs wrote its result");
    let result: Value = serde_json::from_str(&text).expect("run.mjs result is JSON");
    assert!(
        result["fatal"].is_null(),
        "the browser suite stopped: {}\n{stderr}",
        result["fatal"]
    );
    result
}

/// The failed checks, one line each.
pub fn failures(result: &Value) -> Vec<String> {
    result["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["ok"] != true)
        .map(|c| format!("{} — {}", c["name"], c["detail"]))
        .collect()
}

/// Asserts every check passed and at least `min` ran.
pub fn assert_checks(result: &Value, min: usize) {
    let n = result["checks"].as_array().map_or(0, Vec::len);
    let failed = failures(result);
    assert!(
        failed.is_empty(),
        "browser checks failed:\n{}",
        failed.join("\n")
    );
    assert!(n >= min, "only {n} browser checks ran, expected {min}+");
}

/// Console errors and warnings the suite did not provoke on purpose.
pub fn unexpected_console(result: &Value) -> Vec<String> {
    result["console"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["expected"] != true)
        .map(|c| {
            format!(
                "[{}] {} {} ({})",
                c["label"], c["type"], c["text"], c["url"]
            )
        })
        .collect()
}

/// Every network entry whose label passes `include`.
pub fn entries<'a>(result: &'a Value, include: impl Fn(&str) -> bool + 'a) -> Vec<&'a Value> {
    result["network"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| include(e["label"].as_str().unwrap_or("")))
        .collect()
}

/// Every place in `entries` the browser saw, as (where, bytes): URL, each request and response
/// header, the request body and the response body (text types).
pub fn places(entries: &[&Value]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for e in entries {
        let what = format!("{} {}", e["method"].as_str().unwrap_or(""), e["url"]);
        out.push((format!("{what}: URL"), e["url"].to_string().into_bytes()));
        for side in ["requestHeaders", "responseHeaders"] {
            if let Some(h) = e[side].as_object() {
                for (name, value) in h {
                    let text = format!("{name}: {}", value.as_str().unwrap_or(""));
                    out.push((format!("{what}: {side} {name}"), text.into_bytes()));
                }
            }
        }
        for field in ["postData", "body"] {
            if let Some(b) = e[field].as_str() {
                out.push((format!("{what}: {field}"), b.as_bytes().to_vec()));
            }
        }
    }
    out
}

/// Runs the canary over every place; panics naming the first leak. Returns how many it scanned.
pub fn scan(canary: &Canary, entries: &[&Value]) -> usize {
    let places = places(entries);
    for (place, bytes) in &places {
        canary.scan(place, bytes);
    }
    places.len()
}

/// The places where the canary finds a secret (for the run that must find one).
pub fn leaks(canary: &Canary, entries: &[&Value]) -> Vec<String> {
    places(entries)
        .into_iter()
        .filter_map(|(place, bytes)| canary.find(&bytes).map(|f| format!("{f} in {place}")))
        .collect()
}

/// Where results and screenshots go: `target/e2e-report/`.
pub fn report_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/e2e-report");
    std::fs::create_dir_all(&dir).expect("create target/e2e-report");
    dir
}
