//! A fake of Plex's cloud providers (Discover watchlist, metadata matching, VOD) on one port,
//! speaking the real shapes (reference/plex-protocol.md §7.1–7.2): the watchlist as
//! `{"MediaContainer":{librarySectionID:"watchlist", offset, size, totalSize, Metadata[]}}`
//! paged by `X-Plex-Container-Start/Size`; `PUT /actions/addToWatchlist|removeFromWatchlist
//! ?ratingKey=<24 hex>` (unknown id → 404 `MetadataItem … not found!`); `GET
//! /library/metadata/matches?type=1|2&guid=…` (type required; `Guid[]` only with
//! `includeGuids=1`; no match → 200 without `Metadata`); `GET /library/metadata/<id>` with
//! `Rating[]` for VOD. The account token must come as the `X-Plex-Token` header (401
//! `{"errors":[…]}` otherwise); a token in the query is recorded so tests can fail on it.
//! Faults: 429 with `Retry-After: 30`, 500, 401.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::services::{Reply, Req, serve};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    None,
    RateLimited,
    ServerError,
    Unauthorized,
}

#[derive(Clone, Debug)]
pub struct Item {
    pub key: &'static str,
    pub kind: &'static str,
    pub title: &'static str,
    pub year: u32,
    pub guids: &'static [&'static str],
}

/// The catalogue: Heat (movie), Severance (show), a movie and a show sharing TMDB id 329865
/// (the numbering of movies and shows overlaps), and the demo Plex library's movie.
pub const CATALOG: &[Item] = &[
    Item {
        key: "5d776b59ad5437001f79c6f8",
        kind: "movie",
        title: "Heat",
        year: 1995,
        guids: &["imdb://tt0113277", "tmdb://949", "tvdb://1079"],
    },
    Item {
        key: "5d9c086c46115600200aa2fe",
        kind: "show",
        title: "Severance",
        year: 2022,
        guids: &["imdb://tt11280740", "tmdb://95396", "tvdb://371980"],
    },
    Item {
        key: "5d77686eeb5d26001f1e5a41",
        kind: "movie",
        title: "Arrival",
        year: 2016,
        guids: &["imdb://tt2543164", "tmdb://329865"],
    },
    Item {
        key: "5e161d3d9c6e0000409f3a11",
        kind: "show",
        title: "Arrivals",
        year: 2019,
        guids: &["imdb://tt9000001", "tmdb://329865"],
    },
    Item {
        key: "5f0c1a2b3c4d5e6f70819203",
        kind: "movie",
        title: "Demo Movie",
        year: 2020,
        guids: &["imdb://tt9999101", "tmdb://999101"],
    },
];

struct State {
    token: String,
    fault: Fault,
    seen: Vec<Req>,
    watchlist: Vec<&'static str>,
}

#[derive(Clone)]
pub struct FakeDiscover {
    pub url: String,
    state: Arc<Mutex<State>>,
}

fn item_json(item: &Item, with_guids: bool) -> Value {
    let mut v = json!({
        "ratingKey": item.key, "key": format!("/library/metadata/{}", item.key),
        "guid": format!("plex://{}/{}", item.kind, item.key), "type": item.kind,
        "title": item.title, "year": item.year, "contentRating": "PG-13",
        "thumb": format!("https://metadata-static.plex.tv/5/gracenote/{}.jpg", item.key),
        "art": format!("https://metadata-static.plex.tv/a/gracenote/{}.jpg", item.key),
        "addedAt": 1_573_171_200, "rating": 8.2, "duration": 7_260_000,
        "Genre": [{"tag": "Drama"}], "userState": false,
    });
    if with_guids {
        v["Guid"] = item.guids.iter().map(|g| json!({"id": g})).collect();
    }
    v
}

impl FakeDiscover {
    pub async fn start(account_token: &str) -> FakeDiscover {
        let state = Arc::new(Mutex::new(State {
            token: account_token.to_string(),
            fault: Fault::None,
            seen: Vec::new(),
            watchlist: vec![CATALOG[0].key],
        }));
        let s = state.clone();
        let url = serve(move |req| answer(&s, req)).await;
        FakeDiscover { url, state }
    }

    pub fn set_fault(&self, f: Fault) {
        self.state.lock().unwrap().fault = f;
    }

    pub fn seen(&self) -> Vec<Req> {
        self.state.lock().unwrap().seen.clone()
    }

