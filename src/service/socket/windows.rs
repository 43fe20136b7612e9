//! Windows: the control API on a named pipe whose security descriptor admits only its owner,
//! refusing remote clients; the first instance is created exclusively, so a process that took
//! the name first makes `serve` stop instead of sharing it. (Compiled, not run: no Windows here.)

use std::ffi::OsStr;
use std::os::windows::ffi::OsStrExt;
use std::path::Path;

use axum::Router;
use tokio::net::windows::named_pipe::{NamedPipeServer, ServerOptions};
use tokio::sync::watch;
use windows_sys::Win32::Foundation::LocalFree;
use windows_sys::Win32::Security::Authorization::{
    ConvertStringSecurityDescriptorToSecurityDescriptorW, SDDL_REVISION_1,
};
use windows_sys::Win32::Security::SECURITY_ATTRIBUTES;

use super::{DRAIN_TIMEOUT, serve_connection, stopped};
use crate::error::{Error, Result};

/// The pipe for the service on `port`: `\\.\pipe\openrouter-pkce-<account>-<port>`, the
/// account as the system names it (`GetUserNameW`), kept to characters a pipe name takes.
/// Two users' services on one port get two names; each pipe's ACL admits only its owner anyway.
pub fn endpoint(port: u16) -> Result<std::path::PathBuf> {
    let account = crate::sys::process::account_name().ok_or_else(|| {
        Error::internal(
            "naming the control pipe",
            "the system did not say which account this is",
        )
    })?;
    Ok(pipe_name(&account, port).into())
}

/// The pipe name for `account` and `port`.
fn pipe_name(account: &str, port: u16) -> String {
    let account: String = account
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    format!(r"\\.\pipe\openrouter-pkce-{account}-{port}")
}

/// Owner only: a protected DACL granting generic-all to the owner and nobody else.
const OWNER_ONLY_SDDL: &str = "D:P(A;;GA;;;OW)";

/// The first pipe instance, ready to serve.
#[derive(Debug)]
pub struct ControlListener {
    name: std::ffi::OsString,
    first: NamedPipeServer,
}

/// What the CLI found at the pipe name.
#[derive(Debug, PartialEq, Eq)]
pub enum Located {
    /// Nothing can be known without connecting; try it.
    Usable,
}

/// On Windows the name is not a file; whether anyone listens is learnt by connecting.
pub fn locate(_path: &Path) -> std::result::Result<Option<Located>, String> {
    Ok(Some(Located::Usable))
}

/// Nothing to clear: a pipe disappears with its last handle.
pub fn remove_stale(_path: &Path) {}

fn create(name: &OsStr, first: bool) -> std::io::Result<NamedPipeServer> {
    let sddl: Vec<u16> = OsStr::new(OWNER_ONLY_SDDL)
        .encode_wide()
        .chain(Some(0))
        .collect();
    let mut descriptor = std::ptr::null_mut();
    // SAFETY: a NUL-terminated wide string and an out-pointer the call fills.
    let ok = unsafe {
        ConvertStringSecurityDescriptorToSecurityDescriptorW(
            sddl.as_ptr(),
            SDDL_REVISION_1,
            &mut descriptor,
            std::ptr::null_mut(),
        )
    };
    if ok == 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut attributes = SECURITY_ATTRIBUTES {
        nLength: std::mem::size_of::<SECURITY_ATTRIBUTES>() as u32,
        lpSecurityDescriptor: descriptor,
        bInheritHandle: 0,
    };
    // SAFETY: `attributes` points at a valid descriptor for the duration of the call.
    let server = unsafe {
        ServerOptions::new()
            .first_pipe_instance(first)
            .reject_remote_clients(true)
            .create_with_security_attributes_raw(
                name,
                (&mut attributes as *mut SECURITY_ATTRIBUTES).cast(),
            )
    };
    // SAFETY: the descriptor was allocated by the conversion above and is no longer used.
    unsafe { LocalFree(descriptor) };
    server
}

/// Creates the pipe's first instance exclusively, owner-only.
pub fn bind(path: &Path) -> Result<ControlListener> {
    let name = path.as_os_str().to_owned();
    let first = create(&name, true).map_err(|e| {
        Error::internal(
            format!("refusing to use {}", path.display()),
            format!("the pipe name is taken or cannot be created ({e})"),
        )
    })?;
    Ok(ControlListener { name, first })
}

/// Serves `router` on the pipe until `shutdown` turns true, then drains briefly.
pub async fn serve(listener: ControlListener, router: Router, mut shutdown: watch::Receiver<bool>) {
    let ControlListener { name, first } = listener;
    let mut server = first;
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            connected = server.connect() => {
                if let Err(e) = connected {
                    tracing::warn!(error = %e, "control pipe connect failed");
                }
            }
            () = stopped(&mut shutdown) => break,
        }
        let next = match create(&name, false) {
            Ok(next) => next,
            Err(e) => {
                tracing::error!(error = %e, "could not create the next control pipe instance");
                break;
            }
        };
        let connected = std::mem::replace(&mut server, next);
        connections.spawn(serve_connection(
            connected,
            router.clone(),
            shutdown.clone(),
        ));
    }
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_pipe_is_named_for_the_account_and_port() {
        assert_eq!(
            super::pipe_name("Ada Lovelace\\x", 3000),
            r"\\.\pipe\openrouter-pkce-AdaLovelacex-3000"
        );
        // The name comes from the account the system reports.
        let account = crate::sys::process::account_name().expect("an account name");
        assert_eq!(
            super::endpoint(3001).unwrap(),
            std::path::PathBuf::from(super::pipe_name(&account, 3001))
        );
    }
}
