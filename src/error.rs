//! The error type every phase returns, the error codes shared by the control API and the CLI,
//! and the one function that maps them to exit codes.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// A boxed underlying error, kept so a message can say what really happened.
pub type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can end a login or a command without success. Each has an exit code
/// ([`Error::exit_code`]) and an error code ([`Error::kind`]), the same in the CLI, the control
/// API and `--events`; messages say what happened and what to do, never a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A flag, environment variable or stdin document was malformed; nothing was sent.
    #[error("invalid {field}: {expected}")]
    BadInput {
        /// The flag or field at fault, as the user wrote it (`--limit`, `code`).
        field: &'static str,
        /// What was expected instead, without echoing secret input.
        expected: String,
    },
    /// A required flag, variable or stdin document was not given at all; nothing was sent.
    #[error("missing {field}: {advice}")]
    Missing {
        /// What is missing (`--api-key`, `code bundle`).
        field: &'static str,
        /// How to provide it.
        advice: &'static str,
    },
    /// The person declined on OpenRouter's page (the callback carried `error=`).
    #[error("authorization denied by the user: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Denied {
        /// OpenRouter's `error` parameter, e.g. `access_denied`.
        error: String,
        /// OpenRouter's `error_description`, when it sent one.
        description: Option<String>,
    },
    /// No callback arrived within `--timeout`.
    #[error("timed out after {seconds} s waiting for the browser to return to the callback")]
    TimedOut {
        /// The timeout that expired.
        seconds: u64,
    },
    /// The browser came back, but the exchange had not finished within `--timeout`.
    #[error(
        "timed out after {seconds} s while OpenRouter was creating the key (you had approved); a key may have been created: check https://openrouter.ai/settings/keys and log in again"
    )]
    ExchangeTimedOut {
        /// The timeout that expired.
        seconds: u64,
    },
    /// OpenRouter answered with a 4xx: the request itself was refused.
    #[error("OpenRouter refused the request: HTTP {status}: {message}")]
    Refused {
        /// The HTTP status code.
        status: u16,
        /// OpenRouter's `error.message`, or an excerpt of the body when it would not parse.
        message: String,
    },
    /// OpenRouter could not be reached at all (connect, TLS, or the request broke off).
    #[error("OpenRouter is unreachable: {context}: {}", root_cause(source.as_ref()))]
    Unreachable {
        /// What was being attempted, e.g. "could not connect to openrouter.ai".
        context: String,
        /// The transport error.
        #[source]
        source: Source,
    },
    /// OpenRouter failed with a 5xx (after retries where allowed), or redirected (not followed).
    #[error("OpenRouter is failing: HTTP {status}: {message}")]
    ServerFailed {
        /// The HTTP status code.
        status: u16,
        /// OpenRouter's `error.message`, or an excerpt of the body.
        message: String,
    },
    /// OpenRouter answered 2xx with a body we could not read.
    #[error("OpenRouter sent a reply we could not read ({what}): HTTP {status}: {excerpt}")]
    BadReply {
        /// Which reply, e.g. "the key exchange".
        what: &'static str,
        /// The HTTP status code.
        status: u16,
        /// A bounded excerpt of the body.
        excerpt: String,
        /// Why it did not parse.
        #[source]
        source: Source,
    },
    /// OpenRouter answered the exchange with success but an empty or missing key.
    #[error("OpenRouter sent no key: HTTP {status}: {excerpt}")]
    NoKey {
        /// The HTTP status code.
        status: u16,
        /// A bounded excerpt of the body.
        excerpt: String,
    },
    /// The callback port is held by another process on one of the loopback addresses: free
    /// it, or ask for another port (`0` picks any free one).
    #[error("could not bind {addr}: in use{}", holder.as_deref().map(|h| format!(" by {h}")).unwrap_or_default())]
    PortInUse {
        /// The address that could not be bound.
        addr: SocketAddr,
        /// The holding process (`pid 4242 (node)`) where the OS lets us find it.
        holder: Option<String>,
    },
    /// The local CA's files cannot be used (corrupt, replaced, unreadable): deleting the
    /// directory makes a new CA at the next https login.
    #[error("the local CA in {} cannot be used ({problem})", dir.display())]
    LocalCa {
        /// The directory holding it.
        dir: std::path::PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// The background service shut down while the flow was pending.
    #[error("the openrouter-pkce service is stopping; the login was cancelled")]
    ServiceStopping,
    /// The background service on our port did not answer, or refused to take the login.
    #[error("{message}")]
    ServiceUnavailable {
        /// What happened, naming the port.
        message: String,
    },
    /// No key is saved for the profile: log in and save one.
    #[error("no key is saved for profile {profile}")]
    NotLoggedIn {
        /// The profile asked for.
        profile: String,
    },
    /// Ctrl-C or SIGTERM: the login was cancelled by the person.
    #[error("cancelled")]
    Interrupted,
    /// A failure the background service reported, with its code and message.
    #[error("{message}")]
    Remote {
        /// The service's error code.
        kind: ErrorKind,
        /// The service's message.
        message: String,
    },
    /// `exec`'s command ended (or could not start): its exit status is the program's. Only the
    /// command-line program has it.
    #[cfg(feature = "cli")]
    #[doc(hidden)]
    #[error("{}", message.as_deref().unwrap_or(""))]
    ChildExited {
        /// The exit status to end with.
        code: u8,
        /// What to say, if anything (the command speaks for itself when it ran).
        message: Option<String>,
    },
    /// Anything else: local files, certificates, a broken pipe; keeps the underlying error.
    #[error("{context}: {source}")]
    Internal {
        /// What was being attempted.
        context: String,
        /// The underlying error.
        #[source]
        source: Source,
    },
}

