//! The one HTTP client builder: rustls with ring, no redirects, a connect timeout and our
//! user agent. Callers add their own timeouts (and, for the built-in browser, redirects).

use std::time::Duration;

/// A builder with the project's defaults. `build()` reads the TLS roots, which blocks: call it
/// off the async threads (`spawn_blocking`) or before the runtime starts.
pub fn client_builder() -> reqwest::ClientBuilder {
    crate::tls::install_crypto_provider();
    reqwest::Client::builder()
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
