//! Dispatch: build the configuration once, then run the one command it names.

use crate::cli::config::Config;
use crate::cli::{Cli, Ctx};
use crate::cli::{exec, keys, login, serve, tools};
use crate::error::Result;

/// Runs one command to completion.
pub async fn run(cli: Cli, ctx: &Ctx) -> Result<()> {
    crate::sys::signal::install();
    match Config::from_cli(cli, ctx)? {
        Config::Login(config) => login::login(config, ctx).await,
        Config::Exchange(config) => login::exchange(config, ctx).await,
        Config::CreateCode(config) => login::create_code(config, ctx).await,
        Config::Demo { port, config_dir } => login::demo(port, config_dir, ctx).await,
        Config::SavedKey { action, profile } => keys::run(action, profile, ctx).await,
        Config::Exec { profile, command } => exec::run(profile, command).await,
        Config::Profiles => keys::profiles(ctx).await,
        Config::Serve(config) => serve::serve(config, ctx).await,
        Config::Service(config) => serve::service_action(config, ctx).await,
        Config::Trust {
            action,
            user_only,
            regenerate,
            config_dir,
        } => tools::trust(action, user_only, regenerate, config_dir, ctx).await,
        Config::MockServer { port, options } => tools::mock_server(port, options, ctx).await,
        Config::Completions(shell) => tools::completions(shell),
        Config::Man { page, list } => tools::man(page.as_deref(), list),
    }
}
