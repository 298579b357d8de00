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
    assert_eq!(c.server.send_buffer_bytes, 256 << 10);
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
fn send_buffer_is_bounded_or_left_to_the_kernel() {
    let off = env_of(&[("server.send_buffer_bytes", "0")]);
    assert_eq!(
        Sources::new()
            .env(&off)
            .build()
            .unwrap()
            .server
            .send_buffer_bytes,
        0
    );
    let huge = env_of(&[("server.send_buffer_bytes", "1073741824")]);
    let err = Sources::new().env(&huge).build().unwrap_err().to_string();
    assert!(
        err.contains("server.send_buffer_bytes: \"1073741824\" must be a whole number from 0 to"),
        "{err}"
    );
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

#[test]
fn an_unknown_variable_names_the_closest_known_one() {
    let err = Sources::new()
        .env_names(vec![
            "PLEXGATE_SERVR_LISTEN".to_string(),
            "PLEXGATE_CONFIG".to_string(),
            "PLEXGATE_STORAGE_SECRET_KEY_FILE".to_string(),
            "HOME".to_string(),
        ])
        .build()
        .unwrap_err();
    assert_eq!(err.problems.len(), 1, "{err}");
    assert_eq!(
        err.to_string(),
        "config error: PLEXGATE_SERVR_LISTEN: unknown environment variable; did you mean \
         PLEXGATE_SERVER_LISTEN?"
    );
}

#[test]
fn an_unknown_toml_key_gets_did_you_mean() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "typo.toml",
        "listen = \"127.0.0.1:1\"\n[sever]\nlisten = \"x\"\n[tmdb]\ndefault_kye = \"k\"\n",
    );
    let err = Sources::new().file(&file).build().unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("sever.listen: unknown key (in file")
            && text.contains("did you mean `server.listen`?"),
        "{text}"
    );
    assert!(text.contains("did you mean `tmdb.default_key`?"), "{text}");
    assert!(
        text.contains("listen: unknown key")
            && text.contains("expected a [section]; did you mean `server.listen`?"),
        "{text}"
    );
}

#[test]
fn log_level_is_a_filter_and_warning_means_warn() {
    let c = Sources::new()
        .env(env_of(&[("log.level", "warning")]))
        .build()
        .unwrap();
    assert_eq!(c.log.level, "warn");
    let c = Sources::new()
        .env(env_of(&[("log.level", "plexgate=debug,WARNING")]))
        .build()
        .unwrap();
    assert_eq!(c.log.level, "plexgate=debug,warn");
    for bad in ["inof", "plexgate=loud", "info,"] {
        let result = Sources::new().env(env_of(&[("log.level", bad)])).build();
        if bad == "info," {
            assert!(result.is_ok(), "a trailing comma is harmless");
            continue;
        }
        let err = result.unwrap_err();
        assert_eq!(err.problems[0].key, "log.level", "{err}");
    }
    let err = Sources::new()
        .env(env_of(&[("log.level", "inof")]))
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("did you mean `info`?"), "{err}");
}

