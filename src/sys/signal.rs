//! Ctrl-C and SIGTERM, as one sticky event: the service stops on it, a login cancels on it.
//!
//! The handlers are installed once, as the command starts ([`install`]); a signal that arrives
//! while no one happens to be waiting is remembered, never lost between two waits.

use std::sync::OnceLock;

use tokio::sync::watch;

static INTERRUPTED: OnceLock<watch::Receiver<bool>> = OnceLock::new();

/// Starts listening for Ctrl-C (SIGINT) and SIGTERM. Call once, inside the runtime, first thing.
pub fn install() {
    INTERRUPTED.get_or_init(|| {
        let (tx, rx) = watch::channel(false);
        // Registered here, synchronously: from now on no signal takes the default action.
        let signals = register();
        tokio::spawn(async move {
            wait_for_signal(signals).await;
            let _ = tx.send(true);
            // Keep the sender alive so waiters see `true`, not a closed channel.
            std::future::pending::<()>().await;
        });
        rx
    });
}

/// Resolves once Ctrl-C or SIGTERM has arrived (at once if it already has); never, unless the
/// command-line program installed the handlers: a library must not take its host's signals
/// (an app embedding a login cancels it by dropping the future).
pub async fn interrupted() {
    let Some(rx) = INTERRUPTED.get() else {
        return std::future::pending().await;
    };
    let mut rx = rx.clone();
    let _ = rx.wait_for(|hit| *hit).await;
}

#[cfg(unix)]
type Signals = Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>;
/// Nothing to register ahead of time: Ctrl-C is taken when first awaited.
#[cfg(not(unix))]
struct Signals;

#[cfg(unix)]
fn register() -> Signals {
    use tokio::signal::unix::{SignalKind, signal};
    Some((
        signal(SignalKind::interrupt()).ok()?,
        signal(SignalKind::terminate()).ok()?,
    ))
}

#[cfg(not(unix))]
fn register() -> Signals {
    Signals
}

async fn wait_for_signal(signals: Signals) {
    #[cfg(unix)]
    {
        let Some((mut int, mut term)) = signals else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let Signals = signals;
        let _ = tokio::signal::ctrl_c().await;
    }
}
