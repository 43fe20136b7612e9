//! The local certificate authority and the localhost certificate the callback listener serves.
//!
//! At first run a CA (name-constrained to localhost, 127.0.0.0/8 and ::1) and a leaf for
//! `localhost`, `127.0.0.1` and `::1` are generated with rcgen and kept in the config dir,
//! private keys mode 0600. Later runs only read them back. [`trust`] puts the CA where
//! browsers look.

pub mod der;
pub mod trust;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, CidrSubnet, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, GeneralSubtree, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    NameConstraints,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::sys::files::{create_private_dir, write_private_atomic};

/// CA certificate file name inside the config dir.
pub const CA_CERT_FILE: &str = "ca.pem";
const CA_KEY_FILE: &str = "ca-key.pem";
const LEAF_CERT_FILE: &str = "localhost.pem";
const LEAF_KEY_FILE: &str = "localhost-key.pem";
/// Leaves are valid 397 days (the most browsers accept) and renewed after a year.
const LEAF_VALID_DAYS: i64 = 397;
const LEAF_RENEW_AFTER: Duration = Duration::from_secs(365 * 24 * 3600);
const CA_VALID_DAYS: i64 = 3650;

pub use crate::sys::http::crypto_provider;

/// Where the certificate the listener serves comes from.
#[derive(Debug, Clone)]
pub enum CertSource {
    /// The helper's own CA and leaf under this config dir (generated at first use).
    Local(PathBuf),
    /// A certificate chain and key the user already trusts (`--tls-cert`/`--tls-key`).
    Files {
        /// PEM certificate chain, leaf first.
        cert: PathBuf,
        /// PEM private key.
        key: PathBuf,
    },
}

/// What loading the certificate found, for hints such as "run `trust`".
#[derive(Debug, Clone)]
pub struct LoadedCert {
    /// The rustls server configuration to serve.
    pub config: Arc<rustls::ServerConfig>,
    /// The local CA certificate, when the helper's own CA is in use.
    pub ca_cert_path: Option<PathBuf>,
}

/// Loads (or at first use generates) the certificate and builds the rustls server config.
pub fn load(source: &CertSource) -> Result<LoadedCert> {
    match source {
        CertSource::Files { cert, key } => {
            let chain = read_chain(cert, "--tls-cert")?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
                Error::bad_input("--tls-key", format!("a PEM private key file ({e})"))
            })?;
            Ok(LoadedCert {
                config: server_config(chain, key)?,
                ca_cert_path: None,
            })
        }
        CertSource::Local(dir) => {
            ensure_local_certs(dir)?;
            match load_local(dir) {
                Ok(config) => Ok(LoadedCert {
                    config,
                    ca_cert_path: Some(dir.join(CA_CERT_FILE)),
                }),
                // A leaf we cannot read (truncated, corrupt) is ours to replace: make a new one.
                Err(e) => {
                    tracing::warn!(error = %e, "replacing an unreadable localhost certificate");
                    let _ = std::fs::remove_file(dir.join(LEAF_CERT_FILE));
                    let _ = std::fs::remove_file(dir.join(LEAF_KEY_FILE));
                    ensure_local_certs(dir)?;
                    Ok(LoadedCert {
                        config: load_local(dir).map_err(|e| with_regenerate_hint(dir, e))?,
                        ca_cert_path: Some(dir.join(CA_CERT_FILE)),
                    })
                }
            }
        }
    }
}

/// The certificate `source` names if it is all there already, making nothing: an http login
/// still serves https on its port (for a person who retypes the address) but writes no key.
pub fn load_existing(source: &CertSource) -> Result<Option<LoadedCert>> {
    if let CertSource::Local(dir) = source {
        let files = [CA_CERT_FILE, CA_KEY_FILE, LEAF_CERT_FILE, LEAF_KEY_FILE];
        if !files.iter().all(|f| dir.join(f).is_file()) {
            return Ok(None);
        }
    }
    load(source).map(Some)
}

/// The rustls config for the local leaf and CA in `dir`.
fn load_local(dir: &Path) -> Result<Arc<rustls::ServerConfig>> {
    let mut chain = read_local_chain(&dir.join(LEAF_CERT_FILE))?;
    chain.extend(read_local_chain(&dir.join(CA_CERT_FILE))?);
    let key = PrivateKeyDer::from_pem_file(dir.join(LEAF_KEY_FILE))
        .map_err(|e| Error::internal("reading the local certificate key", e))?;
    server_config(chain, key)
}

