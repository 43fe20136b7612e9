//! `login`, `authorize | exchange` and the headless flow against the stand-in, end to end.

mod common;

use common::*;

fn login_cmd(env: &TestEnv, stand_in: &StandIn, port: u16) -> std::process::Command {
    let mut cmd = env.command();
    cmd.args([
        "login",
        "--openrouter-url",
        &stand_in.url,
        "--port",
        &port.to_string(),
        "--timeout",
        "20",
    ])
    .env("BROWSER", env.browser_script());
    cmd
}

#[test]
fn login_through_the_browser_prints_the_key() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &["--auto-approve"]);
    let (status, stdout, stderr) = run(login_cmd(&env, &stand_in, free_port()));
    assert!(status.success(), "{stderr}");
    let out = json(&stdout);
    assert!(
        out["key"]
            .as_str()
            .unwrap()
            .starts_with("sk-or-v1-standin-"),
        "{out}"
    );
    assert_eq!(out["user_id"], "user_standin");
    assert_eq!(stand_in.stats()["exchanges_ok"], 1);
    // The browser landed on the success page, and the page carries no secret.
    env.wait_browser_landed();
    let page = std::fs::read_to_string(env.browser_page()).unwrap();
    assert!(page.contains("Logged in to OpenRouter"), "{page}");
    assert!(!page.contains("standin-code-"), "the page shows the code");
    // The authorize URL went to the browser with a nonce'd callback and S256; http, because
    // this fresh HOME's CA is trusted nowhere (the `auto` default).
    let url = url::Url::parse(&std::fs::read_to_string(env.browser_log()).unwrap()).unwrap();
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert!(q["callback_url"].starts_with("http://localhost:"), "{url}");
    assert!(q["callback_url"].contains("/callback/"), "{url}");
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(q["state"].len() >= 43);
}

#[test]
fn login_with_output_writes_a_private_key_file_and_prints_no_key() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &["--auto-approve"]);
    let key_file = env.home().join("key.txt");
    let mut cmd = login_cmd(&env, &stand_in, free_port());
    cmd.arg("--output").arg(&key_file);
    let (status, stdout, stderr) = run(cmd);
    assert!(status.success(), "{stderr}");
    let key = std::fs::read_to_string(&key_file).unwrap();
    assert!(key.trim().starts_with("sk-or-v1-standin-"));
    assert!(!stdout.contains(key.trim()), "stdout has the key: {stdout}");
    assert_eq!(json(&stdout)["user_id"], "user_standin");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn login_over_an_http_callback() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &["--auto-approve"]);
    let mut cmd = login_cmd(&env, &stand_in, free_port());
    cmd.args(["--callback-scheme", "http", "--callback-host", "127.0.0.1"]);
    let (status, stdout, stderr) = run(cmd);
    assert!(status.success(), "{stderr}");
    assert!(json(&stdout)["key"].is_string());
    let url = std::fs::read_to_string(env.browser_log()).unwrap();
    assert!(
        url.contains("callback_url=http%3A%2F%2F127.0.0.1%3A"),
        "{url}"
    );
}

#[test]
fn authorize_piped_into_exchange() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &["--auto-approve"]);
    let (status, bundle, stderr) = run(stand_in.authorize_cmd(&env, free_port()));
    assert!(status.success(), "{stderr}");
    let b = json(&bundle);
    assert!(b["code"].as_str().unwrap().starts_with("standin-code-"));
    assert_eq!(b["code_challenge_method"], "S256");
    assert!(
        b["callback_url"]
            .as_str()
            .unwrap()
            .starts_with("http://localhost:")
    );
    assert_eq!(
        stand_in.stats()["exchange_requests"],
        0,
        "authorize must not exchange"
    );

    let (status, stdout, stderr) = stand_in.exchange(&env, &bundle);
    assert!(status.success(), "{stderr}");
    assert_standin_key(&stdout);

    // The code was single use: the same bundle again is refused by OpenRouter (exit 5).
    let (status, _, stderr) = stand_in.exchange(&env, &bundle);
    assert_eq!(status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains("403") && stderr.contains("Invalid code"),
        "{stderr}"
    );
}

