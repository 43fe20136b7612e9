//! The CLI side of the service: find a running service for our port through its control socket,
//! and run logins through it as a [`FlowHost`], with the same wire types the service serves.
//!
//! Every request is bounded by the command's deadline; a service that does not answer is
//! reported as not answering, and every refusal maps to the error (and exit code) it names.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use tokio::time::Instant;
use url::Url;

use crate::error::{Error, ErrorKind, Result};
use crate::flow::driver::FlowHost;
use crate::flow::progress::Progress;
use crate::flow::scheme::CallbackScheme;
use crate::flow::{
    CallbackBase, CallbackHost, FlowResult, FlowSpec, Stage, StartedFlow, UrlScheme,
};
use crate::pkce::ChallengeMethod;
use crate::report::{Reporter, say};
use crate::service::api::{
    CreateFlowRequest, CreatedFlow, ErrorDoc, ErrorReply, FlowState, FlowStatusDoc,
};

/// How long the probe may take. The socket is the service's alone, so a flood on the TCP port
/// cannot delay it; only a stopped or wedged service takes this long.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest single long-poll.
const POLL: Duration = Duration::from_secs(25);
/// Time left for the service to answer after a long-poll's wait ends.
const ANSWER_GRACE: Duration = Duration::from_secs(1);
/// How long a cancelling DELETE may take.
const CANCEL_TIMEOUT: Duration = Duration::from_secs(3);
/// Largest control-API reply read.
const MAX_REPLY_BYTES: usize = 64 * 1024;

/// What the probe found for the port.
#[derive(Debug)]
pub enum Probe {
    /// Our service answered its health check on its control socket.
    Ready(ServiceClient),
    /// The socket accepted the connection but the service did not answer in time (stopped or
    /// wedged): not a reason to start a second listener.
    NotAnswering,
    /// A socket of ours that refused connections (the service died): it was removed.
    Stale,
    /// No service: no socket, or one we must not trust (named on stderr).
    Absent,
}

/// The error for a service on `port` that accepts connections but does not answer.
pub fn not_answering(port: u16) -> Error {
    Error::ServiceUnavailable {
        message: format!(
            "the openrouter-pkce service on port {port} is not answering (stopped or overloaded?); restart it, or stop it to log in without it"
        ),
    }
}

/// A running service that answered its health check on its control socket.
#[derive(Debug, Clone)]
pub struct ServiceClient {
    socket: PathBuf,
    port: u16,
    openrouter: Url,
    /// The scheme to ask for (`auto`: the service decides, with its own certificate).
    scheme: CallbackScheme,
    /// Where the client's own lines go (which service, a scheme note).
    reporter: Arc<dyn Reporter>,
}

impl ServiceClient {
    /// Looks for a service on `port` that runs logins against `openrouter`, through its control
    /// socket. No socket (the common case) costs one failed `lstat`; nothing touches the network.
    pub async fn probe(
        port: u16,
        openrouter: &Url,
        deadline: Instant,
        reporter: Arc<dyn Reporter>,
    ) -> Result<Probe> {
        let socket = super::socket::socket_path(port)?;
        let client = Self {
            socket,
            port,
            openrouter: openrouter.clone(),
            scheme: CallbackScheme::Auto,
            reporter,
        };
        client.probe_socket(deadline).await
    }

    async fn probe_socket(self, deadline: Instant) -> Result<Probe> {
        let path = self.socket.clone();
        let found = tokio::task::spawn_blocking(move || super::socket::locate(&path))
            .await
            .map_err(|e| Error::internal("looking for the service", e))?;
        match found {
            Ok(None) => return Ok(Probe::Absent),
            Ok(Some(_)) => {}
            Err(problem) => {
                say!(
                    self.reporter,
                    "Not using the openrouter-pkce service: {problem}."
                );
                return Ok(Probe::Absent);
            }
        }
        let until = deadline.min(Instant::now() + PROBE_TIMEOUT);
        let health = super::socket::request(
            &self.socket,
            reqwest::Method::GET,
            "/healthz",
            None,
            until,
            MAX_REPLY_BYTES,
        )
        .await;
        Ok(match health {
            Ok((200, _)) => Probe::Ready(self),
            Ok(_) => Probe::Absent,
            Err(super::socket::RequestError::Connect(e))
                if e.kind() == std::io::ErrorKind::ConnectionRefused =>
            {
                // The service died and left its socket: ours (checked above), so clear it.
                super::socket::remove_stale(&self.socket);
                Probe::Stale
            }
            Err(super::socket::RequestError::Connect(_)) => Probe::Absent,
            Err(_) => Probe::NotAnswering,
        })
    }

