//! A login: its secrets and URLs ([`Flow`]), the table that runs many of them ([`engine`]), the
//! one driver every host runs ([`driver`]), and the in-process host of the one-shot commands.
//!
//! The one-shot commands and the service both start, await and exchange their logins here.

pub mod callback;
pub mod driver;
pub mod engine;
#[cfg(feature = "cli")]
pub mod headless;
pub mod local;
pub mod pending;
pub mod present;
pub mod progress;
pub mod scheme;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use url::Url;

use crate::openrouter::{CodeBundle, KeyResponse, authorize_url};
use crate::pkce::{self, ChallengeMethod};
use crate::secret::{AuthCode, CodeVerifier, Nonce, State};

/// `http` or `https` for the callback URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum UrlScheme {
    /// TLS with the local (or user-supplied) certificate; the default.
    Https,
    /// Plain HTTP, for browsers or setups where the local CA cannot be trusted.
    Http,
}

impl UrlScheme {
    /// `https` or `http`.
    pub fn as_str(self) -> &'static str {
        match self {
            UrlScheme::Https => "https",
            UrlScheme::Http => "http",
        }
    }
}

/// The host name in the callback URL; both reach the loopback listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum CallbackHost {
    /// `localhost` (the default: what OpenRouter's guide shows).
    #[serde(rename = "localhost")]
    #[cfg_attr(feature = "cli", value(name = "localhost"))]
    Localhost,
    /// `127.0.0.1`, for browsers that resolve localhost oddly.
    #[serde(rename = "127.0.0.1")]
    #[cfg_attr(feature = "cli", value(name = "127.0.0.1"))]
    Ipv4Loopback,
}

impl CallbackHost {
    /// The name as it appears in the URL.
    pub fn as_str(self) -> &'static str {
        match self {
            CallbackHost::Localhost => "localhost",
            CallbackHost::Ipv4Loopback => "127.0.0.1",
        }
    }
}

/// Where OpenRouter sends the browser back to: scheme, loopback host name and port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallbackBase {
    /// http or https.
    pub scheme: UrlScheme,
    /// `localhost` or `127.0.0.1`.
    pub host: CallbackHost,
    /// The listener's port.
    pub port: u16,
}

impl CallbackBase {
    /// `{scheme}://{host}:{port}/callback/{nonce}`.
    pub fn url_for(&self, nonce: &Nonce) -> Url {
        let text = format!(
            "{}://{}:{}/callback/{}",
            self.scheme.as_str(),
            self.host.as_str(),
            self.port,
            nonce.secret()
        );
        Url::parse(&text).expect("scheme, loopback host, port and a base64url nonce form a URL")
    }
}

/// A login in progress: its secrets and the URL to send the person to.
pub struct Flow {
    /// The PKCE verifier, kept until the exchange.
    pub verifier: CodeVerifier,
    /// The OAuth state sent with the authorize request.
    pub state: State,
    /// The secret path segment of the callback URL.
    pub nonce: Nonce,
    /// The callback URL sent to OpenRouter.
    pub callback_url: Url,
    /// OpenRouter's consent page for this login (contains the state: do not log).
    pub authorize_url: Url,
}

impl std::fmt::Debug for Flow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flow").finish_non_exhaustive()
    }
}

impl Flow {
    /// A fresh login against `openrouter` whose callback comes back to `callback`.
    pub fn new(openrouter: &Url, callback: &CallbackBase) -> Self {
        let verifier = pkce::new_verifier();
        let state = pkce::new_state();
        let nonce = pkce::new_nonce();
        let callback_url = callback.url_for(&nonce);
        let challenge = pkce::challenge(&verifier, ChallengeMethod::S256);
        let authorize_url = authorize_url(
            openrouter,
            Some(&callback_url),
            &challenge,
            ChallengeMethod::S256,
            Some(&state),
        );
        Self {
            verifier,
            state,
            nonce,
            callback_url,
            authorize_url,
        }
    }

    /// Splits off the nonce and state (for the callback registry, which is their only holder
    /// from here on) from what waits for the code.
    pub fn into_parts(self) -> (Nonce, State, AwaitingCode) {
        let awaiting = AwaitingCode {
            verifier: self.verifier,
            callback_url: self.callback_url,
        };
        (self.nonce, self.state, awaiting)
    }
}

/// The part of a flow that waits for its code: the verifier and the callback URL.
pub struct AwaitingCode {
    verifier: CodeVerifier,
    callback_url: Url,
}

impl std::fmt::Debug for AwaitingCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwaitingCode").finish_non_exhaustive()
    }
}

impl AwaitingCode {
    /// The bundle for `code`, which the callback delivered for this flow.
    pub fn into_bundle(self, code: AuthCode) -> CodeBundle {
        CodeBundle {
            code,
            code_verifier: Some(self.verifier),
            code_challenge_method: Some(ChallengeMethod::S256),
            callback_url: Some(self.callback_url.to_string()),
        }
    }
}

/// What a caller asks of one login, on either host.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlowSpec {
    /// Redeem the code in the host and hand back the key (`login`), or hand back the code
    /// bundle (`authorize`).
    pub exchange: bool,
    /// The callback URL's scheme.
    pub scheme: UrlScheme,
    /// The callback URL's host name.
    pub host: CallbackHost,
    /// A credit limit for the key, sent on OpenRouter's `/auth` (as OpenRouter's SDK does).
    pub limit: Option<f64>,
}

/// The step a running login is at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Waiting for the person to approve in the browser.
    Waiting,
    /// The browser came back with a code; it is being redeemed for a key.
    Exchanging,
}

impl Stage {
    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Waiting => "waiting",
            Stage::Exchanging => "exchanging",
        }
    }
}

/// A login a host has started: its id and the URL to send the person to.
pub struct StartedFlow {
    /// The host's id for the flow.
    pub id: String,
    /// Where the callback comes back to (the scheme the host settled on).
    pub callback: CallbackBase,
    /// OpenRouter's consent page for this login (carries the state: never logged).
    pub authorize_url: Url,
    /// When the host gives up on the callback.
    pub expires_at: OffsetDateTime,
}

impl std::fmt::Debug for StartedFlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StartedFlow")
            .field("id", &self.id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// What a finished login hands back.
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FlowResult {
    /// `exchange: true`: the key.
    Key(KeyResponse),
    /// `exchange: false`: the code bundle.
    Bundle(CodeBundle),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorize_url_binds_callback_nonce_state_and_challenge() {
        let base = Url::parse("https://openrouter.ai/").unwrap();
        let cb = CallbackBase {
            scheme: UrlScheme::Https,
            host: CallbackHost::Localhost,
            port: 3000,
        };
        let flow = Flow::new(&base, &cb);
        let q: std::collections::HashMap<_, _> =
            flow.authorize_url.query_pairs().into_owned().collect();
        assert_eq!(flow.authorize_url.path(), "/auth");
        assert_eq!(
            q["callback_url"],
            format!("https://localhost:3000/callback/{}", flow.nonce.secret())
        );
        assert_eq!(q["state"], flow.state.secret());
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(
            q["code_challenge"],
            pkce::challenge(&flow.verifier, ChallengeMethod::S256)
        );
        assert!(!format!("{flow:?}").contains(flow.state.secret()));
    }
}
