//! The `openrouter-pkce` binary: parse arguments, run, map the result to an exit code.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use openrouter_pkce::cli::config::{json_logs, wants_events};
use openrouter_pkce::cli::{Cli, Command};
use openrouter_pkce::{error::EXIT_INTERNAL, exit_code, logging};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if wants_events(&cli) {
        openrouter_pkce::ui::use_events();
    }
    let default_level = match cli.command {
        Command::Serve(_) => "openrouter_pkce=info,warn",
        _ => "warn",
    };
    logging::init(json_logs(&cli), default_level);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "error: could not start the async runtime: {e}"
            );
            return ExitCode::from(EXIT_INTERNAL);
        }
    };
    match runtime.block_on(openrouter_pkce::cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            openrouter_pkce::ui::failed(&e);
            ExitCode::from(exit_code(&e))
        }
    }
}