#[test]
fn secrets_come_from_files_named_by_file_variables() {
    let dir = tempfile::tempdir().unwrap();
    let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let key_file = write(dir.path(), "secret_key", &format!("{key}\n"));
    let tmdb_file = write(dir.path(), "tmdb", "tmdb-key-with-crlf\r\n");
    let vars: HashMap<String, String> = [
        (
            "PLEXGATE_STORAGE_SECRET_KEY_FILE",
            key_file.display().to_string(),
        ),
        (
            "PLEXGATE_TMDB_DEFAULT_KEY_FILE",
            tmdb_file.display().to_string(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let (c, effective) = Sources::new()
        .env(|n| vars.get(n).cloned())
        .build_explained()
        .unwrap();
    assert_eq!(c.storage.secret_key.as_deref(), Some(key));
    assert_eq!(c.tmdb.default_key.as_deref(), Some("tmdb-key-with-crlf"));
    let entry = effective.get("storage.secret_key").unwrap();
    assert_eq!(
        entry.origin,
        plexgate::config::Origin::Env("PLEXGATE_STORAGE_SECRET_KEY_FILE".into())
    );
    assert!(!effective.to_string().contains(key));

    // Unreadable: named by its variable, never its contents; both set: refused.
    let missing = dir.path().join("nope");
    let err = Sources::new()
        .env(|n| match n {
            "PLEXGATE_TRAKT_CLIENT_SECRET_FILE" => Some(missing.display().to_string()),
            "PLEXGATE_METRICS_BEARER" => Some("0123456789abcdef".into()),
            "PLEXGATE_METRICS_BEARER_FILE" => Some(key_file.display().to_string()),
            _ => None,
        })
        .build()
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("trakt.client_secret: PLEXGATE_TRAKT_CLIENT_SECRET_FILE names")
            && text.contains("cannot be read"),
        "{text}"
    );
    assert!(
        text.contains("both PLEXGATE_METRICS_BEARER and PLEXGATE_METRICS_BEARER_FILE are set"),
        "{text}"
    );
    assert!(
        !text.contains(key) && !text.contains("0123456789abcdef"),
        "{text}"
    );
}

#[test]
fn check_config_prints_toml_with_origins_and_refuses_an_uncreatable_database_dir() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "c.toml",
        "[server]\nbase_path = \"/pg\"\n[tmdb]\ndefault_key = \"tmdb-secret-value\"\n",
    );
    let run = |db: &Path| {
        Command::new(env!("CARGO_BIN_EXE_plexgate"))
            .arg("--config")
            .arg(&file)
            .args(["--listen", "127.0.0.1:4555", "check-config"])
            .env("PLEXGATE_STORAGE_DATABASE", db)
            .env_remove("PLEXGATE_SERVER_LISTEN")
            .output()
            .unwrap()
    };
    let out = run(&dir.path().join("data/plexgate.sqlite"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let shown = file.display();
    for line in [
        "listen = \"127.0.0.1:4555\"  # flag --listen".to_string(),
        format!("base_path = \"/pg\"  # file {shown}"),
        "default_key = \"<set>\"".to_string(),
        "request_timeout_secs = 30  # default".to_string(),
        "# public_url is unset  # default".to_string(),
        "[storage]".to_string(),
    ] {
        assert!(stdout.contains(&line), "missing {line:?} in\n{stdout}");
    }
    assert!(
        stdout.contains("# env PLEXGATE_STORAGE_DATABASE"),
        "{stdout}"
    );
    assert!(!stdout.contains("tmdb-secret-value"), "{stdout}");
    // The printed part parses as TOML with the real key names.
    let table: toml::Table = stdout.parse().expect("check-config prints TOML");
    assert_eq!(table["server"]["base_path"].as_str(), Some("/pg"));
    assert!(
        dir.path().join("data").is_dir(),
        "the directory was created"
    );

    // A database "directory" that is a file cannot be created: exit 2, naming the key.
    let blocker = write(dir.path(), "not-a-dir", "");
    let out = run(&blocker.join("plexgate.sqlite"));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("config error: storage.database: cannot create"),
        "{stderr}"
    );
}

/// Found by the `config` fuzz target: a bad value quoted back in its problem (here a TOML
/// multi-line string with an escape character) split the problem over several lines.
#[test]
fn a_bad_value_quoted_back_stays_on_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "multi.toml",
        "[server]\ntrusted_proxies = \"\"\"\nnot\na list\\u001b[2J\"\"\"\n",
    );
    let mut sources = Sources::new();
    sources.toml_text(&std::fs::read_to_string(&file).unwrap(), &file);
    let err = sources.env(|_| None).build().unwrap_err();
    let p = &err.problems[0];
    assert_eq!(p.key, "server.trusted_proxies");
    assert!(!p.message.chars().any(char::is_control), "{p:?}");
    assert!(
        p.message.contains("\\n"),
        "the break is shown escaped: {p:?}"
    );
}
