//! The route table. Each route group lives in its own file; this file only lists routes, so the
//! whole HTTP surface can be read in one place.
//!
//! `api` is the only layer that knows both HTTP and the domains: every conversion from a domain
//! error into [`crate::http::ApiError`] lives in [`errors`].

pub mod auth;
pub mod demo_page;
pub mod errors;
pub mod health;
pub mod login;
pub mod metrics;
pub mod proxy;
pub mod servers;
pub mod state;
pub mod stream;

use http::Method;

use crate::http::Router;
pub use state::AppState;

/// Builds the router for `state`, served at the root and under the configured base path.
pub fn router(state: AppState) -> Router<AppState> {
    let base_path = state.config().server.base_path.clone();
    Router::new(state)
        .base_path(&base_path)
        .route(Method::GET, "/health", health::health)
        .route(Method::GET, "/ready", health::ready)
        .route(Method::GET, "/metrics", metrics::metrics)
        .route(Method::GET, "/demo", demo_page::page)
        .route(Method::GET, "/demo/assets/{file}", demo_page::asset)
        .route(Method::GET, "/api/auth/session", auth::session)
        .route(Method::GET, "/api/auth/validate", auth::validate)
        .route(Method::POST, "/api/auth/logout", auth::logout)
        .route(Method::POST, "/api/auth/demo-login", auth::demo_login)
        .route(Method::GET, "/api/auth/servers", auth::servers)
        .route(Method::POST, "/api/auth/servers/sync", servers::sync)
        .route(Method::POST, "/api/auth/plex/pin", login::create_pin)
        .route(Method::GET, "/api/auth/plex/pin/{id}", login::poll_pin)
        .route(Method::GET, "/api/plex/servers", servers::list)
        .route(
            Method::GET,
            "/api/plex/servers/{id}/connections",
            servers::connections,
        )
        .route(
            Method::POST,
            "/api/plex/servers/{id}/endpoint",
            servers::set_endpoint,
        )
        .route(
            Method::POST,
            "/api/plex/servers/current",
            servers::set_current,
        )
        .route(Method::GET, "/api/plex/stream/{id}", stream::start)
        .route(Method::POST, "/api/plex/stream/{id}/stop", stream::stop)
        .route(Method::GET, "/api/plex/proxy/{*rest}", proxy::proxy)
        .route(Method::HEAD, "/api/plex/proxy/{*rest}", proxy::proxy)
        .route(Method::PUT, "/api/plex/proxy/{*rest}", proxy::proxy)
        .route(Method::POST, "/api/plex/proxy/{*rest}", proxy::proxy)
        .route(Method::DELETE, "/api/plex/proxy/{*rest}", proxy::proxy)
}
