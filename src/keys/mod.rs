//! Saved keys, the way `gh` keeps its token: one per profile, in the OS keyring (Secret
//! Service, Keychain, Credential Manager), or where no keyring answers, in a file only the user
//! can read, which we say plainly. Next to it, the profile's non-secret metadata (who, when,
//! which OpenRouter, where the key is), so `status` and `logout` can answer without the key.
//!
//! Layout in the data dir (`$XDG_DATA_HOME/openrouter-pkce`, a 0700 directory):
//! `profiles/<name>.json` (metadata, 0600) and, for the file fallback, `profiles/<name>.key`
//! (the key, 0600, written atomically).

mod file;
mod keyring;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{Error, Result};
use crate::secret::KeySecret;

/// The profile used when none is named.
pub const DEFAULT_PROFILE: &str = "default";
/// The profile a stand-in key goes to when `--save` names none, so a pretend key never lands
/// on a real one.
pub const STAND_IN_PROFILE: &str = "stand-in";

/// A checked profile name: 1 to 64 of `A-Z a-z 0-9 . _ -`, not starting with a dot (it names
/// files and keyring entries).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile(String);

impl Profile {
    /// Checks `name`.
    pub fn new(name: &str) -> Result<Self> {
        let ok = (1..=64).contains(&name.len())
            && !name.starts_with(['.', '-'])
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if ok {
            Ok(Self(name.to_owned()))
        } else {
            Err(Error::bad_input(
                "--profile",
                "1 to 64 letters, digits, '.', '_' or '-', not starting with '.' or '-'",
            ))
        }
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a profile's key is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Storage {
    /// The OS keyring.
    Keyring,
    /// A 0600 file (no keyring answered).
    File {
        /// The file.
        path: PathBuf,
    },
}

impl std::fmt::Display for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Storage::Keyring => write!(f, "the {}", keyring::NAME),
            Storage::File { path } => write!(f, "the file {}", path.display()),
        }
    }
}

/// A profile's metadata: nothing secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Saved {
    /// The profile's name.
    pub profile: String,
    /// The OpenRouter user the key belongs to, when OpenRouter said.
    pub user_id: Option<String>,
    /// When the key was saved (RFC 3339).
    pub created_at: String,
    /// The OpenRouter the key came from (and `status` asks).
    pub openrouter_url: Url,
    /// Where the key is.
    pub storage: Storage,
    /// An older copy may remain in the keyring (a later save fell back to the file and could
    /// not remove it); `logout` tries again.
    #[serde(default)]
    pub keyring_copy: bool,
}

/// What [`save`] did.
#[derive(Debug)]
pub struct SaveReport {
    /// The metadata now on disk.
    pub saved: Saved,
    /// Why the keyring was not used, when the key went to a file.
    pub keyring_unavailable: Option<String>,
}

/// The profiles directory, created private if needed. It (and the data dir above it) must be a
/// real directory of ours that nobody else can reach: a directory others could write lets them
/// swap the metadata (and so where `status` sends the key). One that is, or ever was, open to
/// others is refused, never quietly made private again: what it holds may already be planted.
fn profiles_dir() -> Result<PathBuf> {
    let data = crate::sys::paths::data_dir()?;
    let dir = data.join("profiles");
    crate::sys::files::create_private_dir(&dir)?;
    for d in [&data, &dir] {
        refuse_unless_private(d, "not saving keys in")?;
    }
    Ok(dir)
}

/// The profiles directory for reading: it must exist as [`profiles_dir`] makes it (`None` when
/// it does not exist at all), and is not repaired: files in a directory others could write
/// are not trusted.
fn existing_profiles_dir() -> Result<Option<PathBuf>> {
    let data = crate::sys::paths::data_dir()?;
    let dir = data.join("profiles");
    if std::fs::symlink_metadata(&dir).is_err() {
        return Ok(None);
    }
    for d in [&data, &dir] {
        refuse_unless_private(d, "not reading saved keys from")?;
    }
    Ok(Some(dir))
}

/// Refuses `dir` unless it is a private directory of ours, saying what to do.
fn refuse_unless_private(dir: &Path, doing: &str) -> Result<()> {
    match crate::sys::files::private_dir_problem(dir) {
        None => Ok(()),
        Some(problem) => Err(Error::internal(
            format!("{doing} {}", dir.display()),
            format!(
                "it {problem}; its files cannot be trusted: check them, then remove the directory and log in again"
            ),
        )),
    }
}

