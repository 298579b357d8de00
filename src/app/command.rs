//! Runs one parsed subcommand and turns its outcome into the process exit code.
//!
//! Why here and not in `main`: the binary stays four readable steps (parse, load config, start
//! logging, dispatch), and what each command prints and returns on failure sits in the library
//! beside the commands themselves.

use std::process::ExitCode;

use crate::cli::Command;
use crate::config::Config;

/// Runs the commands that must not start logging (their stdout is read by people and scripts:
/// `check-config`, `healthcheck`); `None` for the others.
pub fn run_without_logging(command: &Command, config: &Config) -> Option<ExitCode> {
    match command {
        Command::CheckConfig => {
            use std::io::Write;
            // A closed pipe (`check-config | head`) is not an error worth a panic.
            let _ = writeln!(std::io::stdout(), "configuration is valid\n{config:#?}");
            Some(ExitCode::SUCCESS)
        }
        Command::Healthcheck => Some(match super::healthcheck(config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("plexgate healthcheck: {e}");
                ExitCode::FAILURE
            }
        }),
        Command::Serve | Command::Demo { .. } => None,
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
