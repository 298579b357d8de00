//! The command line: subcommands and the flags that override configuration keys.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::{Config, ConfigError, Effective, Sources};

/// plexgate: a tokenless gateway between a Plex web client and Plex.
#[derive(Debug, Parser)]
#[command(name = "plexgate", version, about)]
pub struct Cli {
    /// TOML configuration file (see config.example.toml).
    #[arg(long, short, global = true, env = "PLEXGATE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on (server.listen).
    #[arg(long, global = true)]
    pub listen: Option<String>,
    /// SQLite database file (storage.database).
    #[arg(long, global = true)]
    pub database: Option<String>,
    /// Public origin the browser uses (server.public_url).
    #[arg(long, global = true)]
    pub public_url: Option<String>,
    /// Path prefix behind a reverse proxy (server.base_path).
    #[arg(long, global = true)]
    pub base_path: Option<String>,
    /// Log filter such as info or plexgate=debug (log.level).
    #[arg(long, global = true)]
    pub log_level: Option<String>,
    /// pretty or json (log.format).
    #[arg(long, global = true)]
    pub log_format: Option<String>,
    /// Built web app (Flixor's dist/) served at / (web.root).
    #[arg(long, global = true)]
    pub web_root: Option<String>,
    /// What to run (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Serve the API (the default).
    Serve,
    /// Start an embedded demo Plex (or use --plex-url) with a fresh temporary database.
    Demo {
        /// Use this existing Plex server instead of the embedded one (demo.plex_url).
        #[arg(long)]
        plex_url: Option<String>,
        /// Its server token (demo.plex_token).
        #[arg(long)]
        plex_token: Option<String>,
    },
    /// Load and validate the configuration, print the settings in effect as TOML with where
    /// each came from (secrets as <set>), check the database directory can be created, and exit.
    CheckConfig,
    /// Check the installation (config, database directory, key file, plex.tv, each Plex
    /// server's addresses, TMDB/Trakt keys, the reverse proxy) and print ✓/✗ with the fix for
    /// each; exit 0 when all pass, 1 otherwise.
    Doctor,
    /// Copy the database (SQLite online backup, safe while the server runs) and the key file
    /// into DIR, each written atomically with mode 0600.
    Backup {
        /// Directory to write the backup into (created if missing).
        dir: PathBuf,
    },
    /// Ask the running server's /health on server.listen; exit 0 when it answers ok
    /// (for container healthchecks, without curl).
    Healthcheck,
}

impl Cli {
    /// The subcommand, `serve` when none was given.
    pub fn command(&self) -> Command {
        self.command.clone().unwrap_or(Command::Serve)
    }

    /// Layers defaults, the config file, `env` (a variable lookup) and these flags.
    pub fn load_config(&self, env: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        self.load_explained(env, Vec::new())
            .map(|(config, _)| config)
    }

    /// Like [`Cli::load_config`]; `env_names` (the environment's variable names) are checked for
    /// unknown `PLEXGATE_*` variables, and each key's value in effect comes back with its origin.
    pub fn load_explained(
        &self,
        env: impl Fn(&str) -> Option<String>,
        env_names: Vec<String>,
    ) -> Result<(Config, Effective), ConfigError> {
        let mut sources = Sources::new();
        if let Some(path) = &self.config {
            sources = sources.file(path);
        }
        let (plex_url, plex_token) = match &self.command {
            Some(Command::Demo {
                plex_url,
                plex_token,
            }) => (plex_url.clone(), plex_token.clone()),
            _ => (None, None),
        };
        sources
            .env(env)
            .env_names(env_names)
            .flag("server.listen", "--listen", self.listen.clone())
            .flag("storage.database", "--database", self.database.clone())
            .flag("server.public_url", "--public-url", self.public_url.clone())
            .flag("server.base_path", "--base-path", self.base_path.clone())
            .flag("log.level", "--log-level", self.log_level.clone())
            .flag("log.format", "--log-format", self.log_format.clone())
            .flag("web.root", "--web-root", self.web_root.clone())
            .flag("demo.plex_url", "--plex-url", plex_url)
            .flag("demo.plex_token", "--plex-token", plex_token)
            .build_explained()
    }
}