    /// The port the service listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    fn not_answering(&self) -> Error {
        not_answering(self.port)
    }

    /// Sends one request over the control socket, bounded by `until`; reads a bounded reply.
    async fn send(
        &self,
        method: reqwest::Method,
        uri: &str,
        body: Option<Vec<u8>>,
        until: Instant,
    ) -> Result<(u16, String)> {
        use super::socket::RequestError;
        match super::socket::request(&self.socket, method, uri, body, until, MAX_REPLY_BYTES).await
        {
            Ok(reply) => Ok(reply),
            Err(RequestError::TimedOut) => Err(self.not_answering()),
            Err(e) => Err(Error::ServiceUnavailable {
                message: format!(
                    "the openrouter-pkce service on port {} stopped answering: {e}",
                    self.port
                ),
            }),
        }
    }

    /// Reads a 2xx body as `T`, or maps the service's refusal.
    fn read<T: DeserializeOwned>(&self, status: u16, body: &str) -> Result<T> {
        if (200..300).contains(&status) {
            return serde_json::from_str(body)
                .map_err(|e| Error::internal("reading the service's reply", e));
        }
        match serde_json::from_str::<ErrorReply>(body) {
            Ok(reply) => Err(self.refusal(reply.error)),
            Err(_) => Err(Error::ServiceUnavailable {
                message: format!(
                    "the control socket for port {} answered HTTP {status} with something that is not the openrouter-pkce control API",
                    self.port
                ),
            }),
        }
    }

    /// The error for a refusal or failure the service reported.
    fn refusal(&self, error: ErrorDoc) -> Error {
        let port = self.port;
        match error.code {
            ErrorKind::ServiceStopping => Error::Remote {
                kind: ErrorKind::ServiceStopping,
                message: format!("the openrouter-pkce service is stopping: {}", error.message),
            },
            ErrorKind::Conflict => Error::bad_input(
                "--openrouter-url",
                format!(
                    "the OpenRouter the service on port {port} uses ({}); pass that --openrouter-url (or OPENROUTER_PKCE_URL), or stop the service",
                    error.message
                ),
            ),
            // Kept as its own kind (exit 9 like any unavailable service), so a caller can
            // tell "refused our credentials" from "not answering".
            ErrorKind::Unauthorized => Error::Remote {
                kind: ErrorKind::Unauthorized,
                message: format!(
                    "the openrouter-pkce service on port {port} did not accept us: {}",
                    error.message
                ),
            },
            ErrorKind::TooManyFlows => Error::ServiceUnavailable {
                message: format!(
                    "the openrouter-pkce service on port {port} is busy: {}",
                    error.message
                ),
            },
            kind => Error::Remote {
                kind,
                message: error.message,
            },
        }
    }

    /// The same client asking for `scheme` (the login's `--callback-scheme`).
    pub fn with_scheme(self, scheme: CallbackScheme) -> Self {
        Self { scheme, ..self }
    }

    /// Refuses an authorize URL that does not go to our OpenRouter's `/auth` with an S256
    /// challenge, or does not come back to our loopback port with the scheme we asked for (any
    /// of http and https for `auto`): whatever answers on the port must not be able to send
    /// the browser elsewhere. Returns where the callback comes back to.
    pub fn check_authorize_url(
        url: &Url,
        openrouter: &Url,
        port: u16,
        scheme: CallbackScheme,
    ) -> Result<CallbackBase> {
        let auth_path = openrouter.join("auth").map(|u| u.path().to_owned());
        let same_origin =
            url.origin() == openrouter.origin() && auth_path.is_ok_and(|p| p == url.path());
        let param = |name: &str| {
            url.query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        let callback = param("callback_url").and_then(|v| Url::parse(&v).ok());
        let comes_back = callback.as_ref().and_then(|cb| {
            let scheme_ok = matches!(
                (scheme, cb.scheme()),
                (CallbackScheme::Auto, "http" | "https")
                    | (CallbackScheme::Https, "https")
                    | (CallbackScheme::Http, "http")
            );
            let host = match cb.host_str() {
                Some("localhost") => Some(CallbackHost::Localhost),
                Some("127.0.0.1") => Some(CallbackHost::Ipv4Loopback),
                _ => None,
            };
            (crate::input::is_loopback_host(cb) && cb.port() == Some(port) && scheme_ok)
                .then_some(())
                .and(host)
                .map(|host| CallbackBase {
                    scheme: if cb.scheme() == "https" {
                        UrlScheme::Https
                    } else {
                        UrlScheme::Http
                    },
                    host,
                    port,
                })
        });
        let s256 =
            param("code_challenge_method").as_deref() == Some(ChallengeMethod::S256.as_str());
        match comes_back {
            Some(base) if same_origin && s256 => Ok(base),
            _ => Err(Error::ServiceUnavailable {
                message: format!(
                    "the process on port {port} sent a login URL that is not {openrouter}auth with an S256 challenge coming back to localhost:{port}{}; is it the openrouter-pkce service?",
                    match scheme {
                        CallbackScheme::Auto => String::new(),
                        other => format!(
                            " over {}",
                            if other == CallbackScheme::Https {
                                "https"
                            } else {
                                "http"
                            }
                        ),
                    }
                ),
            }),
        }
    }
}