    pub fn seen_path(&self, path: &str) -> Vec<Req> {
        self.seen().into_iter().filter(|r| r.path == path).collect()
    }

    pub fn clear(&self) {
        self.state.lock().unwrap().seen.clear();
    }

    pub fn watchlist(&self) -> Vec<&'static str> {
        self.state.lock().unwrap().watchlist.clone()
    }

    pub fn set_watchlist(&self, keys: &[&'static str]) {
        self.state.lock().unwrap().watchlist = keys.to_vec();
    }
}

fn answer(state: &Mutex<State>, req: Req) -> Reply {
    let mut st = state.lock().unwrap();
    st.seen.push(req.clone());
    let unauthorized = || {
        Reply::json(
            401,
            json!({"errors": [{"code": 1001, "message": "User could not be authenticated", "status": 401}]}),
        )
    };
    if req.header("x-plex-token") != Some(st.token.as_str()) {
        return unauthorized();
    }
    match st.fault {
        Fault::RateLimited => {
            return Reply::json(
                429,
                json!({"errors": [{"code": 1003, "message": "Too many requests", "status": 429}]}),
            )
            .header("retry-after", "30");
        }
        Fault::ServerError => return Reply::json(500, json!({"errors": []})),
        Fault::Unauthorized => return unauthorized(),
        Fault::None => {}
    }
    let by_key = |k: &str| CATALOG.iter().find(|i| i.key == k);
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/library/sections/watchlist/all") => {
            let start: usize = req
                .q("X-Plex-Container-Start")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let size: usize = req
                .q("X-Plex-Container-Size")
                .and_then(|v| v.parse().ok())
                .unwrap_or(50);
            let all: Vec<Value> = st
                .watchlist
                .iter()
                .filter_map(|k| by_key(k))
                .map(|i| item_json(i, req.q("includeGuids") == Some("1")))
                .collect();
            let page: Vec<Value> = all.iter().skip(start).take(size).cloned().collect();
            Reply::json(
                200,
                json!({"MediaContainer": {
                "librarySectionID": "watchlist", "librarySectionTitle": "Watchlist",
                "identifier": "tv.plex.provider.metadata", "offset": start, "size": page.len(),
                "totalSize": all.len(), "Metadata": page}}),
            )
        }
        ("PUT", "/actions/addToWatchlist") | ("PUT", "/actions/removeFromWatchlist") => {
            let key = req.q("ratingKey").unwrap_or("");
            let Some(item) = by_key(key) else {
                return Reply::json(
                    404,
                    json!({"error": format!("MetadataItem for {key} not found!")}),
                );
            };
            if req.path.ends_with("addToWatchlist") {
                if !st.watchlist.contains(&item.key) {
                    st.watchlist.push(item.key);
                }
            } else {
                st.watchlist.retain(|k| *k != item.key);
            }
            Reply::empty(200)
        }
        ("GET", "/library/metadata/matches") => {
            let kind = match req.q("type") {
                Some("1") => "movie",
                Some("2") => "show",
                _ => return Reply::json(400, json!({"error": "type is required"})),
            };
            let guid = req.q("guid").unwrap_or("");
            let hits: Vec<Value> = CATALOG
                .iter()
                .filter(|i| i.kind == kind && i.guids.contains(&guid))
                .map(|i| item_json(i, req.q("includeGuids") == Some("1")))
                .collect();
            let mut mc =
                json!({"offset": 0, "size": hits.len(), "identifier": "tv.plex.provider.metadata"});
            if !hits.is_empty() {
                mc["Metadata"] = Value::Array(hits);
            }
            Reply::json(200, json!({"MediaContainer": mc}))
        }
        ("GET", p) if p.starts_with("/library/metadata/") => {
            let key = p.trim_start_matches("/library/metadata/");
            let Some(item) = by_key(key) else {
                return Reply::json(
                    404,
                    json!({"error": format!("MetadataItem for {key} not found!")}),
                );
            };
            let mut v = item_json(item, true);
            v["audienceRating"] = json!(9.4);
            v["Rating"] = json!([
                {"image": "imdb://image.rating", "value": 7.8, "type": "audience"},
                {"image": "rottentomatoes://image.rating.ripe", "value": 8.8, "type": "critic"},
                {"image": "rottentomatoes://image.rating.upright", "value": 9.4, "type": "audience"}]);
            Reply::json(200, json!({"MediaContainer": {"size": 1, "Metadata": [v]}}))
        }
        _ => Reply::json(404, json!({"errors": []})),
    }
}
