//! The real `serve` process: many logins at once, forged callbacks, SIGTERM, JSON logs, and
//! the service unit commands.

mod common;

#[cfg(unix)]
use std::time::{Duration, Instant};

use common::*;

#[cfg(unix)] // signals
fn signal_term(process: &Running) {
    signal(process, "TERM");
}

#[test]
fn five_logins_at_once_through_one_service_get_distinct_keys() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &["--auto-approve"]);
    let served = start_service(&env, &stand_in, &[]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let socket = socket_path(&env, served.port);
        assert_eq!(mode(&socket), 0o600);
        assert_eq!(mode(socket.parent().unwrap()), 0o700);
    }
    let logins: Vec<Running> = (0..5)
        .map(|_| {
            let mut cmd = env.command();
            cmd.args([
                "login",
                "--port",
                &served.port.to_string(),
                "--openrouter-url",
                &stand_in.url,
                "--timeout",
                "30",
            ])
            .env("BROWSER", env.browser_script());
            Running::spawn(cmd)
        })
        .collect();
    // Forged callbacks while the logins run are refused and end nothing.
    for forged in [
        format!(
            "https://localhost:{}/callback/forged?code=evil&state=forged",
            served.port
        ),
        format!(
            "https://localhost:{}/callback?code=evil&state=forged",
            served.port
        ),
    ] {
        assert_eq!(status_trusting(&env, &forged), "404", "{forged}");
    }
    let mut keys = Vec::new();
    for login in logins {
        let (status, stdout, stderr) = login.finish();
        assert!(status.success(), "{stderr}");
        assert!(
            stderr.contains("Using the openrouter-pkce service"),
            "did not go through the service: {stderr}"
        );
        keys.push(json(&stdout)["key"].as_str().unwrap().to_owned());
    }
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 5, "keys are not distinct");
    assert_eq!(stand_in.stats()["exchanges_ok"], 5);
    // The service log names flow events but no key.
    let log = served.process.stderr();
    assert!(log.contains("flow finished"), "{log}");
    for key in &keys {
        assert!(
            !log.contains(key.as_str()),
            "a key leaked into the service log"
        );
    }
}

#[test]
fn authorize_through_the_service_prints_a_bundle_that_exchanges() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &["--auto-approve"]);
    let served = start_service(&env, &stand_in, &["--log-format", "json"]);
    let mut cmd = env.command();
    cmd.args([
        "authorize",
        "--port",
        &served.port.to_string(),
        "--openrouter-url",
        &stand_in.url,
    ])
    .env("BROWSER", env.browser_script());
    let (status, bundle, stderr) = run(cmd);
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains("Using the openrouter-pkce service"),
        "{stderr}"
    );
    assert_eq!(stand_in.stats()["exchange_requests"], 0);
    let (status, _, stderr) = stand_in.exchange(&env, &bundle);
    assert!(status.success(), "{stderr}");
    // JSON logs: every line is an object, and the code is in none of them.
    let code = json(&bundle)["code"].as_str().unwrap().to_owned();
    let log = served.process.stderr();
    let lines: Vec<&str> = log.lines().filter(|l| l.starts_with('{')).collect();
    assert!(lines.iter().any(|l| l.contains("flow created")), "{log}");
    for line in lines {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(!line.contains(&code));
    }
}

#[cfg(unix)] // signals
#[test]
fn sigterm_fails_the_pending_login_and_exits_cleanly() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &[]);
    let served = start_service(&env, &stand_in, &[]);
    let served_port = served.port;
    let mut cmd = env.command();
    cmd.args([
        "login",
        "--no-browser",
        "--port",
        &served.port.to_string(),
        "--openrouter-url",
        &stand_in.url,
        "--timeout",
        "30",
    ]);
    let waiter = Running::spawn(cmd);
    waiter.wait_authorize_url();
    signal_term(&served.process);
    let started = Instant::now();
    let (status, _, stderr) = served.process.finish();
    let took = started.elapsed();
    assert!(status.success(), "serve exited with {status}: {stderr}");
    assert!(took < Duration::from_secs(2), "shutdown took {took:?}");
    assert!(
        !socket_path(&env, served_port).exists(),
        "control socket left behind"
    );
    let (status, stdout, stderr) = waiter.finish();
    assert_eq!(status.code(), Some(8), "{stderr}");
    assert!(stdout.is_empty());
    assert!(stderr.contains("stopping"), "{stderr}");
}