/// A certificate file of our own: unreadable is a local fault (exit 1), not bad input.
fn read_local_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let chain = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            tracing::debug!(error = %e, path = %path.display(), "unreadable certificate");
            Error::internal(
                format!("reading {}", path.display()),
                "not a readable PEM certificate (corrupt or truncated?)",
            )
        })?;
    if chain.is_empty() {
        return Err(Error::internal(
            format!("reading {}", path.display()),
            "no certificate in it",
        ));
    }
    Ok(chain)
}

/// Adds how to start over to an error about the local CA's files.
fn with_regenerate_hint(dir: &Path, e: Error) -> Error {
    Error::LocalCa {
        dir: dir.to_path_buf(),
        problem: e.to_string(),
    }
}

/// Checks that `ca.pem` in `dir` is the project's own CA for `ca-key.pem`: the same subject,
/// public key and extensions (CA basic constraint, key usages, the name constraints to
/// localhost, 127.0.0.0/8 and ::1) that we would issue for that key. Only serial, validity
/// and signature may differ. Anything else (a root swapped in, a corrupt file) is refused.
pub fn verify_own_ca(dir: &Path) -> Result<()> {
    let problem = |what: String| with_regenerate_hint(dir, Error::internal(what, "not ours"));
    let key_pem = std::fs::read_to_string(dir.join(CA_KEY_FILE))
        .map_err(|e| with_regenerate_hint(dir, Error::internal("reading the CA key", e)))?;
    let key = KeyPair::from_pem(&key_pem)
        .map_err(|e| with_regenerate_hint(dir, Error::internal("reading the CA key", e)))?;
    let stored =
        read_local_chain(&dir.join(CA_CERT_FILE)).map_err(|e| with_regenerate_hint(dir, e))?;
    let reference = ca_params(&key, OffsetDateTime::now_utc())
        .self_signed(&key)
        .map_err(|e| Error::internal("building the reference CA certificate", e))?;
    let ours =
        der::identity(reference.der()).ok_or_else(|| problem("reading our own CA".into()))?;
    let found = der::identity(stored[0].as_ref())
        .ok_or_else(|| problem(format!("{} is not a well-formed certificate", CA_CERT_FILE)))?;
    if found.public_key != ours.public_key {
        return Err(problem(format!(
            "{CA_CERT_FILE} does not match {CA_KEY_FILE}"
        )));
    }
    if found.subject != ours.subject || found.extensions != ours.extensions {
        return Err(problem(format!(
            "{CA_CERT_FILE} is not the name-constrained CA this tool makes"
        )));
    }
    Ok(())
}

/// One DER certificate as PEM (for the NSS and system stores on Linux).
#[cfg(target_os = "linux")]
pub fn pem_of(der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

/// Deletes the local CA and leaf in `dir` (for `trust --regenerate`); the next use makes new ones.
pub fn remove_local_certs(dir: &Path) -> Result<()> {
    for file in [CA_CERT_FILE, CA_KEY_FILE, LEAF_CERT_FILE, LEAF_KEY_FILE] {
        match std::fs::remove_file(dir.join(file)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::internal(format!("removing {file}"), e)),
        }
    }
    Ok(())
}

fn read_chain(path: &Path, field: &'static str) -> Result<Vec<CertificateDer<'static>>> {
    let chain = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| Error::bad_input(field, format!("a readable PEM certificate file ({e})")))?;
    if chain.is_empty() {
        return Err(Error::bad_input(
            field,
            "a PEM file with at least one certificate",
        ));
    }
    Ok(chain)
}

fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<rustls::ServerConfig>> {
    let mut config = rustls::ServerConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::internal("setting up TLS", e))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| {
            Error::bad_input(
                "TLS certificate",
                format!("a key matching the certificate ({e})"),
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The helper's local CA, as the `trust` command needs it.
#[derive(Debug, Clone)]
pub struct LocalCa {
    /// The PEM file.
    pub cert_path: PathBuf,
    /// The certificate's DER bytes.
    pub der: Vec<u8>,
    /// The CA's common name; also its nickname in trust stores.
    pub name: String,
}

impl LocalCa {
    /// Loads the CA from `dir`, generating it (and the leaf) first if missing.
    pub fn load(dir: &Path) -> Result<Self> {
        ensure_local_certs(dir)?;
        let cert_path = dir.join(CA_CERT_FILE);
        let der = read_local_chain(&cert_path)
            .map_err(|e| with_regenerate_hint(dir, e))?
            .remove(0)
            .to_vec();
        let key_pem = std::fs::read_to_string(dir.join(CA_KEY_FILE)).map_err(|e| {
            with_regenerate_hint(dir, Error::internal("reading the local CA key", e))
        })?;
        let key = KeyPair::from_pem(&key_pem).map_err(|e| {
            with_regenerate_hint(dir, Error::internal("reading the local CA key", e))
        })?;
        Ok(Self {
            cert_path,
            der,
            name: ca_common_name(&key),
        })
    }

    /// SHA-256 of the DER certificate, as colon-separated upper-case hex.
    pub fn fingerprint(&self) -> String {
        Sha256::digest(&self.der)
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":")
    }

    /// The certificate's notAfter as RFC 3339, read from the DER.
    pub fn expires(&self) -> Option<String> {
        crate::tls::der::not_after(&self.der)
    }
}

/// Generates whatever is missing or due for renewal, in a directory that must be private: a
/// CA key others can read or replace would let them impersonate localhost to this user.
fn ensure_local_certs(dir: &Path) -> Result<()> {
    crate::sys::files::ensure_private_dir(dir, "the local certificate authority")?;
    let ca_key_path = dir.join(CA_KEY_FILE);
    let ca_cert_path = dir.join(CA_CERT_FILE);
    let leaf_cert_path = dir.join(LEAF_CERT_FILE);
    let leaf_key_path = dir.join(LEAF_KEY_FILE);

    let leaf_fresh = std::fs::metadata(&leaf_cert_path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_some_and(|age| age < LEAF_RENEW_AFTER);
    let ca_present = ca_key_path.exists() && ca_cert_path.exists();
    // The warm path: existence checks only; nothing is parsed until it is needed.
    if ca_present && leaf_fresh && leaf_key_path.exists() {
        return Ok(());
    }
    let ca_key = if ca_present {
        let pem = std::fs::read_to_string(&ca_key_path)
            .map_err(|e| Error::internal("reading the local CA key", e))?;
        Some(KeyPair::from_pem(&pem).map_err(|e| Error::internal("reading the local CA key", e))?)
    } else {
        None
    };

    create_private_dir(dir)?;
    let now = OffsetDateTime::now_utc();
    let ca_key = match ca_key {
        Some(key) => key,
        None => {
            let key =
                KeyPair::generate().map_err(|e| Error::internal("generating the CA key", e))?;
            let cert = ca_params(&key, now)
                .self_signed(&key)
                .map_err(|e| Error::internal("signing the CA certificate", e))?;
            write_private_atomic(&ca_key_path, key.serialize_pem().as_bytes())?;
            write_private_atomic(&ca_cert_path, cert.pem().as_bytes())?;
            key
        }
    };
    let issuer = Issuer::new(ca_params(&ca_key, now), &ca_key);
    let leaf_key =
        KeyPair::generate().map_err(|e| Error::internal("generating the leaf key", e))?;
    let leaf = leaf_params(now)?
        .signed_by(&leaf_key, &issuer)
        .map_err(|e| Error::internal("signing the localhost certificate", e))?;
    write_private_atomic(&leaf_key_path, leaf_key.serialize_pem().as_bytes())?;
    write_private_atomic(&leaf_cert_path, leaf.pem().as_bytes())?;
    Ok(())
}

/// The CA's parameters. Everything an `Issuer` uses (name, key usages, key id) is derived from
/// the key alone, so a leaf can be re-signed later without parsing the stored certificate.
fn ca_params(key: &KeyPair, now: OffsetDateTime) -> CertificateParams {
    let mut name = DistinguishedName::new();
    name.push(DnType::OrganizationName, "openrouter-pkce");
    name.push(DnType::CommonName, ca_common_name(key));
    let mut params = CertificateParams::default();
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    // Trusting this CA must not let it vouch for any other site.
    params.name_constraints = Some(NameConstraints {
        permitted_subtrees: vec![
            GeneralSubtree::DnsName("localhost".into()),
            GeneralSubtree::IpAddress(CidrSubnet::from_v4_prefix([127, 0, 0, 0], 8)),
            GeneralSubtree::IpAddress(CidrSubnet::from_v6_prefix(
                std::net::Ipv6Addr::LOCALHOST.octets(),
                128,
            )),
        ],
        excluded_subtrees: vec![],
    });
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(CA_VALID_DAYS);
    params
}

/// "openrouter-pkce local CA 1a2b3c4d": unique per key, so stores can tell installs apart.
fn ca_common_name(key: &KeyPair) -> String {
    let f = Sha256::digest(key.public_key_raw());
    format!(
        "{} {:02x}{:02x}{:02x}{:02x}",
        trust::CA_NAME_PREFIX,
        f[0],
        f[1],
        f[2],
        f[3]
    )
}

fn leaf_params(now: OffsetDateTime) -> Result<CertificateParams> {
    let mut params = CertificateParams::new(vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ])
    .map_err(|e| Error::internal("building the localhost certificate", e))?;
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(LEAF_VALID_DAYS);
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_load_generates_private_files_and_later_loads_reuse_them() {
        let dir = tempfile::tempdir().unwrap();
        let certs = dir.path().join("certs");
        load(&CertSource::Local(certs.clone())).unwrap();
        let ca_before = std::fs::read(certs.join(CA_CERT_FILE)).unwrap();
        let leaf_before = std::fs::read(certs.join(LEAF_CERT_FILE)).unwrap();
        load(&CertSource::Local(certs.clone())).unwrap();
        assert_eq!(std::fs::read(certs.join(CA_CERT_FILE)).unwrap(), ca_before);
        assert_eq!(
            std::fs::read(certs.join(LEAF_CERT_FILE)).unwrap(),
            leaf_before
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for f in [CA_KEY_FILE, LEAF_KEY_FILE] {
                let mode = std::fs::metadata(certs.join(f))
                    .unwrap()
                    .permissions()
                    .mode();
                assert_eq!(mode & 0o777, 0o600, "{f}");
            }
        }
    }

    #[test]
    fn a_missing_leaf_is_reissued_under_the_same_ca() {
        let dir = tempfile::tempdir().unwrap();
        let certs = dir.path().join("certs");
        load(&CertSource::Local(certs.clone())).unwrap();
        let ca_before = std::fs::read(certs.join(CA_CERT_FILE)).unwrap();
        std::fs::remove_file(certs.join(LEAF_CERT_FILE)).unwrap();
        load(&CertSource::Local(certs.clone())).unwrap();
        assert!(certs.join(LEAF_CERT_FILE).exists());
        assert_eq!(std::fs::read(certs.join(CA_CERT_FILE)).unwrap(), ca_before);
    }

    #[test]
    fn the_ca_is_name_constrained_and_the_leaf_names_every_loopback_spelling() {
        let dir = tempfile::tempdir().unwrap();
        let ca = LocalCa::load(&dir.path().join("certs")).unwrap();
        // id-ce-nameConstraints (2.5.29.30), marked critical, with localhost and both loopback nets.
        let oid = [0x06, 0x03, 0x55, 0x1d, 0x1e];
        assert!(
            ca.der.windows(oid.len()).any(|w| w == oid),
            "no name constraints"
        );
        assert!(ca.der.windows(9).any(|w| w == b"localhost"));
        let ten_years = ca.expires().unwrap();
        assert!(ten_years.as_str() > "2035", "{ten_years}");
        let leaf =
            CertificateDer::from_pem_file(dir.path().join("certs").join(LEAF_CERT_FILE)).unwrap();
        assert!(leaf.windows(9).any(|w| w == b"localhost"));
        assert!(
            leaf.windows(4).any(|w| w == [127, 0, 0, 1]),
            "no 127.0.0.1 SAN"
        );
        let v6 = std::net::Ipv6Addr::LOCALHOST.octets();
        assert!(leaf.windows(16).any(|w| w == v6), "no ::1 SAN");
    }

    #[test]
    fn user_files_that_do_not_exist_name_the_flag() {
        let e = load(&CertSource::Files {
            cert: "/nonexistent/cert.pem".into(),
            key: "/nonexistent/key.pem".into(),
        })
        .unwrap_err();
        assert!(e.to_string().contains("--tls-cert"), "{e}");
    }
}
