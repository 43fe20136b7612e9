//! Diagnostics on stderr through tracing, filtered by `RUST_LOG` (default: warnings).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the stderr subscriber; `json` selects one JSON object per line. Without RUST_LOG,
/// `default` sets the level (the service logs flow events at info; one-shot commands only warn).
/// Colour only on a terminal, and never with `NO_COLOR` set (service managers capture stderr).
pub fn init(json: bool, default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour && !json)
        .with_target(true);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