#[test]
fn serve_on_a_busy_port_exits_with_port_in_use() {
    let env = TestEnv::new();
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let mut cmd = env.command();
    cmd.args(["serve", "--port", &port.to_string()]);
    let (status, _, stderr) = run(cmd);
    assert_eq!(status.code(), Some(7), "{stderr}");
    assert!(!socket_path(&env, port).exists());
}

#[cfg(unix)] // a named pipe leaves nothing behind when its service dies
#[test]
fn a_stale_control_socket_is_removed_and_the_login_runs_one_shot() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &["--auto-approve"]);
    let port = free_port();
    private_runtime_dir(&env);
    // A service that died: its socket is left behind, nobody listens on it.
    drop(std::os::unix::net::UnixListener::bind(socket_path(&env, port)).unwrap());
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
        !stderr.contains("Using the openrouter-pkce service"),
        "{stderr}"
    );
    assert!(json(&stdout)["key"].is_string());
    assert!(
        !socket_path(&env, port).exists(),
        "the stale socket is still there"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn service_install_writes_a_systemd_unit_and_uninstall_removes_it() {
    let env = TestEnv::new();
    let unit = env
        .home()
        .join("config/systemd/user/openrouter-pkce.service");
    let mut print = env.command();
    print.args(["service", "install", "--print", "--port", "3999"]);
    let (status, stdout, stderr) = run(print);
    assert!(status.success(), "{stderr}");
    assert!(
        stdout.contains(&format!("ExecStart={BIN} serve --port 3999")),
        "{stdout}"
    );
    assert!(!unit.exists(), "--print wrote the unit");

    let mut install = env.command();
    install.args(["service", "install", "--port", "3999"]);
    let (status, _, stderr) = run(install);
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("systemctl --user"), "{stderr}");
    let text = std::fs::read_to_string(&unit).unwrap();
    assert!(
        text.contains(&format!("ExecStart={BIN} serve --port 3999")),
        "{text}"
    );

    let mut status_cmd = env.command();
    status_cmd.args(["service", "status", "--port", &free_port().to_string()]);
    let (_, stdout, _) = run(status_cmd);
    let st = json(&stdout);
    assert_eq!(st["installed"], true);
    assert_eq!(st["running"], false);

    let mut uninstall = env.command();
    uninstall.args(["service", "uninstall"]);
    let (status, _, stderr) = run(uninstall);
    assert!(status.success(), "{stderr}");
    assert!(!unit.exists());
}