/// The kinds of failure: the `code` in the control API's errors and the CLI's exit codes.
///
/// Unknown codes from a newer service read as [`ErrorKind::Internal`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// See [`Error::BadInput`].
    BadInput,
    /// A control-API request body or query was malformed.
    BadRequest,
    /// A flag the service cannot honour for this login (another --openrouter-url, say).
    Conflict,
    /// See [`Error::Denied`].
    Denied,
    /// See [`Error::TimedOut`].
    TimedOut,
    /// A service flow expired before its callback arrived.
    Expired,
    /// See [`Error::Refused`].
    Refused,
    /// See [`Error::Unreachable`], [`Error::ServerFailed`], [`Error::BadReply`].
    Unreachable,
    /// See [`Error::PortInUse`].
    PortInUse,
    /// See [`Error::ServiceStopping`].
    ServiceStopping,
    /// The service has too many logins pending (429).
    TooManyFlows,
    /// The service did not answer, or did not accept our credentials.
    ServiceUnavailable,
    /// The control API refused a missing or wrong bearer token (401).
    Unauthorized,
    /// The control API refused a request from a web page (403).
    Forbidden,
    /// The control API does not know the flow (deleted, or its result was wiped).
    NotFound,
    /// See [`Error::Interrupted`].
    Interrupted,
    /// See [`Error::NotLoggedIn`].
    NotLoggedIn,
    /// See [`Error::Internal`].
    #[serde(other)]
    Internal,
}

impl ErrorKind {
    /// The snake_case name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::BadInput => "bad_input",
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Denied => "denied",
            ErrorKind::TimedOut => "timed_out",
            ErrorKind::Expired => "expired",
            ErrorKind::Refused => "refused",
            ErrorKind::Unreachable => "unreachable",
            ErrorKind::PortInUse => "port_in_use",
            ErrorKind::ServiceStopping => "service_stopping",
            ErrorKind::TooManyFlows => "too_many_flows",
            ErrorKind::ServiceUnavailable => "service_unavailable",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Interrupted => "interrupted",
            ErrorKind::NotLoggedIn => "not_logged_in",
            ErrorKind::Internal => "internal",
        }
    }

    /// Every kind, for tests and documentation.
    pub const ALL: [ErrorKind; 18] = [
        ErrorKind::BadInput,
        ErrorKind::BadRequest,
        ErrorKind::Conflict,
        ErrorKind::Denied,
        ErrorKind::TimedOut,
        ErrorKind::Expired,
        ErrorKind::Refused,
        ErrorKind::Unreachable,
        ErrorKind::PortInUse,
        ErrorKind::ServiceStopping,
        ErrorKind::TooManyFlows,
        ErrorKind::ServiceUnavailable,
        ErrorKind::Unauthorized,
        ErrorKind::Forbidden,
        ErrorKind::NotFound,
        ErrorKind::Interrupted,
        ErrorKind::NotLoggedIn,
        ErrorKind::Internal,
    ];

    /// The process exit code for this kind (the table in the README and `--help`).
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::BadInput | ErrorKind::BadRequest | ErrorKind::Conflict => EXIT_BAD_INPUT,
            ErrorKind::Denied => EXIT_DENIED,
            ErrorKind::TimedOut | ErrorKind::Expired => EXIT_TIMED_OUT,
            ErrorKind::Refused => EXIT_REFUSED,
            ErrorKind::Unreachable => EXIT_UNREACHABLE,
            ErrorKind::PortInUse => EXIT_PORT_IN_USE,
            ErrorKind::ServiceStopping => EXIT_SERVICE_STOPPING,
            ErrorKind::TooManyFlows | ErrorKind::ServiceUnavailable | ErrorKind::Unauthorized => {
                EXIT_SERVICE_UNAVAILABLE
            }
            ErrorKind::Interrupted => EXIT_INTERRUPTED,
            ErrorKind::NotLoggedIn => EXIT_NOT_LOGGED_IN,
            ErrorKind::Forbidden | ErrorKind::NotFound | ErrorKind::Internal => EXIT_INTERNAL,
        }
    }
}

