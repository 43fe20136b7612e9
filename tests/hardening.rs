//! Hardening against hostile local clients: slow and idle connections, oversized requests, and
//! replayed callbacks and codes, against the real `serve` and one-shot processes.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;

/// Sends raw bytes and returns the response's status code (None if the connection failed).
fn raw_status(port: u16, request: &[u8]) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
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
    let token = std::fs::read_to_string(env.home().join("runtime/openrouter-pkce/token")).unwrap();

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

    let body = format!(r#"{{"exchange":true,"pad":"{}"}}"#, "p".repeat(100 * 1024));
    let post = format!(
        "POST /v1/flows HTTP/1.1\r\n{}Authorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        host(port),
        token.trim(),
        body.len()
    );
    assert_eq!(
        raw_status(port, post.as_bytes()),
        Some(413),
        "big JSON body"
    );

    // The same without a length (chunked) is capped as it streams.
    let mut chunked = format!(
        "POST /v1/flows HTTP/1.1\r\n{}Authorization: Bearer {}\r\nTransfer-Encoding: chunked\r\n\r\n",
        host(port),
        token.trim()
    );
    for _ in 0..40 {
        chunked.push_str(&format!("{:x}\r\n{}\r\n", 1024, "c".repeat(1024)));
    }
    chunked.push_str("0\r\n\r\n");
    assert_eq!(
        raw_status(port, chunked.as_bytes()),
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

#[cfg(target_os = "linux")]
#[test]
fn slow_and_idle_clients_are_capped_timed_out_and_do_not_stop_a_real_login() {
    const CAP: usize = 200;
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &["--auto-approve"]);
    let served = start_service(
        &env,
        &stand_in,
        &[
            "--header-timeout",
            "1",
            "--max-connections",
            &CAP.to_string(),
        ],
    );
    let port = served.port;
    let pid = served.process.child.id();

    // 500 that connect and say nothing, 500 that send a header one byte a second.
    let idle: Vec<TcpStream> = (0..500)
        .filter_map(|_| TcpStream::connect(("127.0.0.1", port)).ok())
        .collect();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let slow: Vec<_> = (0..500)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
                    return;
                };
                for b in
                    b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaa"
                        .iter()
                        .cycle()
                {
                    if stop.load(std::sync::atomic::Ordering::Relaxed)
                        || s.write_all(&[*b]).is_err()
                    {
                        return;
                    }
                    std::thread::sleep(Duration::from_secs(1));
                }
            })
        })
        .collect();
    assert!(
        idle.len() >= 400,
        "could only open {} idle connections",
        idle.len()
    );

    // The server never holds more than its cap (plus its own listening and outbound sockets).
    let mut peak = 0;
    for _ in 0..10 {
        peak = peak.max(socket_count(pid));
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        peak <= CAP + 10,
        "server held {peak} sockets with a cap of {CAP}"
    );
    assert!(
        peak >= CAP / 2,
        "the flood did not reach the server ({peak} sockets)"
    );

    // A real login through the service completes during the flood.
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
    assert!(json(&stdout)["key"].is_string());
    eprintln!("login during the flood took {:?}", started.elapsed());

    // Idle connections are closed by the server after the header-read timeout.
    let deadline = Instant::now() + Duration::from_secs(20);
    for mut s in idle {
        s.set_read_timeout(Some(
            deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(10)),
        ))
        .unwrap();
        let mut buf = [0u8; 16];
        match s.read(&mut buf) {
            Ok(0) => {}
            Ok(_) => {} // a 408-style answer before closing is fine too
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("an idle connection was still open after the timeout: {e}"),
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in slow {
        let _ = t.join();
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
    let replay = std::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "--cacert"])
        .arg(env.ca_cert())
        .arg(&landed)
        .status()
        .unwrap();
    assert_eq!(replay.code(), Some(7), "the replayed callback connected");
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
    let out = std::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
        .arg(env.ca_cert())
        .arg(&landed)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "404",
        "the replayed callback was not refused"
    );
    for expected in [0, 5] {
        let (status, _, stderr) = stand_in.exchange(&env, &bundle);
        assert_eq!(status.code(), Some(expected), "{stderr}");
    }
}
