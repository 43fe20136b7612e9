//! Private files: created mode 0600 in a 0700 directory and written atomically.

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// Creates `dir` (and parents) with mode 0700 where it does not exist yet.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(|e| Error::internal(format!("creating {}", dir.display()), e))
}

/// Why `dir` is not a private directory of this user's (a real directory, ours, no group or
/// other access), if it is not. Unix only: elsewhere the profile directories are private.
pub fn private_dir_problem(dir: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        crate::sys::owner::private_dir_problem(dir)
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        None
    }
}

/// Why `path` is not a private file of this user's (ours, a regular file, no group or other
/// access), if it exists and is not. Unix only, as [`private_dir_problem`].
pub fn private_file_problem(path: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        crate::sys::owner::private_file_problem(path)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// Creates `dir` 0700 where it is missing, then refuses it unless it is private: files in a
/// directory someone else owns or can reach are not trusted (and never repaired, since they
/// may already have been swapped).
pub fn ensure_private_dir(dir: &Path, purpose: &str) -> Result<()> {
    if std::fs::symlink_metadata(dir).is_err() {
        create_private_dir(dir)?;
    }
    match private_dir_problem(dir) {
        None => Ok(()),
        Some(problem) => Err(Error::internal(
            format!("not using {} for {purpose}", dir.display()),
            format!("it {problem}"),
        )),
    }
}

/// Writes `contents` to `path` with mode 0600: a temporary file in the same directory, fsynced,
/// then renamed over `path`, so a reader never sees a half-written file.
pub fn write_private_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| Error::bad_input("file path", "a path that names a file"))?;
    let context = || format!("writing {}", path.display());
    for attempt in 0u32.. {
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".{}.{attempt}.tmp", std::process::id()));
        let tmp = dir.join(tmp_name);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = match options.open(&tmp) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 16 => continue,
            Err(e) => return Err(Error::internal(context(), e)),
        };
        let written = file
            .write_all(contents)
            .and_then(|()| file.sync_all())
            .and_then(|()| std::fs::rename(&tmp, path));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(Error::internal(context(), e));
        }
        return Ok(());
    }
    unreachable!("the loop returns on every path")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_private_and_replace_whole_files() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("a/b");
        create_private_dir(&sub).unwrap();
        let path = sub.join("key");
        write_private_atomic(&path, b"first secret, longer").unwrap();
        write_private_atomic(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(&sub), 0o700);
        }
        let leftovers: Vec<_> = std::fs::read_dir(&sub).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "temporary files left behind");
    }

    #[test]
    fn write_into_missing_dir_fails_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let e = write_private_atomic(&dir.path().join("missing/key"), b"x").unwrap_err();
        assert!(e.to_string().contains("writing"), "{e}");
    }
}
