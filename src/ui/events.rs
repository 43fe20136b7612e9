//! `--events`: the login's progress as NDJSON on stderr, for apps that draw their own UI (a
//! URL to show, a QR code, a countdown). The key never appears in an event: it stays on stdout.

use serde::Serialize;

use crate::error::{Error, ErrorKind};

/// One step of a login: a line on stderr under `--events`, or an item of an embedded login's
/// [`Events`](crate::Events) stream. As JSON, the `event` field names the variant.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// The callback listener is up (or the service's, for a delegated login).
    Listening {
        /// The port OpenRouter's redirect comes back to.
        port: u16,
        /// Where the redirect comes back to, without its last path segment (the login's secret
        /// nonce, which only the authorize URL carries).
        callback_url: String,
    },
    /// The consent page to send the person to (carries the login's state: show it only to
    /// the person).
    AuthorizeUrl {
        /// The URL.
        url: String,
        /// When the login stops waiting (RFC 3339).
        expires_at: String,
    },
    /// A browser command started.
    BrowserOpened,
    /// No browser could be started: show the URL.
    BrowserFailed {
        /// Why, in words.
        message: String,
    },
    /// The browser came back with OpenRouter's answer.
    CallbackReceived,
    /// The code is being redeemed for a key.
    Exchanging,
    /// Done: the key is on stdout (or in `--output`), or the code bundle is.
    Succeeded {
        /// The OpenRouter user, when known (`login`).
        #[serde(skip_serializing_if = "Option::is_none")]
        user_id: Option<String>,
    },
    /// The command failed; `code` and `exit_code` are the control API's and the CLI's.
    Error {
        /// The error code.
        code: ErrorKind,
        /// The process's exit code.
        exit_code: u8,
        /// What happened and what to do.
        message: String,
    },
    /// Anything the prose mode would have said in a line (a fallback port, a hint).
    Notice {
        /// The line.
        message: String,
    },
}

impl Event {
    /// The `error` event for `error`.
    pub fn error(error: &Error) -> Event {
        Event::Error {
            code: error.kind(),
            exit_code: crate::error::exit_code(error),
            message: error.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_tagged_objects() {
        let json = |e: &Event| serde_json::to_string(e).unwrap();
        assert_eq!(json(&Event::BrowserOpened), r#"{"event":"browser_opened"}"#);
        assert_eq!(
            json(&Event::Succeeded { user_id: None }),
            r#"{"event":"succeeded"}"#
        );
        assert_eq!(
            json(&Event::error(&Error::Interrupted)),
            r#"{"event":"error","code":"interrupted","exit_code":130,"message":"cancelled"}"#
        );
    }
}
