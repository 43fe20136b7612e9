//! The library's public face, re-exported at the crate root: [`Login`] for a whole login from
//! an app's own process, [`OpenRouter`] for the exchange and create-code calls on their own,
//! [`StandIn`] for an app's tests, and the [`Error`](crate::Error) every call returns.

mod login;
mod openrouter;
mod stand_in;

pub use login::{Browser, Events, Login, LoginBuilder};
pub use openrouter::{CodeRequest, OpenRouter, create_code, exchange};
pub use stand_in::{StandIn, StandInBuilder};

pub use crate::flow::scheme::SchemeChoice as CallbackScheme;
pub use crate::input::UsageLimitType;
pub use crate::openrouter::CodeBundle;
pub use crate::openrouter::standin::Consent;

/// An OpenRouter API key, and the user it belongs to. Its `Debug` never shows the key.
#[derive(Clone)]
pub struct ApiKey {
    key: crate::secret::ApiKey,
    user_id: Option<String>,
}

impl ApiKey {
    /// A key the app already holds (a management key for [`create_code`]).
    pub fn new(key: impl Into<String>) -> Self {
        Self {
            key: crate::secret::ApiKey::new(key),
            user_id: None,
        }
    }

    /// The key itself, to send as `Authorization: Bearer …` or store in the OS keyring. Keep it
    /// out of logs, command lines and error messages.
    pub fn expose_secret(&self) -> &str {
        self.key.secret()
    }

    /// The OpenRouter user the key belongs to, when OpenRouter said.
    pub fn user_id(&self) -> Option<&str> {
        self.user_id.as_deref()
    }

    pub(crate) fn from_response(response: crate::openrouter::KeyResponse) -> Self {
        Self {
            key: response.key,
            user_id: response.user_id,
        }
    }

    pub(crate) fn secret(&self) -> &crate::secret::ApiKey {
        &self.key
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("key", &"[redacted]")
            .field("user_id", &self.user_id)
            .finish()
    }
}
