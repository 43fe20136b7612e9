//! The OS keyring through the `keyring` crate: Secret Service on Linux and the BSDs (the
//! entry's attributes are `service=openrouter-pkce`, `username=<profile>`), Keychain on macOS,
//! Credential Manager on Windows.
//!
//! A keyring can hang (a locked collection waiting for a prompt nobody sees), so every call
//! runs on its own thread with a deadline; one that does not answer counts as unavailable.

use std::time::Duration;

use crate::keys::Profile;
use crate::secret::KeySecret;

/// What the person is told the key is in.
pub const NAME: &str = "system keyring";
/// The keyring entry's service name.
const SERVICE: &str = "openrouter-pkce";
/// How long one keyring call may take (an unlock prompt on a desktop included).
const DEADLINE: Duration = Duration::from_secs(30);

/// Why the keyring did not do what was asked.
#[derive(Debug, Clone)]
pub(super) struct Failure {
    /// In words, for the person.
    pub reason: String,
    /// It did not answer within the deadline (asking again would take as long).
    pub timed_out: bool,
}

/// Why a key could not be read from the keyring.
#[derive(Debug)]
pub(super) enum LoadError {
    /// The keyring has no such entry.
    Missing,
    /// The keyring did not answer, or failed.
    Unavailable(String),
}

impl Failure {
    fn other(reason: String) -> Self {
        Self {
            reason,
            timed_out: false,
        }
    }
}

/// Runs `f` on a thread of its own, giving up after [`DEADLINE`].
fn with_deadline<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, keyring::Error> + Send + 'static,
) -> Result<T, Failure> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("keyring".into())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .map_err(|e| Failure::other(e.to_string()))?;
    match rx.recv_timeout(DEADLINE) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(Failure::other(describe(&e))),
        Err(_) => Err(Failure {
            reason: format!(
                "the system keyring did not answer within {} s",
                DEADLINE.as_secs()
            ),
            timed_out: true,
        }),
    }
}

fn describe(e: &keyring::Error) -> String {
    let text = e.to_string();
    match e {
        keyring::Error::NoDefaultStore => {
            "no keyring service is running (no D-Bus session or Secret Service)".into()
        }
        _ if text.contains("dismissed") || text.to_ascii_lowercase().contains("locked") => {
            "the system keyring is locked (and could not be unlocked here)".into()
        }
        // The Secret Service's own words ("SS error: result not returned from SS API") mean
        // nothing to a person: say what is missing, keep the detail in brackets.
        keyring::Error::PlatformFailure(_) | keyring::Error::NoStorageAccess(_) => format!(
            "no keyring answered (is a desktop keyring such as GNOME Keyring or KWallet running and unlocked?) [{}]",
            crate::error::sanitize(&text, &[])
                .chars()
                .take(120)
                .collect::<String>()
        ),
        _ => text,
    }
}

/// Saves the key in the keyring.
pub(super) fn store(profile: &Profile, key: &KeySecret) -> Result<(), Failure> {
    let user = profile.name().to_owned();
    let secret = key.secret().to_owned();
    with_deadline(move || keyring::Entry::new(SERVICE, &user)?.set_password(&secret))
}

/// Reads the key from the keyring.
pub(super) fn load(profile: &Profile) -> Result<KeySecret, LoadError> {
    let user = profile.name().to_owned();
    let found = with_deadline(
        move || match keyring::Entry::new(SERVICE, &user)?.get_password() {
            Ok(secret) => Ok(Some(secret)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(e),
        },
    );
    match found {
        Ok(Some(secret)) => Ok(KeySecret::new(secret)),
        Ok(None) => Err(LoadError::Missing),
        Err(failure) => Err(LoadError::Unavailable(failure.reason)),
    }
}

/// Removes the key from the keyring (nothing there is fine).
pub(super) fn delete(profile: &Profile) -> Result<(), Failure> {
    let user = profile.name().to_owned();
    with_deadline(
        move || match keyring::Entry::new(SERVICE, &user)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(e),
        },
    )
}
