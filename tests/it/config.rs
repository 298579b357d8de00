//! Configuration: layering, one problem line per bad key, and the binary's exit code 2.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use plexgate::config::{LogFormat, Sources, env_name};

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (env_name(k), (*v).to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn defaults_are_the_documented_ones() {
    let c = Sources::new().build().unwrap();
    assert_eq!(c.server.listen.to_string(), "127.0.0.1:3001");
    assert_eq!(c.storage.database, Path::new("./data/plexgate.sqlite"));
    assert_eq!(c.storage.key_file, Path::new("./data/plexgate.key"));
    assert_eq!(c.log.format, LogFormat::Pretty);
    assert_eq!(c.log.level, "info");
    assert_eq!(c.server.base_path, "");
    assert_eq!(c.server.max_body_bytes, 1 << 20);
    assert!(c.server.cors_origins.is_empty());
    assert_eq!(c.server.max_connections, 4096);
    assert_eq!(c.server.max_connections_per_ip, 256);
    assert_eq!(c.image.max_pixels, 40_000_000);
}

#[test]
fn connection_caps_are_whole_numbers_one_line_each() {
    let env = env_of(&[
        ("server.max_connections", "0"),
        ("server.max_connections_per_ip", "many"),
    ]);
    let err = Sources::new().env(&env).build().unwrap_err();
    let keys: Vec<&str> = err.problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        ["server.max_connections", "server.max_connections_per_ip"]
    );
    let text = err.to_string();
    assert!(
        text.contains("server.max_connections: \"0\" must be a whole number from 1 to"),
        "{text}"
    );
    let ok = env_of(&[("server.max_connections_per_ip", "8")]);
    let c = Sources::new().env(&ok).build().unwrap();
    assert_eq!(c.server.max_connections_per_ip, 8);
}

#[test]
fn example_file_is_valid_and_matches_defaults() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
    let c = Sources::new()
        .file(&path)
        .build()
        .expect("config.example.toml is valid");
    let d = Sources::new().build().unwrap();
    assert_eq!(format!("{c:?}"), format!("{d:?}"));
}

#[test]
fn every_known_key_appears_in_the_example_file() {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml"))
            .unwrap();
    for key in plexgate::config::KEYS {
        let name = key.split('.').nth(1).unwrap();
        assert!(
            text.contains(&format!("\n{name} =")) || text.contains(&format!("# {name} =")),
            "config.example.toml does not document {key}"
        );
    }
}

#[test]
fn flag_beats_env_beats_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "c.toml",
        "[server]\nlisten = \"127.0.0.1:4000\"\nbase_path = \"/file\"\n[log]\nlevel = \"debug\"\n",
    );
    let env = env_of(&[
        ("server.listen", "127.0.0.1:5000"),
        ("server.base_path", "/env"),
    ]);
    let c = Sources::new()
        .file(&file)
        .env(&env)
        .flag("server.listen", "--listen", Some("127.0.0.1:6000"))
        .build()
        .unwrap();
    assert_eq!(c.server.listen.to_string(), "127.0.0.1:6000");
    assert_eq!(c.server.base_path, "/env");
    assert_eq!(c.log.level, "debug");
}

#[test]
fn every_bad_key_is_reported_once_with_its_origin() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "bad.toml",
        r#"
[server]
listen = "not-an-address"
base_path = "no-slash"
cors_origins = ["*", "https://ok.example.com"]
trusted_proxies = ["10.0.0.0/8", "nonsense"]
lisen = "typo"
request_timeout_secs = 0

[log]
format = "xml"

