//! `exec`: run a command with the saved key as `OPENROUTER_API_KEY`, as `op run` and
//! `aws-vault exec` do. The key goes into the command's environment only (never onto a command
//! line, never into the shell's environment for every later command), nothing else changes,
//! and the command's exit status is ours.

#[cfg_attr(unix, path = "unix.rs")]
#[cfg_attr(windows, path = "windows.rs")]
mod platform;

use std::ffi::OsString;

use crate::error::{Error, Result};
use crate::keys::{self, Profile};

/// The environment variable the key is handed over in: what OpenRouter's SDKs and most tools
/// read.
pub const KEY_VARIABLE: &str = "OPENROUTER_API_KEY";

/// Exit status when the command does not exist (as shells report it).
pub const EXIT_NOT_FOUND: u8 = 127;
/// Exit status when the command exists but cannot be run (as shells report it).
pub const EXIT_CANNOT_RUN: u8 = 126;

/// Loads the key of `profile` and runs `command` with it; returns only on failure, or on
/// platforms where we wait for the child, with its exit status.
pub async fn run(profile: Profile, command: Vec<OsString>) -> Result<()> {
    let (key, _) = tokio::task::spawn_blocking(move || keys::load(&profile))
        .await
        .map_err(|e| Error::internal("reading the saved key", e))??;
    let Some((program, args)) = command.split_first() else {
        return Err(Error::bad_input("COMMAND", "a command to run after `--`"));
    };
    match platform::run(program, args, key.secret()) {
        Error::ChildExited { code: 0, .. } => Ok(()),
        ended => Err(ended),
    }
}

/// The error for a command that could not be started: the shell's exit codes, one line.
fn not_started(program: &OsString, e: &std::io::Error) -> Error {
    let code = match e.kind() {
        std::io::ErrorKind::NotFound => EXIT_NOT_FOUND,
        _ => EXIT_CANNOT_RUN,
    };
    Error::ChildExited {
        code,
        message: Some(format!("could not run {}: {e}", program.to_string_lossy())),
    }
}