#[test]
fn denial_ends_the_flow_with_the_denied_exit_code() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &["--auto-deny"]);
    let (status, stdout, stderr) = run(login_cmd(&env, &stand_in, free_port()));
    assert_eq!(status.code(), Some(3), "{stderr}");
    assert!(stdout.is_empty());
    assert!(
        stderr.contains("denied") && stderr.contains("access_denied"),
        "{stderr}"
    );
    assert_eq!(stand_in.stats()["exchange_requests"], 0);
    env.wait_browser_landed();
    let page = std::fs::read_to_string(env.browser_page()).unwrap();
    assert!(page.contains("Authorization denied"), "{page}");
}

#[test]
fn two_503s_are_retried_and_the_login_succeeds() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &["--auto-approve", "--fail-exchanges", "2"]);
    let (status, stdout, stderr) = run(login_cmd(&env, &stand_in, free_port()));
    assert!(status.success(), "{stderr}");
    assert!(json(&stdout)["key"].is_string());
    let stats = stand_in.stats();
    assert_eq!(stats["exchange_requests"], 3);
    assert_eq!(stats["exchanges_ok"], 1);
}

#[test]
fn persistent_503s_give_up_after_bounded_retries() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &["--auto-approve", "--fail-exchanges", "100"]);
    let (status, _, stderr) = run(login_cmd(&env, &stand_in, free_port()));
    assert_eq!(status.code(), Some(6), "{stderr}");
    assert!(stderr.contains("503"), "{stderr}");
    assert_eq!(stand_in.stats()["exchange_requests"], 4);
}

#[test]
fn unreachable_openrouter_is_its_own_exit_code() {
    let env = TestEnv::new();
    // A port nothing listens on: connection refused, retried, then exit 6.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let mut cmd = env.command();
    cmd.args([
        "exchange",
        "--openrouter-url",
        &dead,
        "--code",
        "c",
        "--code-verifier",
    ])
    .arg("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
    let (status, _, stderr) = run(cmd);
    assert_eq!(status.code(), Some(6), "{stderr}");
    assert!(stderr.contains("could not connect"), "{stderr}");
}

#[test]
fn headless_login_reads_the_pasted_code() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &[]);
    let mut cmd = env.command();
    cmd.args([
        "login",
        "--headless",
        "--openrouter-url",
        &stand_in.url,
        "--timeout",
        "20",
    ])
    .stdin(std::process::Stdio::piped());
    let mut login = Running::spawn(cmd);
    let url = login.wait_authorize_url();
    assert!(url.query_pairs().all(|(k, _)| k != "callback_url"), "{url}");
    let page = blocking_get(url.as_str());
    let code = page
        .split("<code id=\"code\">")
        .nth(1)
        .and_then(|rest| rest.split("</code>").next())
        .expect("the page shows a code")
        .to_owned();
    login.write_stdin(&format!("{code}\n"));
    let (status, stdout, stderr) = login.finish();
    assert!(status.success(), "{stderr}");
    assert_standin_key(&stdout);
}

#[test]
fn timeout_exits_with_its_code_and_frees_the_port() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &[]);
    let port = free_port();
    let cmd = env.login_no_browser(&stand_in.url, port, &["--timeout", "1"]);
    let (status, stdout, stderr) = run(cmd);
    assert_eq!(status.code(), Some(4), "{stderr}");
    assert!(stdout.is_empty());
    assert!(stderr.contains("timed out"), "{stderr}");
    std::net::TcpListener::bind(("127.0.0.1", port)).expect("port freed after the timeout");
}

#[test]
fn demo_runs_a_whole_login_against_the_built_in_stand_in() {
    let env = TestEnv::new();
    let mut cmd = env.command();
    cmd.args(["demo", "--port", &free_port().to_string()]);
    let (status, stdout, stderr) = run(cmd);
    assert!(status.success(), "{stderr}");
    assert_standin_key(&stdout);
}

#[test]
fn a_500_is_not_retried_because_the_code_may_be_spent() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(
        &env,
        &[
            "--auto-approve",
            "--fail-exchanges",
            "1",
            "--fail-status",
            "500",
        ],
    );
    let (status, _, stderr) = run(login_cmd(&env, &stand_in, free_port()));
    assert_eq!(status.code(), Some(6), "{stderr}");
    assert!(stderr.contains("HTTP 500"), "{stderr}");
    assert_eq!(stand_in.stats()["exchange_requests"], 1);
}

