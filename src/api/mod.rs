//! The route table. Each route group lives in a domain folder (`auth/`, `plex/`, `external/`,
//! `ops/`) or is the served frontend (`web.rs`); this file only lists routes, so the whole HTTP surface can be read in one place.
//!
//! `api` is the only layer that knows both HTTP and the domains. Handlers import the shared
//! helpers beside this file ([`session`], [`respond`], [`errors`], [`extract`], [`state`]),
//! `http` and the domains, never another handler file and never `app`; every conversion from a
//! domain error into [`crate::http::ApiError`] lives in [`errors`].

pub mod auth;
pub mod errors;
pub mod external;
pub mod extract;
pub mod ops;
pub mod plex;
pub mod respond;
pub mod session;
pub mod state;
pub mod web;

use http::Method;

use crate::http::Router;
pub use state::AppState;

/// Builds the router for `state`, served at the root and under the configured base path.
pub fn router(state: AppState) -> Router<AppState> {
    let base_path = state.config().server.base_path.clone();
    let table = Router::new(state.clone()).base_path(&base_path);
    web::mount(table, &state)
        .route(Method::GET, "/health", ops::health::health)
        .route(Method::GET, "/ready", ops::health::ready)
        .route(Method::GET, "/metrics", ops::metrics::metrics)
        .route(Method::GET, "/api/doctor/probe", ops::probe::echo)
        // The owner page (`/` without a web root; `/demo` in demo mode) and its admin routes.
        .route(Method::GET, "/", ops::owner_page::page)
        .route(Method::GET, "/owner/assets/{file}", ops::owner_page::asset)
        .route(Method::GET, "/api/admin/status", ops::admin::status)
        .route(Method::GET, "/api/admin/servers", ops::admin::servers)
        .route(Method::GET, "/api/admin/sessions", ops::admin::sessions)
        .route(
            Method::POST,
            "/api/admin/sessions/{id}/revoke",
            ops::admin::revoke,
        )
        .route(Method::GET, "/api/admin/errors", ops::admin::errors)
        .route(Method::GET, "/demo", ops::demo_page::page)
        .route(Method::GET, "/demo/assets/{file}", ops::demo_page::asset)
        .route(Method::GET, "/api/auth/session", auth::account::session)
        .route(Method::GET, "/api/auth/validate", auth::account::validate)
        .route(Method::POST, "/api/auth/logout", auth::account::logout)
        .route(
            Method::POST,
            "/api/auth/demo-login",
            auth::account::demo_login,
        )
        .route(Method::GET, "/api/auth/servers", auth::account::servers)
        .route(Method::POST, "/api/auth/servers/sync", auth::servers::sync)
        .route(Method::POST, "/api/auth/plex/pin", auth::login::create_pin)
        .route(
            Method::GET,
            "/api/auth/plex/pin/{id}",
            auth::login::poll_pin,
        )
        .route(Method::GET, "/api/plex/servers", auth::servers::list)
        .route(
            Method::GET,
            "/api/plex/servers/{id}/connections",
            auth::servers::connections,
        )
        .route(
            Method::POST,
            "/api/plex/servers/{id}/endpoint",
            auth::servers::set_endpoint,
        )
        .route(
            Method::POST,
            "/api/plex/servers/current",
            auth::servers::set_current,
        )
        .route(Method::GET, "/api/plex/stream/{id}", plex::stream::start)
        .route(
            Method::POST,
            "/api/plex/stream/{id}/stop",
            plex::stream::stop,
        )
        .route(Method::GET, "/api/plex/proxy/{*rest}", plex::proxy::proxy)
        .route(Method::HEAD, "/api/plex/proxy/{*rest}", plex::proxy::proxy)
        .route(Method::PUT, "/api/plex/proxy/{*rest}", plex::proxy::proxy)
        .route(Method::POST, "/api/plex/proxy/{*rest}", plex::proxy::proxy)
        .route(
            Method::DELETE,
            "/api/plex/proxy/{*rest}",
            plex::proxy::proxy,
        )
        // Plex reads and writes for the signed-in user's current server (cached per user).
        .route(Method::GET, "/api/plex/libraries", plex::library::libraries)
        .route(
            Method::GET,
            "/api/plex/library/{id}/all",
            plex::library::library_all,
        )
        .route(
            Method::GET,
            "/api/plex/library/{id}/{directory}",
            plex::library::library_secondary,
        )
        .route(Method::GET, "/api/plex/dir/{*rest}", plex::library::dir)
        .route(
            Method::GET,
            "/api/plex/metadata/{id}",
            plex::library::metadata,
        )
        .route(Method::GET, "/api/plex/search", plex::library::search)
        .route(
            Method::GET,
            "/api/plex/findByGuid",
            plex::library::find_by_guid,
        )
        .route(Method::GET, "/api/plex/ondeck", plex::home::on_deck)
        .route(
            Method::GET,
            "/api/plex/continue",
            plex::home::continue_watching,
        )
        .route(Method::GET, "/api/plex/recent", plex::home::recent)
        .route(Method::GET, "/api/plex/test", plex::home::test)
        .route(
            Method::GET,
            "/api/plex/ratings/{ratingKey}",
            plex::ratings::ratings,
        )
        .route(
            Method::GET,
            "/api/plex/vod/ratings/{id}",
            plex::ratings::vod_ratings,
        )
        .route(Method::POST, "/api/plex/progress", plex::writes::progress)
        .route(Method::POST, "/api/plex/scrobble", plex::writes::scrobble)
        .route(Method::POST, "/api/plex/rate", plex::writes::rate)
        .route(
            Method::PUT,
            "/api/plex/parts/{id}",
            plex::writes::select_streams,
        )
        .route(
            Method::POST,
            "/api/plex/transcode/decision",
            plex::writes::decision,
        )
        .route(Method::GET, "/api/plex/{*rest}", plex::library::not_found)
        .route(Method::POST, "/api/plex/{*rest}", plex::library::not_found)
        .route(Method::PUT, "/api/plex/{*rest}", plex::library::not_found)
        .route(
            Method::DELETE,
            "/api/plex/{*rest}",
            plex::library::not_found,
        )
        // Images and the caller's own cache entries.
        .route(Method::GET, "/api/image/plex", plex::image::plex)
        .route(Method::GET, "/api/image/proxy", plex::image::proxy)
        .route(
            Method::GET,
            "/api/image/cache/stats",
            plex::image::cache_stats,
        )
        .route(Method::DELETE, "/api/image/cache", plex::image::cache_clean)
        .route(Method::GET, "/api/cache/stats", ops::cache_admin::stats)
        .route(Method::GET, "/api/cache/keys", ops::cache_admin::keys)
        .route(Method::GET, "/api/cache/get", ops::cache_admin::get)
        .route(
            Method::DELETE,
            "/api/cache/key",
            ops::cache_admin::delete_key,
        )
        .route(Method::POST, "/api/cache/flush", ops::cache_admin::flush)
        .route(Method::POST, "/api/cache/warm", ops::cache_admin::warm)
        .route(Method::GET, "/api/cache/config", ops::cache_admin::config)
        .route(Method::GET, "/api/cache/health", ops::cache_admin::health)
        .route(Method::POST, "/api/cache/bulk", ops::cache_admin::bulk)
        // plex.tv Discover watchlist (account token, server-side only).
        .route(
            Method::GET,
            "/api/plextv/watchlist",
            external::watchlist::watchlist,
        )
        .route(
            Method::PUT,
            "/api/plextv/watchlist/{id}",
            external::watchlist::add,
        )
        .route(
            Method::DELETE,
            "/api/plextv/watchlist/{id}",
            external::watchlist::remove,
        )
        // TMDB: key, shared rate-limit queue and cache server-side.
        .route(
            Method::GET,
            "/api/tmdb/trending/{media}/{window}",
            external::tmdb::trending,
        )
        .route(
            Method::GET,
            "/api/tmdb/search/{kind}",
            external::tmdb::search,
        )
        .route(
            Method::GET,
            "/api/tmdb/discover/{kind}",
            external::tmdb::discover,
        )
        .route(
            Method::GET,
            "/api/tmdb/movie/popular",
            external::tmdb::movie_popular,
        )
        .route(
            Method::GET,
            "/api/tmdb/movie/upcoming",
            external::tmdb::movie_upcoming,
        )
        .route(
            Method::GET,
            "/api/tmdb/tv/popular",
            external::tmdb::tv_popular,
        )
        .route(
            Method::GET,
            "/api/tmdb/{media}/{id}",
            external::tmdb::details,
        )
        .route(
            Method::GET,
            "/api/tmdb/{media}/{id}/{sub}",
            external::tmdb::sub_resource,
        )
        .route(
            Method::POST,
            "/api/tmdb/validate-key",
            external::tmdb::validate_key,
        )
        .route(Method::GET, "/api/tmdb/key-info", external::tmdb::key_info)
        .route(Method::DELETE, "/api/tmdb/key", external::tmdb::delete_key)
        .route(Method::GET, "/api/tmdb/usage", external::tmdb::usage)
        // Trakt: charts, device-code sign-in, the user's data (tokens stay server-side).
        .route(
            Method::GET,
            "/api/trakt/trending/{media}",
            external::trakt::trending,
        )
        .route(
            Method::GET,
            "/api/trakt/popular/{media}",
            external::trakt::popular,
        )
        .route(
            Method::GET,
            "/api/trakt/{media}/watched/{period}",
            external::trakt::watched,
        )
        .route(
            Method::GET,
            "/api/trakt/{media}/anticipated",
            external::trakt::anticipated,
        )
        .route(
            Method::POST,
            "/api/trakt/oauth/device/code",
            external::trakt::device_code,
        )
        .route(
            Method::POST,
            "/api/trakt/oauth/device/token",
            external::trakt::device_token,
        )
        .route(
            Method::POST,
            "/api/trakt/oauth/token",
            external::trakt::refresh,
        )
        .route(
            Method::POST,
            "/api/trakt/oauth/revoke",
            external::trakt::revoke,
        )
        .route(
            Method::GET,
            "/api/trakt/recommendations/{media}",
            external::trakt::recommendations,
        )
        .route(Method::GET, "/api/trakt/users/me", external::trakt::me)
        .route(
            Method::GET,
            "/api/trakt/users/me/watchlist",
            external::trakt::watchlist,
        )
        .route(
            Method::GET,
            "/api/trakt/users/me/watchlist/{media}",
            external::trakt::watchlist,
        )
        .route(
            Method::GET,
            "/api/trakt/users/me/history",
            external::trakt::history,
        )
        .route(
            Method::GET,
            "/api/trakt/users/me/history/{media}",
            external::trakt::history,
        )
        .route(
            Method::POST,
            "/api/trakt/watchlist",
            external::trakt::watchlist_add,
        )
        .route(
            Method::POST,
            "/api/trakt/watchlist/remove",
            external::trakt::watchlist_remove,
        )
}
