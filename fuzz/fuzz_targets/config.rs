//! Config loader (`plexgate::config::Sources`): a TOML document, then `PLEXGATE_*` variables
//! through a lookup closure (never the process environment), then `build()`.
//!
//! Input: the TOML text, a NUL byte, then environment lines `NAME=value`; `NAME` may be the
//! variable (`PLEXGATE_SERVER_LISTEN`) or the key (`server.listen`), which is mapped to it.
//!
//! Invariants: no panic; a refused config names at least one problem and every problem has a
//! key and a message on one line; a secret set only through the environment never appears in an
//! error message.
#![no_main]

use std::collections::HashMap;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use plexgate::config::{Sources, env_name};

const SECRETS: &[&str] = &[
    "storage.secret_key",
    "demo.plex_token",
    "metrics.bearer",
    "tmdb.default_key",
    "trakt.client_secret",
];

/// At least 12 ASCII letters and digits with all three kinds: no static message contains one.
fn secret_looking(v: &str) -> bool {
    v.len() >= 12
        && v.bytes().all(|b| b.is_ascii_alphanumeric())
        && v.bytes().any(|b| b.is_ascii_digit())
        && v.bytes().any(|b| b.is_ascii_uppercase())
        && v.bytes().any(|b| b.is_ascii_lowercase())
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (toml, env) = text.split_once('\0').unwrap_or((&text, ""));
    let mut vars: HashMap<String, String> = HashMap::new();
    for line in env.lines() {
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        let name = if name.contains('.') {
            env_name(name)
        } else {
            name.to_owned()
        };
        vars.insert(name, value.to_owned());
    }
    let mut sources = Sources::new();
    sources.toml_text(toml, Path::new("fuzz.toml"));
    let result = sources.env(|name| vars.get(name).cloned()).build();
    if let Err(e) = result {
        assert!(!e.problems.is_empty(), "refused without a problem");
        let shown = e.to_string();
        for p in &e.problems {
            assert!(
                !p.key.is_empty() && !p.message.contains('\n'),
                "problem shape: {p:?}"
            );
        }
        for key in SECRETS {
            // Only a value that cannot come from anywhere else: secret-looking, set once.
            if let Some(v) = vars.get(&env_name(key))
                && secret_looking(v)
                && !toml.contains(v.as_str())
                && vars.values().filter(|o| o.contains(v.as_str())).count() == 1
            {
                assert!(
                    !shown.contains(v.as_str()),
                    "secret {key} shown in an error"
                );
            }
        }
    }
});
