//! `GET /api/plex/ratings/:ratingKey` (contract #31) and `/vod/ratings/:id` (#32): IMDb and
//! Rotten Tomatoes scores of a library item, read from its cached metadata (the same cache
//! entry `/metadata/:id` uses, so a details page costs one upstream call, not two), or of an
//! online-catalogue item from Plex's VOD provider.
//!
//! Must never: call PMS or the VOD provider for an id that is not a plain key, or answer a score outside its range
//! (see [`crate::plex::ratings`]).

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::Value;

use super::{ctx, metadata_item};
use crate::api::extract::{path_param, rating_key};
use crate::api::respond::json_response;
use crate::api::session::require_session;
use crate::api::state::AppState;
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

/// `GET /api/plex/vod/ratings/:id` (contract #32): the same ratings for an item of Plex's
/// online catalogue, fetched from the VOD provider with the user's account token (as a header;
/// the token never leaves plexgate).
pub async fn vod_ratings(
    req: Request<Incoming>,
    state: AppState,
) -> Result<Response<Body>, ApiError> {
    let login = require_session(&req, &state).await?;
    let id = path_param(&req, "id").to_string();
    if !(1..=64).contains(&id.len()) || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(ApiError::bad_request(
            "invalid_id",
            "the id must be a Plex catalogue id (letters and digits)",
        ));
    }
    let (user_id, secrets) = (login.user_id, state.secrets().clone());
    let token = state
        .db()
        .read(move |conn| crate::db::users::user_plex_token(conn, user_id, &secrets))
        .await?;
    let item = state.discover().vod_metadata(&token, &id).await?;
    Ok(json_response(
        StatusCode::OK,
        &crate::plex::ratings::ratings(&item),
    ))
}
