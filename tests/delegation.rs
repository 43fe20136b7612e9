//! `login`/`authorize` through a running service: flags are honoured or refused the same way as
//! one-shot, an interrupted login cancels its flow, a hung service is reported as not
//! answering within `--timeout`, and every refusal maps to its exit code.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn a_delegated_login_honours_callback_scheme_and_host() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &["--auto-approve"]);
    let served = start_service(&env, &stand_in, &[]);
    let login = Running::spawn(env.login_no_browser(
        &stand_in.url,
        served.port,
        &["--callback-scheme", "http", "--callback-host", "127.0.0.1"],
    ));
    let authorize = login.wait_authorize_url();
    let (callback, _) = callback_of(&authorize);
    assert_eq!(callback.scheme(), "http", "{callback}");
    assert_eq!(callback.host_str(), Some("127.0.0.1"), "{callback}");
    // The auto-approving stand-in redirects to the http callback; follow it as a browser would.
    assert_eq!(follow(&authorize), "200");
    let (status, stdout, stderr) = login.finish();
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains("Using the openrouter-pkce service"),
        "{stderr}"
    );
    assert_standin_key(&stdout);
}

#[test]
fn flags_the_service_cannot_honour_are_refused_before_any_flow() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &[]);
    let served = start_service(&env, &stand_in, &[]);
    let cert = env.home().join("cert.pem");
    let key = env.home().join("key.pem");
    std::fs::write(&cert, "unused").unwrap();
    std::fs::write(&key, "unused").unwrap();
    let (status, stdout, stderr) = run(env.login_no_browser(
        &stand_in.url,
        served.port,
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    ));
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stdout.is_empty());
    assert!(
        stderr.contains("--tls-cert") && stderr.contains("stop the service"),
        "{stderr}"
    );
    assert!(!stderr.contains("/auth?"), "a URL was shown: {stderr}");

    // Another OpenRouter than the service's: refused by the service, named by the CLI.
    let other = free_port();
    let (status, _, stderr) =
        run(env.login_no_browser(&format!("http://127.0.0.1:{other}"), served.port, &[]));
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--openrouter-url") && stderr.contains(&stand_in.url),
        "{stderr}"
    );
    assert!(!stderr.contains("/auth?"), "a URL was shown: {stderr}");
}

#[cfg(unix)] // signals
#[test]
fn an_interrupted_delegated_login_cancels_its_flow() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &[]);
    let served = start_service(&env, &stand_in, &[]);
    for sig in ["INT", "TERM"] {
        let login = Running::spawn(env.login_no_browser(&stand_in.url, served.port, &[]));
        let authorize = login.wait_authorize_url();
        let (callback, state) = callback_of(&authorize);
        signal(&login, sig);
        let (status, _, stderr) = login.finish();
        assert_eq!(status.code(), Some(130), "SIG{sig}: {stderr}");
        assert!(stderr.contains("cancelled"), "{stderr}");
        // The tab that is still open can no longer complete the login.
        let late = format!("{callback}?code=late&state={state}");
        assert_eq!(status_trusting(&env, &late), "404", "SIG{sig}");
    }
    assert_eq!(stand_in.stats()["exchange_requests"], 0);
}

#[cfg(unix)] // signals
#[test]
fn a_hung_service_is_reported_as_not_answering_within_the_timeout() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &[]);
    let served = start_service(&env, &stand_in, &[]);
    signal(&served.process, "STOP");
    let started = std::time::Instant::now();
    let (status, _, stderr) =
        run(env.login_no_browser(&stand_in.url, served.port, &["--timeout", "3"]));
    let took = started.elapsed();
    signal(&served.process, "CONT");
    assert_eq!(status.code(), Some(9), "{stderr}");
    assert!(stderr.contains("not answering"), "{stderr}");
    assert!(!stderr.contains("stopping"), "{stderr}");
    // --timeout bounds the whole command (a generous margin for a loaded machine).
    assert!(took < Duration::from_secs(3 + 5), "took {took:?}");
}

