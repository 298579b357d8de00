//! plexgate: a tokenless gateway between a browser Plex client (Flixor) and Plex.
//!
//! The browser only ever talks to plexgate. plexgate holds the Plex tokens, makes every upstream
//! call itself and hands the browser URLs that carry short-lived, scoped tickets instead of tokens.
//!
//! Layers (dependencies point one way, see `design.md` §1):
//! - [`http`]: transport only (accept loop, graceful shutdown, error rendering, middleware); it
//!   knows no route and no domain.
//! - [`api`]: the route table and one file per route group; the only place that knows both HTTP
//!   and the domains, so every `From<DomainError> for ApiError` lives there.
//! - domains: [`demo`] (the embedded demo Plex), more to come (auth, plex, stream, tmdb, cache).
//! - foundations: [`upstream`] (outbound HTTP: one client builder, bounded body reads, one
//!   error type), [`db`], [`crypto`], [`config`], [`logging`], and [`body`], the response body
//!   type (a leaf, so `stream` can build bodies without depending on `http`).
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]
#![warn(missing_docs, missing_debug_implementations)]

pub mod admin;
pub mod api;
pub mod app;
pub mod auth;
pub mod body;
pub mod cache;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod db;
pub mod demo;
pub mod http;
pub mod image;
pub mod logging;
pub mod metrics;
pub mod plex;
#[cfg(target_os = "linux")]
pub mod relay;
pub mod stream;
pub mod tmdb;
pub mod trakt;
pub mod upstream;
pub mod util;
