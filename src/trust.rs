//! `trust`: put the local CA certificate (never its key) where browsers look, take it out again,
//! or report where it is trusted.
//!
//! Linux: the user's NSS database (`~/.pki/nssdb`: Chromium, Chrome), Firefox profiles, and the
//! system store when we have the rights. macOS: the login keychain. Windows: the user's root store.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};
use crate::tls::LocalCa;

/// File in the config dir recording that `trust` ran, so `login` can skip its hint cheaply.
pub const TRUSTED_MARKER: &str = "trusted";
#[cfg(target_os = "linux")]
const SYSTEM_ANCHOR_DIR: &str = "/usr/local/share/ca-certificates";

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
}

/// Whether `trust` has been run for the CA in `config_dir` (a file check; no subprocess).
pub fn marked_trusted(config_dir: &Path) -> bool {
    config_dir.join(TRUSTED_MARKER).exists()
}

/// Runs `action` for the CA in `config_dir`; `user_only` leaves the system store alone.
pub fn run(action: TrustAction, config_dir: &Path, user_only: bool) -> Result<TrustReport> {
    let ca = LocalCa::load(config_dir)?;
    let mut report = TrustReport {
        ca: ca.cert_path.display().to_string(),
        name: ca.name.clone(),
        fingerprint_sha256: ca.fingerprint(),
        expires: ca.expires(),
        changed: vec![],
        trusted_in: vec![],
        skipped: vec![],
    };
    platform::apply(action, &ca, user_only, &mut report)?;
    let marker = config_dir.join(TRUSTED_MARKER);
    match action {
        TrustAction::Install if !report.trusted_in.is_empty() => {
            crate::files::write_private_atomic(&marker, report.trusted_in.join("\n").as_bytes())?;
        }
        TrustAction::Uninstall => {
            let _ = std::fs::remove_file(&marker);
        }
        _ => {}
    }
    Ok(report)
}

/// Runs a store tool; `Ok(true)` on exit 0, `Ok(false)` on another exit, `Err` if it won't start.
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

fn home() -> Result<PathBuf> {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .ok_or_else(|| Error::bad_input("HOME", "an absolute path"))
}

#[cfg(target_os = "linux")]
mod platform {
    use super::*;

    /// NSS databases browsers read: Chromium/Chrome's, then each Firefox profile's.
    fn nss_databases(home: &Path) -> Vec<(String, PathBuf, bool)> {
        let mut dbs = vec![(
            "NSS database ~/.pki/nssdb (Chromium, Chrome)".to_owned(),
            home.join(".pki/nssdb"),
            true,
        )];
        for root in [
            home.join(".mozilla/firefox"),
            home.join("snap/firefox/common/.mozilla/firefox"),
        ] {
            let Ok(entries) = std::fs::read_dir(&root) else {
                continue;
            };
            for entry in entries.flatten() {
                let dir = entry.path();
                if dir.join("cert9.db").exists() {
                    let label = format!("Firefox profile {}", dir.display());
                    dbs.push((label, dir, false));
                }
            }
        }
        dbs
    }

    pub(super) fn apply(
        action: TrustAction,
        ca: &LocalCa,
        user_only: bool,
        report: &mut TrustReport,
    ) -> Result<()> {
        let home = home()?;
        let cert = ca.cert_path.display().to_string();
        let have_certutil = tool("certutil", &["-H"]).is_ok();
        if !have_certutil {
            report
                .skipped
                .push("NSS databases: certutil not found (install libnss3-tools)".into());
            if action == TrustAction::Install && user_only {
                return Err(Error::Internal(
                    "certutil not found: install libnss3-tools (Debian/Ubuntu) or nss-tools (Fedora) and run trust again".into(),
                ));
            }
        }
        for (label, dir, create) in nss_databases(&home).into_iter().filter(|_| have_certutil) {
            let db = format!("sql:{}", dir.display());
            let present = tool("certutil", &["-d", &db, "-L", "-n", &ca.name]).unwrap_or(false);
            match action {
                TrustAction::Install if !present => {
                    if create && !dir.join("cert9.db").exists() {
                        crate::files::create_private_dir(&dir)?;
                        if !tool("certutil", &["-d", &db, "-N", "--empty-password"])
                            .unwrap_or(false)
                        {
                            report
                                .skipped
                                .push(format!("{label}: could not create the database"));
                            continue;
                        }
                    }
                    if tool(
                        "certutil",
                        &["-d", &db, "-A", "-t", "C,,", "-n", &ca.name, "-i", &cert],
                    )
                    .unwrap_or(false)
                    {
                        report.changed.push(format!("added the CA to {label}"));
                        report.trusted_in.push(label);
                    } else {
                        report.skipped.push(format!("{label}: certutil -A failed"));
                    }
                }
                TrustAction::Uninstall if present => {
                    if tool("certutil", &["-d", &db, "-D", "-n", &ca.name]).unwrap_or(false) {
                        report.changed.push(format!("removed the CA from {label}"));
                    } else {
                        report.skipped.push(format!("{label}: certutil -D failed"));
                    }
                }
                TrustAction::Uninstall => {}
                _ if present => report.trusted_in.push(label),
                _ => {}
            }
        }
        system_store(action, ca, user_only, report);
        Ok(())
    }

