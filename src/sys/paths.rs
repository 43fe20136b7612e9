//! Where the helper keeps its files: the one resolver for the home, config, data, state and
//! runtime directories, on every OS.
//!
//! The platform conventions come from the `directories` crate: the XDG base directories on
//! Linux and the BSDs (`$XDG_*_HOME`, else under the home directory, found from `$HOME` or the
//! password database when `HOME` is unset), `~/Library/Application Support` on macOS,
//! `%APPDATA%`/`%LOCALAPPDATA%` on Windows (where `HOME` is normally unset). An `$XDG_*`
//! variable that is set is honoured on every OS, so tests and unusual setups can place
//! everything explicitly.

use std::path::{Path, PathBuf};

use directories::{BaseDirs, ProjectDirs};

use crate::error::{Error, Result};

const APP_DIR: &str = "openrouter-pkce";

/// An absolute directory from `var`, when set.
fn env_dir(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
}

fn project() -> Result<ProjectDirs> {
    ProjectDirs::from("", "", APP_DIR).ok_or_else(no_home)
}

fn no_home() -> Error {
    Error::bad_input(
        "HOME",
        "a home directory: set HOME (or the XDG_CONFIG_HOME, XDG_DATA_HOME and XDG_STATE_HOME directories)",
    )
}

/// The user's home directory: `$HOME` when set (it must be absolute), else what the platform
/// says (the password database, the Windows profile).
pub fn home() -> Result<PathBuf> {
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(home) if Path::new(&home).is_absolute() => Ok(PathBuf::from(home)),
        Some(_) => Err(Error::bad_input(
            "HOME",
            "an absolute path to your home directory",
        )),
        None => BaseDirs::new()
            .map(|b| b.home_dir().to_path_buf())
            .ok_or_else(no_home),
    }
}

/// The user's configuration directory (`$XDG_CONFIG_HOME`, `~/.config` on Linux): systemd
/// user units live under it too.
pub fn xdg_config_home() -> Result<PathBuf> {
    match env_dir("XDG_CONFIG_HOME") {
        Some(dir) => Ok(dir),
        None => Ok(BaseDirs::new()
            .ok_or_else(no_home)?
            .config_dir()
            .to_path_buf()),
    }
}

/// Ours in the configuration directory: the local CA lives here.
pub fn config_dir() -> Result<PathBuf> {
    match env_dir("XDG_CONFIG_HOME") {
        Some(dir) => Ok(dir.join(APP_DIR)),
        None => Ok(project()?.config_dir().to_path_buf()),
    }
}

/// Ours in the data directory (`~/.local/share/openrouter-pkce` on Linux): saved profiles
/// (and, where no keyring answers, their keys).
pub fn data_dir() -> Result<PathBuf> {
    match env_dir("XDG_DATA_HOME") {
        Some(dir) => Ok(dir.join(APP_DIR)),
        None => Ok(project()?.data_dir().to_path_buf()),
    }
}

/// Ours in the state directory (`~/.local/state/openrouter-pkce` on Linux; the local data
/// directory where the platform has no state directory).
pub fn state_dir() -> Result<PathBuf> {
    if let Some(dir) = env_dir("XDG_STATE_HOME") {
        return Ok(dir.join(APP_DIR));
    }
    let project = project()?;
    Ok(project
        .state_dir()
        .unwrap_or_else(|| project.data_local_dir())
        .to_path_buf())
}

/// Ours in the runtime directory (`$XDG_RUNTIME_DIR`), else the state dir: the service's
/// control socket and the browser's redirect page live here.
pub fn runtime_dir() -> Result<PathBuf> {
    match env_dir("XDG_RUNTIME_DIR") {
        Some(dir) => Ok(dir.join(APP_DIR)),
        None => state_dir(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_directory_is_ours_and_absolute() {
        for dir in [config_dir(), data_dir(), state_dir(), runtime_dir()] {
            let dir = dir.unwrap();
            assert!(dir.is_absolute(), "{}", dir.display());
            // Linux ends with it; Windows and macOS put config/data under it.
            let ours = dir.components().any(|c| c.as_os_str() == APP_DIR);
            assert!(ours, "{}", dir.display());
        }
        assert!(home().unwrap().is_absolute());
    }
}