impl FlowHost for ServiceClient {
    async fn start(&self, spec: FlowSpec, deadline: Instant) -> Result<StartedFlow> {
        let request = CreateFlowRequest {
            exchange: spec.exchange,
            // `auto`: whatever the service's own --callback-scheme says.
            callback_scheme: (self.scheme != CallbackScheme::Auto).then_some(self.scheme),
            callback_host: Some(spec.host),
            limit: spec.limit,
            openrouter_url: Some(self.openrouter.clone()),
            ..CreateFlowRequest::default()
        };
        let body = serde_json::to_vec(&request)
            .map_err(|e| Error::internal("encoding the login request", e))?;
        let (status, body) = self
            .send(reqwest::Method::POST, "/v1/flows", Some(body), deadline)
            .await?;
        let created: CreatedFlow = self.read(status, &body)?;
        let checked = Self::check_authorize_url(
            &created.authorize_url,
            &self.openrouter,
            self.port,
            self.scheme,
        );
        let callback = match checked {
            Ok(callback) => callback,
            Err(e) => {
                let id = created.id.clone();
                self.delete(&id).await;
                return Err(e);
            }
        };
        let started = StartedFlow {
            id: created.id,
            callback,
            authorize_url: created.authorize_url,
            expires_at: created.expires_at,
        };
        say!(
            self.reporter,
            "Using the openrouter-pkce service on port {}.",
            self.port
        );
        if self.scheme == CallbackScheme::Auto && callback.scheme == UrlScheme::Http {
            self.reporter
                .scheme_note(crate::report::SchemeNote::HttpUntrusted);
        }
        Ok(started)
    }