/// Refuses a file in the store unless it is a private file of ours: another user's file (or
/// one others could have written) is never read, whatever its name.
fn refuse_unless_private_file(path: &Path) -> Result<()> {
    match crate::sys::files::private_file_problem(path) {
        None => Ok(()),
        Some(problem) => Err(Error::internal(
            format!("not trusting {}", path.display()),
            format!("it {problem}; remove it and log in again"),
        )),
    }
}

/// Checks the profiles directory can be made and written, before a login starts.
pub fn check_writable() -> Result<()> {
    let dir = profiles_dir()?;
    let probe = dir.join(format!(".probe-{}", std::process::id()));
    crate::sys::files::write_private_atomic(&probe, b"")?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

fn meta_path(dir: &Path, profile: &Profile) -> PathBuf {
    dir.join(format!("{profile}.json"))
}

/// Saves `key` for `profile`: the keyring first, else the file; then the metadata. A copy left
/// in the other place by an earlier save is removed. Blocking (keyring, files).
pub fn save(
    profile: &Profile,
    key: &KeySecret,
    user_id: Option<String>,
    openrouter_url: &Url,
) -> Result<SaveReport> {
    // Whatever is saved is printed by `key` and sent as a header later: it must look like a
    // key, whoever hands it over (the CLI after an exchange, or an app through SavedKeys).
    if key.secret().is_empty() {
        return Err(Error::bad_input("key", "an API key (it is empty)"));
    }
    crate::openrouter::check_key_form(key.secret())
        .map_err(|why| Error::bad_input("key", format!("an API key: {why}")))?;
    let dir = profiles_dir()?;
    // Whether the keyring may hold an older key of this profile (an earlier save put it there).
    let earlier_in_keyring = saved(profile)
        .ok()
        .flatten()
        .is_some_and(|s| s.storage == Storage::Keyring || s.keyring_copy);
    let (storage, keyring_unavailable, keyring_copy) = match keyring::store(profile, key) {
        Ok(()) => {
            file::remove(&dir, profile)?;
            (Storage::Keyring, None, false)
        }
        Err(failure) => {
            let path = file::store(&dir, profile, key)?;
            // A keyring that did not answer in time is not asked again (it would take as
            // long); one that refused may still hold the earlier key, which logout retries.
            let copy =
                earlier_in_keyring && (failure.timed_out || keyring::delete(profile).is_err());
            (Storage::File { path }, Some(failure.reason), copy)
        }
    };
    let saved = Saved {
        profile: profile.name().to_owned(),
        user_id,
        created_at: time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        openrouter_url: openrouter_url.clone(),
        storage,
        keyring_copy,
    };
    let json = serde_json::to_vec_pretty(&saved)
        .map_err(|e| Error::internal("encoding the profile", e))?;
    crate::sys::files::write_private_atomic(&meta_path(&dir, profile), &json)?;
    Ok(SaveReport {
        saved,
        keyring_unavailable,
    })
}

/// The metadata of `profile`, if it was saved. Blocking.
pub fn saved(profile: &Profile) -> Result<Option<Saved>> {
    let Some(dir) = existing_profiles_dir()? else {
        return Ok(None);
    };
    let path = meta_path(&dir, profile);
    refuse_unless_private_file(&path)?;
    let text = match std::fs::read(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::internal(format!("reading {}", path.display()), e)),
    };
    let saved: Saved = serde_json::from_slice(&text).map_err(|e| {
        Error::internal(
            format!("the saved profile {} is unreadable", path.display()),
            format!("{e}; remove the profile {profile} (logout) and log in again"),
        )
    })?;
    // The URL decides where `status` sends the key: it obeys the --openrouter-url rule on
    // every read, not only when it was written.
    if let Err(e) = crate::input::parse_openrouter_url(saved.openrouter_url.as_str()) {
        let why = match e {
            Error::BadInput { expected, .. } => expected,
            other => other.to_string(),
        };
        return Err(Error::BadInput {
            field: "saved profile",
            expected: format!(
                "{} to name {why}; nothing was sent: remove the profile {profile} (logout) and log in again",
                path.display()
            ),
        });
    }
    Ok(Some(saved))
}

