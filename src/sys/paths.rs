//! Where the helper keeps its files: the one resolver for HOME and the XDG base directories.

use std::path::PathBuf;

use crate::error::{Error, Result};

const APP_DIR: &str = "openrouter-pkce";

fn env_dir(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
}

/// The user's home directory (`$HOME`, which must be absolute).
pub fn home() -> Result<PathBuf> {
    env_dir("HOME")
        .ok_or_else(|| Error::bad_input("HOME", "an absolute path to your home directory"))
}

/// `$XDG_CONFIG_HOME`, else `~/.config` (not ours alone: systemd units live under it too).
pub fn xdg_config_home() -> Result<PathBuf> {
    match env_dir("XDG_CONFIG_HOME") {
        Some(dir) => Ok(dir),
        None => Ok(home()?.join(".config")),
    }
}

/// `$XDG_CONFIG_HOME/openrouter-pkce`: the local CA lives here.
pub fn config_dir() -> Result<PathBuf> {
    Ok(xdg_config_home()?.join(APP_DIR))
}

/// `$XDG_STATE_HOME/openrouter-pkce`, else `~/.local/state/openrouter-pkce`.
pub fn state_dir() -> Result<PathBuf> {
    Ok(match env_dir("XDG_STATE_HOME") {
        Some(dir) => dir.join(APP_DIR),
        None => home()?.join(".local").join("state").join(APP_DIR),
    })
}

/// `$XDG_DATA_HOME/openrouter-pkce`, else `~/.local/share/openrouter-pkce`: saved profiles
/// (and, where no keyring answers, their keys) live here.
pub fn data_dir() -> Result<PathBuf> {
    Ok(match env_dir("XDG_DATA_HOME") {
        Some(dir) => dir.join(APP_DIR),
        None => home()?.join(".local").join("share").join(APP_DIR),
    })
}

/// `$XDG_RUNTIME_DIR/openrouter-pkce`, else the state dir: the service's token file lives here.
pub fn runtime_dir() -> Result<PathBuf> {
    match env_dir("XDG_RUNTIME_DIR") {
        Some(dir) => Ok(dir.join(APP_DIR)),
        None => state_dir(),
    }
}
