#![allow(dead_code)]
//! A demo Plex with a second (shared) account, plexgate in demo mode in front of it, and helpers
//! to sign in as either user and to assert what Plex received. Used by the `/api/plex`,
//! `/api/image` and `/api/cache` suites.

use plexgate::app::demo::Demo;
use plexgate::demo::{DemoPlex, DemoPlexOptions};

use crate::support::browser::Browser;
use crate::support::canary::Canary;

/// Bob's token on the shared server (a distinct Plex account with its own watch state).
pub const BOB_TOKEN: &str = "bob-shared-server-token-7f3a9c";

pub struct PlexWorld {
    pub demo: Demo,
    pub plex: DemoPlex,
    _dir: tempfile::TempDir,
}

impl PlexWorld {
    pub async fn start(extra: &[(&str, &str)]) -> PlexWorld {
        let plex = DemoPlex::start(DemoPlexOptions {
            shared_user_tokens: vec![BOB_TOKEN.to_string()],
            ..DemoPlexOptions::default()
        })
        .await
        .expect("demo plex");
        let dir = tempfile::tempdir().unwrap();
        let url = plex.url();
        let mut all: Vec<(&str, &str)> = vec![("plex.timeline_interval_ms", "400")];
        all.extend_from_slice(extra);
        let demo = super::demo_against(&url, plex.token(), dir.path(), &all).await;
        // Start-up asked Plex who it is; tests look only at what their requests caused.
        plex.clear_requests();
        PlexWorld {
            demo,
            plex,
            _dir: dir,
        }
    }

    pub fn canary(&self) -> Canary {
        Canary::new(&[self.plex.token(), BOB_TOKEN])
    }

    /// The demo user (owner of the server).
    pub async fn alice<'c>(&self, canary: &'c Canary) -> Browser<'c> {
        let mut b = Browser::new(&self.demo.url(), canary);
        let login = b.post("/api/auth/demo-login").await;
        assert_eq!(login.status, 200, "{}", login.text());
        b
    }

    /// A second user of the same server, signed in with a cookie.
    pub async fn bob<'c>(&self, canary: &'c Canary) -> Browser<'c> {
        let state = self.demo.state().clone();
        let secrets = state.secrets().clone();
        let machine = self.plex.machine_identifier().to_string();
        let uri = self.plex.url();
        let bob_id = state
            .db()
            .write(move |c| {
                let u = plexgate::db::users::upsert_user(
                    c,
                    &plexgate::db::users::NewUser {
                        plex_id: 4242,
                        username: "bob",
                        email: None,
                        thumb: None,
                        title: None,
                        has_password: false,
                        subscription: None,
                        plex_token: "bob-account-token-0000",
                    },
                    &secrets,
                    1,
                )?;
                let shared = LoopbackServer {
                    machine: &machine,
                    name: "Shared",
                    owned: false,
                    token: BOB_TOKEN,
                    uri: &uri,
                };
                let s = store_server(c, &secrets, u.id, &shared)?;
                plexgate::db::servers::set_current_uri(c, u.id, s.id, Some(&uri), 1)?;
                plexgate::db::servers::set_current_server(c, u.id, Some(s.id), 1)?;
                Ok(u.id)
            })
            .await
            .unwrap();
        let (cookie, _) = state.logins().create(bob_id, None, None).await.unwrap();
        let mut b = Browser::new(&self.demo.url(), canary);
        b.cookie = Some(format!("plex.sid={cookie}"));
        b
    }

    /// Requests Plex received whose path is `path`.
    pub fn upstream(&self, path: &str) -> Vec<plexgate::demo::RecordedRequest> {
        self.plex
            .requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }

    /// Every request plexgate made carried a token as a header only, and plexgate's identity.
    pub fn assert_upstream_hygiene(&self) {
        for r in self.plex.requests() {
            if r.path == "/identity" {
                continue;
            }
            let q = r.query.clone().unwrap_or_default().to_ascii_lowercase();
            assert!(!q.contains("token"), "token-like query to {}: {q}", r.path);
            assert!(!q.contains(&self.plex.token().to_ascii_lowercase()));
            let t = r.header("x-plex-token").unwrap_or("");
            assert!(
                t == self.plex.token() || t == BOB_TOKEN,
                "{} without a server token header",
                r.path
            );
            assert_eq!(r.header("x-plex-product"), Some("plexgate"), "{}", r.path);
            assert_eq!(
                r.header("accept")
                    .map(|a| a.contains("json") || a.contains("image")),
                Some(true),
                "{}",
                r.path
            );
        }
    }
}

/// A Plex server on loopback with a single local http address.
pub struct LoopbackServer<'a> {
    pub machine: &'a str,
    pub name: &'a str,
    pub owned: bool,
    pub token: &'a str,
    /// `http://127.0.0.1:PORT`.
    pub uri: &'a str,
}

/// Stores `server` for `user_id`, as a sync from plex.tv would.
pub fn store_server(
    c: &rusqlite::Connection,
    secrets: &plexgate::crypto::SecretBox,
    user_id: i64,
    server: &LoopbackServer<'_>,
) -> Result<plexgate::db::servers::Server, plexgate::db::DbError> {
    let port = server
        .uri
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or(80);
    let connections = [plexgate::db::servers::NewConnection {
        uri: server.uri,
        protocol: "http",
        address: "127.0.0.1",
        port,
        local: true,
        relay: false,
        ipv6: false,
    }];
    plexgate::db::servers::upsert_server(
        c,
        user_id,
        &plexgate::db::servers::NewServer {
            machine_identifier: server.machine,
            name: server.name,
            owned: server.owned,
            https_required: false,
            access_token: server.token,
            connections: &connections,
        },
        secrets,
        1,
    )
}
