//! The `plexgate` binary: parse the command line, load configuration, start logging, dispatch.
//! Everything else lives in the library, where tests reach it.

use std::process::ExitCode;

use clap::Parser;
use plexgate::app::command;
use plexgate::cli::Cli;

/// jemalloc, purging freed pages from a background thread: memory comes back after a burst of
/// players instead of staying in glibc's arenas (see Cargo.toml).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command();
    let env_names = std::env::vars_os()
        .map(|(name, _)| name.to_string_lossy().into_owned())
        .collect();
    let (config, effective) = match cli.load_explained(|n| std::env::var(n).ok(), env_names) {
        Ok(loaded) => loaded,
        Err(e) => return command::config_failed(&command, &e),
    };
    if let Some(code) = command::run_without_logging(&command, &config, &effective) {
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
