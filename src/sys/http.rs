//! The one HTTP client builder: rustls with ring (passed explicitly, never installed as the
//! process's default), the platform's certificate verifier, no redirects, a connect timeout
//! and our user agent. Callers add their own timeouts (and, for the built-in browser,
//! redirects).

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::CertificateDer;

use crate::error::{Error, Result};

/// A builder with the project's defaults, trusting the platform's roots plus `extra_roots`.
/// Blocking (the verifier reads the TLS roots): call it off the async threads
/// (`spawn_blocking`) or before the runtime starts.
pub fn client_builder(extra_roots: &[CertificateDer<'static>]) -> Result<reqwest::ClientBuilder> {
    let provider = crypto_provider();
    let verifier = if extra_roots.is_empty() {
        rustls_platform_verifier::Verifier::new(provider.clone())
    } else {
        rustls_platform_verifier::Verifier::new_with_extra_roots(
            extra_roots.iter().cloned(),
            provider.clone(),
        )
    }
    .map_err(|e| Error::internal("reading the system's TLS roots", e))?;
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::internal("setting up TLS", e))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(with_tls(tls))
}

/// A builder that trusts exactly `roots`, none of the platform's: for clients that only ever
/// talk to our own loopback listeners (the built-in client that plays the browser against a
/// stand-in and our callback, the control socket). Nothing is read from the system, so it
/// does not block and works where the system's store cannot be read.
pub fn loopback_client_builder(
    roots: &[CertificateDer<'static>],
) -> Result<reqwest::ClientBuilder> {
    let mut store = rustls::RootCertStore::empty();
    for root in roots {
        store
            .add(root.clone())
            .map_err(|e| Error::internal("reading the local CA", e))?;
    }
    let tls = rustls::ClientConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::internal("setting up TLS", e))?
        .with_root_certificates(store)
        .with_no_client_auth();
    Ok(with_tls(tls))
}

/// The project's defaults around a TLS configuration.
fn with_tls(mut tls: rustls::ClientConfig) -> reqwest::ClientBuilder {
    // HTTP/1.1 only, as the client speaks (reqwest sets no ALPN on a configuration it is given).
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        // Following a redirect from the token endpoint would hand the code elsewhere.
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("openrouter-pkce/", env!("CARGO_PKG_VERSION")))
}

/// Reads at most `max` bytes of a reply body (a proxy or a broken server can send anything),
/// as text with invalid UTF-8 replaced.
pub async fn read_bounded(mut response: reqwest::Response, max: usize) -> reqwest::Result<String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = max - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= max {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// ring, handed to every rustls configuration the crate builds. Never installed as the
/// process-wide default: that choice belongs to the application embedding the library (a
/// second `install_default` would fail in its code, not ours).
pub fn crypto_provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    static PROVIDER: std::sync::OnceLock<std::sync::Arc<rustls::crypto::CryptoProvider>> =
        std::sync::OnceLock::new();
    PROVIDER
        .get_or_init(|| std::sync::Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}
