//! Tokenless streaming: tickets, manifest rewriting, the segment proxy and playback sessions.

pub mod headers;
pub mod manifest;
pub mod scope;
pub mod ticket;