impl Error {
    /// The process exit code the command-line program ends with for this error (0-10, 130):
    /// documented in the README, stable across versions.
    pub fn exit_code(&self) -> u8 {
        #[cfg(feature = "cli")]
        if let Error::ChildExited { code, .. } = self {
            return *code;
        }
        self.kind().exit_code()
    }

    /// A bad-input error for `field`, expecting `expected`.
    pub(crate) fn bad_input(field: &'static str, expected: impl Into<String>) -> Self {
        Error::BadInput {
            field,
            expected: expected.into(),
        }
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::BadInput { .. } | Error::Missing { .. } => ErrorKind::BadInput,
            Error::Denied { .. } => ErrorKind::Denied,
            Error::TimedOut { .. } | Error::ExchangeTimedOut { .. } => ErrorKind::TimedOut,
            Error::Refused { .. } => ErrorKind::Refused,
            Error::Unreachable { .. }
            | Error::ServerFailed { .. }
            | Error::BadReply { .. }
            | Error::NoKey { .. } => ErrorKind::Unreachable,
            Error::PortInUse { .. } => ErrorKind::PortInUse,
            Error::ServiceStopping => ErrorKind::ServiceStopping,
            Error::ServiceUnavailable { .. } => ErrorKind::ServiceUnavailable,
            Error::Interrupted => ErrorKind::Interrupted,
            Error::NotLoggedIn { .. } => ErrorKind::NotLoggedIn,
            Error::Internal { .. } | Error::LocalCa { .. } => ErrorKind::Internal,
            #[cfg(feature = "cli")]
            Error::ChildExited { .. } => ErrorKind::Internal,
            Error::Remote { kind, .. } => *kind,
        }
    }

    /// The same complaint about bad input, naming `field` instead (a library setting where
    /// the check was written for a CLI flag).
    pub(crate) fn named(self, field: &'static str) -> Self {
        match self {
            Error::BadInput { expected, .. } => Error::BadInput { field, expected },
            other => other,
        }
    }

    /// An internal error with context that keeps its source: "writing /path: permission denied".
    pub(crate) fn internal(context: impl Into<String>, source: impl Into<Source>) -> Self {
        Error::Internal {
            context: context.into(),
            source: source.into(),
        }
    }
}

/// Shortest fragment of a secret that is hidden when it shows up in network text: shorter runs
/// match by chance and give an attacker nothing (our secrets are 43 characters or more).
const SECRET_FRAGMENT: usize = 10;

