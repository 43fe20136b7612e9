//! The benchmark: start-up, a whole login, memory, flood resistance and binary size, each next to
//! a floor built by this same program (a bare tokio listener; a bare hyper "hello" server).
//! It reports; it does not gate. Run: `cargo bench --bench bench`. Writes target/bench.json.
//! Linux only: it reads /proc and the children's rusage.

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use openrouter_pkce::{Consent, StandIn};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_openrouter-pkce");
const RUNS: usize = 30;
const FLOOD_SECONDS: u64 = 5;
const FLOOD_CONNECTIONS: usize = 32;
const FLOOR_ENV: &str = "OPENROUTER_PKCE_BENCH_FLOOR";
const LOGIN_MEMORY_RUNS: usize = 5;

pub fn main() {
    // The floors are this same binary in another role.
    if let Ok(role) = std::env::var(FLOOR_ENV) {
        floor(&role);
        return;
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(bench());
}

/// `listen:PORT`: bind, exit on the first connection. `hello:PORT`: bare hyper hello server.
/// `flow:URL`: the least a loopback login can do, with std alone as a C program would.
fn floor(role: &str) {
    if let Some(openrouter) = role.strip_prefix("flow:") {
        flow_floor(openrouter);
        return;
    }
    let (kind, port) = role.split_once(':').unwrap();
    let port: u16 = port.parse().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port))
            .await
            .unwrap();
        if kind == "listen" {
            let _ = listener.accept().await;
            return;
        }
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|_req| async {
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(
                        http_body_util::Full::new(Bytes::from_static(b"hello")),
                    ))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}

struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"))
            .env("XDG_RUNTIME_DIR", self.dir.path().join("run"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd
    }
    fn ca(&self) -> PathBuf {
        self.dir.path().join("config/openrouter-pkce/ca.pem")
    }
    /// Makes the local CA and certificate the way people get them: the first `demo`.
    fn warm(&self) {
        let status = self.command(&["demo", "--port", "0"]).status().unwrap();
        assert!(status.success(), "demo failed in the bench's home");
    }
}

fn free_port() -> u16 {
    StdListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn kill(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[derive(Clone, Copy)]
struct Stats {
    median: f64,
    p90: f64,
}

fn stats(mut xs: Vec<f64>) -> Stats {
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let at = |q: f64| xs[((xs.len() - 1) as f64 * q).round() as usize];
    Stats {
        median: at(0.5),
        p90: at(0.9),
    }
}

fn tls_connector(ca: &Path) -> tokio_rustls::TlsConnector {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// Milliseconds from spawn until `ready` succeeds.
async fn time_until<F, Fut>(mut spawn: impl FnMut() -> Child, ready: F) -> f64
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    let child = spawn();
    while !ready().await {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "never became ready"
        );
    }
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    kill(child);
    ms
}

async fn tcp_accepts(port: u16) -> bool {
    tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port))
        .await
        .is_ok()
}

async fn tls_accepts(port: u16, ca: &Path) -> bool {
    let Ok(tcp) = tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await else {
        return false;
    };
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    tls_connector(ca).connect(name, tcp).await.is_ok()
}