/// Windows: `service install` registers a logon task with Task Scheduler, `service status`
/// answers for a running `serve` through its named pipe, and `uninstall` deletes the task.
#[cfg(windows)]
#[test]
fn service_install_registers_a_logon_task_and_status_finds_serve_on_its_pipe() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &[]);
    let served = start_service(&env, &stand_in, &[]);
    let port = served.port.to_string();
    let task_file = env.config_dir().join("logon-task.xml");
    let service = |args: &[&str]| {
        let mut cmd = env.command();
        cmd.arg("service").args(args);
        let (status, stdout, stderr) = run(cmd);
        assert!(status.success(), "{args:?}: {stderr}");
        (stdout, stderr)
    };
    let (stdout, _) = service(&["status", "--port", &port]);
    let st = json(&stdout);
    assert_eq!(
        (&st["installed"], &st["running"]),
        (&false.into(), &true.into()),
        "{st}"
    );

    let (_, stderr) = service(&["install", "--port", &port]);
    assert!(
        stderr.contains("schtasks /Run /TN openrouter-pkce"),
        "{stderr}"
    );
    let bytes = std::fs::read(&task_file).unwrap();
    assert_eq!(
        bytes[..2],
        [0xFF, 0xFE],
        "not the UTF-16 Task Scheduler reads"
    );
    // Task Scheduler itself holds the task (Wine keeps them as files in system32\tasks).
    let registered = std::path::Path::new(&std::env::var("SystemRoot").unwrap())
        .join("system32")
        .join("tasks")
        .join("openrouter-pkce");
    if under_wine() {
        assert!(registered.exists(), "no task registered");
    }
    let (stdout, _) = service(&["status"]);
    let st = json(&stdout);
    assert_eq!(st["port"], served.port, "the port is read from the task");
    assert_eq!(
        (&st["installed"], &st["running"]),
        (&true.into(), &true.into()),
        "{st}"
    );

    service(&["uninstall"]);
    assert!(!task_file.exists());
    if under_wine() {
        assert!(!registered.exists(), "the task is still registered");
    }
}

/// An app using the control API directly: the service opens the browser and exchanges.
#[test]
fn an_app_drives_the_control_api_and_the_service_opens_the_browser() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &["--auto-approve"]);
    let browser = env.browser_script();
    let served = start_service_with(&env, &stand_in, &[], |cmd| {
        cmd.env("BROWSER", &browser);
    });
    let (code, body) = control(
        &env,
        served.port,
        "POST",
        "/v1/flows",
        Some(r#"{"exchange":true,"open_browser":true}"#),
    );
    assert_eq!(code, 201, "{body}");
    let created = json(&body);
    let id = created["id"].as_str().expect("a flow id").to_owned();
    let (_, body) = control(
        &env,
        served.port,
        "GET",
        &format!("/v1/flows/{id}?wait=20"),
        None,
    );
    let status = json(&body);
    assert_eq!(status["status"], "succeeded", "{status}");
    assert!(
        status["result"]["key"]
            .as_str()
            .unwrap()
            .starts_with("sk-or-v1-standin-")
    );
    // The browser was opened by the service, at the URL it handed to the app.
    assert_eq!(
        std::fs::read_to_string(env.browser_log()).unwrap(),
        created["authorize_url"].as_str().unwrap()
    );
}

/// A config directory others can reach holds no certificate the service will use: it still
/// starts and runs http logins (a user service that keeps failing to start helps nobody),
/// refuses a login that asks for https, and refuses to start at all when told to use https.
#[cfg(unix)]
#[test]
fn serve_without_a_usable_certificate_runs_http_logins_only() {
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &["--auto-approve"]);
    let config = env.config_dir();
    std::fs::create_dir_all(&config).unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o755)).unwrap();
    let served = start_service(&env, &stand_in, &[]);
    let login = |scheme: &str| {
        let mut cmd = env.command();
        cmd.args(["authorize", "--port", &served.port.to_string()])
            .args(["--openrouter-url", &stand_in.url, "--timeout", "30"])
            .args(["--callback-scheme", scheme])
            .env("BROWSER", env.browser_script());
        run(cmd)
    };
    let (status, bundle, stderr) = login("http");
    assert!(status.success(), "{stderr}");
    assert!(json(&bundle)["code"].is_string(), "{bundle}");
    let (status, _, stderr) = login("https");
    assert!(!status.success());
    assert!(stderr.contains("serves http only"), "{stderr}");
    assert!(
        !config.join("ca-key.pem").exists(),
        "a CA key in a shared directory"
    );
    let mut cmd = env.command();
    cmd.args(["serve", "--port", &free_port().to_string()])
        .args([
            "--openrouter-url",
            &stand_in.url,
            "--callback-scheme",
            "https",
        ]);
    let (status, _, stderr) = run(cmd);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("chmod 700"), "{stderr}");
}