/// A fake service for a free port: its control socket answers /healthz, and `reply` for
/// everything under /v1. Nothing listens on the TCP port itself.
fn fake_service(
    env: &TestEnv,
    reply: impl Fn(&str, &str) -> (u16, String) + Clone + Send + Sync + 'static,
) -> (u16, tokio::runtime::Runtime) {
    private_runtime_dir(env);
    let port = free_port();
    let app = axum::Router::new()
        .route("/healthz", axum::routing::get(|| async { "" }))
        .fallback(move |request: axum::extract::Request| {
            let reply = reply.clone();
            async move {
                let (status, body) = reply(request.method().as_str(), request.uri().path());
                (
                    axum::http::StatusCode::from_u16(status).unwrap(),
                    [("content-type", "application/json")],
                    body,
                )
            }
        });
    (port, serve_control(env, port, app))
}

const OPENROUTER: &str = "http://127.0.0.1:9";

fn created(port: u16) -> String {
    format!(
        r#"{{"id":"f1","authorize_url":"{OPENROUTER}/auth?callback_url=http%3A%2F%2Flocalhost%3A{port}%2Fcallback%2Fn&code_challenge=c&code_challenge_method=S256&state=s","expires_at":"2030-01-01T00:00:00Z"}}"#
    )
}

fn login_through(env: &TestEnv, port: u16, command: &str) -> (Option<i32>, String) {
    let mut cmd = env.command();
    cmd.args([
        command,
        "--no-browser",
        "--openrouter-url",
        OPENROUTER,
        "--port",
        &port.to_string(),
        "--timeout",
        "10",
    ]);
    let (status, stdout, stderr) = run(cmd);
    assert!(stdout.is_empty(), "{stdout}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    (status.code(), stderr)
}

#[test]
fn each_refusal_from_the_service_maps_to_its_exit_code_and_message() {
    let env = TestEnv::new();
    let refusal = |code: &str, exit: u8, message: &str| {
        format!(r#"{{"error":{{"code":"{code}","message":"{message}","exit_code":{exit}}}}}"#)
    };
    let cases = [
        (
            429,
            refusal("too_many_flows", 9, "64 logins are already pending"),
            9,
            "busy",
        ),
        (
            401,
            refusal("unauthorized", 9, "not allowed"),
            9,
            "did not accept us",
        ),
        (
            503,
            refusal("service_stopping", 8, "the service is stopping"),
            8,
            "stopping",
        ),
        (
            400,
            refusal("bad_request", 2, "body: nope"),
            2,
            "body: nope",
        ),
        (
            418,
            "<html>teapot</html>".to_owned(),
            9,
            "not the openrouter-pkce control API",
        ),
    ];
    for (status, body, exit, says) in cases {
        let (port, _rt) = fake_service(&env, move |_, _| (status, body.clone()));
        let (code, stderr) = login_through(&env, port, "login");
        assert_eq!(code, Some(exit), "HTTP {status}: {stderr}");
        assert!(stderr.contains(says), "HTTP {status}: {stderr}");
    }
}

#[test]
fn a_malformed_result_from_the_service_is_not_called_a_bad_bundle() {
    let env = TestEnv::new();
    // The fake's authorize URL must come back to its own port, known once it is bound.
    let own_port = std::sync::Arc::new(std::sync::OnceLock::<u16>::new());
    let cell = own_port.clone();
    let (port, _rt) = fake_service(&env, move |method, _| match method {
        "POST" => (201, created(*cell.get().unwrap())),
        "DELETE" => (204, String::new()),
        _ => (
            200,
            r#"{"status":"succeeded","result":{"code":""}}"#.to_owned(),
        ),
    });
    own_port.set(port).unwrap();
    for command in ["authorize", "login"] {
        let (code, stderr) = login_through(&env, port, command);
        assert_eq!(code, Some(1), "{command}: {stderr}");
        assert!(stderr.contains("reading the service's reply"), "{stderr}");
        assert!(!stderr.contains("code bundle"), "{stderr}");
    }
}

/// Unix only: the fake is a raw socket server (a pipe that hangs up is the same code path).
#[cfg(unix)]
#[test]
fn a_service_that_drops_the_connection_is_not_reported_as_stopping() {
    let env = TestEnv::new();
    private_runtime_dir(&env);
    let port = free_port();
    // Answers its health check, then reads a request and closes without an answer: a crash.
    let listener = std::os::unix::net::UnixListener::bind(socket_path(&env, port)).unwrap();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut buf = [0u8; 4096];
            let n = stream.read(&mut buf).unwrap_or(0);
            if String::from_utf8_lossy(&buf[..n]).starts_with("GET /healthz") {
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
            }
        }
    });
    let (code, stderr) = login_through(&env, port, "login");
    assert_eq!(code, Some(9), "{stderr}");
    assert!(stderr.contains("stopped answering"), "{stderr}");
    assert!(!stderr.contains("is stopping"), "{stderr}");
}

