//! The `openrouter-pkce` binary: parse arguments, run, map the result to an exit code.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use openrouter_pkce::cli::config::{json_logs, wants_events};
use openrouter_pkce::cli::{Cli, Command};
use openrouter_pkce::{error::EXIT_INTERNAL, exit_code, logging};

fn main() -> ExitCode {
    // Known before parsing, so even a bad flag is reported as an `error` event.
    if std::env::args_os().any(|a| a == "--events") {
        openrouter_pkce::ui::use_events();
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    if wants_events(&cli) {
        openrouter_pkce::ui::use_events();
    }
    let default_level = match cli.command {
        Command::Serve(_) => "openrouter_pkce=info,warn",
        _ => "warn",
    };
    // Under --events, log lines are JSON too, so stderr stays one JSON object per line.
    logging::init(
        json_logs(&cli) || openrouter_pkce::ui::events(),
        default_level,
    );
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

/// clap's refusal of the command line: as clap prints it, or as one `error` event under
/// `--events` (help and version still print as text).
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let informational = matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion)
        || e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand;
    if !openrouter_pkce::ui::events() || informational {
        e.exit();
    }
    let text = e.kind().to_string();
    let detail = e.to_string();
    let message = detail
        .lines()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.trim_start_matches("error: ").to_owned())
        .unwrap_or(text);
    openrouter_pkce::ui::failed(&openrouter_pkce::Error::bad_input("command line", message));
    ExitCode::from(openrouter_pkce::error::EXIT_BAD_INPUT)
}
