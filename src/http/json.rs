//! Reading request bodies: size-limited, and every failure a client's mistake with its own code
//! (400 `invalid_json`, 413 `payload_too_large`), never a 500.

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde::de::DeserializeOwned;

use super::context::RequestContext;
use super::error::ApiError;

const DEFAULT_LIMIT: usize = 1 << 20;

/// Collects the body, refusing more than the configured limit.
pub async fn read_body(req: Request<Incoming>) -> Result<Bytes, ApiError> {
    let limit = req
        .extensions()
        .get::<RequestContext>()
        .map(|c| c.max_body_bytes)
        .unwrap_or(DEFAULT_LIMIT);
    match Limited::new(req.into_body(), limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            Err(ApiError::payload_too_large(limit))
        }
        Err(_) => Err(ApiError::bad_request(
            "body_read_failed",
            "the request body could not be read to the end",
        )),
    }
}

/// Parses the body as JSON into `T`. An empty body parses as `{}` when `T` allows it, because
/// the frontend posts some actions without a body.
pub async fn read_json<T: DeserializeOwned>(req: Request<Incoming>) -> Result<T, ApiError> {
    let bytes = read_body(req).await?;
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        &bytes
    };
    serde_json::from_slice(bytes).map_err(|e| {
        // serde_json's message names the position and expectation, never echoes the input.
        ApiError::bad_request(
            "invalid_json",
            format!("request body is not valid JSON: {e}"),
        )
    })
}
