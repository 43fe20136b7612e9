//! Diagnostics on stderr through tracing, filtered by `RUST_LOG` (default: warnings).

use std::io::IsTerminal;

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Installs the stderr subscriber; `json` selects one JSON object per line. Without RUST_LOG,
/// `default` sets the level (the service logs flow events at info; one-shot commands only warn).
/// Colour only on a terminal, and never with `NO_COLOR` set (service managers capture stderr).
///
/// `RUST_LOG` takes `target=level` directives and a bare level (`openrouter_pkce=debug,warn`):
/// tracing-subscriber's `Targets`, not its regex-based `EnvFilter`, which would add a regex
/// engine to the binary for span-field filters nobody needs here. A value that does not parse
/// falls back to the default.
pub fn init(json: bool, default: &str) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|spec| spec.parse::<Targets>().ok())
        .unwrap_or_else(|| default.parse().unwrap_or_default());
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(colour && !json)
        .with_target(true);
    let registry = tracing_subscriber::registry().with(filter);
    let _ = if json {
        registry.with(fmt.json()).try_init()
    } else {
        registry.with(fmt).try_init()
    };
}
