//! Runs one parsed subcommand and turns its outcome into the process exit code.
//!
//! Why here and not in `main`: the binary stays four readable steps (parse, load config, start
//! logging, dispatch), and what each command prints and returns on failure sits in the library
//! beside the commands themselves.

use std::io::Write;
use std::process::ExitCode;

use crate::cli::Command;
use crate::config::{Config, ConfigError, Effective};

/// What a configuration that does not load means for `command`: exit 2 with one line per
/// problem, except for `doctor`, whose first check it is (✗ with the fix, exit 1).
pub fn config_failed(command: &Command, error: &ConfigError) -> ExitCode {
    if matches!(command, Command::Doctor) {
        let mut out = std::io::stdout();
        let _ = writeln!(out, "✗ configuration loads");
        for p in &error.problems {
            let _ = writeln!(out, "    {p}");
        }
        let _ = writeln!(
            out,
            "  fix: correct the keys above (config.example.toml documents every key)"
        );
        return ExitCode::FAILURE;
    }
    eprintln!("{error}");
    ExitCode::from(2)
}

/// Runs the commands that must not start logging (their stdout is read by people and scripts:
/// `check-config`, `healthcheck`, `doctor`, `backup`); `None` for the others.
pub fn run_without_logging(
    command: &Command,
    config: &Config,
    effective: &Effective,
) -> Option<ExitCode> {
    match command {
        Command::CheckConfig => Some(check_config(config, effective)),
        Command::Healthcheck => Some(match super::healthcheck(config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("plexgate healthcheck: {e}");
                ExitCode::FAILURE
            }
        }),
        Command::Doctor => Some(on_runtime(async {
            let all_good = super::doctor::run(config, &mut std::io::stdout()).await;
            if all_good {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        })),
        Command::Backup { dir } => Some(match super::backup::run(&config.storage, dir) {
            Ok(report) => {
                // A closed pipe (`backup | head`) is not an error worth a panic.
                let _ = writeln!(std::io::stdout(), "{report}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("plexgate backup: {e}");
                ExitCode::FAILURE
            }
        }),
        Command::Serve | Command::Demo { .. } => None,
    }
}

/// `check-config`: the settings in effect with their origins, then whether the database
/// directory can be created (a config that validates but cannot start is not valid).
fn check_config(config: &Config, effective: &Effective) -> ExitCode {
    let _ = writeln!(std::io::stdout(), "{effective}");
    match crate::db::create_dir(&config.storage.database) {
        Ok(()) => {
            let _ = writeln!(std::io::stdout(), "# configuration is valid");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("config error: storage.database: {e}");
            ExitCode::from(2)
        }
    }
}

fn on_runtime(work: impl Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(work),
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs `serve` or `demo` on a multi-thread runtime until shutdown (logging already started).
pub fn run(command: Command, config: Config) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match command {
            Command::Demo { .. } => super::demo::run(config).await,
            _ => super::run(config).await,
        }
    });
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "plexgate could not start");
            eprintln!("plexgate: {e}");
            ExitCode::FAILURE
        }
    }
}
