//! The browser pages (static/, embedded in the binary) and the headers they are sent with.

pub use crate::sys::text::escape_html;
use std::sync::OnceLock;

use axum::body::Bytes;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

const PAGE: &str = include_str!("../../static/page.html");
const CSS: &str = include_str!("../../static/page.css");
const CLEAR_URL_JS: &str = include_str!("../../static/clear-url.js");

/// The page with its stylesheet and script inlined, and the CSP that allows exactly those two.
///
/// Inlined because the one-shot listener closes as soon as the callback is accepted: a page that
/// fetched its assets afterwards would find nobody there.
struct Template {
    html: String,
    csp_header: HeaderValue,
}

fn template() -> &'static Template {
    static TEMPLATE: OnceLock<Template> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let hash = |text: &str| {
            use base64::Engine;
            use sha2::Digest;
            let digest = sha2::Sha256::digest(text.as_bytes());
            format!(
                "'sha256-{}'",
                base64::engine::general_purpose::STANDARD.encode(digest)
            )
        };
        let csp = format!(
            "default-src 'none'; style-src {}; script-src {}; img-src 'none'; \
             base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            hash(CSS),
            hash(CLEAR_URL_JS)
        );
        Template {
            html: PAGE
                .replace("{{css}}", CSS)
                .replace("{{script}}", CLEAR_URL_JS),
            csp_header: HeaderValue::from_str(&csp).expect("a CSP of ASCII text is a header value"),
        }
    })
}

/// What a page tells the person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// `login`: the key was created and handed to the terminal or app.
    KeyCreated,
    /// `authorize`: the code was handed to the app, which creates the key itself.
    CodeHandedOver,
    /// The person approved but the key could not be created (the detail says why).
    ExchangeFailed,
    /// The person approved; the key is still being created after the page stopped waiting.
    StillWorking,
    /// The login was cancelled (Ctrl-C, the app) before the key was created.
    Cancelled,
    /// The person declined on OpenRouter's page.
    Denied,
    /// No pending login matches this callback (stale tab, finished, expired, or forged).
    UnknownLogin,
    /// The login was found but the `state` parameter did not match it.
    WrongState,
    /// The callback carried neither a code nor an error.
    MissingCode,
    /// The request named a host other than localhost (DNS rebinding guard).
    WrongHost,
    /// Nothing here.
    NotFound,
}

impl Page {
    fn parts(self) -> (StatusCode, &'static str, &'static str, &'static str) {
        match self {
            Page::KeyCreated => (
                StatusCode::OK,
                "Logged in to OpenRouter",
                "Your key was created and handed to the app that asked for it.",
                "You can close this tab.",
            ),
            Page::CodeHandedOver => (
                StatusCode::OK,
                "Authorization complete",
                "The authorization code was handed to the app that asked for it; the app creates the key.",
                "You can close this tab.",
            ),
            Page::ExchangeFailed => (
                StatusCode::BAD_GATEWAY,
                "The key was not created",
                "You approved, but the key could not be created:",
                "Start the login again from your terminal or app; if it keeps failing, OpenRouter may be having trouble (see status.openrouter.ai).",
            ),
            Page::StillWorking => (
                StatusCode::OK,
                "Approved",
                "OpenRouter is still creating your key.",
                "Your terminal or app will say when it is ready; you can close this tab.",
            ),
            Page::Cancelled => (
                StatusCode::GONE,
                "Login stopped",
                "The login was stopped (it timed out or was cancelled) before the key reached the app. If a key was created anyway, it is listed on your OpenRouter keys page.",
                "Start the login again from your terminal or app.",
            ),
            Page::Denied => (
                StatusCode::OK,
                "Authorization denied",
                "OpenRouter reports that access was not granted, so no key was created.",
                "Close this tab and start the login again if this was a mistake.",
            ),
            Page::UnknownLogin => (
                StatusCode::NOT_FOUND,
                "Unknown or expired login",
                "This link does not belong to a login that is waiting. It may have finished, timed out, or been opened twice.",
                "Start the login again from your terminal or app.",
            ),
            Page::WrongState => (
                StatusCode::BAD_REQUEST,
                "Login could not be verified",
                "The state value returned by the browser does not match the login that is waiting, so the code was not accepted.",
                "Start the login again; if this keeps happening, another page may be interfering.",
            ),
            Page::MissingCode => (
                StatusCode::BAD_REQUEST,
                "No authorization code",
                "The browser came back without an authorization code.",
                "Start the login again from your terminal or app.",
            ),
            Page::WrongHost => (
                StatusCode::MISDIRECTED_REQUEST,
                "Wrong address",
                "This helper only answers on localhost, 127.0.0.1 or [::1].",
                "Open the link exactly as the login printed it.",
            ),
            Page::NotFound => (
                StatusCode::NOT_FOUND,
                "Nothing here",
                "This address is not part of the login.",
                "You can close this tab.",
            ),
        }
    }

