//! Request guards shared by every listener route: the Host check against DNS rebinding.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;

use crate::server::pages::Page;

/// Whether a `Host` header value names this helper: localhost, 127.0.0.1 or [::1] on `port`.
///
/// A page on `evil.example` that rebinds its name to 127.0.0.1 still sends `Host: evil.example`,
/// so refusing every other name keeps web pages out.
pub fn host_allowed(host: &str, port: u16) -> bool {
    let Some((name, host_port)) = host.rsplit_once(':') else {
        return false;
    };
    // Compare text, not numbers: "03000" or "+3000" parse as 3000 but no browser sends them.
    if host_port != port.to_string() {
        return false;
    }
    name.eq_ignore_ascii_case("localhost") || name == "127.0.0.1" || name == "[::1]"
}

/// Middleware: refuses requests whose Host is not ours with 421 and the "wrong address" page.
pub async fn require_local_host(State(port): State<u16>, request: Request, next: Next) -> Response {
    // Exactly one Host header (RFC 9112 section 3.2), and it names us.
    let mut hosts = request.headers().get_all(header::HOST).iter();
    let host_ok = match (hosts.next(), hosts.next()) {
        (Some(h), None) => h.to_str().is_ok_and(|h| host_allowed(h, port)),
        _ => false,
    };
    // An absolute-form target (`GET http://evil.example/callback/…`) names its own authority,
    // which must be ours as well.
    let authority_ok = request
        .uri()
        .authority()
        .is_none_or(|a| host_allowed(a.as_str(), port));
    let ok = host_ok && authority_ok;
    if ok {
        next.run(request).await
    } else {
        tracing::debug!("refused a request with a foreign Host header");
        Page::WrongHost.render(None)
    }
}

#[cfg(test)]
mod tests {
    use super::host_allowed;

    #[test]
    fn only_loopback_names_on_our_port_pass() {
        assert!(host_allowed("localhost:3000", 3000));
        assert!(host_allowed("LOCALHOST:3000", 3000));
        assert!(host_allowed("127.0.0.1:3000", 3000));
        assert!(host_allowed("[::1]:3000", 3000));
        for bad in [
            "localhost",
            "localhost:3001",
            "evil.example:3000",
            "localhost.evil.example:3000",
            "127.0.0.2:3000",
            "[::1]",
            "::1:3000",
            "0.0.0.0:3000",
            "localhost:3000:3000",
            "127.0.0.1:03000",
            "localhost:+3000",
            "",
        ] {
            assert!(!host_allowed(bad, 3000), "{bad}");
        }
    }
}
