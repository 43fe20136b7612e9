//! A service its clients can trust: the control API is a socket only the user can reach, a
//! stranger on the port is never delegated to, the runtime directory is checked like ssh does,
//! services on two ports coexist, SIGTERM loses no key, and the unit is one systemd accepts.

#![cfg(unix)]

mod common;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;

use common::*;

/// A stranger's server on 127.0.0.1:`port` that answers everything with 200 (as /healthz would).
fn stranger_on(port: u16) -> std::thread::JoinHandle<()> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut buf = [0u8; 2048];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
        }
    })
}

#[test]
fn a_stranger_on_the_port_after_the_service_died_is_never_delegated_to() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &[]);
    let port = free_port();
    private_runtime_dir(&env);
    // The service was killed: its socket (and, from older versions, a token file) is left
    // behind. A stranger took the TCP port and answers like a service would.
    drop(std::os::unix::net::UnixListener::bind(socket_path(&env, port)).unwrap());
    std::fs::write(env.home().join("runtime/openrouter-pkce/token"), "stale").unwrap();
    let _stranger = stranger_on(port);
    let (status, stdout, stderr) = run(env.login_no_browser(&stand_in.url, port, &[]));
    assert_eq!(status.code(), Some(7), "{stderr}");
    assert!(stdout.is_empty());
    assert!(stderr.contains("in use by"), "{stderr}");
    assert!(
        !stderr.contains("Using the openrouter-pkce service"),
        "{stderr}"
    );
    assert!(!stderr.contains("/auth?"), "a URL was shown: {stderr}");
    assert!(
        !socket_path(&env, port).exists(),
        "the stale socket was kept"
    );
}

#[test]
fn serve_refuses_a_runtime_dir_open_to_others_and_anything_but_its_socket() {
    let env = TestEnv::new();
    let port = free_port();
    let dir = private_runtime_dir(&env);
    let serve = |env: &TestEnv| {
        let mut cmd = env.command();
        cmd.args(["serve", "--port", &port.to_string()]);
        run(cmd)
    };
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let (status, _, stderr) = serve(&env);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&dir.display().to_string()) && stderr.contains("world-accessible"),
        "{stderr}"
    );
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    // A symlink at the socket path is refused and never followed.
    let target = env.home().join("elsewhere.sock");
    std::os::unix::fs::symlink(&target, socket_path(&env, port)).unwrap();
    let (status, _, stderr) = serve(&env);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("symbolic link"), "{stderr}");
    assert!(!target.exists(), "the symlink was followed");
    std::fs::remove_file(socket_path(&env, port)).unwrap();
    // A regular file there is refused too, and left alone.
    std::fs::write(socket_path(&env, port), "mine").unwrap();
    let (status, _, stderr) = serve(&env);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("not a socket"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(socket_path(&env, port)).unwrap(),
        "mine"
    );
}

#[test]
fn serve_refuses_a_runtime_dir_of_another_user() {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !require("running as root, to give a directory to another user", root) {
        return;
    }
    let env = TestEnv::new();
    let dir = private_runtime_dir(&env);
    let c_path = std::ffi::CString::new(dir.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path; 65534 is nobody.
    assert_eq!(unsafe { libc::chown(c_path.as_ptr(), 65534, 65534) }, 0);
    let mut cmd = env.command();
    cmd.args(["serve", "--port", &free_port().to_string()]);
    let (status, _, stderr) = run(cmd);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("belongs to uid 65534"), "{stderr}");
}

#[test]
fn the_cli_ignores_a_socket_in_a_directory_open_to_others() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &["--auto-approve"]);
    let port = free_port();
    let dir = private_runtime_dir(&env);
    // Someone planted an answering "service" in a world-writable runtime dir.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let planted = std::os::unix::net::UnixListener::bind(socket_path(&env, port)).unwrap();
    std::thread::spawn(move || {
        for stream in planted.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut buf = [0u8; 2048];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
        }
    });
    let mut cmd = env.command();
    cmd.args([
        "login",
        "--port",
        &port.to_string(),
        "--openrouter-url",
        &stand_in.url,
    ])
    .env("BROWSER", env.browser_script());
    let (status, stdout, stderr) = run(cmd);
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains("Not using the openrouter-pkce service") && stderr.contains("0777"),
        "{stderr}"
    );
    assert_standin_key(&stdout);
}

#[test]
fn services_on_two_ports_coexist() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &["--auto-approve"]);
    let a = start_service(&env, &stand_in, &[]);
    let b = start_service(&env, &stand_in, &[]);
    for served in [&a, &b] {
        let mut cmd = env.command();
        cmd.args([
            "login",
            "--port",
            &served.port.to_string(),
            "--openrouter-url",
            &stand_in.url,
        ])
        .env("BROWSER", env.browser_script());
        let (status, stdout, stderr) = run(cmd);
        assert!(status.success(), "port {}: {stderr}", served.port);
        assert!(
            stderr.contains(&format!("service on port {}", served.port)),
            "{stderr}"
        );
        assert_standin_key(&stdout);
        let mut status_cmd = env.command();
        status_cmd.args(["service", "status", "--port", &served.port.to_string()]);
        let (_, stdout, _) = run(status_cmd);
        assert_eq!(json(&stdout)["running"], true, "port {}", served.port);
    }
    assert_eq!(stand_in.stats()["exchanges_ok"], 2);
}

