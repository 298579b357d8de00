//! Transport: the accept loop, graceful shutdown, the tower stack, error rendering and
//! middleware. It knows no route and imports no domain; `api` hands it a router.

pub mod body;
pub mod error;

pub use body::{Body, BoxError};
pub use error::ApiError;
