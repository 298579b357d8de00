//! Login sessions: the `plex.sid` cookie and the rows behind it, and who may sign in.
//!
//! The cookie holds 128 random bits; the database holds only an HMAC of them (keyed by a key
//! derived from the master key), so a copy of the database cannot be turned into live cookies.
//! Sessions expire 24 hours after last use and 7 days after creation, whichever comes first.

pub mod admission;
pub mod cookie;
mod login;

pub use login::{AuthSession, LoginSessions, SESSION_ABSOLUTE_TTL, SESSION_IDLE_TTL};
