//! The error type every phase returns, and the one function that maps it to an exit code.

use std::net::SocketAddr;

/// Everything that can end a command without success.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A flag, environment variable or stdin document was malformed; nothing was sent.
    #[error("invalid {field}: {expected}")]
    BadInput {
        /// The flag or field at fault, as the user wrote it (`--limit`, `code`).
        field: &'static str,
        /// What was expected instead, without echoing secret input.
        expected: String,
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
    /// OpenRouter answered with a 4xx: the request itself was refused.
    #[error("OpenRouter refused the request: HTTP {status}: {message}")]
    Refused {
        /// The HTTP status code.
        status: u16,
        /// OpenRouter's `error.message`, or the raw body when it would not parse.
        message: String,
    },
    /// OpenRouter could not be reached, or failed with a 5xx (after retries where allowed).
    #[error("OpenRouter is unreachable or failing: {0}")]
    Unreachable(String),
    /// The callback port is held by another process on one of the loopback addresses.
    #[error("could not bind {addr}: in use{}", holder.as_deref().map(|h| format!(" by {h}")).unwrap_or_default())]
    PortInUse {
        /// The address that could not be bound.
        addr: SocketAddr,
        /// The holding process (`pid 4242 (node)`) where the OS lets us find it.
        holder: Option<String>,
    },
    /// The background service shut down while the flow was pending.
    #[error("the openrouter-pkce service is stopping; the login was cancelled")]
    ServiceStopping,
    /// Anything else: I/O on local files, certificate generation, a broken pipe.
    #[error("{0}")]
    Internal(String),
    /// A failure the background service reported for a flow it ran for us.
    #[error("{message}")]
    Remote {
        /// What kind of failure it was, as the service classified it.
        kind: ErrorKind,
        /// The service's message.
        message: String,
    },
}

/// The kinds of failure, as named in the service's JSON and mapped to exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// See [`Error::BadInput`].
    BadInput,
    /// See [`Error::Denied`].
    Denied,
    /// See [`Error::TimedOut`]; also a service flow that expired.
    TimedOut,
    /// See [`Error::Refused`].
    Refused,
    /// See [`Error::Unreachable`].
    Unreachable,
    /// See [`Error::PortInUse`].
    PortInUse,
    /// See [`Error::ServiceStopping`].
    ServiceStopping,
    /// See [`Error::Internal`].
    Internal,
}

impl ErrorKind {
    /// The snake_case name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::BadInput => "bad_input",
            ErrorKind::Denied => "denied",
            ErrorKind::TimedOut => "timed_out",
            ErrorKind::Refused => "refused",
            ErrorKind::Unreachable => "unreachable",
            ErrorKind::PortInUse => "port_in_use",
            ErrorKind::ServiceStopping => "service_stopping",
            ErrorKind::Internal => "internal",
        }
    }

    /// Parses the JSON name; unknown names are internal errors.
    pub fn parse(name: &str) -> Self {
        match name {
            "bad_input" => ErrorKind::BadInput,
            "denied" => ErrorKind::Denied,
            "timed_out" | "expired" => ErrorKind::TimedOut,
            "refused" => ErrorKind::Refused,
            "unreachable" => ErrorKind::Unreachable,
            "port_in_use" => ErrorKind::PortInUse,
            "service_stopping" => ErrorKind::ServiceStopping,
            _ => ErrorKind::Internal,
        }
    }

    /// The process exit code for this kind.
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::BadInput => EXIT_BAD_INPUT,
            ErrorKind::Denied => EXIT_DENIED,
            ErrorKind::TimedOut => EXIT_TIMED_OUT,
            ErrorKind::Refused => EXIT_REFUSED,
            ErrorKind::Unreachable => EXIT_UNREACHABLE,
            ErrorKind::PortInUse => EXIT_PORT_IN_USE,
            ErrorKind::ServiceStopping => EXIT_SERVICE_STOPPING,
            ErrorKind::Internal => EXIT_INTERNAL,
        }
    }
}

impl Error {
    /// A bad-input error for `field`, expecting `expected`.
    pub fn bad_input(field: &'static str, expected: impl Into<String>) -> Self {
        Error::BadInput {
            field,
            expected: expected.into(),
        }
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::BadInput { .. } => ErrorKind::BadInput,
            Error::Denied { .. } => ErrorKind::Denied,
            Error::TimedOut { .. } => ErrorKind::TimedOut,
            Error::Refused { .. } => ErrorKind::Refused,
            Error::Unreachable(_) => ErrorKind::Unreachable,
            Error::PortInUse { .. } => ErrorKind::PortInUse,
            Error::ServiceStopping => ErrorKind::ServiceStopping,
            Error::Internal(_) => ErrorKind::Internal,
            Error::Remote { kind, .. } => *kind,
        }
    }

    /// An internal error with context: "writing /path: permission denied".
    pub fn internal(context: impl std::fmt::Display, err: impl std::fmt::Display) -> Self {
        Error::Internal(format!("{context}: {err}"))
    }
}

/// Exit code for success.
pub const EXIT_OK: u8 = 0;
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
/// Exit code when OpenRouter was unreachable or failing (5xx) after retries.
pub const EXIT_UNREACHABLE: u8 = 6;
/// Exit code when the callback port is in use by another process.
pub const EXIT_PORT_IN_USE: u8 = 7;
/// Exit code when the background service stopped while the flow was pending.
pub const EXIT_SERVICE_STOPPING: u8 = 8;

/// The process exit code for `error`; the single place these numbers are chosen.
pub fn exit_code(error: &Error) -> u8 {
    error.kind().exit_code()
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_failure_kind_has_its_own_nonzero_code() {
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
            Error::Unreachable("x".into()),
            Error::PortInUse {
                addr: "127.0.0.1:1".parse().unwrap(),
                holder: None,
            },
            Error::ServiceStopping,
            Error::Internal("x".into()),
        ];
        for e in &errors {
            let kind = e.kind();
            assert_eq!(ErrorKind::parse(kind.as_str()), kind, "{e:?}");
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
        assert!(codes.iter().all(|&c| c != EXIT_OK));
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), errors.len(), "exit codes are not distinct");
    }

    #[test]
    fn port_in_use_names_the_holder() {
        let e = Error::PortInUse {
            addr: "127.0.0.1:3000".parse().unwrap(),
            holder: Some("pid 4242 (node)".into()),
        };
        assert_eq!(
            e.to_string(),
            "could not bind 127.0.0.1:3000: in use by pid 4242 (node)"
        );
    }
}
