//! Diagnostics on stderr through tracing, filtered by `RUST_LOG` (default: warnings).

use tracing_subscriber::EnvFilter;

/// Installs the stderr subscriber; `json` selects one JSON object per line. Without RUST_LOG,
/// `default` sets the level (the service logs flow events at info; one-shot commands only warn).
pub fn init(json: bool, default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(true);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
