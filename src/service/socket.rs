//! The control API's transport: HTTP/1.1 over a Unix domain socket in the user's private
//! runtime directory (`control-<port>.sock`), so the operating system decides who may connect.
//!
//! Both sides check the files the way ssh does: the directory must be the user's own and not
//! group- or world-accessible, the socket must be a socket owned by the user (a symlink or FIFO
//! at the path is never followed), and on Linux the service also checks each peer's uid.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// `$XDG_RUNTIME_DIR/openrouter-pkce/control-<port>.sock` (the state dir without XDG_RUNTIME_DIR).
pub fn socket_path(port: u16) -> Result<PathBuf> {
    Ok(crate::sys::paths::runtime_dir()?.join(format!("control-{port}.sock")))
}

#[cfg(unix)]
pub use unix::*;

#[cfg(unix)]
mod unix {
    use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
    use std::time::Duration;

    use axum::Router;
    use http_body_util::BodyExt;
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tokio::net::{UnixListener, UnixStream};
    use tokio::sync::watch;
    use tokio::time::Instant;
    use tower::ServiceExt;

    use super::*;

    /// How long a control connection may take to send its request head.
    const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
    /// How long open control connections get to finish after shutdown.
    const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

    /// This process's effective uid.
    pub fn euid() -> u32 {
        // SAFETY: geteuid has no preconditions and cannot fail.
        unsafe { libc::geteuid() }
    }

