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
        self.home().join("config").join("openrouter-pkce")
    }

    pub fn ca_cert(&self) -> PathBuf {
        self.config_dir().join("ca.pem")
    }

    /// A command for the binary with this env's HOME/XDG dirs and no inherited settings.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.env_clear();
        self.set_env(&mut cmd);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// This env's variables on `cmd`: PATH, HOME and the XDG dirs, and on Windows what a
    /// process there cannot run without (the system root, the profile, the temp dir). The
    /// account's own name is not among them: the product asks the system for it.
    pub fn set_env(&self, cmd: &mut Command) {
        cmd.env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home())
            .env("XDG_CONFIG_HOME", self.home().join("config"))
            .env("XDG_STATE_HOME", self.home().join("state"))
            .env("XDG_RUNTIME_DIR", self.home().join("runtime"));
        if cfg!(windows) {
            for var in [
                "SystemRoot",
                "SystemDrive",
                "windir",
                "TEMP",
                "TMP",
                "USERPROFILE",
                "APPDATA",
                "LOCALAPPDATA",
                "ComSpec",
                "PATHEXT",
            ] {
                if let Some(value) = std::env::var_os(var) {
                    cmd.env(var, value);
                }
            }
            // Linux finds the data dir under HOME; Windows would use the profile's AppData.
            cmd.env("XDG_DATA_HOME", self.home().join(".local/share"));
        }
    }

    /// The `$BROWSER` command that approves through the private redirect page it is handed,
    /// as a person's browser would: this test binary itself ([`browser_entry`]) records what it
    /// was given and follows the page's link, trusting this env's local CA.
    pub fn browser_script(&self) -> String {
        self.browser_command(BrowserMode::Approve)
    }

    /// The `$BROWSER` command for a browser that plays `mode`.
    pub fn browser_command(&self, mode: BrowserMode) -> String {
        let exe = std::env::current_exe().expect("the test binary's path");
        let home = self.home().display().to_string();
        // $BROWSER is split on whitespace; temp dirs and target dirs here have none.
        assert!(
            !home.contains(char::is_whitespace) && !exe.display().to_string().contains(' '),
            "a path with a space cannot go into $BROWSER: {home}"
        );
        format!("{} {BROWSER_ENTRY} {} {home}", exe.display(), mode.word())
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

    /// Waits for the browser to finish and returns where it landed: the login may end (the
    /// callback was accepted) before the browser has written its last words.
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

/// A minimal GET over loopback, for plain-http endpoints: the body; fails on an error status.
pub fn blocking_get(url: &str) -> String {
    let url = url.to_owned();
    blocking(async move {
        let response = plain_client().get(&url).send().await;
        let response = response.unwrap_or_else(|e| panic!("GET {url} failed: {e}"));
        assert!(
            response.status().is_success(),
            "GET {url}: {}",
            response.status()
        );
        response.text().await.unwrap()
    })
}

/// Runs `work` to completion on a runtime of its own, in a thread of its own: callable from
/// plain tests and from inside a tokio test alike.
pub fn blocking<T: Send>(work: impl std::future::Future<Output = T> + Send) -> T {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(work)
            })
            .join()
            .unwrap()
    })
}

