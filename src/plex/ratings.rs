//! Ratings from a Plex item's `Rating[]` array (protocol §3.10, contract §3.2.7): IMDb as the
//! raw 0–10 value with its vote count, Rotten Tomatoes critic and audience as 0–100 integers.
//!
//! Why a separate file: the server route (`/api/plex/ratings/:rk`) and the VOD route
//! (`/api/plex/vod/ratings/:id`) read the same shape from different places. The IMDb entry's
//! `type` is not consistent across servers, so entries are told apart by `image`, never by
//! `type`. A missing or malformed value is left out; it never becomes 0.

use serde_json::{Map, Value, json};

/// `{"imdb": {rating, votes?} | null, "rottenTomatoes": {critic?, audience?} | null}` for one
/// `Metadata` object.
pub fn ratings(item: &Value) -> Value {
    let mut imdb: Option<f64> = None;
    let mut critic: Option<i64> = None;
    let mut audience: Option<i64> = None;
    for r in item
        .get("Rating")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let image = r.get("image").and_then(Value::as_str).unwrap_or("");
        let Some(value) = number(r.get("value")).filter(|v| (0.0..=10.0).contains(v)) else {
            continue;
        };
        if image.starts_with("imdb://") {
            imdb.get_or_insert(value);
        } else if image.starts_with("rottentomatoes://") {
            let score = (value * 10.0).round() as i64;
            if r.get("type").and_then(Value::as_str) == Some("critic") {
                critic.get_or_insert(score);
            } else {
                audience.get_or_insert(score);
            }
        }
    }
    if audience.is_none()
        && let Some(a) = number(item.get("audienceRating")).filter(|v| (0.0..=10.0).contains(v))
    {
        audience = Some((a * 10.0).round() as i64);
    }
    let imdb = imdb.map(|rating| {
        let mut o = Map::new();
        o.insert("rating".into(), json!(rating));
        if let Some(votes) = item.get("imdbRatingCount").and_then(Value::as_u64) {
            o.insert("votes".into(), json!(votes));
        }
        Value::Object(o)
    });
    let rt = (critic.is_some() || audience.is_some()).then(|| {
        let mut o = Map::new();
        if let Some(c) = critic {
            o.insert("critic".into(), json!(c));
        }
        if let Some(a) = audience {
            o.insert("audience".into(), json!(a));
        }
        Value::Object(o)
    });
    json!({ "imdb": imdb, "rottenTomatoes": rt })
}

/// A JSON number, or a number sent as a string (PMS is loose about types).
fn number(v: Option<&Value>) -> Option<f64> {
    let v = v?;
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        .filter(|f: &f64| f.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imdb_and_rotten_tomatoes_from_rating_array() {
        let item = json!({
            "imdbRatingCount": 650000,
            "audienceRating": 5.0,
            "Rating": [
                {"image": "imdb://image.rating", "value": 7.8, "type": "critic"},
                {"image": "rottentomatoes://image.rating.ripe", "value": 8.8, "type": "critic"},
                {"image": "rottentomatoes://image.rating.upright", "value": "9.44", "type": "audience"},
                {"image": "themoviedb://image.rating", "value": 7.4, "type": "audience"}
            ]
        });
        assert_eq!(
            ratings(&item),
            json!({"imdb": {"rating": 7.8, "votes": 650000}, "rottenTomatoes": {"critic": 88, "audience": 94}})
        );
    }

    #[test]
    fn audience_fallback_and_nothing() {
        assert_eq!(
            ratings(&json!({"audienceRating": 8.6})),
            json!({"imdb": null, "rottenTomatoes": {"audience": 86}})
        );
        assert_eq!(
            ratings(
                &json!({"Rating": [{"image": "imdb://x", "value": "junk"}, {"image": "imdb://x", "value": 42}]})
            ),
            json!({"imdb": null, "rottenTomatoes": null})
        );
    }
}