    async fn wait(
        &self,
        flow: &StartedFlow,
        deadline: Instant,
        progress: &Progress,
    ) -> Result<FlowResult> {
        let started = Instant::now();
        let mut stage = Stage::Waiting;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let seconds = deadline.duration_since(started).as_secs();
                return Err(if stage == Stage::Exchanging {
                    Error::ExchangeTimedOut { seconds }
                } else {
                    Error::TimedOut { seconds }
                });
            }
            // In the last second there is no time for a long-poll: one last look, then stop
            // (never a loop of zero-second polls).
            let last = left <= ANSWER_GRACE;
            let (wait, until) = if last {
                (Duration::ZERO, deadline)
            } else {
                let wait = (left - ANSWER_GRACE).min(POLL);
                (wait, Instant::now() + wait + ANSWER_GRACE)
            };
            let uri = format!(
                "/v1/flows/{}?wait={:.3}&stage={}",
                flow.id,
                wait.as_secs_f64(),
                stage.as_str()
            );
            let (status, body) = self.send(reqwest::Method::GET, &uri, None, until).await?;
            let doc: FlowStatusDoc = self.read(status, &body)?;
            match doc.status {
                FlowState::Pending if last => {
                    let seconds = deadline.duration_since(started).as_secs();
                    return Err(if doc.stage == Some(Stage::Exchanging) {
                        Error::ExchangeTimedOut { seconds }
                    } else {
                        Error::TimedOut { seconds }
                    });
                }
                FlowState::Pending => {
                    if let Some(now) = doc.stage
                        && now != stage
                    {
                        stage = now;
                        progress.stage(now);
                    }
                    continue;
                }
                FlowState::Succeeded => {
                    let result = doc.result.ok_or_else(|| {
                        Error::internal("reading the service's result", "no result")
                    })?;
                    let result = Arc::try_unwrap(result)
                        .map_err(|_| Error::internal("reading the service's result", "shared"))?;
                    return Ok(result);
                }
                FlowState::Failed | FlowState::Expired => {
                    let error = doc.error.unwrap_or_else(|| {
                        ErrorDoc::new(ErrorKind::Internal, "the service reported no reason")
                    });
                    return Err(match error.code {
                        ErrorKind::Expired => Error::TimedOut {
                            seconds: deadline.duration_since(started).as_secs(),
                        },
                        _ => self.refusal(error),
                    });
                }
            }
        }
    }

    async fn cancel(&self, flow: &StartedFlow) {
        self.delete(&flow.id).await;
    }
}

impl ServiceClient {
    /// `DELETE /v1/flows/{id}`, bounded, best effort.
    async fn delete(&self, id: &str) {
        let uri = format!("/v1/flows/{id}");
        let until = Instant::now() + CANCEL_TIMEOUT;
        if let Err(e) = self.send(reqwest::Method::DELETE, &uri, None, until).await {
            tracing::warn!(error = %e, "could not cancel the service's flow");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorize_urls_must_go_to_openrouter_and_come_back_to_our_port() {
        let openrouter = Url::parse("https://openrouter.ai/").unwrap();
        let ok = "https://openrouter.ai/auth?callback_url=https%3A%2F%2Flocalhost%3A3000%2Fcallback%2Fn&code_challenge=c&code_challenge_method=S256&state=s";
        let check = |u: &str, scheme| {
            ServiceClient::check_authorize_url(&Url::parse(u).unwrap(), &openrouter, 3000, scheme)
        };
        assert_eq!(
            check(ok, CallbackScheme::Https).unwrap().scheme,
            UrlScheme::Https
        );
        assert!(check(ok, CallbackScheme::Auto).is_ok(), "auto takes either");
        assert!(
            check(ok, CallbackScheme::Http).is_err(),
            "scheme not the one asked for"
        );
        for bad in [
            "https://evil.example/auth?callback_url=https%3A%2F%2Flocalhost%3A3000%2Fcallback%2Fn&code_challenge_method=S256",
            "https://openrouter.ai/phish?callback_url=https%3A%2F%2Flocalhost%3A3000%2Fcallback%2Fn&code_challenge_method=S256",
            "https://openrouter.ai/auth?callback_url=https%3A%2F%2Fevil.example%3A3000%2Fcallback%2Fn&code_challenge_method=S256",
            "https://openrouter.ai/auth?callback_url=https%3A%2F%2Flocalhost%3A3001%2Fcallback%2Fn&code_challenge_method=S256",
            "https://openrouter.ai/auth?callback_url=https%3A%2F%2Flocalhost%3A3000%2Fcallback%2Fn&code_challenge_method=plain",
            "https://openrouter.ai/auth?callback_url=https%3A%2F%2Flocalhost%3A3000%2Fcallback%2Fn",
            "https://openrouter.ai/auth",
        ] {
            assert!(check(bad, CallbackScheme::Auto).is_err(), "{bad}");
        }
    }
}
