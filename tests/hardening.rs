//! Hardening against hostile local clients: slow and idle connections, oversized requests, and
//! replayed callbacks and codes, against the real `serve` and one-shot processes.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
#[cfg(target_os = "linux")]
use std::time::{Duration, Instant};

use common::*;

/// Sends raw bytes and returns the response's status code (None if the connection failed).
fn raw_status(port: u16, request: &[u8]) -> Option<u16> {
    raw_status_over(TcpStream::connect(("127.0.0.1", port)).ok(), request)
}

/// [`raw_status`] over any stream (the control socket, say).
fn raw_status_over<S: Read + Write>(stream: Option<S>, request: &[u8]) -> Option<u16> {
    let mut s = stream?;
    // The server may answer and close before we finish writing a huge request; that is fine.
    let _ = s.write_all(request);
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).ok()?;
    let head = String::from_utf8_lossy(&buf[..n]);
    head.split_whitespace().nth(1)?.parse().ok()
}

fn host(port: u16) -> String {
    format!("Host: localhost:{port}\r\n")
}

#[test]
fn oversized_request_lines_headers_and_bodies_are_refused_and_the_service_lives_on() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &[]);
    let served = start_service(&env, &stand_in, &[]);
    let port = served.port;

    let long_query = format!(
        "GET /callback/x?code={} HTTP/1.1\r\n{}\r\n",
        "a".repeat(64 * 1024),
        host(port)
    );
    let status = raw_status(port, long_query.as_bytes());
    assert!(
        matches!(status, Some(414 | 431 | 400)),
        "long request line: {status:?}"
    );

    let big_header = format!(
        "GET /healthz HTTP/1.1\r\n{}X-Big: {}\r\n\r\n",
        host(port),
        "b".repeat(64 * 1024)
    );
    let status = raw_status(port, big_header.as_bytes());
    assert!(matches!(status, Some(431 | 400)), "big header: {status:?}");

    let many_headers: String = (0..500).map(|i| format!("X-H{i}: v\r\n")).collect();
    let status = raw_status(
        port,
        format!("GET /healthz HTTP/1.1\r\n{}{many_headers}\r\n", host(port)).as_bytes(),
    );
    assert!(
        matches!(status, Some(431 | 400)),
        "many headers: {status:?}"
    );

    // The control API (on its socket) caps bodies, with or without a length.
    let body = format!(r#"{{"exchange":true,"pad":"{}"}}"#, "p".repeat(100 * 1024));
    let post = format!(
        "POST /v1/flows HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    assert_eq!(
        raw_status_over(control_stream(&env, port), post.as_bytes()),
        Some(413),
        "big JSON body"
    );
    let mut chunked =
        "POST /v1/flows HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_owned();
    for _ in 0..40 {
        chunked.push_str(&format!("{:x}\r\n{}\r\n", 1024, "c".repeat(1024)));
    }
    chunked.push_str("0\r\n\r\n");
    assert_eq!(
        raw_status_over(control_stream(&env, port), chunked.as_bytes()),
        Some(413),
        "chunked body"
    );

    assert_eq!(
        raw_status(
            port,
            format!("GET /healthz HTTP/1.1\r\n{}\r\n", host(port)).as_bytes()
        ),
        Some(200)
    );
    drop(served);
}

/// Open file descriptors of `pid` that are sockets.
#[cfg(target_os = "linux")]
fn socket_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|fds| {
            fds.flatten()
                .filter(|fd| {
                    std::fs::read_link(fd.path())
                        .is_ok_and(|l| l.to_string_lossy().starts_with("socket:"))
                })
                .count()
        })
        .unwrap_or(0)
}

/// Opens a connection to `port` on 127.0.0.1 or, for odd `i` where the host has it, [::1].
#[cfg(target_os = "linux")]
fn connect_either(port: u16, i: usize) -> Option<TcpStream> {
    let v6 = TcpStream::connect(("::1", port));
    match (i % 2, v6) {
        (1, Ok(s)) => Some(s),
        _ => TcpStream::connect(("127.0.0.1", port)).ok(),
    }
}

