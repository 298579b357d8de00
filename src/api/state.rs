//! What every handler receives: configuration, storage, secrets and upstream clients, behind
//! one `Arc` so cloning it per request is a reference-count bump.

use std::sync::Arc;
use std::time::Instant;

use crate::config::Config;
use crate::crypto::SecretBox;
use crate::db::Db;

/// Shared application state.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    config: Config,
    db: Db,
    secrets: SecretBox,
    upstream: reqwest::Client,
    started: Instant,
}

impl AppState {
    /// Assembles the state; `upstream` is the shared client for calls to Plex.
    pub fn new(config: Config, db: Db, secrets: SecretBox, upstream: reqwest::Client) -> Self {
        AppState(Arc::new(Inner {
            config,
            db,
            secrets,
            upstream,
            started: Instant::now(),
        }))
    }

    /// The validated configuration.
    pub fn config(&self) -> &Config {
        &self.0.config
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.0.db
    }

    /// Encryption of tokens at rest.
    pub fn secrets(&self) -> &SecretBox {
        &self.0.secrets
    }

    /// The shared upstream HTTP client.
    pub fn upstream(&self) -> &reqwest::Client {
        &self.0.upstream
    }

    /// When this process started serving.
    pub fn started(&self) -> Instant {
        self.0.started
    }
}
