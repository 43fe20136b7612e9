//! Unix: `exec` replaces this process with the command, so signals, the terminal and the exit
//! status are the command's own with nothing in between.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;

use crate::error::Error;

/// Replaces this process with `program`; returns only if that failed.
pub fn run(program: &OsString, args: &[OsString], key: &str) -> Error {
    let e = std::process::Command::new(program)
        .args(args)
        .env(super::KEY_VARIABLE, key)
        .exec();
    super::not_started(program, &e)
}
