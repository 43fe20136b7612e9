//! Linux trust stores: the user's NSS databases (Chromium, Firefox) and the system anchors.

use std::path::PathBuf;

use super::*;
use crate::error::Error;

const SYSTEM_ANCHOR_DIR: &str = "/usr/local/share/ca-certificates";

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

pub(crate) fn apply(
    action: TrustAction,
    ca: &LocalCa,
    user_only: bool,
    report: &mut TrustReport,
) -> Result<()> {
    let home = crate::sys::paths::home()?;
    let cert = ca.cert_path.display().to_string();
    let have_certutil = tool("certutil", &["-H"]).is_ok();
    if !have_certutil {
        report
            .skipped
            .push("NSS databases: certutil not found (install libnss3-tools)".into());
        if action == TrustAction::Install && user_only {
            return Err(Error::internal(
                "certutil not found",
                "install libnss3-tools (Debian/Ubuntu) or nss-tools (Fedora) and run trust again",
            ));
        }
    }
    for (label, dir, create) in nss_databases(&home).into_iter().filter(|_| have_certutil) {
        let db = format!("sql:{}", dir.display());
        let ours = our_nicknames(&db);
        let present = ours.contains(&ca.name);
        for earlier in ours.iter().filter(|n| **n != ca.name) {
            if action == TrustAction::Uninstall {
                if delete_all(&db, earlier) {
                    report
                        .changed
                        .push(format!("removed {earlier} from {label}"));
                } else {
                    report
                        .skipped
                        .push(format!("{label}: certutil -D failed for {earlier}"));
                }
            } else {
                report.earlier.push(format!("{earlier} in {label}"));
            }
        }
        match action {
            TrustAction::Install if !present => {
                if create && !dir.join("cert9.db").exists() {
                    crate::sys::files::create_private_dir(&dir)?;
                    if !tool("certutil", &["-d", &db, "-N", "--empty-password"]).unwrap_or(false) {
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
                if delete_all(&db, &ca.name) {
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

/// The nicknames in the NSS database `db` that name a CA of ours (current or earlier).
fn our_nicknames(db: &str) -> Vec<String> {
    let Some(listing) = tool_output("certutil", &["-d", db, "-L"]) else {
        return Vec::new();
    };
    let mut names: Vec<String> = listing
        .lines()
        .filter_map(|line| {
            // "NICKNAME<spaces>TRUST,ATTRS": the nickname is what precedes the trust column.
            let line = line.trim_end();
            let start = line.find(CA_NAME_PREFIX)?;
            let rest = &line[start..];
            let end = rest.find("  ").unwrap_or(rest.len());
            Some(rest[..end].trim().to_owned())
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Deletes every certificate under `nickname` in `db` (one nickname can hold several).
fn delete_all(db: &str, nickname: &str) -> bool {
    let mut deleted = false;
    for _ in 0..16 {
        if !tool("certutil", &["-d", db, "-D", "-n", nickname]).unwrap_or(false) {
            break;
        }
        deleted = true;
    }
    deleted
}

/// Anchors of ours in the system anchor directory other than `current`.
fn earlier_anchors(current: &Path) -> Vec<PathBuf> {
    let prefix = CA_NAME_PREFIX.replace(' ', "-");
    let Ok(entries) = std::fs::read_dir(SYSTEM_ANCHOR_DIR) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p != current
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".crt"))
        })
        .collect()
}

fn system_store(action: TrustAction, ca: &LocalCa, user_only: bool, report: &mut TrustReport) {
    let anchor = Path::new(SYSTEM_ANCHOR_DIR).join(format!("{}.crt", ca.name.replace(' ', "-")));
    let label = format!("system store ({})", anchor.display());
    let present = anchor.exists();
    for earlier in earlier_anchors(&anchor) {
        let label = format!("system store ({})", earlier.display());
        match action {
            TrustAction::Uninstall if !user_only => match std::fs::remove_file(&earlier) {
                Ok(()) => {
                    let _ = tool("update-ca-certificates", &["--fresh"]);
                    report
                        .changed
                        .push(format!("removed an earlier CA from the {label}"));
                }
                Err(e) => report.skipped.push(format!("{label}: {e}")),
            },
            TrustAction::Uninstall => {}
            _ => report.earlier.push(format!("an earlier CA in the {label}")),
        }
    }
    match action {
        TrustAction::Status => {
            if present {
                report.trusted_in.push(label);
            }
        }
        _ if user_only => {}
        TrustAction::Install if !present => {
            // The certificate that was checked, not whatever the file holds now (it may have
            // grown a second root since, or hold one after ours).
            let pem = crate::tls::pem_of(&ca.der);
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
