//! What the owner sees on the owner page (`/` without a web root): the servers and whether
//! they answer, the playback sessions running now, and the last upstream failures.
//!
//! Why a domain of its own: the page joins storage, the session keeper and the Plex client,
//! which no single domain owns; the handlers in `api/ops/admin.rs` only check that the caller
//! is the owner and render what this module returns.
//!
//! Must never: return a token or a ticket (a session is named by its id, which grants
//! nothing), or act for anyone but the owner (the handlers check; nothing here re-checks).

pub mod recent;
pub mod servers;
pub mod sessions;
