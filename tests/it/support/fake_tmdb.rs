//! A fake TMDB v3 speaking the real shapes (reference/plex-protocol.md §7.3, contract §2.4):
//! paged lists `{page, results, total_pages, total_results}`, details with
//! `append_to_response`, credits, images filtered by `include_image_language`, videos, person
//! credits, `/configuration`; errors as `{success:false, status_code, status_message}` (7 bad
//! key → 401, 34 → 404, 22 bad page → 400, 25 → 429 with Retry-After). Keys are accepted as
//! `api_key` or as a Bearer token. Modes: fault (429, 500, not JSON), a response delay (to make
//! coalescing observable), and an enforced rate limit of its own. Every request is recorded with
//! its arrival time.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::services::{Reply, Req, serve};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    None,
    RateLimited,
    ServerError,
    NotJson,
}

struct State {
    keys: Vec<String>,
    fault: Fault,
    delay: Option<Duration>,
    seen: Vec<Req>,
    limit: Option<(usize, Duration)>,
    recent: VecDeque<Instant>,
    over_limit: usize,
}

#[derive(Clone)]
pub struct FakeTmdb {
    /// The API base, `http://127.0.0.1:PORT/3`.
    pub url: String,
    state: Arc<Mutex<State>>,
}

fn error(status: u16, code: i64, message: &str) -> Reply {
    Reply::json(
        status,
        json!({"success": false, "status_code": code, "status_message": message}),
    )
}

fn movie(id: u64, title: &str) -> Value {
    json!({"id": id, "title": title, "original_title": title, "media_type": "movie",
           "overview": format!("{title}: overview"), "poster_path": format!("/p{id}.jpg"),
           "backdrop_path": format!("/b{id}.jpg"), "release_date": "1995-12-15",
           "genre_ids": [80, 18], "popularity": 12.5, "vote_average": 7.9, "vote_count": 7000,
           "adult": false, "original_language": "en", "video": false})
}

fn show(id: u64, name: &str) -> Value {
    json!({"id": id, "name": name, "original_name": name, "media_type": "tv",
           "overview": format!("{name}: overview"), "poster_path": format!("/p{id}.jpg"),
           "backdrop_path": format!("/b{id}.jpg"), "first_air_date": "2022-02-17",
           "genre_ids": [18], "popularity": 40.1, "vote_average": 8.4, "vote_count": 2000,
           "adult": false, "original_language": "en"})
}

fn paged(page: u64, results: Vec<Value>) -> Value {
    json!({"page": page, "results": results, "total_pages": 37, "total_results": 725})
}

impl FakeTmdb {
    /// Starts with these valid keys.
    pub async fn start(keys: &[&str]) -> FakeTmdb {
        let state = Arc::new(Mutex::new(State {
            keys: keys.iter().map(|k| k.to_string()).collect(),
            fault: Fault::None,
            delay: None,
            seen: Vec::new(),
            limit: None,
            recent: VecDeque::new(),
            over_limit: 0,
        }));
        let s = state.clone();
        let base = serve(move |req| answer(&s, req)).await;
        FakeTmdb {
            url: format!("{base}/3"),
            state,
        }
    }

    pub fn set_fault(&self, f: Fault) {
        self.state.lock().unwrap().fault = f;
    }

    /// Every answer waits this long (concurrent identical requests overlap).
    pub fn set_delay(&self, d: Option<Duration>) {
        self.state.lock().unwrap().delay = d;
    }

    /// Answers 429 beyond `n` requests per `window`, like TMDB's old limit.
    pub fn set_limit(&self, n: usize, window: Duration) {
        self.state.lock().unwrap().limit = Some((n, window));
    }

    /// Requests that exceeded the fake's own limit.
    pub fn over_limit(&self) -> usize {
        self.state.lock().unwrap().over_limit
    }

    pub fn seen(&self) -> Vec<Req> {
        self.state.lock().unwrap().seen.clone()
    }

