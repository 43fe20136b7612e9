//! OpenRouter's headless flow (`--headless`): no callback; the person approves on any device
//! and pastes the code OpenRouter shows. Needs no listener, so it never goes through a host.

use std::time::Duration;

use tokio::sync::mpsc;
use url::Url;

use crate::error::{Error, Result};
use crate::openrouter::{CodeBundle, authorize_url};
use crate::pkce::{self, ChallengeMethod};
use crate::report::{Event, Reporter, say};
use crate::secret::AuthCode;

/// Prints the URL, reads the code from stdin, and returns the bundle. `limit` and
/// `key_label` go on the URL, as OpenRouter's guide shows for this flow.
pub async fn authorize(
    reporter: &dyn Reporter,
    openrouter: &Url,
    timeout: Duration,
    limit: Option<f64>,
    key_label: Option<&str>,
) -> Result<CodeBundle> {
    let verifier = pkce::new_verifier();
    let challenge = pkce::challenge(&verifier, ChallengeMethod::S256);
    let mut url = authorize_url(openrouter, None, &challenge, ChallengeMethod::S256, None);
    if let Some(limit) = limit {
        url.query_pairs_mut()
            .append_pair("limit", &limit.to_string());
    }
    if let Some(label) = key_label {
        url.query_pairs_mut().append_pair("key_label", label);
    }
    reporter.event(&Event::AuthorizeUrl {
        url: url.to_string(),
        expires_at: (time::OffsetDateTime::now_utc() + timeout)
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
    });
    if reporter.prose() {
        say!(
            reporter,
            "Open this URL in a browser on any machine and approve:\n\n  {url}\n"
        );
        say!(
            reporter,
            "Then paste the code OpenRouter shows here and press Enter:"
        );
    }
    let (tx, mut rx) = mpsc::channel::<AuthCode>(1);
    // A blocking read cannot be cancelled; the thread ends with the process.
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { return };
            if !line.trim().is_empty() {
                let _ = tx.blocking_send(AuthCode::new(line.trim()));
                return;
            }
        }
    });
    let code = tokio::select! {
        line = rx.recv() => line.ok_or_else(|| Error::bad_input("code", "a code pasted on stdin (stdin was closed)"))?,
        () = tokio::time::sleep(timeout) => return Err(Error::TimedOut { seconds: timeout.as_secs() }),
        () = crate::sys::signal::interrupted() => return Err(Error::Interrupted),
    };
    CodeBundle::new(code, Some(verifier), Some(ChallengeMethod::S256), None)
}
