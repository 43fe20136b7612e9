//! [`StandIn`]: the offline OpenRouter of `openrouter-pkce mock-server`, inside an app's tests.

use std::time::Duration;

use url::Url;

use crate::api::Consent;
use crate::error::{Error, Result};
use crate::openrouter::stand_in::{self, StandInOptions};

/// An offline OpenRouter on a free loopback port: the consent page, the key exchange,
/// create-code and `GET /api/v1/key`, with OpenRouter's checks and error bodies. It stops when
/// dropped.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> openrouter_pkce::Result<()> {
/// use openrouter_pkce::{Consent, StandIn};
///
/// let approving = StandIn::start().await?;
/// let denying = StandIn::builder().consent(Consent::AutoDeny).start().await?;
/// assert_ne!(approving.url(), denying.url());
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct StandIn {
    url: Url,
    task: tokio::task::JoinHandle<()>,
}

impl StandIn {
    /// The management key the stand-in's create-code accepts.
    pub const MANAGEMENT_KEY: &'static str = stand_in::DEFAULT_MANAGEMENT_KEY;

    /// A stand-in that approves every login at once.
    ///
    /// # Errors
    /// [`Error::Internal`] when no loopback port can be bound.
    pub async fn start() -> Result<Self> {
        Self::builder().start().await
    }

    /// A stand-in set up to act out what a test needs: a denial, failing exchanges, a slow
    /// OpenRouter.
    pub fn builder() -> StandInBuilder {
        StandInBuilder {
            options: StandInOptions {
                consent: Consent::AutoApprove,
                ..StandInOptions::default()
            },
        }
    }

    /// Its base URL, for [`LoginBuilder::openrouter_url`](crate::LoginBuilder::openrouter_url)
    /// and [`OpenRouter::new`](crate::OpenRouter::new).
    pub fn url(&self) -> &str {
        self.url.as_str()
    }

    /// Follows `authorize_url` as a person's browser would (the consent page, then the
    /// redirect to the login's callback): what an app's test does with the URL from
    /// [`Event::AuthorizeUrl`](crate::Event::AuthorizeUrl). For an http callback (an https one
    /// needs [`Browser::BuiltIn`](crate::Browser::BuiltIn), which trusts the local CA).
    ///
    /// # Errors
    /// [`Error::Unreachable`] when the consent page or the callback did not answer.
    pub async fn approve(&self, authorize_url: &str) -> Result<()> {
        let client = tokio::task::spawn_blocking(|| crate::openrouter::browser_like_client(None))
            .await
            .map_err(|e| Error::internal("building the HTTP client", e))??;
        client
            .get(authorize_url)
            .send()
            .await
            .map_err(|e| Error::Unreachable {
                context: "following the consent page".to_owned(),
                source: Box::new(e.without_url()),
            })?;
        Ok(())
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Sets up a [`StandIn`].
#[derive(Debug, Clone)]
#[must_use]
pub struct StandInBuilder {
    options: StandInOptions,
}

impl StandInBuilder {
    /// What the consent page does (default: [`Consent::AutoApprove`]).
    pub fn consent(mut self, consent: Consent) -> Self {
        self.options.consent = consent;
        self
    }

    /// Answers the first `count` exchanges with HTTP `status` (a 5xx), as a failing
    /// OpenRouter would.
    ///
    /// # Errors
    /// [`Error::BadInput`] when `status` is not a 5xx.
    pub fn fail_exchanges(mut self, count: u32, status: u16) -> Result<Self> {
        if !(500..=599).contains(&status) {
            return Err(Error::bad_input(
                "fail_exchanges status",
                "a 5xx HTTP status",
            ));
        }
        self.options.fail_exchanges = count;
        self.options.fail_status = status;
        Ok(self)
    }

    /// Answers the first `count` valid create-code requests with HTTP `status` (any 4xx or
    /// 5xx: a 409 or a 500, then success, is what an app's retry meets).
    ///
    /// # Errors
    /// [`Error::BadInput`] when `status` is not a 4xx or 5xx.
    pub fn fail_create_codes(mut self, count: u32, status: u16) -> Result<Self> {
        if !(400..=599).contains(&status) {
            return Err(Error::bad_input(
                "fail_create_codes status",
                "a 4xx or 5xx HTTP status",
            ));
        }
        self.options.fail_create_codes = count;
        self.options.fail_create_status = status;
        Ok(self)
    }

    /// Sends the exchange's `user_id` as `null`, as OpenRouter's schema allows (required but
    /// nullable): an app must cope with a key whose user is not named.
    pub fn null_user_id(mut self, null: bool) -> Self {
        self.options.null_user_id = null;
        self
    }

    /// Sends `state` back on the redirect, as OpenRouter does not document doing (an app
    /// must log in either way).
    pub fn echo_state(mut self, echo: bool) -> Self {
        self.options.echo_state = echo;
        self
    }

    /// Makes every exchange take this long.
    pub fn exchange_delay(mut self, delay: Duration) -> Self {
        self.options.exchange_delay = delay;
        self
    }

    /// Starts it on a free loopback port.
    ///
    /// # Errors
    /// [`Error::Internal`] when no loopback port can be bound.
    pub async fn start(self) -> Result<StandIn> {
        let (url, task) = stand_in::start(0, self.options).await?;
        Ok(StandIn { url, task })
    }
}