    /// Why `dir` is not a private directory of ours, if it is not.
    pub fn private_dir_problem(dir: &Path) -> Option<String> {
        let meta = match std::fs::symlink_metadata(dir) {
            Ok(m) => m,
            Err(e) => return Some(format!("cannot be read ({e})")),
        };
        if meta.file_type().is_symlink() {
            return Some("is a symbolic link, not a directory".into());
        }
        if !meta.is_dir() {
            return Some("is not a directory".into());
        }
        if meta.uid() != euid() {
            return Some(format!(
                "belongs to uid {}, not to you (uid {})",
                meta.uid(),
                euid()
            ));
        }
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Some(format!(
                "is group- or world-accessible (mode {mode:04o}); it must be yours alone (chmod 700)"
            ));
        }
        None
    }

    /// What sits at the socket path.
    #[derive(Debug, PartialEq, Eq)]
    pub enum AtPath {
        /// Nothing.
        Nothing,
        /// A socket owned by us.
        OurSocket,
        /// Something else, described (never followed).
        Other(String),
    }

    /// Looks at `path` without following a symlink.
    pub fn inspect(path: &Path) -> AtPath {
        match std::fs::symlink_metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => AtPath::Nothing,
            Err(e) => AtPath::Other(format!("cannot be read ({e})")),
            Ok(m) if m.file_type().is_socket() && m.uid() == euid() => AtPath::OurSocket,
            Ok(m) if m.file_type().is_socket() => {
                AtPath::Other(format!("is a socket of uid {}, not yours", m.uid()))
            }
            Ok(m) if m.file_type().is_symlink() => AtPath::Other("is a symbolic link".into()),
            Ok(m) if m.file_type().is_fifo() => AtPath::Other("is a FIFO".into()),
            Ok(m) if m.is_dir() => AtPath::Other("is a directory".into()),
            Ok(_) => AtPath::Other("is a regular file, not a socket".into()),
        }
    }

    /// Whether a socket of ours at `path` refuses connections (its service died).
    pub fn is_stale(path: &Path) -> bool {
        matches!(
            std::os::unix::net::UnixStream::connect(path),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused
        )
    }

    fn refuse(path: &Path, problem: impl std::fmt::Display) -> Error {
        Error::internal(
            format!("refusing to use {}", path.display()),
            format!("it {problem}"),
        )
    }

    /// Binds the control socket for `serve` (blocking: call it off the async threads).
    ///
    /// Creates the runtime directory 0700 if needed and refuses one that is not private; removes
    /// a stale socket of ours; refuses anything else at the path; the socket is made 0600.
    pub fn bind(path: &Path) -> Result<std::os::unix::net::UnixListener> {
        let dir = path.parent().unwrap_or(Path::new("/"));
        if std::fs::symlink_metadata(dir).is_err() {
            crate::sys::files::create_private_dir(dir)?;
        }
        if let Some(problem) = private_dir_problem(dir) {
            return Err(refuse(dir, problem));
        }
        match inspect(path) {
            AtPath::Nothing => {}
            AtPath::OurSocket if is_stale(path) => {
                std::fs::remove_file(path)
                    .map_err(|e| Error::internal(format!("removing {}", path.display()), e))?;
            }
            AtPath::OurSocket => {
                return Err(refuse(
                    path,
                    "is the socket of a service that is still running",
                ));
            }
            AtPath::Other(problem) => return Err(refuse(path, problem)),
        }
        let listener = std::os::unix::net::UnixListener::bind(path)
            .map_err(|e| Error::internal(format!("binding {}", path.display()), e))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| Error::internal(format!("securing {}", path.display()), e))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::internal(format!("binding {}", path.display()), e))?;
        Ok(listener)
    }

    /// Serves `router` on `listener` until `shutdown` turns true, then drains briefly. Peers
    /// whose uid is not ours are dropped before a byte is read.
    pub async fn serve(
        listener: std::os::unix::net::UnixListener,
        router: Router,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let Ok(listener) = UnixListener::from_std(listener) else {
            tracing::error!("could not register the control socket");
            return;
        };
        let mut connections = tokio::task::JoinSet::new();
        loop {
            let stream = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        tracing::warn!(error = %e, "control socket accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = stopped(&mut shutdown) => break,
            };
            match stream.peer_cred() {
                Ok(cred) if cred.uid() == euid() => {}
                Ok(cred) => {
                    tracing::warn!(
                        uid = cred.uid(),
                        "refused a control connection from another user"
                    );
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not read a control peer's credentials");
                    continue;
                }
            }
            connections.spawn(serve_connection(stream, router.clone(), shutdown.clone()));
        }
        let _ = tokio::time::timeout(DRAIN_TIMEOUT, async {
            while connections.join_next().await.is_some() {}
        })
        .await;
    }

    /// Resolves once `shutdown` turns true (or its sender is gone).
    async fn stopped(shutdown: &mut watch::Receiver<bool>) {
        let _ = shutdown.wait_for(|s| *s).await;
    }

    async fn serve_connection(
        stream: UnixStream,
        router: Router,
        mut shutdown: watch::Receiver<bool>,
    ) {
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

    /// Why the CLI must not talk to the socket at `path`, if it must not: its directory is not
    /// private or not ours, or the path is not our socket.
    pub fn client_problem(path: &Path) -> Option<String> {
        let dir = path.parent().unwrap_or(Path::new("/"));
        if let Some(problem) = private_dir_problem(dir) {
            return Some(format!("{} {problem}", dir.display()));
        }
        match inspect(path) {
            AtPath::OurSocket => None,
            AtPath::Nothing => Some(format!("{} does not exist", path.display())),
            AtPath::Other(problem) => Some(format!("{} {problem}", path.display())),
        }
    }

    /// One request over the socket, bounded by `until`: the status and a bounded body.
    pub async fn request(
        path: &Path,
        method: hyper::Method,
        uri: &str,
        body: Option<Vec<u8>>,
        until: Instant,
        max_body: usize,
    ) -> std::result::Result<(u16, String), RequestError> {
        let exchange = async {
            let stream = UnixStream::connect(path)
                .await
                .map_err(RequestError::Connect)?;
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
                .body(http_body_util::Full::new(bytes_of(body)))
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
        };
        tokio::time::timeout_at(until, exchange)
            .await
            .unwrap_or(Err(RequestError::TimedOut))
    }

    fn bytes_of(body: Option<Vec<u8>>) -> axum::body::Bytes {
        body.map(axum::body::Bytes::from).unwrap_or_default()
    }

    /// How a request over the socket failed.
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

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn only_a_private_directory_of_ours_passes() {
            let dir = tempfile::tempdir().unwrap();
            let private = dir.path().join("p");
            crate::sys::files::create_private_dir(&private).unwrap();
            assert_eq!(private_dir_problem(&private), None);
            std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o777)).unwrap();
            assert!(private_dir_problem(&private).unwrap().contains("0777"));
            std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o750)).unwrap();
            assert!(private_dir_problem(&private).is_some());
            let link = dir.path().join("link");
            std::os::unix::fs::symlink(&private, &link).unwrap();
            assert!(
                private_dir_problem(&link)
                    .unwrap()
                    .contains("symbolic link")
            );
        }

        #[test]
        fn bind_refuses_what_is_not_our_socket_and_replaces_a_stale_one() {
            let dir = tempfile::tempdir().unwrap();
            let run = dir.path().join("run");
            crate::sys::files::create_private_dir(&run).unwrap();
            let path = run.join("control-1.sock");
            // A regular file, a FIFO and a symlink at the path are refused, never followed.
            std::fs::write(&path, "x").unwrap();
            assert!(
                bind(&path)
                    .unwrap_err()
                    .to_string()
                    .contains("regular file")
            );
            std::fs::remove_file(&path).unwrap();
            std::os::unix::fs::symlink(dir.path().join("elsewhere"), &path).unwrap();
            assert!(
                bind(&path)
                    .unwrap_err()
                    .to_string()
                    .contains("symbolic link")
            );
            assert!(
                !dir.path().join("elsewhere").exists(),
                "the symlink was followed"
            );
            std::fs::remove_file(&path).unwrap();
            // A stale socket (nobody listening) is replaced; a live one is refused.
            drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
            let live = bind(&path).expect("stale socket replaced");
            let mode = std::fs::symlink_metadata(&path)
                .unwrap()
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(mode, 0o600);
            assert!(
                bind(&path)
                    .unwrap_err()
                    .to_string()
                    .contains("still running")
            );
            drop(live);
        }
    }
}
