//! A fake Trakt API speaking the real shapes (contract §2.6, §3.7): charts, the device-code
//! flow with Trakt's bare statuses (400 pending, 404 unknown code, 409 used, 410 expired, 418
//! denied, 429 slow down), single-use refresh tokens, revocation, user routes that demand a
//! current Bearer token, and sync watchlist writes. Every request must carry
//! `trakt-api-version: 2` and the right `trakt-api-key` (else 403). Faults: 429 with
//! Retry-After, 503.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::services::{Reply, Req, serve};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    None,
    RateLimited,
    ServerError,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Approved after `polls` polls.
    ApproveAfter(u32),
    Deny,
    Expire,
}

struct Device {
    code: String,
    polls: u32,
    outcome: Outcome,
    used: bool,
}

#[derive(Clone, Debug)]
pub struct Issued {
    pub access: String,
    pub refresh: String,
    pub expires_at: i64,
    pub refresh_used: bool,
    pub revoked: bool,
}

struct State {
    fault: Fault,
    seen: Vec<Req>,
    devices: Vec<Device>,
    next_outcome: Outcome,
    issued: Vec<Issued>,
    expires_in: i64,
    counter: u32,
    watchlist: Vec<Value>,
}

#[derive(Clone)]
pub struct FakeTrakt {
    pub url: String,
    pub client_id: String,
    pub client_secret: String,
    state: Arc<Mutex<State>>,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn movie(title: &str, tmdb: u64) -> Value {
    json!({"title": title, "year": 1995, "ids": {"trakt": tmdb + 1, "slug": title.to_lowercase(), "imdb": "tt0113277", "tmdb": tmdb}})
}

fn show(title: &str, tmdb: u64) -> Value {
    json!({"title": title, "year": 2022, "ids": {"trakt": tmdb + 1, "slug": title.to_lowercase(), "tvdb": 371980, "imdb": "tt11280740", "tmdb": tmdb}})
}

impl FakeTrakt {
    pub async fn start(client_id: &str, client_secret: &str) -> FakeTrakt {
        let state = Arc::new(Mutex::new(State {
            fault: Fault::None,
            seen: Vec::new(),
            devices: Vec::new(),
            next_outcome: Outcome::ApproveAfter(2),
            issued: Vec::new(),
            expires_in: 7_776_000,
            counter: 0,
            watchlist: Vec::new(),
        }));
        let s = state.clone();
        let (id, secret) = (client_id.to_string(), client_secret.to_string());
        let url = serve(move |req| answer(&s, &id, &secret, req)).await;
        FakeTrakt {
            url,
            client_id: client_id.to_string(),
            client_secret: client_secret.to_string(),
            state,
        }
    }

    pub fn set_fault(&self, f: Fault) {
        self.state.lock().unwrap().fault = f;
    }

    /// How the next device code ends.
    pub fn next_device(&self, o: Outcome) {
        self.state.lock().unwrap().next_outcome = o;
    }

    /// Lifetime of tokens issued from now on.
    pub fn set_expires_in(&self, secs: i64) {
        self.state.lock().unwrap().expires_in = secs;
    }

    /// Marks every refresh token issued so far as used (Trakt refresh tokens are single-use).
    pub fn burn_refresh_tokens(&self) {
        for t in self.state.lock().unwrap().issued.iter_mut() {
            t.refresh_used = true;
        }
    }

    pub fn seen(&self) -> Vec<Req> {
        self.state.lock().unwrap().seen.clone()
    }

    pub fn seen_path(&self, path: &str) -> Vec<Req> {
        self.seen().into_iter().filter(|r| r.path == path).collect()
    }

    pub fn issued(&self) -> Vec<Issued> {
        self.state.lock().unwrap().issued.clone()
    }