#[test]
fn a_browser_that_cannot_start_leaves_the_url_printed_and_the_login_waiting() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &["--auto-approve"]);
    let mut cmd = env.command();
    cmd.args([
        "login",
        "--openrouter-url",
        &stand_in.url,
        "--port",
        &free_port().to_string(),
        "--timeout",
        "20",
    ])
    .env("BROWSER", env.home().join("no-such-browser"));
    let login = Running::spawn(cmd);
    let url = login.wait_authorize_url();
    // The URL is printed first, always; the failed start is reported as soon as it is known.
    login.wait_stderr("the browser failure", |s| {
        s.contains("No browser opened").then_some(())
    });
    // The person opens the printed URL by hand.
    follow_trusting(&env, &url);
    let (status, stdout, stderr) = login.finish();
    assert!(status.success(), "{stderr}");
    assert!(json(&stdout)["key"].is_string());
}

#[cfg(unix)] // a pty (`script`)
#[test]
fn a_pasted_redirect_url_completes_the_login_on_a_terminal() {
    if !pty_available() {
        return;
    }
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &[]);
    let port = free_port();
    // A pseudo-terminal as stdin, like an SSH session (http: no question about trust here).
    let mut login = on_pty(
        &env,
        &format!(
            "login --no-browser --callback-scheme http --openrouter-url {} --port {port} --timeout 20",
            stand_in.url
        ),
        &[],
    );
    let wait_url = |login: &Running| {
        let found = poll_for(std::time::Duration::from_secs(20), || {
            let out = login.stdout();
            let url = url_in(&out)?;
            out.contains("paste").then_some(url)
        });
        found.unwrap_or_else(|| panic!("no URL: {}", login.stdout()))
    };
    let url = wait_url(&login);
    // The browser "elsewhere" approves; we read where it would land instead of following it.
    let consent = blocking_get(url.as_str());
    let request_id = consent
        .split("name=\"request\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let decide = format!("{}/auth/decide", stand_in.url);
    let form = format!("request={request_id}&decision=approve");
    let (_, landed, _) = request("POST", &decide, Some(&form));
    assert!(landed.contains("/callback/"), "{landed}");
    login.write_stdin(&format!("{landed}\n"));
    let (status, stdout, _) = login.finish();
    assert!(status.success(), "{stdout}");
    assert!(stdout.contains("\"key\":\"sk-or-v1-standin-"), "{stdout}");
}

/// `--callback-scheme auto` (the default) uses https only where the browser will accept it:
/// while the local CA is trusted nowhere, an http callback and one line on how to get https;
/// once `trust` has put the CA in the browser's store, https and no line.
#[test]
fn auto_scheme_uses_https_only_once_the_ca_is_trusted() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &["--auto-approve"]);
    let callback_of_last_login = || {
        let url = url::Url::parse(&std::fs::read_to_string(env.browser_log()).unwrap()).unwrap();
        let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        url::Url::parse(&q["callback_url"]).unwrap()
    };
    let (status, _, stderr) = run(login_cmd(&env, &stand_in, free_port()));
    assert!(status.success(), "{stderr}");
    assert_eq!(callback_of_last_login().scheme(), "http");
    assert!(
        stderr.contains("Run `openrouter-pkce trust` once to use https"),
        "no way to https: {stderr}"
    );
    // The record that `trust` ran is not enough: the browser's store must hold the CA.
    std::fs::write(env.config_dir().join("trusted"), "NSS").unwrap();
    let (status, _, stderr) = run(login_cmd(&env, &stand_in, free_port()));
    assert!(status.success(), "{stderr}");
    assert_eq!(callback_of_last_login().scheme(), "http", "{stderr}");
    // An explicit https is obeyed, with the warning.
    let mut cmd = login_cmd(&env, &stand_in, free_port());
    cmd.args(["--callback-scheme", "https"]);
    let (status, _, stderr) = run(cmd);
    assert!(status.success(), "{stderr}");
    assert_eq!(callback_of_last_login().scheme(), "https");
    assert!(stderr.contains("will warn"), "{stderr}");
    // Trusting it: the user's NSS database here; Windows' user Root store (under Wine only:
    // on Windows itself adding a root asks the person, which no test can answer).
    if cfg!(unix)
        && !require(
            "certutil (libnss3-tools) is not installed",
            certutil_found(),
        )
    {
        return;
    }
    if cfg!(windows) && !under_wine() {
        eprintln!("skipped: adding a root to the user store prompts on Windows");
        return;
    }
    let mut trust = env.command();
    trust.args(["trust", "--user-only"]);
    let (status, _, stderr) = run(trust);
    assert!(status.success(), "{stderr}");
    let (status, _, stderr) = run(login_cmd(&env, &stand_in, free_port()));
    assert!(status.success(), "{stderr}");
    assert_eq!(callback_of_last_login().scheme(), "https", "{stderr}");
    assert!(!stderr.contains("openrouter-pkce trust"), "{stderr}");
    // An explicit http is obeyed too, and needs no word about certificates.
    let mut cmd = login_cmd(&env, &stand_in, free_port());
    cmd.args(["--callback-scheme", "http"]);
    let (status, _, stderr) = run(cmd);
    assert!(status.success(), "{stderr}");
    assert_eq!(callback_of_last_login().scheme(), "http");
    assert!(!stderr.contains("openrouter-pkce trust"), "{stderr}");
    // Windows' store is the account's, not this test's HOME: take the CA out again.
    if cfg!(windows) {
        let mut untrust = env.command();
        untrust.args(["trust", "--uninstall"]);
        assert!(run(untrust).0.success());
    }
}