/// Text from the network made safe to show a person: terminal escape sequences, control and
/// bidirectional-format characters removed (not replaced, so a secret split by them is whole
/// again), and every run of [`SECRET_FRAGMENT`] or more bytes from one of `secrets` (the code,
/// verifier or key we sent, which a proxy may echo, whole, cut or spliced) replaced.
pub fn sanitize(text: &str, secrets: &[&str]) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        // The whole of a terminal sequence goes, not just its introducer: CSI (ESC [ or
        // U+009B) up to its final byte; OSC, DCS, SOS, PM, APC (ESC ] P X ^ _, or U+009D,
        // U+0090, U+0098, U+009E, U+009F) up to BEL or the string terminator; any other
        // escape with its one character.
        let introducer = match c {
            '\u{1b}' => match chars.next() {
                Some('[') => Some(true),
                Some(']' | 'P' | 'X' | '^' | '_') => Some(false),
                _ => None,
            },
            '\u{9b}' => Some(true),
            '\u{9d}' | '\u{90}' | '\u{98}' | '\u{9e}' | '\u{9f}' => Some(false),
            _ => {
                // Bidi marks, embeddings and isolates reorder what is shown; line and
                // paragraph separators break a line for readers that split on them (an
                // `--events` consumer's splitlines); zero-width characters hide text.
                let format = matches!(
                    c,
                    '\u{061c}'
                        | '\u{200b}'
                        | '\u{200e}'
                        | '\u{200f}'
                        | '\u{2028}'..='\u{202e}'
                        | '\u{2060}'..='\u{2064}'
                        | '\u{2066}'..='\u{206f}'
                        | '\u{feff}'
                        // Other characters drawn as nothing: soft hyphen, grapheme joiner,
                        // Hangul and Mongolian fillers, interlinear annotation, tags.
                        | '\u{ad}'
                        | '\u{34f}'
                        | '\u{115f}'
                        | '\u{1160}'
                        | '\u{17b4}'
                        | '\u{17b5}'
                        | '\u{180b}'..='\u{180f}'
                        | '\u{3164}'
                        | '\u{ffa0}'
                        | '\u{fff9}'..='\u{fffb}'
                        | '\u{1d173}'..='\u{1d17a}'
                        | '\u{e0000}'..='\u{e007f}'
                );
                if !(c.is_control() || format) {
                    plain.push(c);
                }
                continue;
            }
        };
        match introducer {
            Some(true) => {
                for p in chars.by_ref() {
                    if ('\u{40}'..='\u{7e}').contains(&p) {
                        break;
                    }
                }
            }
            Some(false) => {
                while let Some(p) = chars.next() {
                    if p == '\u{7}' || p == '\u{9c}' {
                        break;
                    }
                    if p == '\u{1b}' && chars.next_if_eq(&'\\').is_some() {
                        break;
                    }
                }
            }
            None => {}
        }
    }
    let bytes = plain.as_bytes();
    let mut hidden = vec![false; bytes.len()];
    for secret in secrets.iter().map(|s| s.as_bytes()) {
        if secret.len() < SECRET_FRAGMENT || !secret.is_ascii() {
            continue;
        }
        for start in 0..bytes.len() {
            for from in 0..secret.len() {
                let run = bytes[start..]
                    .iter()
                    .zip(&secret[from..])
                    .take_while(|(a, b)| a == b)
                    .count();
                if run >= SECRET_FRAGMENT {
                    hidden[start..start + run]
                        .iter_mut()
                        .for_each(|h| *h = true);
                }
            }
        }
    }
    if !hidden.contains(&true) {
        return plain;
    }
    // Secrets are ASCII, so every hidden run starts and ends on a character boundary.
    let mut out = String::with_capacity(plain.len());
    let mut i = 0;
    while i < bytes.len() {
        if hidden[i] {
            while i < bytes.len() && hidden[i] {
                i += 1;
            }
            out.push_str("[REDACTED]");
        } else {
            let end = (i..bytes.len()).find(|&k| hidden[k]).unwrap_or(bytes.len());
            out.push_str(&plain[i..end]);
            i = end;
        }
    }
    out
}

/// The innermost error message, which says more than a wrapper's ("connection refused").
pub fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// Exit code for internal failures (local I/O, certificates).
pub const EXIT_INTERNAL: u8 = 1;
/// Exit code for bad input: a malformed flag, variable or code bundle. Also clap's usage errors.
pub const EXIT_BAD_INPUT: u8 = 2;
/// Exit code when the person denied the authorization.
pub const EXIT_DENIED: u8 = 3;
/// Exit code when the callback did not arrive in time.
pub const EXIT_TIMED_OUT: u8 = 4;
/// Exit code when OpenRouter refused the request (4xx).
pub const EXIT_REFUSED: u8 = 5;
/// Exit code when OpenRouter was unreachable, failing (5xx) or unreadable.
pub const EXIT_UNREACHABLE: u8 = 6;
/// Exit code when the callback port is in use by another process.
pub const EXIT_PORT_IN_USE: u8 = 7;
/// Exit code when the background service stopped while the flow was pending.
pub const EXIT_SERVICE_STOPPING: u8 = 8;
/// Exit code when the background service did not answer or refused to take the login.
pub const EXIT_SERVICE_UNAVAILABLE: u8 = 9;
/// Exit code when the person pressed Ctrl-C (128 + SIGINT, as shells report it).
pub const EXIT_INTERRUPTED: u8 = 130;
/// Exit code when no key is saved for the profile (`key`, `status`).
pub const EXIT_NOT_LOGGED_IN: u8 = 10;

