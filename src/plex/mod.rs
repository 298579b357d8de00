//! Talking to Plex Media Servers. Tokens are decrypted and attached only inside this module,
//! always as the `X-Plex-Token` header, never in a URL, so they cannot leak through a logged or
//! echoed URL.

mod error;
pub mod identity;

pub use error::PlexError;
pub use identity::{Identity, ServerInfo, probe_identity, server_info};
