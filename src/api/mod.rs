//! The route table. Each route group lives in its own file; this file only lists routes, so the
//! whole HTTP surface can be read in one place.
//!
//! `api` is the only layer that knows both HTTP and the domains: every conversion from a domain
//! error into [`crate::http::ApiError`] lives in [`errors`].

pub mod auth;
pub mod cache_admin;
pub mod demo_page;
pub mod errors;
pub mod health;
pub mod image;
pub mod image_codec;
pub mod image_fetch;
pub mod image_spec;
pub mod login;
pub mod metrics;
pub mod plex;
pub mod plex_home;
pub mod plex_library;
pub mod plex_ratings;
pub mod plex_writes;
pub mod plextv;
pub mod proxy;
pub mod servers;
pub mod state;
pub mod stream;
pub mod tmdb;
pub mod trakt;

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
        // Plex reads and writes for the signed-in user's current server (cached per user).
        .route(Method::GET, "/api/plex/libraries", plex_library::libraries)
        .route(
            Method::GET,
            "/api/plex/library/{id}/all",
            plex_library::library_all,
        )
        .route(
            Method::GET,
            "/api/plex/library/{id}/{directory}",
            plex_library::library_secondary,
        )
        .route(Method::GET, "/api/plex/dir/{*rest}", plex_library::dir)
        .route(
            Method::GET,
            "/api/plex/metadata/{id}",
            plex_library::metadata,
        )
        .route(Method::GET, "/api/plex/search", plex_library::search)
        .route(
            Method::GET,
            "/api/plex/findByGuid",
            plex_library::find_by_guid,
        )
        .route(Method::GET, "/api/plex/ondeck", plex_home::on_deck)
        .route(
            Method::GET,
            "/api/plex/continue",
            plex_home::continue_watching,
        )
        .route(Method::GET, "/api/plex/recent", plex_home::recent)
        .route(Method::GET, "/api/plex/test", plex_home::test)
        .route(
            Method::GET,
            "/api/plex/ratings/{ratingKey}",
            plex_ratings::ratings,
        )
        .route(
            Method::GET,
            "/api/plex/vod/ratings/{id}",
            plex_ratings::vod_ratings,
        )
        .route(Method::POST, "/api/plex/progress", plex_writes::progress)
        .route(Method::POST, "/api/plex/scrobble", plex_writes::scrobble)
        .route(Method::POST, "/api/plex/rate", plex_writes::rate)
        .route(
            Method::PUT,
            "/api/plex/parts/{id}",
            plex_writes::select_streams,
        )
        .route(
            Method::POST,
            "/api/plex/transcode/decision",
            plex_writes::decision,
        )
        .route(Method::GET, "/api/plex/{*rest}", plex::not_found)
        .route(Method::POST, "/api/plex/{*rest}", plex::not_found)
        .route(Method::PUT, "/api/plex/{*rest}", plex::not_found)
        .route(Method::DELETE, "/api/plex/{*rest}", plex::not_found)
        // Images and the caller's own cache entries.
        .route(Method::GET, "/api/image/plex", image::plex)
        .route(Method::GET, "/api/image/proxy", image::proxy)
        .route(Method::GET, "/api/image/cache/stats", image::cache_stats)
        .route(Method::DELETE, "/api/image/cache", image::cache_clean)
        .route(Method::GET, "/api/cache/stats", cache_admin::stats)
        .route(Method::GET, "/api/cache/keys", cache_admin::keys)
        .route(Method::GET, "/api/cache/get", cache_admin::get)
        .route(Method::DELETE, "/api/cache/key", cache_admin::delete_key)
        .route(Method::POST, "/api/cache/flush", cache_admin::flush)
        .route(Method::POST, "/api/cache/warm", cache_admin::warm)
        .route(Method::GET, "/api/cache/config", cache_admin::config)
        .route(Method::GET, "/api/cache/health", cache_admin::health)
        .route(Method::POST, "/api/cache/bulk", cache_admin::bulk)
        // plex.tv Discover watchlist (account token, server-side only).
        .route(Method::GET, "/api/plextv/watchlist", plextv::watchlist)
        .route(Method::PUT, "/api/plextv/watchlist/{id}", plextv::add)
        .route(Method::DELETE, "/api/plextv/watchlist/{id}", plextv::remove)
        // TMDB: key, shared rate-limit queue and cache server-side.
        .route(
            Method::GET,
            "/api/tmdb/trending/{media}/{window}",
            tmdb::trending,
        )
        .route(Method::GET, "/api/tmdb/search/{kind}", tmdb::search)
        .route(Method::GET, "/api/tmdb/discover/{kind}", tmdb::discover)
        .route(Method::GET, "/api/tmdb/movie/popular", tmdb::movie_popular)
        .route(
            Method::GET,
            "/api/tmdb/movie/upcoming",
            tmdb::movie_upcoming,
        )
        .route(Method::GET, "/api/tmdb/tv/popular", tmdb::tv_popular)
        .route(Method::GET, "/api/tmdb/{media}/{id}", tmdb::details)
        .route(
            Method::GET,
            "/api/tmdb/{media}/{id}/{sub}",
            tmdb::sub_resource,
        )
        .route(Method::POST, "/api/tmdb/validate-key", tmdb::validate_key)
        .route(Method::GET, "/api/tmdb/key-info", tmdb::key_info)
        .route(Method::DELETE, "/api/tmdb/key", tmdb::delete_key)
        .route(Method::GET, "/api/tmdb/usage", tmdb::usage)
        // Trakt: charts, device-code sign-in, the user's data (tokens stay server-side).
        .route(Method::GET, "/api/trakt/trending/{media}", trakt::trending)
        .route(Method::GET, "/api/trakt/popular/{media}", trakt::popular)
        .route(
            Method::GET,
            "/api/trakt/{media}/watched/{period}",
            trakt::watched,
        )
        .route(
            Method::GET,
            "/api/trakt/{media}/anticipated",
            trakt::anticipated,
        )
        .route(
            Method::POST,
            "/api/trakt/oauth/device/code",
            trakt::device_code,
        )
        .route(
            Method::POST,
            "/api/trakt/oauth/device/token",
            trakt::device_token,
        )
        .route(Method::POST, "/api/trakt/oauth/token", trakt::refresh)
        .route(Method::POST, "/api/trakt/oauth/revoke", trakt::revoke)
        .route(
            Method::GET,
            "/api/trakt/recommendations/{media}",
            trakt::recommendations,
        )
        .route(Method::GET, "/api/trakt/users/me", trakt::me)
        .route(
            Method::GET,
            "/api/trakt/users/me/watchlist",
            trakt::watchlist,
        )
        .route(
            Method::GET,
            "/api/trakt/users/me/watchlist/{media}",
            trakt::watchlist,
        )
        .route(Method::GET, "/api/trakt/users/me/history", trakt::history)
        .route(
            Method::GET,
            "/api/trakt/users/me/history/{media}",
            trakt::history,
        )
        .route(Method::POST, "/api/trakt/watchlist", trakt::watchlist_add)
        .route(
            Method::POST,
            "/api/trakt/watchlist/remove",
            trakt::watchlist_remove,
        )
}
