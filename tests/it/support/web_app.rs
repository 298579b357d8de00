//! A small built single-page app, shaped like Vite's `dist/`: `index.html` loading a
//! content-hashed `assets/app-abc123.js` that signs in (demo mode) and reads
//! `/api/auth/session` with `credentials: 'include'`, as Flixor does, and puts what it got in
//! `window.fixture`. Plus the files the HTTP tests need: precompressed siblings whose bytes
//! say which one was sent, a favicon, a hidden file and symlinks that lead out of the root.

use std::path::{Path, PathBuf};

pub const INDEX: &str = "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>fixture app</title>\
<script type=\"module\" src=\"/assets/app-abc123.js\"></script></head>\
<body><div id=\"app\">loading</div></body></html>\n";

pub const APP_JS: &str = r#"// The fixture app: what a Flixor build does first, from the origin that served it.
const out = { route: location.pathname };
try {
  const login = await fetch('/api/auth/demo-login', { method: 'POST', credentials: 'include' });
  out.login = login.status;
  const r = await fetch('/api/auth/session', { credentials: 'include' });
  out.status = r.status;
  out.cors = r.headers.get('access-control-allow-origin');
  out.session = await r.json();
} catch (e) {
  out.error = String(e);
}
document.getElementById('app').textContent = JSON.stringify(out);
window.fixture = out;
"#;

/// What sits outside the root, reachable only by following a symlink.
pub const SECRET: &str = "outside the web root";

/// Builds the app in `dir/dist` (and a secret in `dir/outside`); returns the root.
pub fn build(dir: &Path) -> PathBuf {
    let root = dir.join("dist");
    let outside = dir.join("outside");
    std::fs::create_dir_all(root.join("assets")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), SECRET).unwrap();
    std::fs::write(root.join("index.html"), INDEX).unwrap();
    std::fs::write(root.join("assets/app-abc123.js"), APP_JS).unwrap();
    // Not real brotli/gzip: the bytes only have to show which sibling answered.
    std::fs::write(root.join("assets/app-abc123.js.br"), "BROTLI SIBLING").unwrap();
    std::fs::write(root.join("assets/app-abc123.js.gz"), "GZIP SIBLING").unwrap();
    std::fs::write(
        root.join("assets/style-def456.css"),
        "body { margin: 0 }\n".repeat(50),
    )
    .unwrap();
    std::fs::write(root.join("favicon.ico"), [0u8, 0, 1, 0]).unwrap();
    std::fs::write(root.join(".env"), "SECRET=1").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::symlink;
        symlink(outside.join("secret.txt"), root.join("leak.txt")).unwrap();
        symlink(&outside, root.join("ext")).unwrap();
        symlink(
            outside.join("secret.txt"),
            root.join("assets/innocent.js.br"),
        )
        .unwrap();
        std::fs::write(root.join("assets/innocent.js"), "let innocent = 1;").unwrap();
    }
    root
}