    /// Requests whose path (below `/3`) is `path`.
    pub fn seen_path(&self, path: &str) -> Vec<Req> {
        let full = format!("/3{path}");
        self.seen().into_iter().filter(|r| r.path == full).collect()
    }

    pub fn clear(&self) {
        self.state.lock().unwrap().seen.clear();
    }
}

fn answer(state: &Mutex<State>, req: Req) -> Reply {
    let mut st = state.lock().unwrap();
    st.seen.push(req.clone());
    let delay = st.delay;
    if let Some((n, window)) = st.limit {
        let now = Instant::now();
        while st
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            st.recent.pop_front();
        }
        st.recent.push_back(now);
        if st.recent.len() > n {
            st.over_limit += 1;
            return error(
                429,
                25,
                &format!(
                    "Your request count ({}) is over the allowed limit of ({n}).",
                    st.recent.len()
                ),
            )
            .header("retry-after", "7")
            .delayed(delay);
        }
    }
    let key = req
        .q("api_key")
        .map(str::to_string)
        .or_else(|| req.bearer().map(str::to_string));
    if !key.is_some_and(|k| st.keys.contains(&k)) {
        return error(401, 7, "Invalid API key: You must be granted a valid key.").delayed(delay);
    }
    match st.fault {
        Fault::RateLimited => {
            return error(
                429,
                25,
                "Your request count (41) is over the allowed limit of (40).",
            )
            .header("retry-after", "7")
            .delayed(delay);
        }
        Fault::ServerError => {
            return error(
                500,
                11,
                "Internal error: Something went wrong, contact TMDb.",
            )
            .delayed(delay);
        }
        Fault::NotJson => {
            return Reply {
                status: 200,
                body: bytes::Bytes::from_static(b"<html>maintenance</html>"),
                content_type: "text/html",
                headers: Vec::new(),
                delay,
            };
        }
        Fault::None => {}
    }
    drop(st);
    route(&req).delayed(delay)
}