/// A client for plain-http loopback endpoints that follows no redirects.
pub fn plain_client() -> reqwest::Client {
    install_crypto_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
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
        // Exactly our CA: no system roots (Wine cannot build a chain engine for them, and
        // loopback needs none).
        .tls_certs_only([cert])
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

/// The service's control endpoint for `port`: the socket under this env's runtime dir, or on
/// Windows the named pipe named for the account.
pub fn socket_path(env: &TestEnv, port: u16) -> PathBuf {
    if cfg!(windows) {
        let account = std::env::var("USERNAME").expect("USERNAME names the account");
        let account: String = account
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            .collect();
        PathBuf::from(format!(r"\\.\pipe\openrouter-pkce-{account}-{port}"))
    } else {
        env.home()
            .join(format!("runtime/openrouter-pkce/control-{port}.sock"))
    }
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

/// One control-API request over the service's socket or pipe: (HTTP status, body); status 0
/// when nothing answered.
pub fn control(
    env: &TestEnv,
    port: u16,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (u16, String) {
    let endpoint = socket_path(env, port);
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let (path, body) = (path.to_owned(), body.map(str::to_owned));
    blocking(async move {
        install_crypto_provider();
        let builder = reqwest::Client::builder().timeout(Duration::from_secs(30));
        #[cfg(unix)]
        let builder = builder.unix_socket(endpoint);
        #[cfg(windows)]
        let builder = builder.windows_named_pipe(endpoint.into_os_string());
        let client = builder.build().unwrap();
        let mut request = client.request(method, format!("http://localhost{path}"));
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                (status, response.text().await.unwrap_or_default())
            }
            Err(_) => (0, String::new()),
        }
    })
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
    // Ready when both answer: the port's /healthz and the control endpoint (by connecting,
    // not by looking for a socket file, which Windows' pipes are not).
    let ready = poll_for(Duration::from_secs(20), || {
        let healthy = || {
            blocking(async {
                let url = format!("http://127.0.0.1:{port}/healthz");
                plain_client()
                    .get(url)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            })
        };
        (control(env, port, "GET", "/v1/flows", None).0 != 0 && healthy()).then_some(())
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
#[cfg(unix)]
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
/// redirects to the callback) and returns the final HTTP status ("000" when nothing answered).
pub fn follow(url: &url::Url) -> String {
    let url = url.clone();
    blocking(async move {
        match following_client().get(url).send().await {
            Ok(response) => response.status().as_u16().to_string(),
            Err(_) => "000".to_owned(),
        }
    })
}

#[cfg(unix)]
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

/// Follows `url` as a browser would (redirects, trusting `env`'s local CA); asserts it got
/// an answer.
pub fn follow_trusting(env: &TestEnv, url: &url::Url) {
    let (client, url) = (browser_trusting(&env.ca_cert()), url.clone());
    let answered = blocking(async move { client.get(url.clone()).send().await.map(|_| ()) });
    assert!(answered.is_ok(), "could not follow the URL: {answered:?}");
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

/// The word that makes a test binary act as `$BROWSER` (see [`browser_entry`]): libtest's
/// filter for that one test (without `::`, as `$BROWSER` lists split on `:`).
pub const BROWSER_ENTRY: &str = "browser_entry";

/// What the test browser does with the page it is handed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrowserMode {
    /// Follows the redirect page's link to OpenRouter (the stand-in approves) and on to the
    /// callback, trusting the env's local CA.
    Approve,
    /// Records what it was given and stays open without following anything, until the test
    /// writes `browser-release` in the env's home (or 10 s pass).
    Linger,
}

impl BrowserMode {
    fn word(self) -> &'static str {
        match self {
            BrowserMode::Approve => "approve",
            BrowserMode::Linger => "linger",
        }
    }
}

/// Not a test of its own: the entry point when the product starts this test binary as
/// `$BROWSER` (`<test binary> common::browser_entry <mode> <home> <page or URL>`, the name
/// being libtest's filter and the rest filters that match nothing). Run any other way it has
/// nothing to do. A Rust browser rather than a shell script and curl, so the same tests run on
/// Windows.
#[test]
fn browser_entry() {
    let args: Vec<String> = std::env::args().collect();
    let Some(at) = args.iter().position(|a| a == BROWSER_ENTRY) else {
        return;
    };
    let [mode, home, target] = match &args[at + 1..] {
        [mode, home, target] => [mode, home, target],
        _ => return,
    };
    act_as_browser(mode, Path::new(home), target);
}

fn act_as_browser(mode: &str, home: &Path, target: &str) {
    let files = |name: &str| home.join(name);
    std::fs::write(files("browser-arg.txt"), target).unwrap();
    let page_path = url::Url::parse(target)
        .ok()
        .filter(|u| u.scheme() == "file")
        .and_then(|u| u.to_file_path().ok());
    let url = match &page_path {
        Some(page) => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(page).unwrap().permissions().mode() & 0o777;
                std::fs::write(files("browser-page-mode.txt"), format!("{mode:o}")).unwrap();
            }
            first_href(&std::fs::read_to_string(page).unwrap())
        }
        None => target.to_owned(),
    };
    std::fs::write(files("browser-url.txt"), &url).unwrap();
    if mode == "linger" {
        poll_for(Duration::from_secs(10), || {
            files("browser-release").exists().then_some(())
        });
        return;
    }
    let ca = home.join("config/openrouter-pkce/ca.pem");
    let client = if ca.exists() {
        browser_trusting(&ca)
    } else {
        following_client()
    };
    let (landed, page) = blocking(async move {
        let response = client.get(&url).send().await.expect("the browser's GET");
        let landed = response.url().to_string();
        (landed, response.text().await.unwrap_or_default())
    });
    std::fs::write(files("browser-page.html"), page).unwrap();
    std::fs::write(files("browser-landed.txt"), landed).unwrap();
}

/// The first `href="…"` in `page`, its HTML entities decoded.
fn first_href(page: &str) -> String {
    let start = page.find("href=\"").expect("a link in the redirect page") + 6;
    let end = start + page[start..].find('"').unwrap();
    page[start..end]
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Serves `app` as a (fake) service's control API for `port`, on the socket or named pipe
/// `serve` would use, in a runtime of its own; it stops when the runtime is dropped.
pub fn serve_control(env: &TestEnv, port: u16, app: axum::Router) -> tokio::runtime::Runtime {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let endpoint = socket_path(env, port);
    #[cfg(unix)]
    {
        private_runtime_dir(env);
        let listener = runtime
            .block_on(async { tokio::net::UnixListener::bind(&endpoint) })
            .unwrap();
        runtime.spawn(async move { axum::serve(listener, app).await });
    }
    #[cfg(windows)]
    {
        use tokio::net::windows::named_pipe::ServerOptions;
        let name = endpoint.into_os_string();
        let first = runtime
            .block_on(async { ServerOptions::new().first_pipe_instance(true).create(&name) })
            .unwrap();
        runtime.spawn(async move {
            let mut server = first;
            while server.connect().await.is_ok() {
                let next = ServerOptions::new().create(&name).unwrap();
                let connected = std::mem::replace(&mut server, next);
                let service = hyper_util::service::TowerToHyperService::new(app.clone());
                tokio::spawn(async move {
                    let io = hyper_util::rt::TokioIo::new(connected);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                });
            }
        });
    }
    runtime
}

/// A raw connection to the control API of the service on `port` (its socket, or its pipe,
/// which Windows opens as a file); `None` when nothing listens.
pub fn control_stream(env: &TestEnv, port: u16) -> Option<Box<dyn ReadWrite>> {
    let endpoint = socket_path(env, port);
    #[cfg(unix)]
    let stream = std::os::unix::net::UnixStream::connect(endpoint);
    #[cfg(windows)]
    let stream = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(endpoint);
    stream.ok().map(|s| Box::new(s) as Box<dyn ReadWrite>)
}

/// A byte stream both ways.
pub trait ReadWrite: std::io::Read + Write {}
impl<T: std::io::Read + Write> ReadWrite for T {}

/// GETs `url` without following redirects, trusting `env`'s local CA: the HTTP status, or
/// "000" when nothing answered.
pub fn status_trusting(env: &TestEnv, url: &str) -> String {
    let (client, url) = (client_trusting(&env.ca_cert()), url.to_owned());
    blocking(async move {
        match client.get(url).send().await {
            Ok(response) => response.status().as_u16().to_string(),
            Err(_) => "000".to_owned(),
        }
    })
}

/// An HTTP request to a plain-http loopback URL, redirects not followed: the status, the
/// `Location` header (empty when none) and the body. `body` is sent as a form.
pub fn request(method: &str, url: &str, form: Option<&str>) -> (u16, String, String) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let (url, form) = (url.to_owned(), form.map(str::to_owned));
    blocking(async move {
        let mut request = plain_client().request(method, &url);
        if let Some(form) = form {
            request = request
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, location, response.text().await.unwrap_or_default())
    })
}

/// A client for plain-http loopback URLs that follows redirects, as a browser would.
pub fn following_client() -> reqwest::Client {
    install_crypto_provider();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// Follows `url` through its redirects as a browser would: the final status and body.
pub fn fetch(url: &str) -> (u16, String) {
    let url = url.to_owned();
    blocking(async move {
        let response = following_client()
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    })
}

/// Whether this Windows build runs under Wine (ntdll exports `wine_get_version` there only).
pub fn under_wine() -> bool {
    #[cfg(windows)]
    {
        #[link(name = "kernel32")]
        unsafe extern "system" {
            fn GetModuleHandleA(name: *const u8) -> *mut std::ffi::c_void;
            fn GetProcAddress(
                module: *mut std::ffi::c_void,
                name: *const u8,
            ) -> *mut std::ffi::c_void;
        }
        // SAFETY: NUL-terminated names; ntdll is loaded in every process.
        unsafe {
            let ntdll = GetModuleHandleA(c"ntdll.dll".as_ptr().cast());
            !ntdll.is_null()
                && !GetProcAddress(ntdll, c"wine_get_version".as_ptr().cast()).is_null()
        }
    }
    #[cfg(not(windows))]
    false
}

/// The one way a test steps around a known Wine limitation: under Wine, records `limitation`
/// (named, one line) for the list `.ci/run` prints at the end of the Wine run, says so on
/// stderr, and returns true (skip); anywhere else returns false and the test runs in full.
pub fn wine_cannot(limitation: &str) -> bool {
    if !under_wine() {
        return false;
    }
    let test = std::thread::current().name().unwrap_or("?").to_owned();
    let line = format!("{test}: {limitation}");
    eprintln!("skipped under Wine: {line}");
    if let Some(list) = std::env::var_os("OPENROUTER_PKCE_WINE_SKIPS") {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(list)
            .unwrap();
        writeln!(file, "{line}").unwrap();
    }
    true
}
