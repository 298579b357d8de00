//! Transport: the accept loop, graceful shutdown, the tower stack, error rendering and
//! middleware. It knows no route and imports no domain; `api` hands it a router.

pub mod access;
pub mod compression;
pub mod connections;
pub mod context;
pub mod cors;
pub mod error;
pub mod etag;
pub mod json;
pub mod ratelimit;
pub mod router;
pub mod server;
pub mod socket;

// The body type lives in the leaf `crate::body` so `stream` need not depend on transport; these
// re-exports keep `http::{Body, BoxError}` and `http::body::{full, empty, boxed}` working for
// callers written against them.
pub use crate::body::{self, Body, BoxError};
pub use access::MediaTransfer;
pub use context::{RequestContext, TrustedProxies};
pub use cors::CorsPolicy;
pub use error::{ApiError, ErrorCode};
pub use router::{PathParams, Router};
pub use server::{ServeOptions, ShutdownOutcome, serve};
