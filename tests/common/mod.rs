//! Shared test fixtures: a private HOME per test, free ports, the stand-in as a child process,
//! and a spawned `openrouter-pkce` whose stderr is collected as it arrives.
#![allow(dead_code)]

use std::io::Write;
use std::net::{Ipv4Addr, Ipv6Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The binary, where it is built (the library's own tests also run without the `cli` feature).
pub const BIN: &str = match option_env!("CARGO_BIN_EXE_openrouter-pkce") {
    Some(bin) => bin,
    None => "openrouter-pkce (not built without the cli feature)",
};

/// A temporary HOME with XDG dirs inside it; nothing touches the real user's files.
pub struct TestEnv {
    pub dir: tempfile::TempDir,
}

impl TestEnv {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        for sub in ["config", "state", "runtime"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        Self { dir }
    }

    pub fn home(&self) -> &Path {
        self.dir.path()
    }

    pub fn config_dir(&self) -> PathBuf {
        self.home().join("config/openrouter-pkce")
    }

    pub fn ca_cert(&self) -> PathBuf {
        self.config_dir().join("ca.pem")
    }

    /// A command for the binary with this env's HOME/XDG dirs and no inherited settings.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home())
            .env("XDG_CONFIG_HOME", self.home().join("config"))
            .env("XDG_STATE_HOME", self.home().join("state"))
            .env("XDG_RUNTIME_DIR", self.home().join("runtime"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Writes a `$BROWSER` script that records what it was given, reads the authorize URL from
    /// the private redirect page it is handed (as a browser following the page would), and
    /// follows it with curl, trusting this env's local CA.
    pub fn browser_script(&self) -> PathBuf {
        let path = self.home().join("browser.sh");
        let script = format!(
            "#!/bin/sh\n\
             printf '%s' \"$1\" > '{arg}'\n\
             page=\"${{1#file://}}\"\n\
             stat -c %a \"$page\" > '{mode}' 2>/dev/null\n\
             url=$(sed -n 's/.*href=\"\\([^\"]*\\)\".*/\\1/p' \"$page\" | head -n 1 | sed 's/&amp;/\\&/g; s/&quot;/\"/g; s/&#39;/'\"'\"'/g; s/&lt;/</g; s/&gt;/>/g')\n\
             printf '%s' \"$url\" > '{log}'\n\
             exec curl -sS -L --max-redirs 5 --cacert '{ca}' -o '{page_out}' -w '%{{url_effective}}' \"$url\" > '{landed}'\n",
            arg = self.browser_arg().display(),
            mode = self.home().join("browser-page-mode.txt").display(),
            log = self.browser_log().display(),
            landed = self.browser_landed().display(),
            ca = self.ca_cert().display(),
            page_out = self.browser_page().display(),
        );
        std::fs::write(&path, script).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        path
    }

    /// The argument the browser script was started with (a redirect page, never the URL).
    pub fn browser_arg(&self) -> PathBuf {
        self.home().join("browser-arg.txt")
    }

    /// The mode of the redirect page when the browser opened it.
    pub fn browser_page_mode(&self) -> String {
        std::fs::read_to_string(self.home().join("browser-page-mode.txt"))
            .unwrap_or_default()
            .trim()
            .to_owned()
    }

    /// The URL the browser script was opened with.
    pub fn browser_log(&self) -> PathBuf {
        self.home().join("browser-url.txt")
    }

    /// The URL the browser script ended on (the callback, with its code).
    pub fn browser_landed(&self) -> PathBuf {
        self.home().join("browser-landed.txt")
    }

    /// Waits for the browser script to finish and returns where it landed: the login may end
    /// (the callback was accepted) before curl has written its last words.
    pub fn wait_browser_landed(&self) -> String {
        poll(
            "the browser script to finish",
            Duration::from_secs(10),
            || {
                let landed = std::fs::read_to_string(self.browser_landed()).unwrap_or_default();
                landed.starts_with("http").then_some(landed)
            },
        )
    }

    /// The last page the browser script landed on.
    pub fn browser_page(&self) -> PathBuf {
        self.home().join("browser-page.html")
    }
}

/// The one guard for a test that needs something this machine may lack (a tool, IPv6 loopback).
/// Returns `available`. When it is false, the test is skipped with a visible `skipped: <what>`
/// line on stderr, except under `CI=true`, where a missing prerequisite fails the test instead.
/// Use as `if !require("certutil (libnss3-tools) is not installed", found) { return; }`.
pub fn require(what: &str, available: bool) -> bool {
    if available {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true requires this test's prerequisite, but: {what}");
    }
    eprintln!("skipped: {what}");
    false
}

/// The text up to its last newline: output still arriving may end in half a word.
pub fn complete_lines(text: &str) -> &str {
    text.rfind('\n').map_or("", |end| &text[..=end])
}

/// The authorize URL in a pty's output, once its whole line has arrived.
pub fn url_in(output: &str) -> Option<url::Url> {
    complete_lines(output)
        .split_whitespace()
        .find(|w| w.contains("/auth?"))
        .map(|w| url::Url::parse(w).unwrap())
}

/// Whether NSS's certutil (libnss3-tools) can be run, for tests that trust the CA.
pub fn certutil_found() -> bool {
    Command::new("certutil").arg("-H").output().is_ok()
}

/// A port free on both 127.0.0.1 and ::1 right now.
pub fn free_port() -> u16 {
    loop {
        let v4 = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = v4.local_addr().unwrap().port();
        match TcpListener::bind((Ipv6Addr::LOCALHOST, port)) {
            Ok(_) => return port,
            Err(e) if e.kind() == std::io::ErrorKind::AddrNotAvailable => return port,
            Err(_) => continue,
        }
    }
}

/// A spawned process whose stderr is gathered in the background; killed on drop.
pub struct Running {
    pub child: Child,
    stderr: Arc<Mutex<String>>,
    stdout: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Running {
    pub fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd.spawn().expect("spawn openrouter-pkce");
        let stderr = Arc::new(Mutex::new(String::new()));
        let stdout = Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take().unwrap();
        let err_reader = collect_lines(pipe, stderr.clone());
        let out_reader = collect_lines(child.stdout.take().unwrap(), stdout.clone());
        Self {
            child,
            stderr,
            stdout,
            readers: vec![err_reader, out_reader],
        }
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    /// Polls stderr until `pred` finds something, for up to 20 s.
    pub fn wait_stderr<T>(&self, what: &str, pred: impl Fn(&str) -> Option<T>) -> T {
        let found = poll_for(Duration::from_secs(20), || pred(&self.stderr()));
        found.unwrap_or_else(|| panic!("timed out waiting for {what}; stderr:\n{}", self.stderr()))
    }

    /// Polls stdout until `pred` finds something, for up to 20 s (a pty's output lands here).
    pub fn wait_stdout_match<T>(&self, what: &str, pred: impl Fn(&str) -> Option<T>) -> T {
        let found = poll_for(Duration::from_secs(20), || pred(&self.stdout()));
        found.unwrap_or_else(|| panic!("timed out waiting for {what}; output:\n{}", self.stdout()))
    }

    /// Polls stdout until a whole line arrives; returns the first line.
    pub fn wait_stdout_line(&self) -> String {
        let found = poll_for(Duration::from_secs(20), || {
            let out = self.stdout();
            out.find('\n').map(|end| out[..end].to_owned())
        });
        found.unwrap_or_else(|| panic!("no stdout line; stderr:\n{}", self.stderr()))
    }

    /// The authorize URL printed by `--no-browser`.
    pub fn wait_authorize_url(&self) -> url::Url {
        self.wait_stderr("the authorize URL", |s| {
            complete_lines(s)
                .split_whitespace()
                .find(|w| w.starts_with("http") && w.contains("/auth?"))
                .map(|w| url::Url::parse(w).unwrap())
        })
    }

    pub fn write_stdin(&mut self, text: &str) {
        let stdin = self.child.stdin.as_mut().expect("stdin piped");
        stdin.write_all(text.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    /// Waits for exit (up to 30 s) and returns status, stdout, stderr.
    pub fn finish(mut self) -> (ExitStatus, String, String) {
        let status = poll_for(Duration::from_secs(30), || self.child.try_wait().unwrap());
        let status =
            status.unwrap_or_else(|| panic!("process did not exit; stderr:\n{}", self.stderr()));
        // The pipes close with the process: the readers end once they have read everything.
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        (status, self.stdout(), self.stderr())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The stand-in as a child process on a free port.
pub struct StandIn {
    pub url: String,
    _process: Running,
}

impl StandIn {
    pub fn start(env: &TestEnv, extra: &[&str]) -> Self {
        let mut cmd = env.command();
        cmd.args(["mock-server", "--port", "0"]).args(extra);
        let process = Running::spawn(cmd);
        let line = process.wait_stdout_line();
        let json: serde_json::Value = serde_json::from_str(&line).unwrap();
        let url = json["url"]
            .as_str()
            .unwrap()
            .trim_end_matches('/')
            .to_owned();
        Self {
            url,
            _process: process,
        }
    }

    pub fn stats(&self) -> serde_json::Value {
        let body = blocking_get(&format!("{}/_standin/stats", self.url));
        serde_json::from_str(&body).unwrap()
    }
}

/// A minimal HTTP/1.1 GET over loopback, for plain-http endpoints.
pub fn blocking_get(url: &str) -> String {
    let out = Command::new("curl")
        .args(["-sS", "--fail", url])
        .output()
        .expect("curl");
    assert!(
        out.status.success(),
        "GET {url} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs a command to completion with `stdin` as its input.
pub fn run_with_stdin(mut cmd: Command, stdin: &str) -> (ExitStatus, String, String) {
    cmd.stdin(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status,
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

pub fn run(mut cmd: Command) -> (ExitStatus, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status,
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

pub fn json(line: &str) -> serde_json::Value {
    serde_json::from_str(line.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"))
}

/// An HTTP client that trusts `ca` and follows no redirects.
pub fn client_trusting(ca: &Path) -> reqwest::Client {
    client_with(ca, reqwest::redirect::Policy::none())
}

/// An HTTP client that trusts `ca` and follows redirects, as a browser would.
pub fn browser_trusting(ca: &Path) -> reqwest::Client {
    client_with(ca, reqwest::redirect::Policy::limited(5))
}

fn client_with(ca: &Path, redirects: reqwest::redirect::Policy) -> reqwest::Client {
    install_crypto_provider();
    let cert = reqwest::Certificate::from_pem(&std::fs::read(ca).unwrap()).unwrap();
    reqwest::Client::builder()
        .tls_certs_merge([cert])
        .redirect(redirects)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A running `serve` child on a free port.
pub struct Served {
    pub process: Running,
    pub port: u16,
}

/// The service's control socket for `port` under this env's runtime dir.
pub fn socket_path(env: &TestEnv, port: u16) -> PathBuf {
    env.home()
        .join(format!("runtime/openrouter-pkce/control-{port}.sock"))
}

/// The service's private runtime directory (created 0700, as the service would).
pub fn private_runtime_dir(env: &TestEnv) -> PathBuf {
    let dir = env.home().join("runtime/openrouter-pkce");
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(&dir).unwrap();
    dir
}

/// One control-API request over the service's socket with curl: (HTTP status, body).
pub fn control(
    env: &TestEnv,
    port: u16,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-sS",
        "-o",
        "-",
        "-w",
        "\n%{http_code}",
        "-X",
        method,
        "--unix-socket",
    ])
    .arg(socket_path(env, port));
    if let Some(body) = body {
        cmd.args(["-H", "Content-Type: application/json", "-d", body]);
    }
    let out = cmd.arg(format!("http://localhost{path}")).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (status.trim().parse().unwrap_or(0), body.to_owned())
}

/// Starts `serve` against the stand-in; returns once its control socket exists and /healthz
/// answers on the port.
pub fn start_service(env: &TestEnv, stand_in: &StandIn, extra: &[&str]) -> Served {
    start_service_with(env, stand_in, extra, |_| {})
}

/// As [`start_service`], with a chance to adjust the command (environment, say).
pub fn start_service_with(
    env: &TestEnv,
    stand_in: &StandIn,
    extra: &[&str],
    adjust: impl FnOnce(&mut Command),
) -> Served {
    let port = free_port();
    let mut cmd = env.command();
    cmd.args([
        "serve",
        "--port",
        &port.to_string(),
        "--openrouter-url",
        &stand_in.url,
    ])
    .args(extra);
    adjust(&mut cmd);
    let process = Running::spawn(cmd);
    let ready = poll_for(Duration::from_secs(20), || {
        let healthy = || {
            Command::new("curl")
                .args([
                    "-sf",
                    "-o",
                    "/dev/null",
                    &format!("http://127.0.0.1:{port}/healthz"),
                ])
                .status()
                .is_ok_and(|s| s.success())
        };
        (socket_path(env, port).exists() && healthy()).then_some(())
    });
    assert!(ready.is_some(), "serve not ready: {}", process.stderr());
    Served { process, port }
}

impl StandIn {
    /// `exchange` against this stand-in with `bundle` on stdin.
    pub fn exchange(&self, env: &TestEnv, bundle: &str) -> (ExitStatus, String, String) {
        let mut cmd = env.command();
        cmd.args(["exchange", "--openrouter-url", &self.url]);
        run_with_stdin(cmd, bundle)
    }

    /// `authorize` against this stand-in on `port`, with the curl `$BROWSER`.
    pub fn authorize_cmd(&self, env: &TestEnv, port: u16) -> Command {
        let mut cmd = env.command();
        cmd.args([
            "authorize",
            "--openrouter-url",
            &self.url,
            "--port",
            &port.to_string(),
        ])
        .env("BROWSER", env.browser_script());
        cmd
    }
}

/// Asserts stdout is `{"key",...}` with a key the stand-in minted; returns the key.
pub fn assert_standin_key(stdout: &str) -> String {
    let key = json(stdout)["key"].as_str().unwrap_or_default().to_owned();
    assert!(
        key.starts_with("sk-or-v1-standin-"),
        "no stand-in key in {stdout:?}"
    );
    key
}

impl TestEnv {
    /// `<command>` against `openrouter` on any free port with a 20 s timeout, its browser the
    /// script that approves through the redirect page ([`TestEnv::browser_script`]).
    pub fn with_browser(&self, command: &str, openrouter: &str) -> Command {
        let mut cmd = self.command();
        cmd.args([
            command,
            "--openrouter-url",
            openrouter,
            "--port",
            "0",
            "--timeout",
            "20",
        ])
        .env("BROWSER", self.browser_script());
        cmd
    }

    /// `login --no-browser` against `openrouter` on `port`, plus `extra` flags.
    pub fn login_no_browser(&self, openrouter: &str, port: u16, extra: &[&str]) -> Command {
        let mut cmd = self.command();
        cmd.args([
            "login",
            "--no-browser",
            "--openrouter-url",
            openrouter,
            "--port",
            &port.to_string(),
        ])
        .args(extra);
        cmd
    }
}

/// Polls `check` until it returns something, for up to `timeout`; fails naming `what`.
pub fn poll<T>(what: &str, timeout: Duration, check: impl FnMut() -> Option<T>) -> T {
    poll_for(timeout, check).unwrap_or_else(|| panic!("timed out waiting for {what}"))
}

/// Polls `check` every 10 ms until it returns something or `timeout` passes: the one place
/// tests wait for another process.
pub fn poll_for<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Appends each line from `pipe` to `sink` until the pipe closes.
fn collect_lines(
    pipe: impl std::io::Read + Send + 'static,
    sink: Arc<Mutex<String>>,
) -> std::thread::JoinHandle<()> {
    // Raw chunks, not lines: a question waiting for an answer, or a spinner redrawn with \r,
    // has no newline yet.
    std::thread::spawn(move || {
        let mut pipe = pipe;
        let mut pending = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = std::io::Read::read(&mut pipe, &mut buf) {
            if n == 0 {
                break;
            }
            pending.extend_from_slice(&buf[..n]);
            // Only whole UTF-8 characters are appended; a split one waits for its rest.
            let valid = match std::str::from_utf8(&pending) {
                Ok(text) => text.len(),
                Err(e) if e.error_len().is_none() => e.valid_up_to(),
                Err(_) => pending.len(),
            };
            let text = String::from_utf8_lossy(&pending[..valid]).into_owned();
            pending.drain(..valid);
            sink.lock().unwrap().push_str(&text);
        }
    })
}

/// Serves `app` (a fake OpenRouter or service) on a free 127.0.0.1 port in a runtime of its own;
/// it stops when the runtime is dropped.
pub fn serve_in_background(app: axum::Router) -> (std::net::SocketAddr, tokio::runtime::Runtime) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    runtime.spawn(async move { axum::serve(listener, app).await });
    (addr, runtime)
}

/// Sends signal `name` (`TERM`, `INT`, `STOP`, ...) to a spawned process.
pub fn signal(process: &Running, name: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{name}"), &process.child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{name}");
}

/// The callback URL and the state inside an authorize URL.
pub fn callback_of(authorize: &url::Url) -> (url::Url, String) {
    let q: std::collections::HashMap<_, _> = authorize.query_pairs().into_owned().collect();
    (
        url::Url::parse(&q["callback_url"]).unwrap(),
        q["state"].clone(),
    )
}

/// Plays the browser for an http callback: follows `url` (the stand-in auto-approves and
/// redirects to the callback) and returns the final HTTP status.
pub fn follow(url: &url::Url) -> String {
    let out = Command::new("curl")
        .args(["-s", "-L", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(url.as_str())
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `openrouter-pkce <args>` on a pseudo-terminal (stdin, stdout and stderr all the pty,
/// like a person's terminal); everything it writes arrives on the returned process's stdout.
/// `env_vars` are set for it. Call [`pty_available`] first.
pub fn on_pty(env: &TestEnv, args: &str, env_vars: &[(&str, &str)]) -> Running {
    let inner = format!("'{BIN}' {args}");
    let mut cmd = Command::new("script");
    cmd.args(["-q", "-e", "-c", &inner, "/dev/null"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", env.home())
        .env("XDG_CONFIG_HOME", env.home().join("config"))
        .env("TERM", "xterm-256color")
        .envs(env_vars.iter().copied())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    Running::spawn(cmd)
}

/// Follows `url` as a browser would (redirects, trusting `env`'s local CA); asserts curl
/// succeeded.
pub fn follow_trusting(env: &TestEnv, url: &url::Url) {
    let status = Command::new("curl")
        .args(["-sS", "-L", "-o", "/dev/null", "--cacert"])
        .arg(env.ca_cert())
        .arg(url.as_str())
        .status()
        .unwrap();
    assert!(status.success(), "curl could not follow {url}");
}

/// Whether `script` (util-linux) can give a child a pseudo-terminal; skips visibly without it
/// (fails under CI=true).
pub fn pty_available() -> bool {
    let found = Command::new("script").arg("--version").output().is_ok();
    require(
        "`script` (util-linux) is not installed, so no pty can be made",
        found,
    )
}

/// rustls's ring provider for the tests' own HTTP clients (reqwest is built without one).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// RFC 7636's S256 challenge of `verifier`, computed here rather than by the crate under test.
pub fn s256(verifier: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier))
}
