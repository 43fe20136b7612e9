//! The fallback store: a 0600 file in the 0700 profiles directory, written atomically.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::keys::Profile;
use crate::secret::KeySecret;

/// The key file of `profile` in the profiles directory `dir`.
pub(super) fn path(dir: &Path, profile: &Profile) -> PathBuf {
    dir.join(format!("{profile}.key"))
}

/// Writes the key; returns the file.
pub(super) fn store(dir: &Path, profile: &Profile, key: &KeySecret) -> Result<PathBuf> {
    let path = path(dir, profile);
    crate::sys::files::write_private_atomic(&path, format!("{}\n", key.secret()).as_bytes())?;
    Ok(path)
}

/// Reads the key, `None` when the file is gone.
pub(super) fn load(path: &Path) -> Result<Option<KeySecret>> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            Ok(Some(KeySecret::new(text.trim()))).map(|k| k.filter(|k| !k.secret().is_empty()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::internal(format!("reading {}", path.display()), e)),
    }
}

/// Removes the key file, if any.
pub(super) fn remove(dir: &Path, profile: &Profile) -> Result<()> {
    match std::fs::remove_file(path(dir, profile)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::internal("removing the key file", e)),
    }
}
