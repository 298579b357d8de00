//! The image proxy's domain: where a source may come from and how it is fetched (`fetch`), the
//! requested size and format (`spec`), and decoding/encoding within memory and CPU bounds
//! (`codec`). Handlers in `api/plex/image.rs` only map requests and errors onto these.

pub mod codec;
pub mod fetch;
pub mod spec;

use std::time::Duration;

/// How long a Plex image is cached (and may be cached by the browser).
pub const PLEX_TTL: Duration = Duration::from_secs(86_400);
/// How long a remote image is cached (and may be cached by the browser).
pub const PROXY_TTL: Duration = Duration::from_secs(604_800);
