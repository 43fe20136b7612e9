//! Getting the authorize URL to the person: their browser, the terminal, or a built-in client
//! that plays the browser (`demo`); and reading an address they paste back on the terminal.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use url::Url;

use crate::error::{Error, Result};
use crate::flow::StartedFlow;
use crate::flow::pending::{CallbackParams, PendingFlows, Rejection};
use crate::flow::progress::Progress;
use crate::report::{Reporter, say};
use std::sync::Arc;

/// How the authorize URL gets to a browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presenter {
    /// `$BROWSER` or the platform opener; the URL is printed if neither starts.
    Browser,
    /// Print the URL only (`--no-browser`).
    PrintOnly,
    /// A built-in HTTP client follows the URL as a browser would, trusting the local CA
    /// (the `demo` command, against an auto-approving stand-in).
    BuiltInClient,
}

/// Sends the login's URL to a browser (and always shows it), or to the built-in client.
pub async fn show(
    started: &StartedFlow,
    expires_at: time::OffsetDateTime,
    presenter: Presenter,
    ca_cert: Option<PathBuf>,
    progress: &Progress,
) -> Result<()> {
    let url = &started.authorize_url;
    match presenter {
        Presenter::Browser => {
            // Always shown: a browser command can start and still show nothing (a sandboxed
            // browser refusing the local page, no display over SSH). The terminal is the
            // person's own; only command lines are visible to other users.
            progress.authorize_url(url, expires_at, true);
            let url = url.clone();
            let progress = progress.clone();
            // Opening may block (xdg-open) or fail; the wait for the callback starts regardless.
            // The redirect page lives until the login ends.
            tokio::spawn(async move {
                let (opened, page) = crate::sys::browser::open_private(url.as_str()).await;
                progress.browser(opened);
                if let Some(page) = page {
                    progress.keep_page(page);
                }
            });
        }
        Presenter::PrintOnly => progress.authorize_url(url, expires_at, false),
        Presenter::BuiltInClient => {
            progress.authorize_url_event(url, expires_at);
            // Made before anything waits on it: a client that cannot start ends the login at
            // once instead of leaving it to time out.
            let client = tokio::task::spawn_blocking(move || {
                crate::openrouter::browser_like_client(ca_cert.as_deref().map(Path::new))
            })
            .await
            .map_err(|e| Error::internal("starting the built-in client", e))?
            .map_err(|e| Error::internal("starting the built-in client", e))?;
            let url = url.clone();
            let reporter = progress.reporter().clone();
            say!(
                reporter,
                "The built-in client is playing the browser: following the consent page..."
            );
            tokio::spawn(async move {
                if let Err(e) = client.get(url).send().await {
                    say!(
                        reporter,
                        "The built-in client could not follow the login: {}",
                        crate::error::root_cause(&e)
                    );
                }
            });
        }
    }
    Ok(())
}

/// On a terminal, reads pasted redirect URLs and delivers them like a browser request (the
/// command-line program only: a library never reads its host's stdin).
pub fn offer_paste(flows: PendingFlows, reporter: Arc<dyn Reporter>) {
    if !reporter.reads_terminal() || !std::io::stdin().is_terminal() {
        return;
    }
    say!(
        reporter,
        "If your browser is on another machine, paste the address it ends up on here."
    );
    // A blocking read cannot be cancelled; the thread ends with the process.
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { return };
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let params = Url::parse(line)
                .ok()
                .and_then(|u| CallbackParams::from_url(&u));
            let Some(params) = params else {
                say!(
                    reporter,
                    "That is not a callback URL (it should contain /callback/). Paste the whole address."
                );
                continue;
            };
            match flows.deliver(&params) {
                Ok(_) => return,
                Err(Rejection::MissingCode) => say!(reporter, "That URL has no code in it."),
                Err(_) => say!(reporter, "That URL does not belong to this login."),
            }
        }
    });
}