fn login_args(port: u16, openrouter: &str) -> Vec<String> {
    [
        "login",
        "--no-browser",
        "--port",
        &port.to_string(),
        "--openrouter-url",
        openrouter,
        "--timeout",
        "60",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Start-up: the floor, a login with a warm cache and a first-ever login, sampled in turn in
/// each round, so a machine that speeds up or slows down during the bench moves the floor
/// and the login alike and their ratio stays meaningful (sampled one after the other, the
/// same binary's warm ratio swung between 2.0x and 3.6x).
async fn ready_samples() -> (Stats, Stats, Stats) {
    // A live OpenRouter: the login checks it answers before it shows the URL.
    let (_stand_in, openrouter) = stand_in(Consent::Ask).await;
    let warm_home = Home::new();
    warm_home.warm();
    let (mut floor, mut warm, mut cold) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..RUNS {
        floor.push(floor_ready_once().await);
        warm.push(login_ready_once(&warm_home, openrouter.as_str()).await);
        cold.push(login_ready_once(&Home::new(), openrouter.as_str()).await);
    }
    (stats(floor), stats(warm), stats(cold))
}

/// Milliseconds from spawning a login in `home` until its HTTPS listener accepts.
async fn login_ready_once(home: &Home, openrouter: &str) -> f64 {
    let port = free_port();
    let args = login_args(port, openrouter);
    let ca = home.ca();
    time_until(
        || {
            home.command(&args.iter().map(String::as_str).collect::<Vec<_>>())
                .spawn()
                .unwrap()
        },
        || {
            let ca = ca.clone();
            async move { ca.exists() && tls_accepts(port, &ca).await }
        },
    )
    .await
}

/// Milliseconds from spawning the floor (a bare tokio listener) until it accepts.
async fn floor_ready_once() -> f64 {
    let me = std::env::current_exe().unwrap();
    let port = free_port();
    time_until(
        || {
            Command::new(&me)
                .env(FLOOR_ENV, format!("listen:{port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        },
        || tcp_accepts(port),
    )
    .await
}

/// Reaps `pid` and returns its peak RSS in KiB.
fn reap_max_rss(pid: u32) -> f64 {
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our own un-reaped child; status and usage are valid out-pointers.
    let r = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(r, pid as libc::pid_t, "wait4 failed");
    usage.ru_maxrss as f64
}

/// The authorize URL a `login --no-browser` child prints on its (piped) stderr, the moment it
/// appears. The rest of stderr is drained in the background so the child never blocks on it.
async fn authorize_url(child: &mut Child) -> String {
    let stderr = child.stderr.take().unwrap();
    let (url_tx, url_rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut tx = Some(url_tx);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(url) = line.split_whitespace().find(|w| w.contains("/auth?"))
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(url.to_owned());
            }
        }
    });
    url_rx.await.expect("authorize URL")
}

/// Spawn to JSON on stdout, with a client following the authorize URL the moment it appears.
/// Returns (milliseconds, peak RSS KiB).
async fn one_login(
    home: &Home,
    openrouter: &str,
    browser: &reqwest::Client,
    spare: bool,
) -> (f64, f64) {
    let port = free_port();
    let args = login_args(port, openrouter);
    let mut cmd = home.command(&args.iter().map(String::as_str).collect::<Vec<_>>());
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let url = authorize_url(&mut child).await;
    // Like a browser's speculative preconnect: a connection that never sends a byte.
    let _spare = match spare {
        true => tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .await
            .ok(),
        false => None,
    };
    browser
        .get(url)
        .send()
        .await
        .expect("follow the authorize URL");
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line
    })
    .await
    .unwrap();
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    assert!(line.contains("\"key\""), "login printed {line:?}");
    let pid = child.id();
    let rss = tokio::task::spawn_blocking(move || reap_max_rss(pid))
        .await
        .unwrap();
    std::mem::forget(child); // reaped by wait4 above
    (ms, rss)
}

/// The flow floor: bind a loopback port, print an authorize URL, take one callback, POST the
/// code to OpenRouter (`openrouter`, plain http on loopback), print the reply. No runtime, no
/// TLS, no PKCE, no checks: what any loopback login must at least do, in blocking std calls.
fn flow_floor(openrouter: &str) {
    use std::io::{Read, Write};
    let listener = StdListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    eprintln!(
        "Open {openrouter}auth?callback_url=http%3A%2F%2Flocalhost%3A{port}%2Fcallback to log in"
    );
    let (mut browser, _) = listener.accept().unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && browser.read(&mut byte).unwrap() == 1 {
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    let code = head
        .split(['?', '&', ' '])
        .find_map(|p| p.strip_prefix("code="))
        .unwrap()
        .to_owned();
    browser
        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        .unwrap();
    drop(browser);
    let host = openrouter
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let body = format!("{{\"code\":\"{code}\"}}");
    let mut api = std::net::TcpStream::connect(host).unwrap();
    write!(
        api,
        "POST /api/v1/auth/keys HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reply = String::new();
    api.read_to_string(&mut reply).unwrap();
    let json = reply.split("\r\n\r\n").nth(1).unwrap_or_default();
    println!("{json}");
}

/// Spawn of the flow floor until its JSON is on stdout, a client following its URL at once.
async fn t_total_floor() -> Stats {
    let (_stand_in, url) = stand_in(Consent::AutoApprove).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::limited(5))
        .build()
        .unwrap();
    let mut times = Vec::new();
    for _ in 0..RUNS {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.env(FLOOR_ENV, format!("flow:{url}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let authorize = authorize_url(&mut child).await;
        client.get(authorize).send().await.expect("follow the URL");
        let line = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).unwrap();
            line
        })
        .await
        .unwrap();
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        assert!(line.contains("\"key\""), "the floor printed {line:?}");
        let _ = child.wait();
    }
    stats(times)
}

