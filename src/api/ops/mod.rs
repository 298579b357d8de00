//! What operators and the demo use: health and readiness, metrics, cache administration, the
//! doctor's proxy probe and the demo page.

pub mod cache_admin;
pub mod demo_page;
pub mod health;
pub mod metrics;
pub mod probe;