#[test]
fn a_redirect_from_the_token_endpoint_is_not_followed() {
    use std::io::{Read, Write};
    // Where a malicious redirect would send the code: must never see a connection.
    let elsewhere = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    elsewhere.set_nonblocking(true).unwrap();
    let target = format!(
        "http://127.0.0.1:{}/steal",
        elsewhere.local_addr().unwrap().port()
    );
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://127.0.0.1:{}", server.local_addr().unwrap().port());
    let handle = std::thread::spawn(move || {
        let (mut s, _) = server.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf);
        let reply = format!(
            "HTTP/1.1 307 Temporary Redirect\r\nLocation: {target}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        s.write_all(reply.as_bytes()).unwrap();
    });
    let env = TestEnv::new();
    let mut cmd = env.command();
    cmd.args([
        "exchange",
        "--openrouter-url",
        &base,
        "--code",
        "c0de-1234",
        "--code-verifier",
    ])
    .arg("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
    let (status, stdout, stderr) = run(cmd);
    handle.join().unwrap();
    // The 307 itself is the answer: a failing OpenRouter (exit 6) that names the status.
    assert_eq!(status.code(), Some(6), "{stderr}");
    assert!(stderr.contains("HTTP 307"), "{stderr}");
    assert!(
        stderr.contains("redirect, which is not followed"),
        "{stderr}"
    );
    assert!(stdout.is_empty(), "{stdout}");
    assert!(elsewhere.accept().is_err(), "the redirect was followed");
}

#[test]
fn a_user_supplied_certificate_is_served_instead_of_the_local_ca() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &["--auto-approve"]);
    // A self-signed certificate, as mkcert or a company CA would provide, made at test time.
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let dir = env.home().join("mine");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
    // The curl browser trusts whatever sits at the CA path: put the user's certificate there.
    std::fs::create_dir_all(env.config_dir()).unwrap();
    std::fs::write(env.ca_cert(), cert.pem()).unwrap();

    let mut cmd = login_cmd(&env, &stand_in, free_port());
    cmd.arg("--tls-cert")
        .arg(dir.join("cert.pem"))
        .arg("--tls-key")
        .arg(dir.join("key.pem"));
    let (status, stdout, stderr) = run(cmd);
    assert!(status.success(), "{stderr}");
    assert!(json(&stdout)["key"].is_string());
    assert!(
        !env.config_dir().join("ca-key.pem").exists(),
        "generated a CA although a certificate was given"
    );
    assert!(
        !stderr.contains("openrouter-pkce trust"),
        "trust hint shown for the user's own certificate"
    );
}

#[test]
fn a_missing_certificate_file_is_bad_input() {
    let env = TestEnv::new();
    let mut cmd = env.command();
    cmd.args([
        "login",
        "--no-browser",
        "--openrouter-url",
        "http://127.0.0.1:9",
        "--port",
        &free_port().to_string(),
    ])
    .args([
        "--tls-cert",
        "/nonexistent/cert.pem",
        "--tls-key",
        "/nonexistent/key.pem",
    ]);
    let (status, _, stderr) = run(cmd);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--tls-cert"), "{stderr}");
}
