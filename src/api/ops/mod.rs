//! What operators and the demo use: health and readiness, metrics, cache administration and the
//! demo page.

pub mod cache_admin;
pub mod demo_page;
pub mod health;
pub mod metrics;
