//! Services beside Plex: TMDB, Trakt, and the plex.tv Discover watchlist. Keys and tokens stay
//! server-side; the browser sees only their answers.

pub mod tmdb;
pub mod trakt;
pub mod watchlist;