    /// Every secret the fake handed out or was configured with.
    pub fn secrets(&self) -> Vec<String> {
        let mut all = vec![self.client_secret.clone()];
        for i in self.issued() {
            all.push(i.access);
            all.push(i.refresh);
        }
        all
    }
}

fn issue(st: &mut State) -> Value {
    st.counter += 1;
    let n = st.counter;
    let created = now();
    let t = Issued {
        access: format!("trakt-access-{n:04}-a8f3c2d1e9b7"),
        refresh: format!("trakt-refresh-{n:04}-77c1d0e4f2a9"),
        expires_at: created + st.expires_in,
        refresh_used: false,
        revoked: false,
    };
    let body = json!({"access_token": t.access, "token_type": "bearer", "expires_in": st.expires_in,
                      "refresh_token": t.refresh, "scope": "public", "created_at": created});
    st.issued.push(t);
    body
}

fn answer(state: &Mutex<State>, client_id: &str, client_secret: &str, req: Req) -> Reply {
    let mut st = state.lock().unwrap();
    st.seen.push(req.clone());
    if req.header("trakt-api-version") != Some("2")
        || req.header("trakt-api-key") != Some(client_id)
    {
        return Reply::json(403, json!({"error": "invalid api key"}));
    }
    match st.fault {
        Fault::RateLimited => {
            return Reply::json(429, json!({"error": "rate limit exceeded"}))
                .header("retry-after", "5");
        }
        Fault::ServerError => return Reply::json(503, json!({"error": "service unavailable"})),
        Fault::None => {}
    }
    let body = req.json();
    let limit = req
        .q("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(10);
    let seg: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    match (req.method.as_str(), seg.as_slice()) {
        (
            "GET",
            [
                media @ ("movies" | "shows"),
                kind @ ("trending" | "popular" | "anticipated"),
            ],
        ) => {
            let item = if *media == "movies" {
                movie("Heat", 949)
            } else {
                show("Severance", 95396)
            };
            let key = if *media == "movies" { "movie" } else { "show" };
            let list: Vec<Value> = (0..limit.min(3))
                .map(|i| match *kind {
                    "popular" => item.clone(),
                    "trending" => json!({"watchers": 120 - i, key: item}),
                    _ => json!({"list_count": 5000 - i, key: item}),
                })
                .collect();
            Reply::json(200, Value::Array(list))
        }
        ("GET", [media @ ("movies" | "shows"), "watched", _period]) => {
            let (key, item) = if *media == "movies" {
                ("movie", movie("Heat", 949))
            } else {
                ("show", show("Severance", 95396))
            };
            Reply::json(
                200,
                json!([{"watcher_count": 900, "play_count": 1500, "collected_count": 300, key: item}]),
            )
        }
        ("POST", ["oauth", "device", "code"]) => {
            if body["client_id"] != client_id {
                return Reply::json(401, json!({"error": "invalid_client"}));
            }
            let code = format!("device-{:04}-5e0f", st.devices.len() + 1);
            let outcome = st.next_outcome;
            st.devices.push(Device {
                code: code.clone(),
                polls: 0,
                outcome,
                used: false,
            });
            Reply::json(
                200,
                json!({"device_code": code, "user_code": "5A3B9C1D",
                "verification_url": "https://trakt.tv/activate", "expires_in": 600, "interval": 5}),
            )
        }
        ("POST", ["oauth", "device", "token"]) => {
            if body["client_id"] != client_id || body["client_secret"] != client_secret {
                return Reply::json(401, json!({"error": "invalid_client"}));
            }
            let code = body["code"].as_str().unwrap_or("").to_string();
            let Some(i) = st.devices.iter().position(|d| d.code == code) else {
                return Reply::empty(404);
            };
            st.devices[i].polls += 1;
            let (polls, outcome, used) = (
                st.devices[i].polls,
                st.devices[i].outcome,
                st.devices[i].used,
            );
            if used {
                return Reply::empty(409);
            }
            match outcome {
                Outcome::Deny => Reply::empty(418),
                Outcome::Expire => Reply::empty(410),
                Outcome::ApproveAfter(n) if polls < n => Reply::empty(400),
                Outcome::ApproveAfter(_) => {
                    st.devices[i].used = true;
                    Reply::json(200, issue(&mut st))
                }
            }
        }
        ("POST", ["oauth", "token"]) => {
            if body["client_id"] != client_id || body["client_secret"] != client_secret {
                return Reply::json(401, json!({"error": "invalid_client"}));
            }
            if body["grant_type"] != "refresh_token" {
                return Reply::json(400, json!({"error": "unsupported_grant_type"}));
            }
            let refresh = body["refresh_token"].as_str().unwrap_or("");
            let found = st
                .issued
                .iter()
                .position(|t| t.refresh == refresh && !t.refresh_used && !t.revoked);
            match found {
                Some(i) => {
                    st.issued[i].refresh_used = true;
                    Reply::json(200, issue(&mut st))
                }
                None => Reply::json(
                    401,
                    json!({"error": "invalid_grant",
                    "error_description": "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client."}),
                ),
            }
        }
        ("POST", ["oauth", "revoke"]) => {
            let token = body["token"].as_str().unwrap_or("");
            for t in st.issued.iter_mut().filter(|t| t.access == token) {
                t.revoked = true;
            }
            Reply::json(200, json!({}))
        }
        _ => {
            // Everything else is a user route: a current Bearer token is required.
            let valid = req.bearer().is_some_and(|b| {
                st.issued
                    .iter()
                    .any(|t| t.access == b && !t.revoked && t.expires_at > now())
            });
            if !valid {
                return Reply::json(401, json!({"error": "invalid_token"}));
            }
            match (req.method.as_str(), seg.as_slice()) {
                ("GET", ["users", "me"]) => Reply::json(200, json!({"username": "jane", "private": false,
                    "name": "Jane", "vip": false, "vip_ep": false, "ids": {"slug": "jane"}})),
                ("GET", ["users", "me", "watchlist", rest @ ..]) => {
                    let list: Vec<Value> = st
                        .watchlist
                        .iter()
                        .filter(|e| rest.is_empty() || (rest[0] == "movies" && e["type"] == "movie") || (rest[0] == "shows" && e["type"] == "show"))
                        .cloned()
                        .collect();
                    Reply::json(200, Value::Array(list))
                }
                ("GET", ["users", "me", "history", ..]) => Reply::json(200, Value::Array(
                    (0..limit.min(2)).map(|i| json!({"id": i, "watched_at": "2025-09-01T20:00:00.000Z", "action": "watch", "type": "movie", "movie": movie("Heat", 949)})).collect())),
                ("GET", ["recommendations", media @ ("movies" | "shows")]) => {
                    let item = if *media == "movies" { movie("Heat", 949) } else { show("Severance", 95396) };
                    Reply::json(200, Value::Array(vec![item; limit.min(2)]))
                }
                ("POST", ["sync", "watchlist"]) => {
                    let movies = body["movies"].as_array().cloned().unwrap_or_default();
                    for m in &movies {
                        let rank = st.watchlist.len() + 1;
                        st.watchlist.push(json!({"rank": rank, "listed_at": "2025-09-01T00:00:00.000Z", "type": "movie", "movie": m}));
                    }
                    Reply::json(201, json!({"added": {"movies": movies.len(), "shows": 0},
                        "existing": {"movies": 0, "shows": 0}, "not_found": {"movies": [], "shows": []}}))
                }
                ("POST", ["sync", "watchlist", "remove"]) => {
                    let n = body["movies"].as_array().map_or(0, Vec::len);
                    let before = st.watchlist.len();
                    st.watchlist.retain(|e| !body["movies"].as_array().unwrap_or(&vec![]).iter().any(|m| m["ids"]["tmdb"] == e["movie"]["ids"]["tmdb"]));
                    let deleted = before - st.watchlist.len();
                    Reply::json(200, json!({"deleted": {"movies": deleted, "shows": 0},
                        "not_found": {"movies": [], "shows": []}, "asked": n}))
                }
                _ => Reply::json(404, json!({"error": "not found"})),
            }
        }
    }
}
