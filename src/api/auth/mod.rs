//! `/api/auth/*`: the signed-in session, PIN sign-in through plex.tv, and the user's servers
//! (which hand out the PMS facade instead of tokens).

pub mod account;
pub mod login;
pub mod servers;
