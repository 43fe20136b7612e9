//! The loopback listener: binds 127.0.0.1 and ::1 on one port, serves TLS and plain HTTP on it
//! (a TLS ClientHello starts with byte 0x16), and stops on a shutdown signal.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;

use crate::error::{Error, Result};

/// First byte of a TLS record carrying a handshake.
const TLS_HANDSHAKE: u8 = 0x16;
/// Largest request head (line plus headers) read before the request is refused.
const MAX_HEAD_BYTES: usize = 16 * 1024;
/// How long open connections get to finish after shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);

/// Per-listener limits against slow, idle and numerous clients.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// How long a client may take to send its TLS hello or its request head.
    pub header_read_timeout: Duration,
    /// Most connections served at once; further clients wait in the kernel's backlog.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(crate::defaults::HEADER_TIMEOUT_SECS),
            max_connections: crate::defaults::MAX_CONNECTIONS,
        }
    }
}

/// Sockets bound on the loopback addresses of one port, ready to serve.
#[derive(Debug)]
pub struct LoopbackListener {
    sockets: Vec<TcpListener>,
    port: u16,
    limits: Limits,
}

impl LoopbackListener {
    /// Binds 127.0.0.1:`port` and, where the host has IPv6, [::1]:`port`.
    ///
    /// Either address being held by another process is an error: a browser resolving
    /// `localhost` to the other one would otherwise reach a stranger's server.
    pub async fn bind(port: u16) -> Result<Self> {
        let v4 = bind_one(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await?;
        let port = v4
            .local_addr()
            .map_err(|e| Error::internal("reading the bound port", e))?
            .port();
        let mut sockets = vec![v4];
        match TcpListener::bind(SocketAddr::from((Ipv6Addr::LOCALHOST, port))).await {
            Ok(v6) => sockets.push(v6),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                return Err(port_in_use(SocketAddr::from((Ipv6Addr::LOCALHOST, port))).await);
            }
            // No IPv6 loopback on this host: nobody can reach [::1] either.
            Err(e) => {
                tracing::debug!(error = %e, "IPv6 loopback unavailable; serving 127.0.0.1 only")
            }
        }
        Ok(Self {
            sockets,
            port,
            limits: Limits::default(),
        })
    }

    /// Replaces the default limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The port every socket is bound to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The bound addresses.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.sockets
            .iter()
            .filter_map(|s| s.local_addr().ok())
            .collect()
    }

    /// Serves `router` on every socket until `shutdown` turns true, then drains briefly.
    pub async fn serve(
        self,
        router: Router,
        tls: Option<Arc<rustls::ServerConfig>>,
        shutdown: watch::Receiver<bool>,
    ) {
        let acceptor = tls.map(TlsAcceptor::from);
        let limits = self.limits;
        let permits = Arc::new(Semaphore::new(limits.max_connections));
        let mut loops = tokio::task::JoinSet::new();
        for socket in self.sockets {
            loops.spawn(accept_loop(
                socket,
                router.clone(),
                acceptor.clone(),
                permits.clone(),
                limits.header_read_timeout,
                shutdown.clone(),
            ));
        }
        while loops.join_next().await.is_some() {}
        // Connections hold permits; wait (bounded) for them to finish their graceful close.
        let _ = tokio::time::timeout(
            DRAIN_TIMEOUT,
            // Bounded by `defaults::MAX_MAX_CONNECTIONS`, so the count fits a u32.
            permits.acquire_many(u32::try_from(limits.max_connections).unwrap_or(u32::MAX)),
        )
        .await;
    }
}

/// Binds one address; a held port is [`Error::PortInUse`] naming the holder where we can.
pub async fn bind_one(addr: SocketAddr) -> Result<TcpListener> {
    match TcpListener::bind(addr).await {
        Ok(socket) => Ok(socket),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err(port_in_use(addr).await),
        Err(e) => Err(Error::internal(format!("could not bind {addr}"), e)),
    }
}

/// The "in use" error, naming the holder; walking /proc blocks, so it runs off the runtime.
async fn port_in_use(addr: SocketAddr) -> Error {
    let port = addr.port();
    let holder = tokio::task::spawn_blocking(move || crate::sys::port_holder::find(port))
        .await
        .ok()
        .flatten();
    Error::PortInUse { addr, holder }
}

async fn accept_loop(
    socket: TcpListener,
    router: Router,
    acceptor: Option<TlsAcceptor>,
    permits: Arc<Semaphore>,
    header_timeout: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
            _ = shutdown.changed() => return,
        };
        let stream = tokio::select! {
            accepted = socket.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        let router = router.clone();
        let acceptor = acceptor.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            serve_connection(stream, router, acceptor, header_timeout, shutdown).await;
            drop(permit);
        });
    }
}

/// A connection past its first byte: plain HTTP, or TLS after the handshake.
enum Accepted {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

/// Waits for the first byte and, for TLS, the handshake; `None` if the client never gets there.
async fn accept_io(
    stream: TcpStream,
    acceptor: Option<TlsAcceptor>,
    header_timeout: Duration,
) -> Option<Accepted> {
    let _ = stream.set_nodelay(true);
    let mut first = [0u8; 1];
    let peeked = tokio::time::timeout(header_timeout, stream.peek(&mut first)).await;
    if !matches!(peeked, Ok(Ok(1))) {
        return None;
    }
    match acceptor {
        Some(acceptor) if first[0] == TLS_HANDSHAKE => {
            match tokio::time::timeout(header_timeout, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => Some(Accepted::Tls(Box::new(tls))),
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "TLS handshake failed");
                    None
                }
                Err(_) => {
                    tracing::debug!("TLS handshake timed out");
                    None
                }
            }
        }
        _ => Some(Accepted::Plain(stream)),
    }
}

async fn serve_connection(
    stream: TcpStream,
    router: Router,
    acceptor: Option<TlsAcceptor>,
    header_timeout: Duration,
    shutdown: watch::Receiver<bool>,
) {
    let mut stop = shutdown.clone();
    // Browsers open spare connections that may never send a byte; at shutdown they must not
    // hold the drain (and so the person's terminal) for the whole header timeout.
    let accepted = tokio::select! {
        accepted = accept_io(stream, acceptor, header_timeout) => accepted,
        _ = stop.wait_for(|s| *s) => None,
    };
    match accepted {
        Some(Accepted::Plain(s)) => {
            serve_http(TokioIo::new(s), router, header_timeout, shutdown).await
        }
        Some(Accepted::Tls(t)) => {
            serve_http(TokioIo::new(*t), router, header_timeout, shutdown).await
        }
        None => {}
    }
}

async fn serve_http<I>(
    io: I,
    router: Router,
    header_timeout: Duration,
    mut shutdown: watch::Receiver<bool>,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(MAX_HEAD_BYTES);
    let conn = builder.serve_connection(io, TowerToHyperService::new(router));
    tokio::pin!(conn);
    let stopping = tokio::select! {
        _ = conn.as_mut() => false,
        stop = shutdown.wait_for(|stop| *stop) => stop.is_ok(),
    };
    if stopping {
        conn.as_mut().graceful_shutdown();
        let _ = tokio::time::timeout(DRAIN_TIMEOUT, conn).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn binds_loopback_addresses_only() {
        let listener = LoopbackListener::bind(0).await.unwrap();
        let addrs = listener.addrs();
        assert!(!addrs.is_empty());
        for addr in &addrs {
            assert!(addr.ip().is_loopback(), "{addr} is not loopback");
            assert_eq!(addr.port(), listener.port());
        }
    }
}
