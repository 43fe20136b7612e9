//! Windows trust store: the current user's Root store, through crypt32 itself. Every answer is
//! read back from the store (the exact certificate, byte for byte), never inferred from a tool's
//! exit status: a `certutil.exe` that exits 0 for anything (Wine's does) proves nothing.
//!
//! Adding a root to the user's store makes Windows ask the person to confirm; the call returns
//! once they answer, and a "No" shows up as the CA still missing.

use windows_sys::Win32::Security::Cryptography::{
    CERT_CONTEXT, CERT_NAME_SIMPLE_DISPLAY_TYPE, CERT_STORE_ADD_REPLACE_EXISTING,
    CERT_STORE_CTRL_COMMIT, CERT_STORE_PROV_SYSTEM_W, CERT_SYSTEM_STORE_CURRENT_USER,
    CertAddEncodedCertificateToStore, CertCloseStore, CertControlStore,
    CertDeleteCertificateFromStore, CertDuplicateCertificateContext, CertEnumCertificatesInStore,
    CertFreeCertificateContext, CertGetNameStringW, CertOpenStore, HCERTSTORE, PKCS_7_ASN_ENCODING,
    X509_ASN_ENCODING,
};

use super::*;

const LABEL: &str = "user root store";

/// The current user's Root store, closed on drop.
struct RootStore(HCERTSTORE);

impl RootStore {
    fn open() -> std::result::Result<Self, String> {
        let name: Vec<u16> = "Root\0".encode_utf16().collect();
        // SAFETY: a NUL-terminated wide store name; the handle is closed on drop.
        let store = unsafe {
            CertOpenStore(
                CERT_STORE_PROV_SYSTEM_W,
                0,
                0,
                CERT_SYSTEM_STORE_CURRENT_USER,
                name.as_ptr().cast(),
            )
        };
        if store.is_null() {
            return Err(format!(
                "could not open it ({})",
                std::io::Error::last_os_error()
            ));
        }
        Ok(Self(store))
    }

    /// Each certificate in the store: its DER bytes and display name.
    fn list(&self) -> Vec<(Vec<u8>, String)> {
        let mut seen = Vec::new();
        let mut context: *mut CERT_CONTEXT = std::ptr::null_mut();
        loop {
            // SAFETY: the store is open; the previous context is released by this call.
            context = unsafe { CertEnumCertificatesInStore(self.0, context) };
            if context.is_null() {
                return seen;
            }
            // SAFETY: a context the store just returned; its encoded bytes live as long as it.
            seen.push(unsafe { describe(context) });
        }
    }

    /// Deletes the first certificate `pick` chooses; whether one was (deleting in the middle
    /// of an enumeration is not something every crypt32 survives, so each delete starts one
    /// afresh and ends it).
    fn delete_first(&self, pick: impl Fn(&[u8], &str) -> bool) -> bool {
        let mut context: *mut CERT_CONTEXT = std::ptr::null_mut();
        loop {
            // SAFETY: as in `list`.
            context = unsafe { CertEnumCertificatesInStore(self.0, context) };
            if context.is_null() {
                return false;
            }
            // SAFETY: a live context.
            let (der, name) = unsafe { describe(context) };
            if pick(&der, &name) {
                // SAFETY: the delete frees the context it is given: a duplicate, after which
                // the original is freed too and the enumeration is not continued.
                unsafe {
                    let deleted =
                        CertDeleteCertificateFromStore(CertDuplicateCertificateContext(context));
                    CertFreeCertificateContext(context);
                    return deleted != 0;
                }
            }
        }
    }

    fn add(&self, der: &[u8]) -> std::result::Result<(), String> {
        // SAFETY: `der` is valid for its length; no context is asked for back.
        let ok = unsafe {
            CertAddEncodedCertificateToStore(
                self.0,
                X509_ASN_ENCODING | PKCS_7_ASN_ENCODING,
                der.as_ptr(),
                der.len() as u32,
                CERT_STORE_ADD_REPLACE_EXISTING,
                std::ptr::null_mut(),
            )
        };
        if ok == 0 {
            return Err(std::io::Error::last_os_error().to_string());
        }
        Ok(())
    }
}

impl Drop for RootStore {
    fn drop(&mut self) {
        // SAFETY: the handle came from CertOpenStore and is closed once; changes are
        // committed to the registry first (Wine writes a delete only on commit).
        unsafe {
            CertControlStore(self.0, 0, CERT_STORE_CTRL_COMMIT, std::ptr::null());
            CertCloseStore(self.0, 0);
        }
    }
}

/// A certificate's DER bytes and display name.
///
/// # Safety
/// `context` must be a live certificate context.
unsafe fn describe(context: *const CERT_CONTEXT) -> (Vec<u8>, String) {
    // SAFETY: the caller's promise; the encoded bytes live as long as the context.
    let der = unsafe {
        let c = &*context;
        std::slice::from_raw_parts(c.pbCertEncoded, c.cbCertEncoded as usize).to_vec()
    };
    // SAFETY: as above.
    (der, unsafe { display_name(context) })
}

/// The certificate's simple display name (its common name here).
///
/// # Safety
/// `context` must be a live certificate context.
unsafe fn display_name(context: *const CERT_CONTEXT) -> String {
    let mut buf = [0u16; 256];
    // SAFETY: the buffer's length in characters is passed; the result is NUL-terminated.
    let len = unsafe {
        CertGetNameStringW(
            context,
            CERT_NAME_SIMPLE_DISPLAY_TYPE,
            0,
            std::ptr::null(),
            buf.as_mut_ptr(),
            buf.len() as u32,
        )
    };
    String::from_utf16_lossy(&buf[..(len as usize).saturating_sub(1)])
}

pub(crate) fn apply(
    action: TrustAction,
    ca: &LocalCa,
    _user_only: bool,
    report: &mut TrustReport,
) -> Result<()> {
    let store = match RootStore::open() {
        Ok(store) => store,
        Err(e) => {
            report.skipped.push(format!("{LABEL}: {e}"));
            return Ok(());
        }
    };
    let ours =
        |der: &[u8], name: &str| der == ca.der.as_slice() || name.starts_with(CA_NAME_PREFIX);
    let listed = store.list();
    let present = listed.iter().any(|(der, _)| der == &ca.der);
    for (der, name) in listed.iter().filter(|(der, name)| ours(der, name)) {
        let current = der == &ca.der;
        if action != TrustAction::Uninstall {
            if !current {
                report.earlier.push(format!("{name} in the {LABEL}"));
            }
            continue;
        }
        let this = |d: &[u8], _: &str| d == der.as_slice();
        if store.delete_first(this) && !store.list().iter().any(|(d, _)| d == der) {
            report.changed.push(if current {
                format!("removed the CA from the {LABEL}")
            } else {
                format!("removed {name} from the {LABEL}")
            });
        } else {
            report
                .skipped
                .push(format!("{LABEL}: could not remove {name}"));
        }
    }
    if action == TrustAction::Install && !present {
        if let Err(e) = store.add(&ca.der) {
            report
                .skipped
                .push(format!("{LABEL}: adding the CA failed ({e})"));
            return Ok(());
        }
        report.changed.push(format!("added the CA to the {LABEL}"));
    }
    // What counts is what the store holds now, read back.
    if action != TrustAction::Uninstall {
        let held = store.list().iter().any(|(der, _)| der == &ca.der);
        if held {
            report.trusted_in.push(LABEL.to_owned());
        } else if action == TrustAction::Install {
            report.skipped.push(format!(
                "{LABEL}: the CA is not in it after adding (declined at the prompt?)"
            ));
        }
    }
    Ok(())
}
