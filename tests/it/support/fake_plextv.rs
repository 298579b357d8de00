//! A fake plex.tv speaking the real shapes (reference/plex-protocol.md §2): PINs that stay
//! unauthorized for N polls and only answer the client id that created them, the account, and
//! resources as a bare array with explicit nulls and several connection candidates (a TLS one
//! that cannot work, a dead one, a working remote one, a relay). Faults: 401, 422
//! "Invalid token", 429 with Retry-After, 500. Besides the main account it can know other
//! accounts, each seeing only the servers shared with it, and approve PINs as one of them.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use serde_json::json;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    None,
    Unauthorized,
    InvalidToken,
    RateLimited,
    ServerError,
}

#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub client_id: Option<String>,
    pub token: Option<String>,
}

struct State {
    polls_needed: u32,
    pins: Vec<(i64, String, u32)>,
    fault: Fault,
    seen: Vec<Seen>,
    account_id: i64,
    username: String,
    servers: Vec<serde_json::Value>,
    /// Other accounts: (id, username, token, machine ids of the servers shared with them).
    others: Vec<(i64, String, String, Vec<String>)>,
    /// The token new PIN approvals hand out (the main account's unless changed).
    approving: Option<String>,
}

#[derive(Clone)]
pub struct FakePlexTv {
    pub url: String,
    pub account_token: String,
    state: Arc<Mutex<State>>,
}

impl FakePlexTv {
    /// Starts; PINs authorize after `polls_needed` polls, for account `account_id`.
    pub async fn start(polls_needed: u32, account_id: i64, account_token: &str) -> FakePlexTv {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let me = FakePlexTv {
            url: format!("http://{}", listener.local_addr().unwrap()),
            account_token: account_token.to_string(),
            state: Arc::new(Mutex::new(State {
                polls_needed,
                pins: Vec::new(),
                fault: Fault::None,
                seen: Vec::new(),
                account_id,
                username: format!("user{account_id}"),
                servers: Vec::new(),
                others: Vec::new(),
                approving: None,
            })),
        };
        let shared = me.clone();
        super::server::serve_listener(listener, move |req| {
            let reply = shared.answer(req);
            async move { reply }
        });
        me
    }

