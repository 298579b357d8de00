//! Build script: generates the embed table of the demo Plex's media (`fixtures/media/**`).
//!
//! Why: `plexgate demo` must work from any directory, so the media is compiled into the binary.
//! A generated table keeps the list of files in step with `fixtures/media/make.sh` without a
//! hand-kept list. It writes `$OUT_DIR/demo_media.rs`: a sorted slice of
//! `(relative path, include_bytes!(…), strong ETag)`. It never reads anything outside
//! `fixtures/media/` and never embeds the generator script itself.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::{env, fs};

fn main() {
    let root = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let media = root.join("fixtures").join("media");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=fixtures/media");

    let mut files = Vec::new();
    if media.is_dir() {
        walk(&media, &media, &mut files);
    }
    files.sort();

    let mut out = String::from(
        "/// Every embedded media file: (path relative to `fixtures/media/`, bytes, strong ETag).\n\
         pub(crate) static FILES: &[(&str, &[u8], &str)] = &[\n",
    );
    for rel in &files {
        let abs = media.join(rel);
        let bytes = fs::read(&abs).unwrap_or_else(|e| panic!("read {}: {e}", abs.display()));
        let etag = format!("\"{:x}-{:016x}\"", bytes.len(), fnv1a(&bytes));
        writeln!(
            out,
            "    ({rel:?}, include_bytes!({:?}), {etag:?}),",
            abs.display().to_string()
        )
        .expect("write to String");
    }
    out.push_str("];\n");
    let dest = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR")).join("demo_media.rs");
    fs::write(&dest, out).unwrap_or_else(|e| panic!("write {}: {e}", dest.display()));
}

/// Collects regular files under `dir` as `/`-separated paths relative to `base`, skipping hidden
/// files and the generator script.
fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("read_dir {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') || name == "make.sh" {
            continue;
        }
        if path.is_dir() {
            walk(base, &path, out);
        } else if path.is_file() {
            let rel = path.strip_prefix(base).expect("path under base");
            let parts: Vec<&str> = rel.iter().filter_map(|p| p.to_str()).collect();
            out.push(parts.join("/"));
        }
    }
}

/// 64-bit FNV-1a: a stable content hash for ETags (not a security boundary).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
