//! `GET /demo` and its assets (demo mode only): a one-page player showing tokenless playback
//! (being written).

use http::{Request, Response};
use hyper::body::Incoming;

use super::AppState;
use crate::http::{ApiError, Body};

/// `GET /demo`.
pub async fn page(_req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    if !state.demo_mode() {
        return Err(ApiError::not_found());
    }
    Err(ApiError::not_found())
}

/// `GET /demo/assets/{file}`.
pub async fn asset(_req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    if !state.demo_mode() {
        return Err(ApiError::not_found());
    }
    Err(ApiError::not_found())
}
