//! The control API's transport, so the operating system decides who may connect: HTTP/1.1
//! over a Unix domain socket in the user's private runtime directory (`control-<port>.sock`),
//! or on Windows a named pipe (`\\.\pipe\openrouter-pkce-<user>-<port>`) whose ACL admits
//! only its owner.

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub use unix::*;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub use windows::*;

use std::path::PathBuf;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tower::ServiceExt;

use crate::error::Result;

/// How long a control connection may take to send its request head.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long open control connections get to finish after shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// Where the control API of the service on `port` listens: on Unix
/// `$XDG_RUNTIME_DIR/openrouter-pkce/control-<port>.sock` (the state dir without
/// XDG_RUNTIME_DIR); on Windows the named pipe `\\.\pipe\openrouter-pkce-<user>-<port>`.
pub fn socket_path(port: u16) -> Result<PathBuf> {
    endpoint(port)
}

/// Resolves once `shutdown` turns true (or its sender is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}

/// Serves HTTP/1.1 requests on one control connection until it closes or the service stops.
async fn serve_connection<S>(stream: S, router: Router, mut shutdown: watch::Receiver<bool>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(16 * 1024);
    let service = hyper::service::service_fn(move |request| router.clone().oneshot(request));
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        () = stopped(&mut shutdown) => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// One request to the control API at `path`, bounded by `until`: the status and at most
/// `max_body` of the body. reqwest speaks HTTP over the socket (Unix) or pipe (Windows); the
/// checks of who owns it come first ([`locate`]), and the service checks us on its side.
pub async fn request(
    path: &std::path::Path,
    method: reqwest::Method,
    uri: &str,
    body: Option<Vec<u8>>,
    until: tokio::time::Instant,
    max_body: usize,
) -> std::result::Result<(u16, String), RequestError> {
    let builder = crate::sys::http::loopback_client_builder(&[])
        .map_err(|e| RequestError::Other(e.to_string()))?;
    #[cfg(unix)]
    let builder = builder.unix_socket(path);
    #[cfg(windows)]
    let builder = builder.windows_named_pipe(path.as_os_str());
    let client = builder
        .build()
        .map_err(|e| RequestError::Other(e.to_string()))?;
    let once = |body: Option<Vec<u8>>| {
        let mut request = client.request(method.clone(), format!("http://localhost{uri}"));
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        async move {
            let response = request.send().await.map_err(RequestError::from_reqwest)?;
            let status = response.status().as_u16();
            let text = crate::sys::http::read_bounded(response, max_body)
                .await
                .map_err(RequestError::from_reqwest)?;
            Ok::<_, RequestError>((status, text))
        }
    };
    let exchange = async {
        loop {
            match once(body.clone()).await {
                // Every instance of the service's pipe is busy: wait for one, as named-pipe
                // clients must (the deadline still bounds the whole request).
                Err(RequestError::Connect(e)) if pipe_busy(&e) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                other => return other,
            }
        }
    };
    tokio::time::timeout_at(until, exchange)
        .await
        .unwrap_or(Err(RequestError::TimedOut))
}

/// Whether `e` is Windows' "all pipe instances are busy" (never so elsewhere).
fn pipe_busy(e: &std::io::Error) -> bool {
    cfg!(windows) && e.raw_os_error() == Some(231)
}

/// How a request over the control socket failed.
#[derive(Debug)]
pub enum RequestError {
    /// Could not connect (refused: the service died; not found: it is gone).
    Connect(std::io::Error),
    /// The HTTP exchange broke off.
    Http(reqwest::Error),
    /// No answer before the deadline.
    TimedOut,
    /// Anything else.
    Other(String),
}

impl RequestError {
    /// A connect failure keeps its I/O error (refused means the service died); anything
    /// later is the exchange breaking off.
    fn from_reqwest(e: reqwest::Error) -> Self {
        if e.is_connect() {
            let mut source = std::error::Error::source(&e);
            while let Some(inner) = source {
                if let Some(io) = inner.downcast_ref::<std::io::Error>() {
                    return RequestError::Connect(match io.raw_os_error() {
                        Some(code) => std::io::Error::from_raw_os_error(code),
                        None => std::io::Error::new(io.kind(), io.to_string()),
                    });
                }
                source = inner.source();
            }
            return RequestError::Connect(std::io::Error::other(crate::error::root_cause(&e)));
        }
        RequestError::Http(e.without_url())
    }
}

impl std::fmt::Display for RequestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RequestError::Connect(e) => write!(f, "could not connect: {e}"),
            RequestError::Http(e) => write!(f, "{}", crate::error::root_cause(e)),
            RequestError::TimedOut => write!(f, "no answer in time"),
            RequestError::Other(e) => write!(f, "{e}"),
        }
    }
}
