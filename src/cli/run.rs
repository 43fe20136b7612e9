//! Dispatch: build the configuration once, then run the one command it names.

use crate::cli::Cli;
use crate::cli::config::Config;
use crate::cli::{keys, login, serve, tools};
use crate::error::Result;

/// Runs one command to completion.
pub async fn run(cli: Cli) -> Result<()> {
    crate::sys::signal::install();
    match Config::from_cli(cli)? {
        Config::Login(config) => login::login(config).await,
        Config::Exchange(config) => login::exchange(config).await,
        Config::CreateCode(config) => login::create_code(config).await,
        Config::Demo { port, config_dir } => login::demo(port, config_dir).await,
        Config::SavedKey { action, profile } => keys::run(action, profile).await,
        Config::Serve(config) => serve::serve(config).await,
        Config::Service(config) => serve::service_action(config).await,
        Config::Trust {
            action,
            user_only,
            regenerate,
            config_dir,
        } => tools::trust(action, user_only, regenerate, config_dir).await,
        Config::MockServer { port, options } => tools::mock_server(port, options).await,
        Config::Completions(shell) => tools::completions(shell),
        Config::Man => tools::man(),
    }
}
