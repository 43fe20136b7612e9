//! The loopback listener: binds 127.0.0.1 and ::1 on one port, serves TLS and plain HTTP on it
//! (a TLS ClientHello starts with byte 0x16), and stops on a shutdown signal.
//!
//! At most `max_connections` are served at once. At capacity the oldest connection that is not
//! in the middle of a request (idle, slow, or still in its TLS handshake) is shed to admit the
//! new one, so a flood of idle or byte-a-second clients cannot make a real client wait for a
//! header timeout.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore, TryAcquireError, watch};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

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
        // Port 0: the kernel picks for 127.0.0.1, and that port's [::1] twin may be someone
        // else's; then another pick is as good.
        let attempts = if port == 0 { 8 } else { 1 };
        let mut attempt = 1;
        loop {
            match Self::bind_pair(port).await {
                Err(Error::PortInUse { .. }) if attempt < attempts => attempt += 1,
                other => return other,
            }
        }
    }

    async fn bind_pair(port: u16) -> Result<Self> {
        let v4 = bind_one(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await?;
        let port = v4
            .local_addr()
            .map_err(|e| Error::internal("reading the bound port", e))?
            .port();
        let mut sockets = vec![v4];
        match listen(SocketAddr::from((Ipv6Addr::LOCALHOST, port))) {
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
        self.serve_with(router, TlsSlot::ready(tls), shutdown).await;
    }

    /// As [`serve`](Self::serve), with the TLS configuration perhaps still loading: plain
    /// HTTP is served at once, a TLS client waits (within the header timeout) until it is
    /// there.
    pub async fn serve_with(self, router: Router, tls: TlsSlot, shutdown: watch::Receiver<bool>) {
        let acceptor = tls;
        let limits = self.limits;
        let permits = Arc::new(Semaphore::new(limits.max_connections));
        let connections = Arc::new(Connections::default());
        let mut loops = tokio::task::JoinSet::new();
        for socket in self.sockets {
            loops.spawn(accept_loop(
                socket,
                router.clone(),
                acceptor.clone(),
                (permits.clone(), connections.clone()),
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

/// Clients that may wait in the kernel's accept queue. The default (128) would leave a flood's
/// connections half-open and trickling in; a deep queue lets the server see them all at once,
/// and shed idle ones at capacity.
const BACKLOG: u32 = 1024;

/// A listening socket on `addr` with our backlog (`SO_REUSEADDR` as std sets it on Unix: a
/// restart may bind while old connections linger in TIME_WAIT; it never lets two processes
/// listen on one port).
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Binds one address; a held port is [`Error::PortInUse`] naming the holder where we can.
pub async fn bind_one(addr: SocketAddr) -> Result<TcpListener> {
    match listen(addr) {
        Ok(socket) => Ok(socket),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err(port_in_use(addr).await),
        Err(e) => Err(Error::internal(format!("could not bind {addr}"), e)),
    }
}

/// The "in use" error, naming the holder; listing the sockets blocks, so it runs off the runtime.
/// Only the command-line program looks (the `listeners` crate is its own dependency).
async fn port_in_use(addr: SocketAddr) -> Error {
    #[cfg(feature = "cli")]
    let holder = tokio::task::spawn_blocking(move || crate::sys::port_holder::find(addr))
        .await
        .ok()
        .flatten();
    #[cfg(not(feature = "cli"))]
    let holder = None;
    Error::PortInUse { addr, holder }
}

/// The live connections, oldest first, each with whether it is inside a request.
#[derive(Default)]
struct Connections {
    next_id: AtomicU64,
    live: Mutex<BTreeMap<u64, Arc<Connection>>>,
}

/// One live connection: how many requests it is serving, and the switch that sheds it.
#[derive(Default)]
struct Connection {
    in_request: AtomicUsize,
    shed: Notify,
    shedding: AtomicBool,
}

/// Removes its connection from the table when the connection's task ends.
struct Registered {
    id: u64,
    connections: Arc<Connections>,
    connection: Arc<Connection>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.connections.lock().remove(&self.id);
    }
}

/// Counts a request in flight on its connection until dropped.
struct InRequest(Arc<Connection>);

impl InRequest {
    fn new(connection: &Arc<Connection>) -> Self {
        connection.in_request.fetch_add(1, Ordering::AcqRel);
        Self(connection.clone())
    }
}

impl Drop for InRequest {
    fn drop(&mut self) {
        self.0.in_request.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Connections {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Connection>>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn register(self: &Arc<Self>) -> Registered {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let connection = Arc::new(Connection::default());
        self.lock().insert(id, connection.clone());
        Registered {
            id,
            connections: self.clone(),
            connection,
        }
    }

    /// Asks the oldest connection that is between requests to close; `false` if every one is
    /// busy (then the new client waits for a slot, as before).
    fn shed_oldest_idle(&self) -> bool {
        let live = self.lock();
        let oldest = live.values().find(|c| {
            c.in_request.load(Ordering::Acquire) == 0 && !c.shedding.load(Ordering::Acquire)
        });
        match oldest {
            Some(connection) => {
                connection.shedding.store(true, Ordering::Release);
                connection.shed.notify_one();
                true
            }
            None => false,
        }
    }
}

async fn accept_loop(
    socket: TcpListener,
    router: Router,
    acceptor: TlsSlot,
    (permits, connections): (Arc<Semaphore>, Arc<Connections>),
    header_timeout: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        if *shutdown.borrow() {
            return;
        }
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
        let permit = match permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(TryAcquireError::Closed) => return,
            Err(TryAcquireError::NoPermits) => {
                if connections.shed_oldest_idle() {
                    tracing::debug!("at capacity: shed the oldest idle connection");
                }
                tokio::select! {
                    p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
                    _ = shutdown.changed() => return,
                }
            }
        };
        let registered = connections.register();
        let router = router.clone();
        let acceptor = acceptor.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let connection = registered.connection.clone();
            tokio::select! {
                () = serve_connection(stream, router, &connection, acceptor, header_timeout, shutdown) => {}
                () = registered.connection.shed.notified() => {}
            }
            drop(registered);
            drop(permit);
        });
    }
}

/// The TLS side of the listener: ready (or absent), or still being loaded off the runtime.
#[derive(Clone)]
pub struct TlsSlot(watch::Receiver<Option<Option<TlsAcceptor>>>);

/// Where a [`TlsSlot`] still loading gets its configuration (`None`: serve no TLS).
pub struct TlsFiller(watch::Sender<Option<Option<TlsAcceptor>>>);

impl std::fmt::Debug for TlsSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSlot").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for TlsFiller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsFiller").finish_non_exhaustive()
    }
}

