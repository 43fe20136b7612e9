//! The `openrouter-pkce` program, for the binary's [`main`]: clap's arguments (`args`), the
//! typed configuration built from them once (`config`), the dispatcher (`run`) and the
//! commands. Apps embedding a login use the crate root's API instead.

pub(crate) mod args;
pub(crate) mod config;
pub(crate) mod exec;
pub(crate) mod hints;
pub(crate) mod keys;
pub(crate) mod logging;
pub(crate) mod login;
pub(crate) mod output;
pub(crate) mod run;
pub(crate) mod scheme;
pub(crate) mod serve;
pub(crate) mod terminal;
pub(crate) mod tools;

pub(crate) use args::{Cli, Command};
pub(crate) use run::run;

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;

use crate::cli::config::{json_logs, wants_events};
use crate::cli::terminal::Terminal;
use crate::error::{EXIT_INTERNAL, exit_code};
use crate::openrouter::AppAttribution;

/// What every command is handed: the one reporter that speaks to the person (or, under
/// `--events`, to the app reading stderr), and who is asking OpenRouter.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    /// stderr, in prose or events.
    pub term: Arc<Terminal>,
    /// `--app-name`/`--app-url`, sent with every OpenRouter request.
    pub app: AppAttribution,
}

/// The `openrouter-pkce` program: parses the process's arguments, runs the command, and
/// returns its exit code (0 on success; the README lists the others).
pub fn main() -> ExitCode {
    // A person (or an app reading stderr) is told what happens; the library alone says nothing.
    let term = Arc::new(Terminal::prose());
    // Known before parsing, so even a bad flag is reported as an `error` event.
    if std::env::args_os().any(|a| a == "--events") {
        term.use_events();
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e, &term),
    };
    if wants_events(&cli) {
        term.use_events();
    }
    let hint_context = match cli.command {
        Command::Login(_) | Command::Authorize(_) => hints::Context::Login,
        _ => hints::Context::Other,
    };
    let default_level = match cli.command {
        Command::Serve(_) => "openrouter_pkce=info,warn",
        _ => "warn",
    };
    // Under --events, log lines are JSON too, so stderr stays one JSON object per line.
    logging::init(json_logs(&cli) || term.events(), default_level);
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
    let ctx = Ctx {
        term: term.clone(),
        app: config::app_attribution(&cli).unwrap_or_default(),
    };
    match runtime.block_on(run(cli, &ctx)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            term.failed(&e, hint_context);
            ExitCode::from(exit_code(&e))
        }
    }
}

/// clap's refusal of the command line: as clap prints it, or as one `error` event under
/// `--events` (help and version still print as text).
fn usage_error(e: clap::Error, term: &Terminal) -> ExitCode {
    use clap::error::ErrorKind;
    let informational = matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion)
        || e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand;
    if !term.events() || informational {
        e.exit();
    }
    let text = e.kind().to_string();
    let detail = e.to_string();
    let message = detail
        .lines()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.trim_start_matches("error: ").to_owned())
        .unwrap_or(text);
    term.failed(
        &crate::Error::bad_input("command line", message),
        hints::Context::Other,
    );
    ExitCode::from(crate::error::EXIT_BAD_INPUT)
}
