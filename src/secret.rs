//! Secret newtypes: values that must never reach a log line, an error message or a page.
//!
//! Each type wraps [`secrecy::SecretString`], so `Debug` prints `[REDACTED]`, there is no
//! `Display`, the memory is zeroed on drop, and the value is only reachable through
//! [`ExposeSecret::expose_secret`].

use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

macro_rules! secret_type {
    // `clone`: clap fills these from flags, and clap's typed values must be `Clone`.
    ($(#[$doc:meta])* clone $name:ident) => {
        secret_type!($(#[$doc])* $name);

        impl Clone for $name {
            fn clone(&self) -> Self {
                Self::new(self.secret())
            }
        }
    };
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        pub struct $name(SecretString);

        impl $name {
            /// Wraps a value that is secret from now on.
            pub fn new(value: impl Into<String>) -> Self {
                Self(SecretString::from(value.into()))
            }

            /// The secret value; callers must not log or display it.
            pub fn secret(&self) -> &str {
                self.0.expose_secret()
            }

            /// Compares with `other` in constant time (for values an attacker can guess at).
            #[allow(dead_code, reason = "made for every secret type; only some are compared")]
            pub fn ct_eq(&self, other: &str) -> bool {
                self.secret().as_bytes().ct_eq(other.as_bytes()).into()
            }
        }

        impl ExposeSecretStr for $name {
            fn exposed(&self) -> &str {
                self.secret()
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, concat!(stringify!($name), "([REDACTED])"))
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::convert::Infallible;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ok(Self::new(s))
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                String::deserialize(d).map(Self::new)
            }
        }
    };
}

/// For `#[serde(serialize_with = "secret::expose")]` on the few wire fields that must carry a
/// secret (the code bundle, the key): serializing is an explicit choice at each field.
pub fn expose<S: serde::Serializer>(
    value: &impl ExposeSecretStr,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(value.exposed())
}

/// Implemented by every secret type, for [`expose`].
pub trait ExposeSecretStr {
    /// The secret value.
    fn exposed(&self) -> &str;
}

secret_type!(
    /// The PKCE code verifier (RFC 7636 section 4.1).
    clone CodeVerifier
);
secret_type!(
    /// The single-use authorization code OpenRouter sends to the callback.
    clone AuthCode
);
secret_type!(
    /// The OAuth `state` value that ties a callback to the flow that started it.
    State
);
secret_type!(
    /// The unguessable path segment in the callback URL (`/callback/<nonce>`).
    Nonce
);
secret_type!(
    /// An OpenRouter API key, either the one a login produces or a management key.
    clone KeySecret
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted_for_every_secret_type() {
        let value = "sk-or-v1-very-secret-value";
        let rendered = [
            format!("{:?}", CodeVerifier::new(value)),
            format!("{:?}", AuthCode::new(value)),
            format!("{:?}", State::new(value)),
            format!("{:?}", Nonce::new(value)),
            format!("{:?}", KeySecret::new(value)),
        ];
        for text in rendered {
            assert!(!text.contains(value), "{text} leaks the secret");
            assert!(
                text.contains("REDACTED"),
                "{text} does not say it is redacted"
            );
        }
    }

    #[test]
    fn ct_eq_matches_only_the_exact_value() {
        let state = State::new("abc123");
        assert!(state.ct_eq("abc123"));
        assert!(!state.ct_eq("abc124"));
        assert!(!state.ct_eq("abc12"));
        assert!(!state.ct_eq(""));
    }
}
