//! `plexgate demo`: the whole product in one command. Starts the embedded demo Plex (or uses an
//! existing server given by `demo.plex_url`/`demo.plex_token`), seeds a demo user and that server
//! into a fresh temporary database, serves, and prints what to open.
//!
//! Neither the demo Plex token nor a user's real token is ever printed: the demo exists to show
//! that the browser never needs one.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::net::TcpListener;

use super::{StartupError, build_state_for, serve_on, shutdown_signal};
use crate::api::AppState;
use crate::config::Config;
use crate::db;
use crate::demo::{DemoPlex, DemoPlexOptions};
use crate::http::ShutdownOutcome;

pub use crate::auth::DEMO_PLEX_ID;
/// The demo user's name.
pub const DEMO_USERNAME: &str = "demo";

/// Runs the demo until SIGINT/SIGTERM.
pub async fn run(config: Config) -> Result<ShutdownOutcome, StartupError> {
    let demo = Demo::start(config).await?;
    let facade = banner_facade(&demo).await;
    print_banner(&demo, facade.as_deref());
    shutdown_signal().await;
    Ok(demo.shutdown().await)
}

/// A running demo: plexgate, its Plex, and the temporary directory holding the database.
#[derive(Debug)]
pub struct Demo {
    running: super::Running,
    plex_url: String,
    server_name: String,
    embedded: Option<DemoPlex>,
    dir: TempDir,
}

impl Demo {
    /// Starts everything; the database lives in a new temporary directory removed on shutdown.
    pub async fn start(mut config: Config) -> Result<Demo, StartupError> {
        let dir = TempDir::new()?;
        config.storage.database = dir.path().join("plexgate.sqlite");
        config.storage.key_file = dir.path().join("plexgate.key");
        config.storage.secret_key = None;

        let (embedded, plex_url, plex_token) =
            match (config.demo.plex_url.clone(), config.demo.plex_token.clone()) {
                (Some(url), Some(token)) => (None, url, token),
                _ => {
                    let plex = DemoPlex::start(DemoPlexOptions::default())
                        .await
                        .map_err(|e| {
                            StartupError::Demo(format!("cannot start the demo Plex: {e}"))
                        })?;
                    let url = plex.url();
                    let token = plex.token().to_string();
                    (Some(plex), url, token)
                }
            };

        let listen = config.server.listen;
        let state = build_state_for(config, true).await?;
        let info = crate::plex::server_info(
            state.upstream(),
            state.identity(),
            &plex_url,
            &plex_token,
            Duration::from_secs(10),
        )
        .await?;
        seed(&state, &info, &plex_url, &plex_token).await?;
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|source| StartupError::Bind {
                addr: listen,
                source,
            })?;
        let running = serve_on(listener, state)?;
        Ok(Demo {
            running,
            plex_url,
            server_name: info.friendly_name,
            embedded,
            dir,
        })
    }

    /// plexgate's URL.
    pub fn url(&self) -> String {
        self.running.url()
    }

    /// The Plex server's URL (the embedded one, or the one given).
    pub fn plex_url(&self) -> &str {
        &self.plex_url
    }

    /// The embedded demo Plex, if that is what the demo uses.
    pub fn embedded_plex(&self) -> Option<&DemoPlex> {
        self.embedded.as_ref()
    }

    /// The application state.
    pub fn state(&self) -> &AppState {
        self.running.state()
    }

    /// Where the temporary database lives.
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Stops plexgate, then the demo Plex, then removes the temporary directory.
    pub async fn shutdown(self) -> ShutdownOutcome {
        let outcome = self.running.shutdown().await;
        drop(self.embedded);
        drop(self.dir);
        outcome
    }
}

