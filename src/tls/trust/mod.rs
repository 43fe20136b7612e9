//! `trust`: put the local CA certificate (never its key) where browsers look, take it out again,
//! or report where it is trusted.
//!
//! Linux: the user's NSS database (`~/.pki/nssdb`: Chromium, Chrome), Firefox profiles, and the
//! system store when we have the rights. macOS: the login keychain. Windows: the user's root store.

use std::path::Path;
#[cfg(unix)]
use std::process::Command;

use crate::error::Result;
use crate::tls::LocalCa;

/// File in the config dir recording that `trust` ran, so `login` can skip its hint cheaply.
pub const TRUSTED_MARKER: &str = "trusted";

/// What `trust` should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustAction {
    /// Add the CA to the stores.
    Install,
    /// Remove it from the stores.
    Uninstall,
    /// Report where it is trusted.
    Status,
}

/// The outcome: what changed and where the CA is trusted now.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TrustReport {
    /// The CA certificate file.
    pub ca: String,
    /// Its name in the stores.
    pub name: String,
    /// SHA-256 fingerprint.
    pub fingerprint_sha256: String,
    /// notAfter.
    pub expires: Option<String>,
    /// Each change made, in words.
    pub changed: Vec<String>,
    /// Stores that hold the CA now.
    pub trusted_in: Vec<String>,
    /// Stores that could not be handled, and why.
    pub skipped: Vec<String>,
    /// Other "openrouter-pkce" CAs still trusted (an earlier CA whose files were replaced):
    /// `NAME in STORE`. `--uninstall` removes them too; until then each can vouch for
    /// localhost if its key ever leaked.
    pub earlier: Vec<String>,
}

/// Every CA this program makes is named so (then four bytes of its key's fingerprint): how
/// `trust` recognises its own earlier CAs in a store.
pub const CA_NAME_PREFIX: &str = "openrouter-pkce local CA";

/// Whether `trust` has been run for the CA in `config_dir` (a file check; no subprocess).
pub fn marked_trusted(config_dir: &Path) -> bool {
    config_dir.join(TRUSTED_MARKER).exists()
}

/// Whether the CA in `config_dir` is trusted where browsers look: `trust` ran (the marker) and
/// the stores still hold it (the same check as `trust --status`; blocking: runs the store tools).
pub fn is_trusted(config_dir: &Path) -> bool {
    marked_trusted(config_dir)
        && run(TrustAction::Status, config_dir, true).is_ok_and(|r| !r.trusted_in.is_empty())
}

/// File in the config dir recording that the person declined to trust the CA when asked, so
/// they are not asked again.
pub const DECLINED_MARKER: &str = "trust-declined";

/// Runs `action` for the CA in `config_dir`; `user_only` leaves the system store alone.
pub fn run(action: TrustAction, config_dir: &Path, user_only: bool) -> Result<TrustReport> {
    let ca = LocalCa::load(config_dir)?;
    if action == TrustAction::Install {
        // Whatever sits in ca.pem is about to become a root the browsers trust: it must be ours.
        crate::tls::verify_own_ca(config_dir)?;
    }
    let mut report = TrustReport {
        ca: ca.cert_path.display().to_string(),
        name: ca.name.clone(),
        fingerprint_sha256: ca.fingerprint(),
        expires: ca.expires(),
        changed: vec![],
        trusted_in: vec![],
        skipped: vec![],
        earlier: vec![],
    };
    platform::apply(action, &ca, user_only, &mut report)?;
    let marker = config_dir.join(TRUSTED_MARKER);
    match action {
        TrustAction::Install if !report.trusted_in.is_empty() => {
            crate::sys::files::write_private_atomic(
                &marker,
                report.trusted_in.join("\n").as_bytes(),
            )?;
            let _ = std::fs::remove_file(config_dir.join(DECLINED_MARKER));
        }
        TrustAction::Uninstall => {
            let _ = std::fs::remove_file(&marker);
        }
        _ => {}
    }
    Ok(report)
}

/// Runs a store tool and returns its stdout, or `None` if it did not run or failed.
#[cfg(target_os = "linux")]
fn tool_output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs a store tool; `Ok(true)` on exit 0, `Ok(false)` on another exit, `Err` if it won't start.
#[cfg(unix)]
fn tool(program: &str, args: &[&str]) -> std::result::Result<bool, String> {
    Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .map_err(|e| format!("{program}: {e}"))
}

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
use linux as platform;
#[cfg(target_os = "macos")]
mod macos;
#[cfg(target_os = "macos")]
use macos as platform;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
use windows as platform;

#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
mod platform {
    use super::*;
    use crate::error::Error;

    pub(super) fn apply(_: TrustAction, ca: &LocalCa, _: bool, _: &mut TrustReport) -> Result<()> {
        Err(Error::bad_input(
            "trust",
            format!(
                "a supported platform; add {} to your browser's trusted authorities by hand",
                ca.cert_path.display()
            ),
        ))
    }
}
