//! The `openrouter-pkce` binary: parse arguments, run, map the result to an exit code.

use std::process::ExitCode;

use clap::Parser;
use openrouter_pkce::cli::{Cli, Command};
use openrouter_pkce::{exit_code, logging, run::run};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Command::Serve(args) => {
            logging::init(args.log_format == "json", "openrouter_pkce=info,warn")
        }
        _ => logging::init(false, "warn"),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::from(openrouter_pkce::error::EXIT_INTERNAL);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(exit_code(&e))
        }
    }
}