/// The key of `profile` and its metadata; [`Error::NotLoggedIn`] when nothing is saved.
/// Blocking.
pub fn load(profile: &Profile) -> Result<(KeySecret, Saved)> {
    let not_logged_in = || Error::NotLoggedIn {
        profile: profile.name().to_owned(),
    };
    let saved = saved(profile)?.ok_or_else(not_logged_in)?;
    let key = match &saved.storage {
        Storage::Keyring => keyring::load(profile).map_err(|reason| match reason {
            keyring::LoadError::Missing => not_logged_in(),
            keyring::LoadError::Unavailable(reason) => Error::internal(
                format!(
                    "reading the key of profile {profile} from the {}",
                    keyring::NAME
                ),
                reason,
            ),
        })?,
        // Always the profile's own file beside the metadata, never a path the metadata names.
        Storage::File { .. } => {
            let dir = existing_profiles_dir()?.ok_or_else(not_logged_in)?;
            let path = file::path(&dir, profile);
            refuse_unless_private_file(&path)?;
            file::load(&path)?.ok_or_else(not_logged_in)?
        }
    };
    // A key file edited by hand (or a keyring entry written by another program) must still
    // look like a key before anything prints or sends it.
    if let Err(why) = crate::openrouter::check_key_form(key.secret()) {
        return Err(Error::internal(
            format!("the saved key of profile {profile} is not usable"),
            format!("{why}; remove the profile and log in again"),
        ));
    }
    Ok((key, saved))
}

/// What [`remove`] found.
/// Every saved profile, by name, with its metadata or why it cannot be read.
pub fn list() -> Result<Vec<(String, Result<Saved>)>> {
    let Some(dir) = existing_profiles_dir()? else {
        return Ok(Vec::new());
    };
    let entries = std::fs::read_dir(&dir)
        .map_err(|e| Error::internal(format!("reading {}", dir.display()), e))?;
    let mut profiles: Vec<Profile> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name();
            let stem = name.to_str()?.strip_suffix(".json")?;
            Profile::new(stem).ok()
        })
        .collect();
    profiles.sort_by(|a, b| a.name().cmp(b.name()));
    Ok(profiles
        .into_iter()
        .map(|p| {
            let read = saved(&p).and_then(|s| {
                s.ok_or_else(|| Error::NotLoggedIn {
                    profile: p.name().to_owned(),
                })
            });
            (p.name().to_owned(), read)
        })
        .collect())
}

#[derive(Debug)]
pub enum Removed {
    /// Nothing was saved for the profile.
    Nothing,
    /// The profile's key and metadata are gone.
    Profile(Saved),
    /// The metadata could not be read (or not trusted); the key file, keyring entry and
    /// metadata are gone anyway.
    Unreadable,
}

/// Removes `profile`'s key (wherever it is) and metadata, also when the metadata is
/// unreadable, and an older keyring copy where one may remain. Blocking.
pub fn remove(profile: &Profile) -> Result<Removed> {
    let (saved, unreadable) = match saved(profile) {
        Ok(saved) => (saved, false),
        Err(e) => {
            tracing::warn!(error = %e, "removing a profile whose metadata is unreadable");
            (None, true)
        }
    };
    let dir = crate::sys::paths::data_dir()?.join("profiles");
    let in_keyring = matches!(&saved, Some(s) if s.storage == Storage::Keyring);
    let may_be_in_keyring = saved.as_ref().is_none_or(|s| s.keyring_copy) || in_keyring;
    if may_be_in_keyring
        && let Err(failure) = keyring::delete(profile)
        && in_keyring
    {
        return Err(Error::internal(
            format!(
                "removing the key of profile {profile} from the {}",
                keyring::NAME
            ),
            failure.reason,
        ));
    }
    file::remove(&dir, profile)?;
    match std::fs::remove_file(meta_path(&dir, profile)) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::internal("removing the profile", e)),
    }
    Ok(match (saved, unreadable) {
        (Some(saved), _) => Removed::Profile(saved),
        (None, true) => Removed::Unreadable,
        (None, false) => Removed::Nothing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_names_are_safe_file_and_entry_names() {
        for ok in ["default", "work", "a.b_c-1", &"x".repeat(64)] {
            assert!(Profile::new(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".hidden", "a/b", "..", "a b", "é", &"x".repeat(65)] {
            assert!(Profile::new(bad).is_err(), "{bad}");
        }
    }
}
