//! The one login driver: start the flow on a host, present the URL, wait with a deadline, and
//! cancel the flow on every way out but success. The one-shot commands run it against the
//! in-process host, and the CLI against a running service through the same [`FlowHost`].

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use tokio::time::Instant;

use crate::error::{Error, Result};
use crate::flow::pending::PendingFlows;
use crate::flow::present::{self, Presenter};
use crate::flow::progress::Progress;
use crate::flow::{FlowResult, FlowSpec, StartedFlow};

/// Something that runs logins: the in-process host (one flow, its own listener) or a running
/// service reached over its control API. A flag is honoured by both or refused by both.
pub trait FlowHost {
    /// Starts a login; fails fast (before any browser opens) when the host cannot honour `spec`.
    fn start(
        &self,
        spec: FlowSpec,
        deadline: Instant,
    ) -> impl Future<Output = Result<StartedFlow>> + Send;

    /// Waits for the login's outcome until `deadline`, telling `progress` each step.
    fn wait(
        &self,
        flow: &StartedFlow,
        deadline: Instant,
        progress: &Progress,
    ) -> impl Future<Output = Result<FlowResult>> + Send;

    /// Ends the login so no callback can complete it any more (bounded; best effort).
    fn cancel(&self, flow: &StartedFlow) -> impl Future<Output = ()> + Send;

    /// Where an address pasted on the terminal can be delivered, if this host can take one.
    fn paste_target(&self) -> Option<PendingFlows> {
        None
    }

    /// The local CA the host's listener serves, for the built-in client that plays the browser.
    fn ca_cert(&self) -> Option<PathBuf> {
        None
    }
}

/// When a whole command must be done: `--timeout` counts from the start of the command.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    /// The instant.
    pub at: Instant,
    /// The timeout it was made from, for the "timed out after N s" message.
    pub total: Duration,
}

impl Deadline {
    /// `total` from now.
    pub fn after(total: Duration) -> Self {
        Self {
            at: Instant::now() + total,
            total,
        }
    }
}

/// Runs one whole login on `host`: the single place a login is started, presented, awaited
/// and reported, whichever host runs it.
pub async fn run<H: FlowHost>(
    host: &H,
    spec: FlowSpec,
    presenter: Presenter,
    deadline: Deadline,
    progress: &Progress,
) -> Result<FlowResult> {
    let started = tokio::select! {
        started = host.start(spec, deadline.at) => started?,
        () = crate::sys::signal::interrupted() => return Err(Error::Interrupted),
    };
    progress.listening(&started.callback);
    let outcome = tokio::select! {
        outcome = present_and_wait(host, &started, presenter, deadline.at, progress) => outcome,
        () = crate::sys::signal::interrupted() => Err(Error::Interrupted),
    };
    let callback_came = matches!(outcome, Ok(_) | Err(Error::Denied { .. }));
    progress.ended(callback_came, outcome.is_ok());
    match outcome {
        Ok(result) => Ok(result),
        Err(e) => {
            // Timed out, interrupted, refused: the flow must not stay live for a tab to complete.
            host.cancel(&started).await;
            Err(match e {
                Error::TimedOut { .. } => Error::TimedOut {
                    seconds: deadline.total.as_secs(),
                },
                Error::ExchangeTimedOut { .. } => Error::ExchangeTimedOut {
                    seconds: deadline.total.as_secs(),
                },
                other => other,
            })
        }
    }
}

async fn present_and_wait<H: FlowHost>(
    host: &H,
    started: &StartedFlow,
    presenter: Presenter,
    deadline: Instant,
    progress: &Progress,
) -> Result<FlowResult> {
    // The login ends at the flow's expiry or the command's deadline, whichever comes first
    // (a service's flows may outlive a short --timeout).
    let left = deadline.saturating_duration_since(Instant::now());
    let expires_at = started
        .expires_at
        .min(time::OffsetDateTime::now_utc() + left);
    present::show(started, expires_at, presenter, host.ca_cert(), progress).await?;
    if let Some(flows) = host.paste_target() {
        present::offer_paste(flows, progress.reporter().clone());
    }
    if presenter != Presenter::BuiltInClient {
        progress.waiting(deadline.into_std());
    }
    host.wait(started, deadline, progress).await
}
