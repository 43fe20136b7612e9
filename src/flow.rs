//! One login's secrets and URLs: verifier, challenge, state, nonce, callback and authorize URL.
//! The one-shot commands and the service both start their logins here.

use url::Url;

use crate::openrouter::{CodeBundle, authorize_url};
use crate::pkce::{self, ChallengeMethod};
use crate::secret::{AuthCode, CodeVerifier, Nonce, State};

/// `http` or `https` for the callback URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallbackScheme {
    /// TLS with the local (or user-supplied) certificate; the default.
    Https,
    /// Plain HTTP, for browsers or setups where the local CA cannot be trusted.
    Http,
}

impl CallbackScheme {
    /// `https` or `http`.
    pub fn as_str(self) -> &'static str {
        match self {
            CallbackScheme::Https => "https",
            CallbackScheme::Http => "http",
        }
    }
}

/// Where OpenRouter sends the browser back to: scheme, loopback host name and port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallbackBase {
    /// http or https.
    pub scheme: CallbackScheme,
    /// `localhost` or `127.0.0.1`.
    pub host: String,
    /// The listener's port.
    pub port: u16,
}

impl CallbackBase {
    /// `{scheme}://{host}:{port}/callback/{nonce}`.
    pub fn url_for(&self, nonce: &Nonce) -> Url {
        let text = format!(
            "{}://{}:{}/callback/{}",
            self.scheme.as_str(),
            self.host,
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

    /// The bundle for `code`, which the callback delivered for this flow.
    pub fn bundle(&self, code: AuthCode) -> CodeBundle {
        CodeBundle {
            code,
            code_verifier: self.verifier.clone(),
            code_challenge_method: ChallengeMethod::S256,
            callback_url: Some(self.callback_url.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorize_url_binds_callback_nonce_state_and_challenge() {
        let base = Url::parse("https://openrouter.ai/").unwrap();
        let cb = CallbackBase {
            scheme: CallbackScheme::Https,
            host: "localhost".into(),
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
