//! Windows trust store: the user's root store (`certutil -user`).

use super::*;

pub(crate) fn apply(
    action: TrustAction,
    ca: &LocalCa,
    _user_only: bool,
    report: &mut TrustReport,
) -> Result<()> {
    let cert = ca.cert_path.display().to_string();
    let label = "user root store".to_owned();
    let present = tool("certutil", &["-user", "-verifystore", "Root", &ca.name]).unwrap_or(false);
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
        TrustAction::Uninstall
            if present
                && tool("certutil", &["-user", "-delstore", "Root", &ca.name]).unwrap_or(false) =>
        {
            report
                .changed
                .push(format!("removed the CA from the {label}"));
        }
        TrustAction::Uninstall => {}
        _ if present => report.trusted_in.push(label),
        _ => {}
    }
    Ok(())
}