    fn system_store(action: TrustAction, ca: &LocalCa, user_only: bool, report: &mut TrustReport) {
        let anchor =
            Path::new(SYSTEM_ANCHOR_DIR).join(format!("{}.crt", ca.name.replace(' ', "-")));
        let label = format!("system store ({})", anchor.display());
        let present = anchor.exists();
        match action {
            TrustAction::Status => {
                if present {
                    report.trusted_in.push(label);
                }
            }
            _ if user_only => {}
            TrustAction::Install if !present => {
                let pem = match std::fs::read(&ca.cert_path) {
                    Ok(p) => p,
                    Err(e) => return report.skipped.push(format!("{label}: {e}")),
                };
                // Only with the rights for it: a failed write is reported, not escalated.
                if let Err(e) = std::fs::write(&anchor, pem) {
                    return report.skipped.push(format!(
                        "{label}: {e} (run as root to trust it system-wide)"
                    ));
                }
                match tool("update-ca-certificates", &[]) {
                    Ok(true) => {
                        report.changed.push(format!("added the CA to the {label}"));
                        report.trusted_in.push(label);
                    }
                    _ => {
                        let _ = std::fs::remove_file(&anchor);
                        report
                            .skipped
                            .push(format!("{label}: update-ca-certificates failed"));
                    }
                }
            }
            TrustAction::Install => report.trusted_in.push(label),
            TrustAction::Uninstall if present => match std::fs::remove_file(&anchor) {
                Ok(()) => {
                    let _ = tool("update-ca-certificates", &["--fresh"]);
                    report
                        .changed
                        .push(format!("removed the CA from the {label}"));
                }
                Err(e) => report.skipped.push(format!("{label}: {e}")),
            },
            TrustAction::Uninstall => {}
        }
    }
}

#[cfg(target_os = "macos")]
mod platform {
    use super::*;

    pub(super) fn apply(
        action: TrustAction,
        ca: &LocalCa,
        _user_only: bool,
        report: &mut TrustReport,
    ) -> Result<()> {
        let keychain = home()?
            .join("Library/Keychains/login.keychain-db")
            .display()
            .to_string();
        let cert = ca.cert_path.display().to_string();
        let label = "login keychain".to_owned();
        let present =
            tool("security", &["find-certificate", "-c", &ca.name, &keychain]).unwrap_or(false);
        match action {
            TrustAction::Install if !present => {
                if tool(
                    "security",
                    &[
                        "add-trusted-cert",
                        "-r",
                        "trustRoot",
                        "-k",
                        &keychain,
                        &cert,
                    ],
                )
                .unwrap_or(false)
                {
                    report.changed.push(format!("added the CA to the {label}"));
                    report.trusted_in.push(label);
                } else {
                    report
                        .skipped
                        .push(format!("{label}: security add-trusted-cert failed"));
                }
            }
            TrustAction::Uninstall if present => {
                let _ = tool("security", &["remove-trusted-cert", &cert]);
                if tool(
                    "security",
                    &["delete-certificate", "-c", &ca.name, &keychain],
                )
                .unwrap_or(false)
                {
                    report
                        .changed
                        .push(format!("removed the CA from the {label}"));
                }
            }
            TrustAction::Uninstall => {}
            _ if present => report.trusted_in.push(label),
            _ => {}
        }
        Ok(())
    }
}

#[cfg(windows)]
mod platform {
    use super::*;

    pub(super) fn apply(
        action: TrustAction,
        ca: &LocalCa,
        _user_only: bool,
        report: &mut TrustReport,
    ) -> Result<()> {
        let cert = ca.cert_path.display().to_string();
        let label = "user root store".to_owned();
        let present =
            tool("certutil", &["-user", "-verifystore", "Root", &ca.name]).unwrap_or(false);
        match action {
            TrustAction::Install if !present => {
                if tool("certutil", &["-user", "-addstore", "Root", &cert]).unwrap_or(false) {
                    report.changed.push(format!("added the CA to the {label}"));
                    report.trusted_in.push(label);
                } else {
                    report
                        .skipped
                        .push(format!("{label}: certutil -addstore failed"));
                }
            }
            TrustAction::Uninstall if present => {
                if tool("certutil", &["-user", "-delstore", "Root", &ca.name]).unwrap_or(false) {
                    report
                        .changed
                        .push(format!("removed the CA from the {label}"));
                }
            }
            TrustAction::Uninstall => {}
            _ if present => report.trusted_in.push(label),
            _ => {}
        }
        Ok(())
    }
}

#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
mod platform {
    use super::*;

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
