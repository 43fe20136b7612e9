//! Unix: who owns a file or directory, and whether a directory is this user's alone (the
//! checks ssh makes of its own files).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// This process's effective uid.
pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Why `dir` is not a private directory of ours, if it is not.
pub fn private_dir_problem(dir: &Path) -> Option<String> {
    let meta = match std::fs::symlink_metadata(dir) {
        Ok(m) => m,
        Err(e) => return Some(format!("cannot be read ({e})")),
    };
    if meta.file_type().is_symlink() {
        return Some("is a symbolic link, not a directory".into());
    }
    if !meta.is_dir() {
        return Some("is not a directory".into());
    }
    not_ours_alone(&meta, "it must be yours alone (chmod 700)")
}

/// Why `path` is not a private file of ours (a regular file we own that no one else may read
/// or write), if it is not; `None` also when it does not exist (there is nothing to trust).
pub fn private_file_problem(path: &Path) -> Option<String> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => return Some(format!("cannot be read ({e})")),
    };
    if meta.file_type().is_symlink() {
        return Some("is a symbolic link, not a file".into());
    }
    if !meta.is_file() {
        return Some("is not a regular file".into());
    }
    not_ours_alone(&meta, "it must be yours alone (chmod 600)")
}

/// Why an entry with `meta` is not ours alone: another owner, or group/other access
/// (`remedy` says what fixes the mode).
fn not_ours_alone(meta: &std::fs::Metadata, remedy: &str) -> Option<String> {
    if meta.uid() != euid() {
        return Some(format!(
            "belongs to uid {}, not to you (uid {})",
            meta.uid(),
            euid()
        ));
    }
    let mode = meta.permissions().mode() & 0o777;
    (mode & 0o077 != 0)
        .then(|| format!("is group- or world-accessible (mode {mode:04o}); {remedy}"))
}
