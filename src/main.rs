//! The `plexgate` binary: parse the command line, load configuration, start logging, run.
//! Everything else lives in the library.

use std::process::ExitCode;

use clap::Parser;
use plexgate::cli::{Cli, Command};

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
    if let Command::CheckConfig = command {
        use std::io::Write;
        // A closed pipe (`check-config | head`) is not an error worth a panic.
        let _ = writeln!(std::io::stdout(), "configuration is valid\n{config:#?}");
        return ExitCode::SUCCESS;
    }
    if let Command::Healthcheck = command {
        return match plexgate::app::healthcheck(&config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("plexgate healthcheck: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if let Err(e) = plexgate::logging::init(&config.log) {
        eprintln!("cannot start logging: {e}");
        return ExitCode::FAILURE;
    }
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
            Command::Demo { .. } => plexgate::app::demo::run(config).await,
            _ => plexgate::app::run(config).await,
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
