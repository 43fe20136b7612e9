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
use http_body_util::BodyExt;
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
    #[cfg(windows)]
    {
        let user = std::env::var("USERNAME").unwrap_or_default();
        let user: String = user
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            .collect();
        Ok(PathBuf::from(format!(
            r"\\.\pipe\openrouter-pkce-{user}-{port}"
        )))
    }
    #[cfg(not(windows))]
    {
        Ok(crate::sys::paths::runtime_dir()?.join(format!("control-{port}.sock")))
    }
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
/// `max_body` of the body.
pub async fn request(
    path: &std::path::Path,
    method: hyper::Method,
    uri: &str,
    body: Option<Vec<u8>>,
    until: tokio::time::Instant,
    max_body: usize,
) -> std::result::Result<(u16, String), RequestError> {
    let exchange = async {
        let stream = connect(path).await?;
        request_over(stream, method, uri, body, max_body).await
    };
    tokio::time::timeout_at(until, exchange)
        .await
        .unwrap_or(Err(RequestError::TimedOut))
}

/// One request on a connected control stream: the status and at most `max_body` of the body.
async fn request_over<S>(
    stream: S,
    method: hyper::Method,
    uri: &str,
    body: Option<Vec<u8>>,
    max_body: usize,
) -> std::result::Result<(u16, String), RequestError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(RequestError::Http)?;
    tokio::spawn(conn);
    let mut request = hyper::Request::builder()
        .method(method)
        .uri(uri)
        .header(hyper::header::HOST, "localhost");
    if body.is_some() {
        request = request.header(hyper::header::CONTENT_TYPE, "application/json");
    }
    let request = request
        .body(http_body_util::Full::new(
            body.map(axum::body::Bytes::from).unwrap_or_default(),
        ))
        .map_err(|e| RequestError::Other(e.to_string()))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(RequestError::Http)?;
    let status = response.status().as_u16();
    let mut body = response.into_body();
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(RequestError::Http)?;
        if let Some(data) = frame.data_ref() {
            let room = max_body.saturating_sub(bytes.len());
            bytes.extend_from_slice(&data[..data.len().min(room)]);
            if bytes.len() >= max_body {
                break;
            }
        }
    }
    Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
}

/// How a request over the control socket failed.
#[derive(Debug)]
pub enum RequestError {
    /// Could not connect (refused: the service died; not found: it is gone).
    Connect(std::io::Error),
    /// The HTTP exchange broke off.
    Http(hyper::Error),
    /// No answer before the deadline.
    TimedOut,
    /// Anything else.
    Other(String),
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