/// The flood the project ships against, at the shipped defaults (`--header-timeout 10`,
/// `--max-connections 512`): 500 idle connections and 500 that are part-way through a request
/// head, on both loopback addresses. A real login through the service still completes (the
/// service sheds idle connections at capacity), the cap holds, and the idle ones are closed.
#[cfg(target_os = "linux")]
#[test]
fn a_thousand_idle_and_slow_clients_at_the_defaults_do_not_stop_a_real_login() {
    let cap = openrouter_pkce::defaults::MAX_CONNECTIONS;
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &["--auto-approve"]);
    let served = start_service(&env, &stand_in, &[]);
    let port = served.port;
    let pid = served.process.child.id();

    let idle: Vec<TcpStream> = (0..500).filter_map(|i| connect_either(port, i)).collect();
    let mut slow: Vec<TcpStream> = (0..500)
        .filter_map(|i| {
            let mut s = connect_either(port, i)?;
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: a")
                .ok()?;
            Some(s)
        })
        .collect();
    assert!(idle.len() + slow.len() >= 900, "could not open the flood");
    // The flood reaches the server and fills it.
    poll(
        "the flood to fill the server",
        Duration::from_secs(20),
        || (socket_count(pid) >= cap).then_some(()),
    );
    // The slow ones are still sending.
    for s in &mut slow {
        let _ = s.write_all(b"a");
    }

    // A real login through the service completes during the flood, without falling back.
    let started = Instant::now();
    let mut cmd = env.command();
    cmd.args([
        "login",
        "--port",
        &port.to_string(),
        "--openrouter-url",
        &stand_in.url,
        "--timeout",
        "60",
    ])
    .env("BROWSER", env.browser_script());
    let (status, stdout, stderr) = run(cmd);
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains("Using the openrouter-pkce service"),
        "did not go through the service: {stderr}"
    );
    assert_standin_key(&stdout);
    eprintln!("login during the flood took {:?}", started.elapsed());

    // The server never holds more than its cap (plus its listening and outbound sockets).
    let held = socket_count(pid);
    assert!(
        held <= cap + 10,
        "server held {held} sockets with a cap of {cap}"
    );

    // Idle connections are closed: shed at capacity, or after the header-read timeout.
    let deadline = Instant::now() + Duration::from_secs(30);
    for mut s in idle.into_iter().chain(slow) {
        s.set_read_timeout(Some(
            deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(10)),
        ))
        .unwrap();
        let mut buf = [0u8; 16];
        match s.read(&mut buf) {
            Ok(_) => {} // closed, or a 408-style answer before closing
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("an idle connection was still open after the timeout: {e}"),
        }
    }
}

#[test]
fn a_callback_url_or_code_used_once_is_refused_the_second_time_in_one_shot_mode() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &["--auto-approve"]);
    let (status, bundle, stderr) = run(stand_in.authorize_cmd(&env, free_port()));
    assert!(status.success(), "{stderr}");
    let landed = env.wait_browser_landed();
    assert!(
        landed.contains("/callback/") && landed.contains("code="),
        "{landed}"
    );
    // The one-shot listener is gone: the replayed callback reaches nothing.
    assert_eq!(
        status_trusting(&env, &landed),
        "000",
        "the replayed callback connected"
    );
    for expected in [0, 5] {
        let (status, _, stderr) = stand_in.exchange(&env, &bundle);
        assert_eq!(status.code(), Some(expected), "{stderr}");
    }
}

#[test]
fn a_callback_url_or_code_used_once_is_refused_the_second_time_in_service_mode() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &["--auto-approve"]);
    let served = start_service(&env, &stand_in, &[]);
    let (status, bundle, stderr) = run(stand_in.authorize_cmd(&env, served.port));
    assert!(status.success(), "{stderr}");
    let landed = env.wait_browser_landed();
    assert_eq!(
        status_trusting(&env, &landed),
        "404",
        "the replayed callback was not refused"
    );
    for expected in [0, 5] {
        let (status, _, stderr) = stand_in.exchange(&env, &bundle);
        assert_eq!(status.code(), Some(expected), "{stderr}");
    }
}

/// A login killed before it could remove its private redirect page (it holds the login's
/// state and nonce) leaves it behind; the next login that opens a browser removes it, and
/// leaves alone the page of a login that still runs.
#[cfg(unix)]
#[test]
fn a_killed_logins_redirect_page_is_removed_by_the_next_start() {
    let env = TestEnv::new();
    let pages = env.home().join("runtime/openrouter-pkce");
    std::fs::create_dir_all(&pages).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&pages, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    // A pid that is surely gone: a child we started and reaped.
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let gone_pid = gone.id();
    gone.wait().unwrap();
    let stale = pages.join(format!("login-{gone_pid}-AAAAAAAAAAAAAAAA.html"));
    let live = pages.join(format!(
        "login-{}-BBBBBBBBBBBBBBBB.html",
        std::process::id()
    ));
    for page in [&stale, &live] {
        std::fs::write(page, "state=secret").unwrap();
    }
    let stand_in = StandIn::start(&env, &["--auto-approve"]);
    let (status, _, stderr) = run(env.with_browser("login", &stand_in.url));
    assert!(status.success(), "{stderr}");
    assert!(!stale.exists(), "the killed login's page is still there");
    assert!(live.exists(), "a running login's page was removed");
}