[storage]
secret_key = "c2hvcnQ="
"#,
    );
    let env = env_of(&[("server.max_body_bytes", "lots")]);
    let err = Sources::new().file(&file).env(&env).build().unwrap_err();
    let lines: Vec<String> = err.to_string().lines().map(String::from).collect();
    let keys: Vec<&str> = err.problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "log.format",
            "server.base_path",
            "server.cors_origins",
            "server.lisen",
            "server.listen",
            "server.max_body_bytes",
            "server.request_timeout_secs",
            "server.trusted_proxies",
            "storage.secret_key",
        ],
        "{lines:#?}"
    );
    assert_eq!(lines.len(), keys.len());
    for line in &lines {
        assert!(line.starts_with("config error: "), "{line}");
    }
    let text = err.to_string();
    assert!(
        text.contains("server.max_body_bytes: \"lots\" must be a whole number"),
        "{text}"
    );
    assert!(
        text.contains("set by env PLEXGATE_SERVER_MAX_BODY_BYTES"),
        "{text}"
    );
    assert!(text.contains("server.lisen: unknown key"), "{text}");
    assert!(
        text.contains("\"*\" cannot be used with credentials"),
        "{text}"
    );
    // A secret's value is never echoed, even when it is wrong.
    assert!(!text.contains("c2hvcnQ="), "{text}");
}

#[test]
fn malformed_toml_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "broken.toml", "[server\nlisten = 1\n");
    let err = Sources::new().file(&file).build().unwrap_err();
    assert_eq!(err.problems.len(), 1);
    assert_eq!(err.problems[0].key, "config");
    assert!(err.to_string().contains("is not valid TOML"), "{err}");
    assert_eq!(err.to_string().lines().count(), 1);
}

#[test]
fn demo_url_and_token_go_together() {
    let err = Sources::new()
        .flag(
            "demo.plex_url",
            "--plex-url",
            Some("http://127.0.0.1:32400"),
        )
        .build()
        .unwrap_err();
    assert_eq!(err.problems.len(), 1);
    assert_eq!(err.problems[0].key, "demo.plex_token");
}

#[test]
fn env_lists_are_comma_separated() {
    let env = env_of(&[(
        "server.cors_origins",
        "https://a.example.com, https://b.example.com:8443",
    )]);
    let c = Sources::new().env(env).build().unwrap();
    assert_eq!(
        c.server.cors_origins,
        ["https://a.example.com", "https://b.example.com:8443"]
    );
}

#[test]
fn binary_exits_2_with_one_line_per_problem() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "bad.toml",
        "[server]\nlisten = \"x\"\n[log]\nformat = \"xml\"\n",
    );
    for args in [vec!["check-config"], vec!["serve"], vec![]] {
        let out = Command::new(env!("CARGO_BIN_EXE_plexgate"))
            .arg("--config")
            .arg(&file)
            .args(&args)
            .env_remove("PLEXGATE_SERVER_LISTEN")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "args {args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 2, "{stderr}");
        assert!(
            lines[0].starts_with("config error: log.format:"),
            "{stderr}"
        );
        assert!(
            lines[1].starts_with("config error: server.listen:"),
            "{stderr}"
        );
    }
}

#[test]
fn check_config_accepts_a_good_file_and_hides_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let file = write(
        dir.path(),
        "good.toml",
        &format!("[storage]\nsecret_key = \"{secret}\"\n"),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_plexgate"))
        .arg("--config")
        .arg(&file)
        .arg("check-config")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("configuration is valid"), "{stdout}");
    assert!(!stdout.contains(secret), "{stdout}");
}

/// Found by the `config` fuzz target: `"" = 1` at the top level made a problem with an empty key.
#[test]
fn odd_toml_keys_are_named_quoted_on_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "odd.toml",
        "\"\" = 1\n[server]\n\"a\\nb\" = 2\n[\"a b\"]\nx = 3\n",
    );
    let mut sources = Sources::new();
    sources.toml_text(&std::fs::read_to_string(&file).unwrap(), &file);
    let err = sources.env(|_| None).build().unwrap_err();
    let keys: Vec<&str> = err.problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys, ["\"\"", "\"a b\".x", "server.\"a\\nb\""], "{keys:?}");
    for p in &err.problems {
        assert!(!p.key.contains('\n') && !p.message.contains('\n'), "{p:?}");
    }
}