#[test]
fn sigterm_during_an_exchange_still_hands_over_the_key() {
    let env = TestEnv::new();
    // A slow OpenRouter: the exchange is under way for 3 s when SIGTERM lands, longer than
    // the sockets' own drain.
    let stand_in = StandIn::start(&env, &["--auto-approve", "--exchange-delay-ms", "3000"]);
    let served = start_service(&env, &stand_in, &[]);
    let login = Running::spawn(env.login_no_browser(
        &stand_in.url,
        served.port,
        &["--callback-scheme", "http"],
    ));
    let authorize = login.wait_authorize_url();
    // Play the browser: the callback is answered as soon as the code arrives.
    assert_eq!(follow(&authorize), "200");
    signal(&served.process, "TERM");
    let (status, stdout, stderr) = login.finish();
    assert!(status.success(), "the minted key was lost: {stderr}");
    assert_standin_key(&stdout);
    assert_eq!(stand_in.stats()["exchanges_ok"], 1);
    let (status, _, stderr) = served.process.finish();
    assert!(status.success(), "{stderr}");
}

#[test]
fn json_logs_are_json_on_every_line_and_carry_no_colour() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &["--auto-approve"]);
    let served = start_service(&env, &stand_in, &["--log-format", "json"]);
    let mut cmd = env.command();
    cmd.args([
        "login",
        "--port",
        &served.port.to_string(),
        "--openrouter-url",
        &stand_in.url,
    ])
    .env("BROWSER", env.browser_script());
    let (status, _, stderr) = run(cmd);
    assert!(status.success(), "{stderr}");
    signal(&served.process, "TERM");
    let (_, _, log) = served.process.finish();
    assert!(log.contains("openrouter-pkce service listening"), "{log}");
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(!line.contains('\u{1b}'), "colour in a log line: {line:?}");
    }
}

#[test]
fn the_installed_unit_is_one_systemd_accepts_and_status_reads_its_port() {
    let env = TestEnv::new();
    let mut print = env.command();
    print.args([
        "service",
        "install",
        "--print",
        "--port",
        "3999",
        "--openrouter-url",
        "https://proxy.example/%i/$USER/",
    ]);
    let (status, unit, stderr) = run(print);
    assert!(status.success(), "{stderr}");
    assert!(
        unit.contains("serve --port 3999 --log-format json"),
        "{unit}"
    );
    assert!(unit.contains("Environment=NO_COLOR=1"), "{unit}");
    assert!(unit.contains("%%i/$$USER"), "{unit}");
    if require(
        "systemd-analyze, to verify the unit",
        std::process::Command::new("systemd-analyze")
            .arg("--version")
            .output()
            .is_ok(),
    ) {
        let path = env.home().join("openrouter-pkce.service");
        std::fs::write(&path, &unit).unwrap();
        let out = std::process::Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .arg(&path)
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "systemd-analyze verify: {said}");
        assert!(!said.contains("openrouter-pkce.service:"), "{said}");
    }
    // Installed for a port, `status` without --port checks that port.
    let mut install = env.command();
    install.args(["service", "install", "--port", "3999"]);
    assert!(run(install).0.success());
    let mut status_cmd = env.command();
    status_cmd.args(["service", "status"]);
    let (_, stdout, _) = run(status_cmd);
    assert_eq!(json(&stdout)["port"], 3999, "{stdout}");
    // Uninstalling twice: the second time there was nothing.
    for removed in [true, false] {
        let mut uninstall = env.command();
        uninstall.args(["service", "uninstall"]);
        let (status, stdout, _) = run(uninstall);
        assert!(status.success());
        assert_eq!(json(&stdout)["removed"].is_string(), removed, "{stdout}");
    }
    // Flags that would do nothing are not offered.
    let mut odd = env.command();
    odd.args(["service", "status", "--print"]);
    assert_eq!(run(odd).0.code(), Some(2));
    let mut odd = env.command();
    odd.args([
        "service",
        "uninstall",
        "--openrouter-url",
        "https://x.example",
    ]);
    assert_eq!(run(odd).0.code(), Some(2));
}

#[test]
fn an_exchange_outliving_the_shutdown_bound_gets_an_answer_that_says_so() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &["--auto-approve", "--exchange-delay-ms", "8000"]);
    let served = start_service(&env, &stand_in, &[]);
    let login = Running::spawn(env.login_no_browser(
        &stand_in.url,
        served.port,
        &["--callback-scheme", "http"],
    ));
    let authorize = login.wait_authorize_url();
    // The browser's page waits for the exchange, so the browser runs on its own thread.
    let browser = std::thread::spawn(move || follow(&authorize));
    // The delegated login hears from the service that the code is being exchanged.
    login.wait_stderr("the exchange to start", |s| {
        s.contains("creating your key").then_some(())
    });
    signal(&served.process, "TERM");
    let (status, _, stderr) = login.finish();
    assert_eq!(status.code(), Some(8), "{stderr}");
    assert!(stderr.contains("a key may have been created"), "{stderr}");
    browser.join().unwrap();
}
