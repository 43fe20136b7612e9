//! Windows: there is no exec, so the command runs as a child sharing our console (Ctrl-C
//! reaches it directly) and we exit with its status.

use std::ffi::OsString;

use crate::error::Error;

/// Runs `program` to its end and returns its exit status as the error to exit with.
pub fn run(program: &OsString, args: &[OsString], key: &str) -> Error {
    let status = std::process::Command::new(program)
        .args(args)
        .env(super::KEY_VARIABLE, key)
        .status();
    match status {
        Ok(status) => Error::ChildExited {
            // Windows exit codes are 32-bit; the low byte is what a u8 exit status can carry.
            code: status.code().map_or(1, |c| (c & 0xff) as u8),
            message: None,
        },
        Err(e) => super::not_started(program, &e),
    }
}
