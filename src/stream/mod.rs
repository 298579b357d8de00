//! Tokenless streaming: tickets, manifest rewriting, the segment proxy and playback sessions.

pub mod facade;
pub mod headers;
mod journal;
pub mod live;
pub mod manifest;
pub mod playback;
pub mod proxy;
pub mod scope;
pub mod session;
#[cfg(target_os = "linux")]
mod spliced;
mod target;
pub mod ticket;

#[cfg(target_os = "linux")]
pub use spliced::Relayed;
