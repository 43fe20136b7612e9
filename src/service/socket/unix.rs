//! Unix: the control socket in the user's private runtime directory, checked the way ssh checks
//! its files, with the peer's uid checked on every connection.

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use axum::Router;
use tokio::net::UnixListener;
use tokio::sync::watch;

use super::{DRAIN_TIMEOUT, serve_connection, stopped};
use crate::error::{Error, Result};
use crate::sys::owner::{euid, private_dir_problem};

/// The bound control socket, ready to serve.
pub type ControlListener = std::os::unix::net::UnixListener;

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

/// The socket for the service on `port`: `control-<port>.sock` in our runtime directory.
pub fn endpoint(port: u16) -> Result<std::path::PathBuf> {
    Ok(crate::sys::paths::runtime_dir()?.join(format!("control-{port}.sock")))
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
pub fn bind(path: &Path) -> Result<ControlListener> {
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
pub async fn serve(listener: ControlListener, router: Router, mut shutdown: watch::Receiver<bool>) {
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

/// What the CLI found at the socket path.
#[derive(Debug, PartialEq, Eq)]
pub enum Located {
    /// Our socket, in a private directory of ours: worth connecting to.
    Usable,
}

/// `Ok(None)` when nothing is there, `Ok(Some(Usable))` for our socket in our private
/// directory, `Err(why)` for anything the CLI must not talk to.
pub fn locate(path: &Path) -> std::result::Result<Option<Located>, String> {
    match inspect(path) {
        AtPath::Nothing => Ok(None),
        _ => match client_problem(path) {
            None => Ok(Some(Located::Usable)),
            Some(problem) => Err(problem),
        },
    }
}

/// Removes a socket of ours whose service died (it refused our connection).
pub fn remove_stale(path: &Path) {
    if inspect(path) == AtPath::OurSocket {
        let _ = std::fs::remove_file(path);
    }
}
