//! The library's public face, re-exported at the crate root: [`Login`] for a whole login from
//! an app's own process, [`OpenRouter`] for the exchange and create-code calls on their own,
//! `StandIn` for an app's tests, `SavedKeys` for the key the CLI saved, and the
//! [`Error`](crate::Error) every call returns.

mod login;
mod openrouter;
#[cfg(feature = "keyring")]
mod saved;
#[cfg(feature = "stand-in")]
mod stand_in;

pub use login::{Browser, Events, Login, LoginBuilder};
pub use openrouter::{CodeRequest, OpenRouter, create_code, exchange};
#[cfg(feature = "keyring")]
pub use saved::{SavedKey, SavedKeys};
#[cfg(feature = "stand-in")]
pub use stand_in::{StandIn, StandInBuilder};

pub use crate::flow::scheme::CallbackScheme;
pub use crate::input::UsageLimitType;
pub use crate::openrouter::CodeBundle;
#[cfg(feature = "stand-in")]
pub use crate::openrouter::stand_in::Consent;

/// An OpenRouter API key, and the user it belongs to. Its `Debug` never shows the key.
#[derive(Clone)]
pub struct ApiKey {
    key: crate::secret::KeySecret,
    user_id: Option<String>,
}

impl ApiKey {
    /// A key the app already holds (a management key for [`create_code`]).
    pub fn new(key: impl Into<String>) -> Self {
        Self {
            key: crate::secret::KeySecret::new(key),
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

    #[cfg(feature = "keyring")]
    pub(crate) fn from_parts(key: crate::secret::KeySecret, user_id: Option<String>) -> Self {
        Self { key, user_id }
    }

    pub(crate) fn from_response(response: crate::openrouter::KeyResponse) -> Self {
        Self {
            key: response.key,
            user_id: response.user_id,
        }
    }

    pub(crate) fn secret(&self) -> &crate::secret::KeySecret {
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
