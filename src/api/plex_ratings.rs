//! `GET /api/plex/ratings/:ratingKey` (contract #31): IMDb and Rotten Tomatoes scores of a
//! library item, read from its cached metadata (the same cache entry `/metadata/:id` uses, so a
//! details page costs one upstream call, not two).
//!
//! Must never: call PMS for an id that is not a rating key, or answer a score outside its range
//! (see [`crate::plex::ratings`]).

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::Value;

use super::AppState;
use super::errors::json_response;
use super::plex::{ctx, path_param, rating_key};
use super::plex_library::metadata_item;
use crate::http::{ApiError, Body};
use crate::plex::client::Query;

/// `{"imdb": {rating, votes?} | null, "rottenTomatoes": {critic?, audience?} | null}`.
pub async fn ratings(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    let c = ctx(&req, &state).await?;
    let rk = rating_key(path_param(&req, "ratingKey"), "the rating key")?;
    let (entry, hit) = metadata_item(&state, &c, &rk, &Query::new()).await?;
    let item: Value = serde_json::from_slice(&entry.body).unwrap_or(Value::Null);
    let mut resp = json_response(StatusCode::OK, &crate::plex::ratings::ratings(&item));
    resp.headers_mut()
        .insert("x-cache", http::HeaderValue::from_static(hit.as_str()));
    Ok(resp)
}