    /// The page's HTTP status.
    pub fn status(self) -> StatusCode {
        self.parts().0
    }

    /// Renders the page; `detail` (e.g. OpenRouter's error text) is HTML-escaped and appended.
    pub fn render(self, detail: Option<&str>) -> Response {
        // Refusals can arrive by the thousand (a flood of forged callbacks): render each page
        // once and hand out cheap clones of the bytes.
        static RENDERED: [OnceLock<Bytes>; PAGE_COUNT] = [const { OnceLock::new() }; PAGE_COUNT];
        let body = match detail {
            None => RENDERED[self as usize]
                .get_or_init(|| Bytes::from(self.html(None)))
                .clone(),
            Some(d) => Bytes::from(self.html(Some(d))),
        };
        with_page_headers((
            self.status(),
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            body,
        ))
    }

    fn html(self, detail: Option<&str>) -> String {
        let (_, title, message, next) = self.parts();
        let message = match detail {
            Some(d) => {
                let d = d.trim();
                // OpenRouter's texts may lack a full stop; the sentence still ends.
                let stop = if d.ends_with(['.', '!', '?', ')']) {
                    ""
                } else {
                    "."
                };
                format!("{} {}{stop}", escape_html(message), escape_html(d))
            }
            None => escape_html(message),
        };
        let (kind, badge) = if matches!(
            self,
            Page::KeyCreated | Page::CodeHandedOver | Page::StillWorking
        ) {
            ("success", "✓")
        } else {
            ("error", "!")
        };
        template()
            .html
            .replace("{{kind}}", kind)
            .replace("{{badge}}", badge)
            .replace("{{title}}", title)
            .replace("{{message}}", &message)
            .replace("{{next}}", next)
    }
}

/// Number of [`Page`] variants (for the render cache).
const PAGE_COUNT: usize = 11;

fn with_page_headers(response: impl IntoResponse) -> Response {
    let mut response = response.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        template().csp_header.clone(),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_count_covers_every_variant() {
        let all = [
            Page::KeyCreated,
            Page::CodeHandedOver,
            Page::ExchangeFailed,
            Page::StillWorking,
            Page::Cancelled,
            Page::Denied,
            Page::UnknownLogin,
            Page::WrongState,
            Page::MissingCode,
            Page::WrongHost,
            Page::NotFound,
        ];
        assert_eq!(all.len(), PAGE_COUNT);
        assert!(all.iter().all(|p| (*p as usize) < PAGE_COUNT));
    }

    #[test]
    fn detail_is_escaped() {
        assert_eq!(
            escape_html("<script>&'\""),
            "&lt;script&gt;&amp;&#39;&quot;"
        );
    }

    #[test]
    fn pages_load_no_external_resources() {
        for text in [PAGE, CSS, CLEAR_URL_JS] {
            assert!(
                !text.contains("http://") && !text.contains("https://"),
                "{text}"
            );
            assert!(!text.contains("//cdn") && !text.contains("url("), "{text}");
        }
        assert!(PAGE.contains("<html lang=\"en\">"));
    }

    #[test]
    fn the_csp_allows_exactly_the_inlined_style_and_script() {
        use base64::Engine;
        use sha2::Digest;
        let html = &template().html;
        let inline = |open: &str, close: &str| {
            let start = html.find(open).unwrap() + open.len();
            let end = start + html[start..].find(close).unwrap();
            html[start..end].to_owned()
        };
        for (text, directive) in [
            (inline("<style>", "</style>"), "style-src"),
            (inline("<script>", "</script>"), "script-src"),
        ] {
            let hash = base64::engine::general_purpose::STANDARD
                .encode(sha2::Sha256::digest(text.as_bytes()));
            let csp = template().csp_header.to_str().unwrap();
            assert!(
                csp.contains(&format!("{directive} 'sha256-{hash}'")),
                "{csp}"
            );
        }
        assert!(
            !template()
                .csp_header
                .to_str()
                .unwrap()
                .contains("unsafe-inline")
        );
    }

    #[test]
    fn pages_carry_the_security_headers() {
        let r = Page::WrongState.render(Some("<b>x</b>"));
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let h = r.headers();
        assert_eq!(h[header::CACHE_CONTROL], "no-store");
        assert_eq!(h[header::REFERRER_POLICY], "no-referrer");
        assert!(
            h[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .starts_with("default-src 'none'")
        );
    }
}
