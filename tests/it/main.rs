//! plexgate's integration tests, one binary: each module is one behaviour, run against the
//! real server on loopback with real fakes (`support/`). One binary instead of one per file:
//! linking ~25 test binaries was a large share of a clean `cargo test`.
//!
//! `tests/log_redaction.rs` stays a binary of its own: it installs plexgate's global log
//! subscriber and counts every line, which no other test may share.

mod support;

mod admin;
mod app;
mod auth;
mod backup;
mod browser;
mod cache_admin;
mod compression;
mod config;
mod connections;
mod crypto;
mod data_dir;
mod demo_plex;
mod discover;
mod doctor;
mod e2e_ffprobe;
mod facade_edges;
mod hostile_manifests;
mod image_limits;
mod image_size;
mod images;
mod logs;
mod manifest_rewrite;
mod metrics;
#[cfg(target_os = "linux")]
mod open_files;
mod playback_life;
mod plex_routes;
mod process;
mod read_ahead;
mod reverse_proxy;
mod sessions;
mod storage;
mod streaming;
mod tmdb;
mod trakt;
mod transport;
mod upstream_bounds;
mod web_root;
mod web_root_browser;
#[cfg(target_os = "linux")]
mod zero_copy;
