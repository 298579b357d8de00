//! `GET /metrics`: Prometheus text, only when `metrics.enabled`, behind an optional bearer.

use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::api::state::AppState;
use crate::body::full;
use crate::http::{ApiError, Body};

/// Renders the counters.
pub async fn metrics(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    let config = &state.config().metrics;
    if !config.enabled {
        return Err(ApiError::not_found());
    }
    if let Some(secret) = &config.bearer {
        let given = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !constant_time_eq(given.as_bytes(), secret.as_bytes()) {
            return Err(
                ApiError::unauthorized("metrics need the configured bearer secret").with_header(
                    http::header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer"),
                ),
            );
        }
    }
    let text = state.metrics().render(state.keeper().active_counts());
    let mut resp = Response::new(full(text));
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
    );
    Ok(resp)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