    pub fn set_fault(&self, f: Fault) {
        self.state.lock().unwrap().fault = f;
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    /// Adds another plex.tv account; `shared` are machine ids of servers (added with
    /// [`add_server`](Self::add_server)) shared with it.
    pub fn add_account(&self, id: i64, username: &str, token: &str, shared: &[&str]) {
        self.state.lock().unwrap().others.push((
            id,
            username.to_string(),
            token.to_string(),
            shared.iter().map(|s| s.to_string()).collect(),
        ));
    }

    /// PINs approved from now on sign in as the account with `token` (`None`: the main one).
    pub fn approve_as(&self, token: Option<&str>) {
        self.state.lock().unwrap().approving = token.map(str::to_string);
    }

    /// Adds a server resource with these connections `(uri, local, relay)`.
    pub fn add_server(
        &self,
        name: &str,
        machine_id: &str,
        token: &str,
        owned: bool,
        conns: &[(&str, bool, bool)],
    ) {
        let connections: Vec<_> = conns
            .iter()
            .map(|(uri, local, relay)| {
                let protocol = uri.split("://").next().unwrap();
                let authority = uri.split("://").nth(1).unwrap();
                let (address, port) = authority.rsplit_once(':').unwrap();
                json!({"protocol": protocol, "address": address, "port": port.parse::<u16>().unwrap(),
                       "uri": uri, "local": local, "relay": relay, "IPv6": false})
            })
            .collect();
        self.state.lock().unwrap().servers.push(json!({
            "name": name, "product": "Plex Media Server", "productVersion": "1.43.0",
            "platform": null, "platformVersion": null, "device": null,
            "clientIdentifier": machine_id, "createdAt": "2021-03-04T18:22:11Z",
            "lastSeenAt": "2025-06-01T11:58:02Z", "provides": "server",
            "ownerId": if owned { serde_json::Value::Null } else { json!(42) },
            "sourceTitle": if owned { serde_json::Value::Null } else { json!("friend") },
            "publicAddress": "127.0.0.1", "accessToken": token, "owned": owned,
            "home": false, "synced": false, "relay": true, "presence": true,
            "httpsRequired": false, "publicAddressMatches": true,
            "dnsRebindingProtection": false, "natLoopbackSupported": true,
            "connections": connections,
        }));
    }

    fn answer(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let header = |n: &str| {
            req.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(String::from)
        };
        let path = req.uri().path().to_string();
        let mut st = self.state.lock().unwrap();
        st.seen.push(Seen {
            method: req.method().to_string(),
            path: path.clone(),
            client_id: header("x-plex-client-identifier"),
            token: header("x-plex-token"),
        });
        let reply = |status: u16, body: serde_json::Value| (status, body, None::<&str>);
        let (status, body, retry) = match st.fault {
            Fault::Unauthorized => reply(
                401,
                json!({"errors":[{"code":1001,"message":"User could not be authenticated","status":401}]}),
            ),
            Fault::InvalidToken => reply(
                422,
                json!({"errors":[{"code":1002,"message":"Invalid token","status":422}]}),
            ),
            Fault::RateLimited => (
                429,
                json!({"errors":[{"code":1003,"message":"Too many requests","status":429}]}),
                Some("17"),
            ),
            Fault::ServerError => reply(500, json!({"errors":[]})),
            Fault::None => {
                let client = header("x-plex-client-identifier");
                let token = header("x-plex-token");
                let authed = token.as_deref() == Some(self.account_token.as_str());
                let other = st
                    .others
                    .iter()
                    .find(|o| Some(o.2.as_str()) == token.as_deref())
                    .cloned();
                if req.method() == hyper::Method::POST && path == "/api/v2/pins" {
                    let id = 1000 + st.pins.len() as i64;
                    st.pins.push((id, client.clone().unwrap_or_default(), 0));
                    reply(
                        201,
                        json!({"id": id, "code": format!("C{id}"), "product": "plexgate", "trusted": false,
                        "clientIdentifier": client, "expiresIn": 900, "createdAt": "2025-06-01T12:00:00Z",
                        "expiresAt": "2025-06-01T12:15:00Z", "authToken": null, "newRegistration": null}),
                    )
                } else if let Some(id) = path
                    .strip_prefix("/api/v2/pins/")
                    .and_then(|v| v.parse::<i64>().ok())
                {
                    let needed = st.polls_needed;
                    let token = st
                        .approving
                        .clone()
                        .unwrap_or_else(|| self.account_token.clone());
                    match st
                        .pins
                        .iter_mut()
                        .find(|(p, c, _)| *p == id && Some(c.as_str()) == client.as_deref())
                    {
                        Some((_, _, polls)) => {
                            *polls += 1;
                            let auth = (*polls >= needed).then_some(token);
                            reply(
                                200,
                                json!({"id": id, "code": format!("C{id}"), "clientIdentifier": client,
                                "expiresIn": 800, "authToken": auth}),
                            )
                        }
                        None => reply(
                            404,
                            json!({"errors":[{"code":1020,"message":"Code not found or expired","status":404}]}),
                        ),
                    }
                } else if let Some((id, username, token, shared)) = other {
                    if path == "/api/v2/user" {
                        reply(
                            200,
                            json!({"id": id, "uuid": format!("u{id}"), "username": username, "title": username,
                            "email": format!("{username}@example.org"), "thumb": null,
                            "hasPassword": true, "authToken": token, "subscription": null}),
                        )
                    } else if path == "/api/v2/resources" {
                        let visible: Vec<serde_json::Value> = st
                            .servers
                            .iter()
                            .filter(|s| shared.iter().any(|m| s["clientIdentifier"] == m.as_str()))
                            .map(|s| {
                                let mut s = s.clone();
                                s["owned"] = json!(false);
                                s["accessToken"] = json!(format!("shared-{id}"));
                                s
                            })
                            .collect();
                        reply(200, serde_json::Value::Array(visible))
                    } else {
                        reply(404, json!({"errors":[]}))
                    }
                } else if !authed {
                    reply(
                        401,
                        json!({"errors":[{"code":1001,"message":"User could not be authenticated","status":401}]}),
                    )
                } else if path == "/api/v2/user" {
                    reply(
                        200,
                        json!({"id": st.account_id, "uuid": "a1b2", "username": st.username, "title": st.username,
                        "email": format!("{}@example.org", st.username), "thumb": "https://plex.tv/users/a1b2/avatar",
                        "hasPassword": true, "authToken": self.account_token,
                        "subscription": {"active": true, "status": "Active", "plan": "lifetime", "features": []}}),
                    )
                } else if path == "/api/v2/resources" {
                    let mut all = st.servers.clone();
                    all.push(json!({"name": "Phone", "product": "Plex for iOS", "provides": "client,player",
                        "clientIdentifier": "phone-1", "accessToken": "devtok", "owned": true, "connections": [],
                        "ownerId": null, "sourceTitle": null, "platform": "iOS"}));
                    reply(200, serde_json::Value::Array(all))
                } else {
                    reply(404, json!({"errors":[]}))
                }
            }
        };
        let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
        *resp.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
        resp.headers_mut()
            .insert("content-type", "application/json".parse().unwrap());
        if let Some(r) = retry {
            resp.headers_mut().insert("retry-after", r.parse().unwrap());
        }
        resp
    }
}
