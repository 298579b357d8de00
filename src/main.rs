//! The `plexgate` binary: parse the command line, load configuration, start logging, dispatch.
//! Everything else lives in the library, where tests reach it.

use std::process::ExitCode;

use clap::Parser;
use plexgate::app::command;
use plexgate::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match cli.load_config(|name| std::env::var(name).ok()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let command = cli.command();
    if let Some(code) = command::run_without_logging(&command, &config) {
        return code;
    }
    // Held to the end: dropping it flushes the lines still queued for stderr.
    let _log_guard = match plexgate::logging::init(&config.log) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("cannot start logging: {e}");
            return ExitCode::FAILURE;
        }
    };
    command::run(command, config)
}
