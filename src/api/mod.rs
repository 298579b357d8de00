//! The route table. Each route group lives in its own file; this file only lists routes, so the
//! whole HTTP surface can be read in one place.
//!
//! `api` is the only layer that knows both HTTP and the domains: every conversion from a domain
//! error into [`crate::http::ApiError`] lives in [`errors`].

pub mod errors;
pub mod health;
pub mod state;

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
}