async fn seed(
    state: &AppState,
    info: &crate::plex::ServerInfo,
    plex_url: &str,
    plex_token: &str,
) -> Result<(), StartupError> {
    let secrets = state.secrets().clone();
    let name = if info.friendly_name.is_empty() {
        "Demo Plex".to_string()
    } else {
        info.friendly_name.clone()
    };
    let machine_identifier = info.machine_identifier.clone();
    let uri = plex_url.to_string();
    let access_token = plex_token.to_string();
    let (protocol, address, port) = split_uri(&uri);
    // The demo user has no plex.tv account; its account token is random and used nowhere.
    let account_token = crate::util::hex(&crate::util::random_bytes::<16>());
    state
        .db()
        .write(move |conn| {
            let now = crate::util::unix_now();
            let user = db::users::upsert_user(
                conn,
                &db::users::NewUser {
                    plex_id: DEMO_PLEX_ID,
                    username: DEMO_USERNAME,
                    email: None,
                    thumb: None,
                    title: Some("Demo User"),
                    has_password: false,
                    subscription: None,
                    plex_token: &account_token,
                },
                &secrets,
                now,
            )?;
            let connections = [db::servers::NewConnection {
                uri: &uri,
                protocol: &protocol,
                address: &address,
                port,
                local: true,
                relay: false,
                ipv6: address.contains(':'),
            }];
            let server = db::servers::upsert_server(
                conn,
                user.id,
                &db::servers::NewServer {
                    machine_identifier: &machine_identifier,
                    name: &name,
                    owned: true,
                    https_required: false,
                    access_token: &access_token,
                    connections: &connections,
                },
                &secrets,
                now,
            )?;
            db::servers::set_current_uri(conn, user.id, server.id, Some(&uri), now)?;
            db::servers::set_current_server(conn, user.id, Some(server.id), now)?;
            crate::auth::admission::record_owner(conn, DEMO_PLEX_ID)?;
            Ok(())
        })
        .await?;
    Ok(())
}

/// `http://host:port` → (scheme, host, port); defaults to the scheme's port.
fn split_uri(uri: &str) -> (String, String, u16) {
    let (scheme, rest) = uri.split_once("://").unwrap_or(("http", uri));
    let authority = rest.split('/').next().unwrap_or(rest);
    let default_port = if scheme == "https" { 443 } else { 80 };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => {
            (h.to_string(), p.parse().unwrap_or(default_port))
        }
        _ => (authority.to_string(), default_port),
    };
    (
        scheme.to_string(),
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
        port,
    )
}

/// A facade for the demo user (no login session), so the banner can show a working URL.
async fn banner_facade(demo: &Demo) -> Option<String> {
    let state = demo.state();
    let user = state
        .db()
        .read(|conn| db::users::get_user_by_plex_id(conn, DEMO_PLEX_ID))
        .await
        .ok()??;
    let user_id = user.id;
    let server = state
        .db()
        .read(move |conn| db::servers::list_servers(conn, user_id))
        .await
        .ok()?
        .into_iter()
        .next()?;
    let facade = crate::stream::facade::mint(
        state.keeper(),
        state.tickets(),
        crate::stream::facade::Owner {
            user_id: user.id,
            server_id: server.id,
            login: None,
            identity: state.identity().clone(),
        },
        state.config().stream.facade_ttl.as_secs() as i64,
        &demo.url(),
    )
    .await
    .ok()?;
    Some(facade.base_url)
}

fn print_banner(demo: &Demo, facade: Option<&str>) {
    let url = demo.url();
    let plex = if demo.embedded.is_some() {
        format!(
            "embedded demo Plex \"{}\" at {}",
            demo.server_name, demo.plex_url
        )
    } else {
        format!("your Plex \"{}\" at {}", demo.server_name, demo.plex_url)
    };
    println!();
    println!("  plexgate demo is running at {url}");
    println!("  upstream: {plex} (its token stays inside plexgate)");
    println!("  database: {} (temporary)", demo.dir.path().display());
    println!();
    println!(
        "  open      {url}/demo    sign in, browse, play (hls.js/dash.js) and see every request"
    );
    println!("  health    {url}/health");
    println!("  try       curl -s {url}/ready");
    if let Some(base) = facade {
        println!();
        println!("  A Plex \"baseUrl\" for a player, with a ticket instead of a token:");
        println!("            {base}");
        println!("  try       curl -s -H 'Accept: application/json' {base}/library/sections");
        println!(
            "            curl -s -o /dev/null -w '%{{http_code}} %{{size_download}} bytes\\n' -r 0-1023 \\"
        );
        println!("                 {base}/library/parts/301/1716000000/file.mp4");
    }
    println!();
    println!("  Ctrl-C stops the demo and removes the temporary database.");
    println!();
}

/// A directory under the system temp dir, removed when dropped.
#[derive(Debug)]
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<TempDir, StartupError> {
        let name = format!(
            "plexgate-demo-{}",
            crate::util::hex(&crate::util::random_bytes::<6>())
        );
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&path)
            .map_err(|e| StartupError::Demo(format!("cannot create {}: {e}", path.display())))?;
        Ok(TempDir(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