#[test]
fn a_closed_stderr_is_not_a_crash_and_the_flow_is_still_cancelled() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &[]);
    let served = start_service(&env, &stand_in, &[]);
    for port in [served.port, free_port()] {
        let mut cmd = env.login_no_browser(&stand_in.url, port, &["--timeout", "2"]);
        let mut child = cmd.spawn().unwrap();
        // Like `2>&1 | head -1` after the reader went away: every write to stderr fails.
        drop(child.stderr.take());
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(4), "port {port}: {status}");
    }
    // The delegated login's flow was cancelled at its deadline, not left pending.
    let cancelled = poll_for(std::time::Duration::from_secs(20), || {
        served
            .process
            .stderr()
            .contains("flow cancelled")
            .then_some(())
    });
    assert!(
        cancelled.is_some(),
        "no cancel in the service log:\n{}",
        served.process.stderr()
    );
}

#[test]
fn the_last_second_before_the_deadline_is_not_a_busy_loop() {
    let env = TestEnv::new();
    private_runtime_dir(&env);
    let port = free_port();
    let polls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = polls.clone();
    // A service that honours `wait` and never finishes the login.
    let app = axum::Router::new()
        .route("/healthz", axum::routing::get(|| async { "" }))
        .route(
            "/v1/flows",
            axum::routing::post(
                move || async move { (axum::http::StatusCode::CREATED, created(port)) },
            ),
        )
        .route(
            "/v1/flows/{id}",
            axum::routing::get(
                move |q: axum::extract::Query<std::collections::HashMap<String, String>>| {
                    let counter = counter.clone();
                    async move {
                        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let wait: f64 = q.get("wait").and_then(|w| w.parse().ok()).unwrap_or(0.0);
                        tokio::time::sleep(Duration::from_secs_f64(wait.min(60.0))).await;
                        r#"{"status":"pending"}"#
                    }
                },
            )
            .delete(|| async { axum::http::StatusCode::NO_CONTENT }),
        );
    let _runtime = serve_control(&env, port, app);
    let mut cmd = env.command();
    cmd.args([
        "login",
        "--no-browser",
        "--openrouter-url",
        OPENROUTER,
        "--port",
        &port.to_string(),
        "--timeout",
        "4",
    ]);
    let (status, _, stderr) = run(cmd);
    assert_eq!(status.code(), Some(4), "{stderr}");
    let n = polls.load(std::sync::atomic::Ordering::Relaxed);
    assert!(n <= 4, "{n} status requests in a 4 s login");
}

#[cfg(unix)] // signals
#[test]
fn a_signal_right_after_start_is_never_lost() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &[]);
    for _ in 0..8 {
        let login =
            Running::spawn(env.login_no_browser(&stand_in.url, free_port(), &["--timeout", "20"]));
        signal(&login, "TERM");
        let (status, _, stderr) = login.finish();
        // Cancelled (130), or killed by the signal before any handler existed; never a login
        // that went on to wait for its whole timeout.
        assert!(
            status.code() == Some(130) || status.code().is_none(),
            "{status}: {stderr}"
        );
    }
}
