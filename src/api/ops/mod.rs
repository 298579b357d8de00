//! What operators and the demo use: health and readiness, metrics, cache administration, the
//! doctor's proxy probe, the owner page with its `/api/admin/…` routes, and the demo page.

pub mod admin;
pub mod cache_admin;
pub mod demo_page;
pub mod health;
pub mod metrics;
pub mod owner_page;
pub mod probe;