/// How long OpenRouter's HEAD takes in the spawn-to-browser row: a slow network's DNS, TCP
/// and TLS handshakes, which the browser must not wait for.
const SLOW_HEAD: Duration = Duration::from_millis(800);

/// Spawn of `login --no-browser` until the authorize URL is on stderr (where a browser would
/// be opened), against an OpenRouter whose every answer takes [`SLOW_HEAD`].
async fn spawn_to_browser() -> Stats {
    let app = axum::Router::new().fallback(|| async {
        tokio::time::sleep(SLOW_HEAD).await;
        ""
    });
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let home = Home::new();
    home.warm();
    let mut times = Vec::new();
    for _ in 0..RUNS {
        let args = login_args(free_port(), &url);
        let mut cmd = home.command(&args.iter().map(String::as_str).collect::<Vec<_>>());
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = cmd.spawn().unwrap();
        authorize_url(&mut child).await;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        let _ = child.kill();
        let _ = child.wait();
    }
    server.abort();
    stats(times)
}

async fn t_total(spare: bool) -> (Stats, f64) {
    let (_stand_in, url) = stand_in(Consent::AutoApprove).await;
    let home = Home::new();
    home.warm();
    let browser = browser_trusting(&home.ca());
    let mut times = Vec::new();
    let mut peak = 0f64;
    for _ in 0..RUNS {
        let (ms, rss) = one_login(&home, url.as_str(), &browser, spare).await;
        times.push(ms);
        peak = peak.max(rss);
    }
    (stats(times), peak)
}

/// What a running process holds now, from `/proc/PID/smaps_rollup`, in KiB.
#[derive(Clone, Copy)]
struct Memory {
    /// `Rss:` resident pages, file-backed (the binary, libc) included.
    rss_kib: f64,
    /// `Anonymous:` resident pages that are this process's own: heap, stacks, buffers.
    anon_kib: f64,
}

impl Memory {
    fn of(pid: u32) -> Self {
        let rollup =
            std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
        let field = |name: &str| {
            rollup
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(f64::NAN)
        };
        Self {
            rss_kib: field("Rss:"),
            anon_kib: field("Anonymous:"),
        }
    }

    fn json(self) -> serde_json::Value {
        json!({"rss_mib": self.rss_kib / 1024.0, "anonymous_mib": self.anon_kib / 1024.0})
    }
}

/// The largest memory of `LOGIN_MEMORY_RUNS` one-shot logins, each measured once it has printed
/// its authorize URL and is waiting for the callback (what a login costs while a person signs in).
async fn login_waiting_memory() -> Memory {
    let (_stand_in, url) = stand_in(Consent::Ask).await;
    let home = Home::new();
    home.warm();
    let mut worst = Memory {
        rss_kib: 0.0,
        anon_kib: 0.0,
    };
    for _ in 0..LOGIN_MEMORY_RUNS {
        let args = login_args(free_port(), url.as_str());
        let mut cmd = home.command(&args.iter().map(String::as_str).collect::<Vec<_>>());
        cmd.stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        authorize_url(&mut child).await;
        let now = Memory::of(child.id());
        assert!(
            now.anon_kib.is_finite(),
            "no smaps_rollup for the login (did it exit?)"
        );
        kill(child);
        worst.rss_kib = worst.rss_kib.max(now.rss_kib);
        worst.anon_kib = worst.anon_kib.max(now.anon_kib);
    }
    worst
}

