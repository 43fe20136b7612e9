//! [`SavedKeys`]: the keys the `openrouter-pkce` program saves (one per profile, in the OS
//! keyring, or a file only the user can read), so an app and the CLI share one saved key.

use url::Url;

use crate::api::ApiKey;
use crate::error::{Error, Result};
use crate::keys::{self, Profile};

/// The saved-key store, the same one `openrouter-pkce login --save`, `key` and `logout` use.
///
/// Every call does blocking file and keyring I/O: from async code, call it inside
/// `tokio::task::spawn_blocking`.
///
/// ```no_run
/// use openrouter_pkce::SavedKeys;
///
/// match SavedKeys::load("default")? {
///     Some(saved) => println!("logged in as {:?}", saved.key().user_id()),
///     None => println!("no saved key: log in first"),
/// }
/// # Ok::<(), openrouter_pkce::Error>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct SavedKeys;

/// A key read back from the store, with where it came from.
#[derive(Debug, Clone)]
pub struct SavedKey {
    key: ApiKey,
    openrouter_url: Url,
    saved_at: String,
}

impl SavedKey {
    /// The key (and the OpenRouter user it belongs to).
    pub fn key(&self) -> &ApiKey {
        &self.key
    }

    /// The OpenRouter the key was issued by (its base URL).
    pub fn openrouter_url(&self) -> &str {
        self.openrouter_url.as_str()
    }

    /// When it was saved (RFC 3339).
    pub fn saved_at(&self) -> &str {
        &self.saved_at
    }
}

/// A profile name as the library's callers spell it.
fn profile(name: &str) -> Result<Profile> {
    Profile::new(name).map_err(|e| e.named("profile"))
}

impl SavedKeys {
    /// The profile used when none is named (the CLI's default).
    pub const DEFAULT_PROFILE: &'static str = keys::DEFAULT_PROFILE;

    /// The key saved under `profile`, or `None` when none is.
    ///
    /// # Errors
    /// [`Error::BadInput`] for a malformed profile name (1 to 64 of `A-Z a-z 0-9 . _ -`);
    /// [`Error::Internal`] when the store cannot be read or cannot be trusted (a directory
    /// others can write, a file another user owns).
    pub fn load(profile_name: &str) -> Result<Option<SavedKey>> {
        let profile = profile(profile_name)?;
        match keys::load(&profile) {
            Ok((key, saved)) => Ok(Some(SavedKey {
                key: ApiKey::from_parts(key, saved.user_id),
                openrouter_url: saved.openrouter_url,
                saved_at: saved.created_at,
            })),
            Err(Error::NotLoggedIn { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Saves `key` under `profile` as issued by `openrouter_url`, replacing what was there.
    /// The OS keyring is used where it answers; otherwise a 0600 file in the user's data
    /// directory.
    ///
    /// # Errors
    /// [`Error::BadInput`] for a malformed profile name or URL; [`Error::Internal`] when
    /// neither the keyring nor the file could take it.
    pub fn save(profile_name: &str, key: &ApiKey, openrouter_url: &str) -> Result<()> {
        let profile = profile(profile_name)?;
        let url = crate::input::parse_openrouter_url(openrouter_url)
            .map_err(|e| e.named("openrouter_url"))?;
        keys::save(
            &profile,
            key.secret(),
            key.user_id().map(str::to_owned),
            &url,
        )
        .map(drop)
    }

    /// Forgets the key saved under `profile`; `true` when there was one.
    ///
    /// # Errors
    /// As [`save`](SavedKeys::save).
    pub fn remove(profile_name: &str) -> Result<bool> {
        let profile = profile(profile_name)?;
        Ok(!matches!(keys::remove(&profile)?, keys::Removed::Nothing))
    }
}