fn route(req: &Req) -> Reply {
    let Some(path) = req.path.strip_prefix("/3/") else {
        return error(404, 34, "The resource you requested could not be found.");
    };
    let page = match req.q("page") {
        None => 1,
        Some(p) => match p.parse::<u64>() {
            Ok(n) if (1..=500).contains(&n) => n,
            _ => {
                return error(
                    400,
                    22,
                    "Invalid page: Pages start at 1 and max at 500. They are expected to be an integer.",
                );
            }
        },
    };
    let seg: Vec<&str> = path.split('/').collect();
    let not_found = || error(404, 34, "The resource you requested could not be found.");
    let body = match seg.as_slice() {
        ["configuration"] => json!({
            "images": {"base_url": "http://image.tmdb.org/t/p/", "secure_base_url": "https://image.tmdb.org/t/p/",
                       "backdrop_sizes": ["w300", "w780", "w1280", "original"],
                       "poster_sizes": ["w92", "w154", "w185", "w342", "w500", "w780", "original"]},
            "change_keys": ["adult", "title"]}),
        ["trending", media, window] => {
            if !["all", "movie", "tv", "person"].contains(media)
                || !["day", "week"].contains(window)
            {
                return not_found();
            }
            paged(page, vec![show(95396, "Severance"), movie(949, "Heat")])
        }
        ["search", kind] => {
            let q = req.q("query").unwrap_or("");
            let results = match *kind {
                "movie" => vec![movie(949, q)],
                "tv" => vec![show(95396, q)],
                _ => vec![
                    movie(949, q),
                    json!({"id": 1158, "media_type": "person", "name": "Al Pacino"}),
                ],
            };
            paged(page, results)
        }
        ["discover", "movie"] => paged(page, vec![movie(949, "Heat")]),
        ["discover", "tv"] => paged(page, vec![show(95396, "Severance")]),
        ["movie", "upcoming" | "now_playing"] => {
            let mut v = paged(page, vec![movie(1000 + page, &format!("Upcoming p{page}"))]);
            v["dates"] = json!({"maximum": "2025-11-01", "minimum": "2025-10-10"});
            v
        }
        ["movie", "popular" | "top_rated"] => {
            paged(page, vec![movie(2000 + page, &format!("Popular p{page}"))])
        }
        [
            "tv",
            "popular" | "top_rated" | "on_the_air" | "airing_today",
        ] => paged(
            page,
            vec![show(3000 + page, &format!("Popular show p{page}"))],
        ),
        ["person", "popular"] => paged(page, vec![json!({"id": 1158, "name": "Al Pacino"})]),
        [_, "404404", ..] => return not_found(),
        ["movie", id] => {
            let id: u64 = match id.parse() {
                Ok(n) => n,
                Err(_) => return not_found(),
            };
            let mut v = movie(id, "Heat");
            v["runtime"] = json!(170);
            v["genres"] = json!([{"id": 80, "name": "Crime"}]);
            v["belongs_to_collection"] = Value::Null;
            if let Some(append) = req.q("append_to_response") {
                for a in append.split(',') {
                    if a == "external_ids" {
                        v["external_ids"] = json!({"imdb_id": "tt0113277", "wikidata_id": null});
                    }
                }
            }
            v
        }
        ["tv", id] => {
            let id: u64 = match id.parse() {
                Ok(n) => n,
                Err(_) => return not_found(),
            };
            let mut v = show(id, "Severance");
            v["episode_run_time"] = json!([55]);
            v["seasons"] = json!([{"season_number": 1, "episode_count": 9, "name": "Season 1"}]);
            if req
                .q("append_to_response")
                .is_some_and(|a| a.contains("external_ids"))
            {
                v["external_ids"] = json!({"imdb_id": "tt11280740", "tvdb_id": 371980});
            }
            v
        }
        ["person", id] => {
            json!({"id": id.parse::<u64>().unwrap_or(0), "name": "Al Pacino", "known_for_department": "Acting"})
        }
        ["person", id, "combined_credits"] => json!({"id": id.parse::<u64>().unwrap_or(0),
            "cast": [{"id": 949, "media_type": "movie", "title": "Heat", "poster_path": "/p.jpg", "character": "Vincent Hanna"}],
            "crew": []}),
        ["movie" | "tv", id, "credits"] => json!({"id": id.parse::<u64>().unwrap_or(0),
            "cast": [{"id": 1158, "name": "Al Pacino", "character": "Vincent Hanna", "profile_path": "/a.jpg"}],
            "crew": [{"id": 5, "name": "Michael Mann", "job": "Director"}]}),
        ["movie" | "tv", _, "recommendations" | "similar"] => {
            paged(page, vec![movie(4000 + page, &format!("Similar p{page}"))])
        }
        ["movie" | "tv", id, "images"] => {
            let langs: Vec<String> = req
                .q("include_image_language")
                .unwrap_or("")
                .split(',')
                .map(str::to_string)
                .collect();
            let keep = |l: Option<&str>| langs.iter().any(|x| x == l.unwrap_or("null"));
            let logos: Vec<Value> = [
                (Some("en"), "/l-en.png"),
                (Some("fr"), "/l-fr.png"),
                (None, "/l-x.png"),
            ]
            .into_iter()
            .filter(|(l, _)| keep(*l))
            .map(|(l, f)| json!({"file_path": f, "iso_639_1": l, "vote_average": 5.3}))
            .collect();
            json!({"id": id.parse::<u64>().unwrap_or(0),
                   "backdrops": [{"file_path": "/b1.jpg", "iso_639_1": null, "vote_average": 5.5, "width": 3840, "height": 2160}],
                   "logos": logos, "posters": []})
        }
        ["movie" | "tv", id, "videos"] => json!({"id": id.parse::<u64>().unwrap_or(0),
            "results": [{"site": "YouTube", "type": "Trailer", "key": "2GfZl4kuVNI", "name": "Official Trailer"}]}),
        ["movie" | "tv", id, "external_ids"] => {
            json!({"id": id.parse::<u64>().unwrap_or(0), "imdb_id": "tt0113277"})
        }
        _ => return not_found(),
    };
    Reply::json(200, body)
}