struct Served {
    child: Child,
    port: u16,
    socket: PathBuf,
}

async fn start_serve(home: &Home, openrouter: &str) -> Served {
    let port = free_port();
    let child = home
        .command(&[
            "serve",
            "--port",
            &port.to_string(),
            "--openrouter-url",
            openrouter,
            "--max-pending",
            "5000",
        ])
        .spawn()
        .unwrap();
    let socket = home
        .dir
        .path()
        .join(format!("run/openrouter-pkce/control-{port}.sock"));
    let started = Instant::now();
    while !(socket.exists() && tcp_accepts(port).await) {
        assert!(started.elapsed() < Duration::from_secs(20));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Served {
        child,
        port,
        socket,
    }
}

async fn memory_with_pending(n: usize) -> (Memory, Memory) {
    let home = Home::new();
    home.warm();
    // Flows start only while OpenRouter answers.
    let (_stand_in, openrouter) = stand_in(Consent::Ask).await;
    let served = start_serve(&home, openrouter.as_str()).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let idle = Memory::of(served.child.id());
    for _ in 0..n {
        let (status, body) = control_request(
            &served.socket,
            hyper::Method::POST,
            "/v1/flows",
            Some(br#"{"exchange": true}"#.to_vec()),
            tokio::time::Instant::now() + Duration::from_secs(10),
        )
        .await
        .unwrap();
        assert_eq!(status, 201, "{body}");
    }
    let loaded = Memory::of(served.child.id());
    kill(served.child);
    (idle, loaded)
}

/// Requests per second over `FLOOD_CONNECTIONS` keep-alive connections for `FLOOD_SECONDS`.
async fn flood(port: u16, path: &'static str, tls: Option<PathBuf>) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(FLOOD_SECONDS);
    let mut tasks = Vec::new();
    for _ in 0..FLOOD_CONNECTIONS {
        let done = done.clone();
        let tls = tls.clone();
        tasks.push(tokio::spawn(async move {
            let tcp = tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port))
                .await
                .unwrap();
            let _ = tcp.set_nodelay(true);
            let mut sender = match tls {
                Some(ca) => {
                    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
                    let stream = tls_connector(&ca).connect(name, tcp).await.unwrap();
                    let (sender, conn) =
                        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                            .await
                            .unwrap();
                    tokio::spawn(conn);
                    sender
                }
                None => {
                    let (sender, conn) =
                        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
                            .await
                            .unwrap();
                    tokio::spawn(conn);
                    sender
                }
            };
            while Instant::now() < deadline {
                let req = hyper::Request::get(path)
                    .header("host", format!("localhost:{port}"))
                    .body(Empty::<Bytes>::new())
                    .unwrap();
                let Ok(resp) = sender.send_request(req).await else {
                    return;
                };
                let _ = resp.into_body().collect().await;
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    done.load(Ordering::Relaxed) as f64 / FLOOD_SECONDS as f64
}

/// (HTTP rate, HTTPS rate, floor rate, login ms during the flood or None if it failed)
async fn flood_all() -> (f64, f64, f64, Option<f64>) {
    let (_stand_in, standin_url) = stand_in(Consent::AutoApprove).await;
    let home = Home::new();
    home.warm();
    let served = start_serve(&home, standin_url.as_str()).await;
    const FORGED: &str = "/callback/forged-nonce?code=forged&state=forged";

    // One real login through the service while the HTTP flood runs.
    let login = {
        let login = timed_login(&home, served.port, standin_url.as_str());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            login.await
        })
    };
    let http = flood(served.port, FORGED, None).await;
    let login_ms = login.await.unwrap();
    let https = flood(served.port, FORGED, Some(home.ca())).await;
    kill(served.child);

    let me = std::env::current_exe().unwrap();
    let port = free_port();
    let hello = Command::new(me)
        .env(FLOOR_ENV, format!("hello:{port}"))
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    while !tcp_accepts(port).await {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let floor = flood(port, "/", None).await;
    kill(hello);
    (http, https, floor, login_ms)
}

/// A login through `serve` on `port`, a built-in client playing the browser: its wall time in
/// ms, or None if it failed.
fn timed_login(
    home: &Home,
    port: u16,
    standin_url: &str,
) -> impl std::future::Future<Output = Option<f64>> + Send + 'static {
    let args = login_args(port, standin_url);
    let mut cmd = home.command(&args.iter().map(String::as_str).collect::<Vec<_>>());
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let browser = browser_trusting(&home.ca());
    async move {
        {
            let started = Instant::now();
            let mut child = cmd.spawn().unwrap();
            let stderr = child.stderr.take().unwrap();
            let url = tokio::task::spawn_blocking(move || {
                BufReader::new(stderr)
                    .lines()
                    .map_while(Result::ok)
                    .find_map(|l| {
                        l.split_whitespace()
                            .find(|w| w.contains("/auth?"))
                            .map(str::to_owned)
                    })
            })
            .await
            .unwrap();
            let followed = match url {
                Some(url) => browser.get(url).send().await.is_ok(),
                None => false,
            };
            if !followed {
                kill(child);
                return None;
            }
            let out = tokio::task::spawn_blocking(move || child.wait_with_output())
                .await
                .unwrap()
                .ok()?;
            String::from_utf8_lossy(&out.stdout)
                .contains("\"key\"")
                .then(|| started.elapsed().as_secs_f64() * 1000.0)
        }
    }
}

/// A login through `serve` at its shipped limits while 500 idle and 500 part-way clients
/// (both loopback addresses) hold more connections than its cap: ms, or None if it failed.
async fn login_during_idle_flood() -> Option<f64> {
    let (_stand_in, standin_url) = stand_in(Consent::AutoApprove).await;
    let home = Home::new();
    home.warm();
    let served = start_serve(&home, standin_url.as_str()).await;
    let port = served.port;
    let hostile: Vec<std::net::TcpStream> = (0..1000)
        .filter_map(|i| {
            let addr = if i % 2 == 1 { "::1" } else { "127.0.0.1" };
            let mut s = std::net::TcpStream::connect((addr, port))
                .or_else(|_| std::net::TcpStream::connect(("127.0.0.1", port)))
                .ok()?;
            if i >= 500 {
                use std::io::Write;
                s.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: a")
                    .ok()?;
            }
            Some(s)
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let login_ms = timed_login(&home, port, standin_url.as_str()).await;
    drop(hostile);
    kill(served.child);
    login_ms
}

/// Cargo's target directory: `CARGO_TARGET_DIR` when set (a worktree benched beside the
/// checkout), else `target/` in the checkout.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// The size of the binary people install: `cargo build --release` (panic = abort). The bench's
/// own copy of the binary is built with the bench profile, where cargo ignores panic = abort and
/// dev-dependency features are unified in, so it is bigger than what ships.
fn shipped_binary_size() -> f64 {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let built = Command::new(cargo)
        .args(["build", "--release", "--quiet", "--bin", "openrouter-pkce"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .unwrap();
    assert!(built.success(), "cargo build --release failed");
    std::fs::metadata(target_dir().join("release/openrouter-pkce"))
        .unwrap()
        .len() as f64
}

async fn bench() {
    // First: `cargo build --release` puts the binary people install (panic = abort, no
    // dev-dependency features) where this bench's own copy was, so every row below measures
    // what ships, not the bench profile's bigger build.
    let size = shipped_binary_size();
    eprintln!("openrouter-pkce bench: {RUNS} runs each, release build {BIN}");
    let (floor, warm, cold) = ready_samples().await;
    let to_browser = spawn_to_browser().await;
    let (total, login_rss) = t_total(false).await;
    let total_floor = t_total_floor().await;
    let (total_spare, _) = t_total(true).await;
    let login_waiting = login_waiting_memory().await;
    let (idle, pending) = memory_with_pending(1000).await;
    let (http, https, hello, login_ms) = flood_all().await;
    let idle_flood_login_ms = login_during_idle_flood().await;

    let rows: Vec<(&str, String, String, String, String, bool)> = vec![
        // Tighter than the 3x/10x set when the floor was sampled in a row of its own (a hot
        // floor, ~1.5 ms; interleaved it is ~2.2 ms), so the guard did not loosen with it.
        row_time("t_ready (warm cache)", warm, floor, 2.5),
        row_time("t_ready (first run)", cold, floor, 6.0),
        (
            "spawn -> browser, OpenRouter's HEAD 800 ms",
            format!("{:.1} ms (p90 {:.1})", to_browser.median, to_browser.p90),
            "-".into(),
            "-".into(),
            "< 100 ms".into(),
            to_browser.median < 100.0,
        ),
        (
            "t_total (login to JSON)",
            format!("{:.1} ms (p90 {:.1})", total.median, total.p90),
            format!("{:.1} ms (p90 {:.1})", total_floor.median, total_floor.p90),
            format!("{:.1}x", total.median / total_floor.median),
            "<= 1.5x flow floor".into(),
            total.median <= 1.5 * total_floor.median,
        ),
        (
            "t_total, idle spare connection",
            format!("{:.1} ms (p90 {:.1})", total_spare.median, total_spare.p90),
            "-".into(),
            "-".into(),
            "report".into(),
            true,
        ),
        row_limit("peak RSS, one-shot login", login_rss / 1024.0, "MiB", 8.0),
        row_report(
            "RSS, login waiting for callback",
            login_waiting.rss_kib / 1024.0,
            "MiB",
        ),
        row_limit(
            "anon, login waiting for callback",
            login_waiting.anon_kib / 1024.0,
            "MiB",
            1.5,
        ),
        row_limit(
            "RSS, serve + 1,000 pending",
            pending.rss_kib / 1024.0,
            "MiB",
            25.0,
        ),
        row_report(
            "anon, serve + 1,000 pending",
            pending.anon_kib / 1024.0,
            "MiB",
        ),
        (
            "flood, forged callbacks, HTTP",
            format!("{http:.0} req/s"),
            format!("{hello:.0} req/s"),
            format!("{:.2}", http / hello),
            ">= 0.50x floor, login ok".into(),
            http / hello >= 0.5 && login_ms.is_some(),
        ),
        (
            "flood, forged callbacks, HTTPS",
            format!("{https:.0} req/s"),
            format!("{hello:.0} req/s"),
            format!("{:.2}", https / hello),
            "report".into(),
            true,
        ),
        (
            "login during the flood",
            login_ms.map_or("FAILED".into(), |ms| format!("{ms:.0} ms")),
            "-".into(),
            "-".into(),
            "succeeds".into(),
            login_ms.is_some(),
        ),
        (
            "login, 1,000 idle+slow clients",
            idle_flood_login_ms.map_or("FAILED".into(), |ms| format!("{ms:.0} ms")),
            "-".into(),
            "-".into(),
            "< 2 s at the defaults".into(),
            idle_flood_login_ms.is_some_and(|ms| ms < 2000.0),
        ),
        // 6 MB until saved keys: the keyring's pure-Rust D-Bus client (zbus) adds about 2 MB,
        // the price of not linking libdbus.
        row_limit("release binary", size / 1_000_000.0, "MB", 7.0),
    ];
    println!(
        "\n{:<32} {:>22} {:>18} {:>7}  budget",
        "measure", "openrouter-pkce", "floor", "ratio"
    );
    for (name, value, floor, ratio, budget, ok) in &rows {
        println!(
            "{name:<32} {value:>22} {floor:>18} {ratio:>7}  {budget:<26} {}",
            if *ok { "ok" } else { "MISSED" }
        );
    }
    println!(
        "(idle serve: RSS {:.1} MiB, anonymous {:.1} MiB)",
        idle.rss_kib / 1024.0,
        idle.anon_kib / 1024.0
    );
    let report = json!({
        "runs": RUNS,
        "t_ready_warm_ms": {"median": warm.median, "p90": warm.p90},
        "t_ready_first_run_ms": {"median": cold.median, "p90": cold.p90},
        "floor_ready_ms": {"median": floor.median, "p90": floor.p90},
        "spawn_to_browser_slow_head_ms": {"median": to_browser.median, "p90": to_browser.p90},
        "t_total_ms": {"median": total.median, "p90": total.p90},
        "t_total_flow_floor_ms": {"median": total_floor.median, "p90": total_floor.p90},
        "t_total_spare_connection_ms": {"median": total_spare.median, "p90": total_spare.p90},
        "one_shot_peak_rss_kib": login_rss,
        "serve_idle_rss_kib": idle.rss_kib,
        "serve_1000_pending_rss_kib": pending.rss_kib,
        "login_waiting_for_callback": login_waiting.json(),
        "serve_idle": idle.json(),
        "serve_1000_pending": pending.json(),
        "flood_http_rps": http,
        "flood_https_rps": https,
        "floor_hello_rps": hello,
        "login_during_flood_ms": login_ms,
        "login_during_idle_flood_ms": idle_flood_login_ms,
        "binary_bytes": size,
        "budgets_met": rows.iter().all(|r| r.5),
    });
    let out = target_dir().join("bench.json");
    std::fs::write(&out, serde_json::to_string_pretty(&report).unwrap()).unwrap();
    println!("wrote {}", out.display());
}

fn row_time(
    name: &'static str,
    s: Stats,
    floor: Stats,
    budget: f64,
) -> (&'static str, String, String, String, String, bool) {
    let ratio = s.median / floor.median;
    (
        name,
        format!("{:.2} ms (p90 {:.2})", s.median, s.p90),
        format!("{:.2} ms (p90 {:.2})", floor.median, floor.p90),
        format!("{ratio:.1}x"),
        format!("<= {budget}x floor"),
        ratio <= budget,
    )
}

fn row_limit(
    name: &'static str,
    value: f64,
    unit: &str,
    limit: f64,
) -> (&'static str, String, String, String, String, bool) {
    (
        name,
        format!("{value:.2} {unit}"),
        "-".into(),
        "-".into(),
        format!("< {limit} {unit}"),
        value < limit,
    )
}

fn row_report(
    name: &'static str,
    value: f64,
    unit: &str,
) -> (&'static str, String, String, String, String, bool) {
    (
        name,
        format!("{value:.2} {unit}"),
        "-".into(),
        "-".into(),
        "report".into(),
        true,
    )
}

/// An HTTP client that trusts `ca` and follows redirects, as a browser would.
fn browser_trusting(ca: &std::path::Path) -> reqwest::Client {
    let cert = reqwest::Certificate::from_pem(&std::fs::read(ca).unwrap()).unwrap();
    reqwest::Client::builder()
        .tls_certs_merge([cert])
        .redirect(reqwest::redirect::Policy::limited(5))
        .build()
        .unwrap()
}

/// One request to the service's control socket: status and body.
async fn control_request(
    socket: &std::path::Path,
    method: hyper::Method,
    uri: &str,
    body: Option<Vec<u8>>,
    until: tokio::time::Instant,
) -> Result<(u16, String), String> {
    let exchange = async {
        let stream = tokio::net::UnixStream::connect(socket)
            .await
            .map_err(|e| e.to_string())?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let request = hyper::Request::builder()
            .method(method)
            .uri(uri)
            .header(hyper::header::HOST, "localhost")
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(http_body_util::Full::new(Bytes::from(
                body.unwrap_or_default(),
            )))
            .map_err(|e| e.to_string())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
    };
    tokio::time::timeout_at(until, exchange)
        .await
        .unwrap_or_else(|_| Err("timed out".into()))
}

/// The library's OpenRouter stand-in (kept alive by the caller) and its URL.
async fn stand_in(consent: Consent) -> (StandIn, url::Url) {
    let stand_in = StandIn::builder().consent(consent).start().await.unwrap();
    let url = url::Url::parse(stand_in.url()).unwrap();
    (stand_in, url)
}
