//! Login sessions: the `plex.sid` cookie and the rows behind it, and who may sign in.
//!
//! The cookie holds 128 random bits; the database holds only an HMAC of them (keyed by a key
//! derived from the master key), so a copy of the database cannot be turned into live cookies.
//! Sessions expire 24 hours after last use and 7 days after creation, whichever comes first.

pub mod admission;
pub mod cookie;
mod login;

/// The plex.tv account id of the demo user (`plexgate demo` seeds it; `/api/auth/demo-login`
/// signs in as it).
pub const DEMO_PLEX_ID: i64 = 1;

pub use login::{AuthSession, LoginSessions, SESSION_ABSOLUTE_TTL, SESSION_IDLE_TTL};
