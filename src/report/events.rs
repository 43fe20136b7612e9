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

/// `event` as one line of JSON with its newline. serde_json leaves U+2028, U+2029 and U+0085
/// raw, and a reader that splits lines on them (Python's `splitlines`, JavaScript's line
/// terminators) would cut the event in two: they are written as `\u` escapes, which every
/// JSON reader decodes to the same text.
pub fn to_json_line(event: &Event) -> serde_json::Result<String> {
    let json = serde_json::to_string(event)?;
    let mut line = String::with_capacity(json.len() + 1);
    for c in json.chars() {
        match c {
            '\u{2028}' => line.push_str("\\u2028"),
            '\u{2029}' => line.push_str("\\u2029"),
            '\u{85}' => line.push_str("\\u0085"),
            c => line.push(c),
        }
    }
    line.push('\n');
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_lines_survive_any_line_splitter() {
        let event = Event::Notice {
            message: "a\u{2028}b\u{2029}c\u{85}d\u{2027}".into(),
        };
        let line = to_json_line(&event).unwrap();
        assert!(line.ends_with('\n'));
        let body = line.trim_end_matches('\n');
        assert!(
            !body.contains(['\n', '\r', '\u{2028}', '\u{2029}', '\u{85}']),
            "{line:?}"
        );
        let back: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(back["message"], "a\u{2028}b\u{2029}c\u{85}d\u{2027}");
    }

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