impl TlsSlot {
    /// A slot whose configuration is known now.
    pub fn ready(tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        Self(watch::channel(Some(tls.map(TlsAcceptor::from))).1)
    }

    /// A slot to be filled later; until then TLS clients wait.
    pub fn pending() -> (Self, TlsFiller) {
        let (tx, rx) = watch::channel(None);
        (Self(rx), TlsFiller(tx))
    }

    /// The acceptor once known (`None`: no TLS is served).
    async fn acceptor(&mut self) -> Option<TlsAcceptor> {
        self.0
            .wait_for(Option::is_some)
            .await
            .ok()?
            .clone()
            .flatten()
    }
}

impl TlsFiller {
    /// Sets the configuration (`None`: no TLS after all); waiting clients go on.
    pub fn fill(self, tls: Option<Arc<rustls::ServerConfig>>) {
        let _ = self.0.send(Some(tls.map(TlsAcceptor::from)));
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
    mut slot: TlsSlot,
    header_timeout: Duration,
) -> Option<Accepted> {
    let _ = stream.set_nodelay(true);
    let mut first = [0u8; 1];
    let peeked = tokio::time::timeout(header_timeout, stream.peek(&mut first)).await;
    if !matches!(peeked, Ok(Ok(1))) {
        return None;
    }
    let acceptor = match first[0] {
        TLS_HANDSHAKE => tokio::time::timeout(header_timeout, slot.acceptor())
            .await
            .ok()
            .flatten(),
        _ => None,
    };
    match acceptor {
        Some(acceptor) => {
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
    connection: &Arc<Connection>,
    acceptor: TlsSlot,
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
            serve_http(
                TokioIo::new(s),
                router,
                connection,
                header_timeout,
                shutdown,
            )
            .await
        }
        Some(Accepted::Tls(t)) => {
            serve_http(
                TokioIo::new(*t),
                router,
                connection,
                header_timeout,
                shutdown,
            )
            .await
        }
        None => {}
    }
}

async fn serve_http<I>(
    io: I,
    router: Router,
    connection: &Arc<Connection>,
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
    let connection = connection.clone();
    // A request counts as in flight from its complete head to its response: such a connection
    // is never shed.
    let service = hyper::service::service_fn(move |request| {
        let in_request = InRequest::new(&connection);
        let router = router.clone();
        async move {
            let response = router.oneshot(request).await;
            drop(in_request);
            response
        }
    });
    let conn = builder.serve_connection(io, service);
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