/// The process exit code for `error`; the single place these numbers are chosen.
pub(crate) fn exit_code(error: &Error) -> u8 {
    error.exit_code()
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_local_failure_has_its_own_nonzero_code() {
        let errors = [
            Error::bad_input("--limit", "a number"),
            Error::Denied {
                error: "access_denied".into(),
                description: None,
            },
            Error::TimedOut { seconds: 1 },
            Error::Refused {
                status: 403,
                message: "x".into(),
            },
            Error::ServerFailed {
                status: 502,
                message: "x".into(),
            },
            Error::PortInUse {
                addr: "127.0.0.1:1".parse().unwrap(),
                holder: None,
            },
            Error::ServiceStopping,
            Error::ServiceUnavailable {
                message: "x".into(),
            },
            Error::Interrupted,
            Error::NotLoggedIn {
                profile: "default".into(),
            },
            Error::internal("x", "y"),
        ];
        for e in &errors {
            let kind = e.kind();
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(serde_json::from_str::<ErrorKind>(&json).unwrap(), kind);
            let remote = Error::Remote {
                kind,
                message: String::new(),
            };
            assert_eq!(
                exit_code(&remote),
                exit_code(e),
                "a service-reported {e:?} exits differently"
            );
        }
        let mut codes: Vec<u8> = errors.iter().map(exit_code).collect();
        assert!(codes.iter().all(|&c| c != 0));
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), errors.len(), "exit codes are not distinct");
    }

    #[test]
    fn every_kind_round_trips_and_unknown_codes_are_internal() {
        for kind in ErrorKind::ALL {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(serde_json::from_str::<ErrorKind>(&json).unwrap(), kind);
            assert_ne!(kind.exit_code(), 0);
        }
        assert_eq!(
            serde_json::from_str::<ErrorKind>("\"from_the_future\"").unwrap(),
            ErrorKind::Internal
        );
    }

    #[test]
    fn internal_errors_keep_their_source() {
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "permission denied");
        let e = Error::internal("writing /x", io);
        assert_eq!(e.to_string(), "writing /x: permission denied");
        let source = std::error::Error::source(&e).expect("source kept");
        assert!(source.downcast_ref::<std::io::Error>().is_some());
    }

    #[test]
    fn sanitize_drops_line_separators_invisible_and_bidi_characters() {
        // U+2028/U+2029 split a JSON event line for readers using splitlines; U+061C is a bidi
        // mark like LRM/RLM; U+200B, U+2060 and U+FEFF are invisible.
        let hostile = "no\u{2028}d\u{2029}e\u{061c}-\u{200b}js\u{2060}\u{feff}";
        assert_eq!(sanitize(hostile, &[]), "node-js");
        let blank = "\u{206a}\u{fff9}\u{e0041}\u{180e}\u{ad}\u{34f}\u{115f}\u{3164}";
        assert_eq!(sanitize(blank, &[]), "");
        // Joiners that scripts and emoji need are kept.
        assert_eq!(sanitize("a\u{200c}b\u{200d}c", &[]), "a\u{200c}b\u{200d}c");
    }

    #[test]
    fn sanitize_hides_secrets_whole_cut_or_spliced_and_terminal_tricks() {
        let code = "c0deMNfU-ZJxNmpMzxOWabcdefghij";
        let verifier = "awztpj_AGnC6NLIcMhTKVdUod-sDA9gFcbaKcHW5m0I";
        let secrets = [code, verifier];
        for echoed in [
            format!("bad body code={code} verifier={verifier}"),
            format!(
                "spliced {}\u{1}{} and {}\n{}",
                &code[..8],
                &code[8..],
                &verifier[..20],
                &verifier[20..]
            ),
            format!("proxy cut: {}... and ...{}", &verifier[..38], &code[3..]),
        ] {
            let clean = sanitize(&echoed, &secrets);
            for secret in secrets {
                for window in secret.as_bytes().windows(SECRET_FRAGMENT) {
                    let window = std::str::from_utf8(window).unwrap();
                    assert!(!clean.contains(window), "{window} left in {clean}");
                }
            }
            assert!(clean.contains("[REDACTED]"), "{clean}");
        }
        let tricks = "\u{1b}[2J\u{1b}[H\u{1b}[32mLogin OK\u{202e}evil\u{202c}\u{7}";
        assert_eq!(sanitize(tricks, &[]), "Login OKevil");
        // Whole OSC/DCS strings go (a window title, a hyperlink), by ESC or C1 introducer.
        let osc = "a\u{1b}]0;PWNED-TITLE\u{7}b\u{1b}]8;;http://evil/\u{1b}\\c\u{9d}0;T\u{9c}d\u{9b}31me\u{1b}Pq#0\u{1b}\\f";
        assert_eq!(sanitize(osc, &[]), "abcdef");
    }
}
