//! Talking to Plex Media Servers. Tokens are decrypted and attached only inside this module
//! and the streaming proxy, always as the `X-Plex-Token` header, never in a URL, so they cannot
//! leak through a logged or echoed URL.

pub mod access;
pub mod client;
pub mod connect;
pub mod discover;
mod error;
pub mod identity;
pub mod identity_headers;
pub mod plextv;
pub mod ratings;
pub mod sync;
pub mod timeline;
pub mod transcoder;
pub mod watchlist_id;

pub use access::{AccessError, ServerAccess, ServerDirectory};
pub use error::PlexError;
pub use identity::{Identity, ServerInfo, probe_identity, server_info};
pub use identity_headers::ClientIdentity;
