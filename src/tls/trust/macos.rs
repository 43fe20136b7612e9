//! macOS trust store: the login keychain (`security`).

use super::*;

pub(crate) fn apply(
    action: TrustAction,
    ca: &LocalCa,
    _user_only: bool,
    report: &mut TrustReport,
) -> Result<()> {
    let keychain = crate::sys::paths::home()?
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
