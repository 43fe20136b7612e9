//! Bad input: a message naming the field, exit code 2, and nothing sent to OpenRouter.

mod common;

use common::*;

fn assert_refused(
    env: &TestEnv,
    stand_in: &StandIn,
    args: &[&str],
    stdin: Option<&str>,
    field: &str,
) {
    let mut cmd = env.command();
    cmd.args(args)
        .env("OPENROUTER_API_KEY", "sk-or-v1-standin-management-key");
    let (status, stdout, stderr) = match stdin {
        Some(text) => run_with_stdin(cmd, text),
        None => run(cmd),
    };
    assert_eq!(status.code(), Some(2), "{args:?}: {stderr}");
    assert!(stdout.is_empty(), "{args:?} printed {stdout}");
    assert!(
        stderr.contains(field),
        "{args:?}: message does not name {field}: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    let stats = stand_in.stats();
    assert_eq!(
        stats["create_code_requests"].as_array().unwrap().len(),
        0,
        "{args:?} sent a request"
    );
    assert_eq!(stats["exchange_requests"], 0, "{args:?} sent a request");
}

#[test]
fn create_code_rejects_each_bad_field_before_sending() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &[]);
    let url = stand_in.url.clone();
    let cases: &[(&[&str], &str)] = &[
        (&["--limit", "-1"], "--limit"),
        (&["--limit", "NaN"], "--limit"),
        (&["--limit", "inf"], "--limit"),
        (&["--expires-at", "next tuesday"], "--expires-at"),
        (&["--expires-at", "2001-01-01T00:00:00Z"], "--expires-at"),
        (&["--callback-url", "not a url"], "--callback-url"),
        (
            &["--callback-url", "http://example.com/cb"],
            "--callback-url",
        ),
        (
            &["--code-challenge-method", "MD5"],
            "--code-challenge-method",
        ),
        (&["--usage-limit-type", "yearly"], "--usage-limit-type"),
        (&["--key-label", &"x".repeat(101)], "--key-label"),
        (&["--key-label", "a\nb"], "--key-label"),
        (&["--key-label", "\u{1b}[2J"], "--key-label"),
        (&["--api-key", "sk-or-v1-a\nb"], "--api-key"),
        (&["--workspace-id", "not-a-uuid"], "--workspace-id"),
        (&["--port", "0"], "--port"),
        (&["--port", "70000"], "--port"),
        // OpenRouter's rule is https, or localhost/127.0.0.1: not [::1], not 127.0.0.2.
        (
            &["--callback-url", "http://[::1]:3000/cb"],
            "--callback-url",
        ),
        (
            &["--callback-url", "http://127.0.0.2:3000/cb"],
            "--callback-url",
        ),
    ];
    for (extra, field) in cases {
        let mut args = vec!["create-code", "--openrouter-url", &url];
        args.extend_from_slice(extra);
        assert_refused(&env, &stand_in, &args, None, field);
    }
}

#[test]
fn create_code_without_a_key_is_refused() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &[]);
    let mut cmd = env.command();
    cmd.args(["create-code", "--openrouter-url", &stand_in.url]);
    let (status, _, stderr) = run(cmd);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--api-key") && stderr.contains("OPENROUTER_API_KEY"),
        "{stderr}"
    );
}

#[test]
fn exchange_rejects_bad_bundles_before_sending() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &[]);
    let url = stand_in.url.clone();
    let args = ["exchange", "--openrouter-url", url.as_str()];
    assert_refused(
        &env,
        &stand_in,
        &args,
        Some("this is not json"),
        "code bundle",
    );
    assert_refused(&env, &stand_in, &args, Some(""), "code bundle");
    assert_refused(
        &env,
        &stand_in,
        &args,
        Some(r#"{"code_verifier":"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"}"#),
        "code",
    );
    assert_refused(
        &env,
        &stand_in,
        &args,
        Some(r#"{"code":"abc","code_challenge_method":"S256"}"#),
        "code_verifier",
    );
    assert_refused(
        &env,
        &stand_in,
        &[
            "exchange",
            "--openrouter-url",
            &url,
            "--code",
            "c",
            "--code-verifier",
            "short",
        ],
        None,
        "--code-verifier",
    );
}

#[test]
fn login_rejects_bad_ports_urls_and_choices() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &[]);
    let url = stand_in.url.clone();
    let cases: &[(&[&str], &str)] = &[
        (&["--port", "65536"], "--port"),
        (&["--callback-scheme", "ftp"], "--callback-scheme"),
        (
            &["--openrouter-url", "http://user:pass@127.0.0.1:9"],
            "--openrouter-url",
        ),
        (&["--callback-host", "example.com"], "--callback-host"),
    ];
    for (extra, field) in cases {
        let mut args = vec!["login", "--no-browser", "--openrouter-url", &url];
        args.extend_from_slice(extra);
        assert_refused(&env, &stand_in, &args, None, field);
    }
    // http to a non-loopback OpenRouter is refused before anything is sent (here: nowhere to go).
    let mut cmd = env.command();
    cmd.args([
        "exchange",
        "--openrouter-url",
        "http://openrouter.ai",
        "--code",
        "c",
        "--code-verifier",
    ])
    .arg("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
    let (status, _, stderr) = run(cmd);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--openrouter-url") && stderr.contains("https"),
        "{stderr}"
    );
}

/// Values that used to abort the process (overflowing a deadline or a semaphore) are refused as
/// bad input, before anything starts: no service, no control socket, no listener.
#[test]
fn huge_flag_values_are_refused_not_aborts() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &[]);
    let port = free_port().to_string();
    let url = stand_in.url.clone();
    let cases: &[(&[&str], &str)] = &[
        (
            &["serve", "--port", &port, "--flow-timeout", "999999999999"],
            "--flow-timeout",
        ),
        (
            &[
                "serve",
                "--port",
                &port,
                "--max-connections",
                "18446744073709551615",
            ],
            "--max-connections",
        ),
        (
            &["serve", "--port", &port, "--max-pending", "0"],
            "--max-pending",
        ),
        (
            &[
                "serve",
                "--port",
                &port,
                "--header-timeout",
                "99999999999999999",
            ],
            "--header-timeout",
        ),
        (
            &[
                "login",
                "--no-browser",
                "--port",
                &port,
                "--openrouter-url",
                &url,
                "--timeout",
                "18446744073709551615",
            ],
            "--timeout",
        ),
        (
            &["serve", "--port", &port, "--log-format", "jsno"],
            "--log-format",
        ),
    ];
    for (args, field) in cases {
        assert_refused(&env, &stand_in, args, None, field);
        let socket = socket_path(&env, port.parse().unwrap());
        assert!(!socket.exists(), "{args:?} left a control socket");
    }
}

/// A typo in a choice gets the list of values and a suggestion (clap's ValueEnum).
#[test]
fn choices_list_their_values_and_suggest_on_typos() {
    let env = TestEnv::new();
    let mut cmd = env.command();
    cmd.args(["login", "--callback-scheme", "htps"]);
    let (status, _, stderr) = run(cmd);
    assert_eq!(status.code(), Some(2));
    assert!(
        stderr.contains("possible values: auto, https, http"),
        "{stderr}"
    );
    assert!(
        stderr.contains("a similar value exists: 'https'"),
        "{stderr}"
    );
    let mut cmd = env.command();
    cmd.args(["create-code", "-h"]);
    let (_, stdout, _) = run(cmd);
    assert!(
        stdout.contains("[possible values: daily, weekly, monthly]"),
        "{stdout}"
    );
    assert!(
        stdout.contains("[default: S256] [possible values: S256, plain]"),
        "{stdout}"
    );
}

/// A URL refused on the command line or from the environment is named, never repeated: it may
/// carry a password (clap would quote the value in its message).
#[test]
fn a_refused_url_is_not_repeated_with_its_password() {
    let env = TestEnv::new();
    // (arguments, an environment variable to set, the flag the refusal must name)
    type Case<'a> = (&'a [&'a str], Option<(&'a str, &'a str)>, &'a str);
    let cases: &[Case] = &[
        (
            &[
                "login",
                "--openrouter-url",
                "https://user:hunter2@openrouter.ai",
            ],
            None,
            "--openrouter-url",
        ),
        (
            &["login"],
            Some(("OPENROUTER_PKCE_URL", "https://user:hunter2@openrouter.ai")),
            "OPENROUTER_PKCE_URL (the environment variable for --openrouter-url)",
        ),
        (
            &[
                "create-code",
                "--callback-url",
                "http://user:hunter2@example.com/",
            ],
            None,
            "--callback-url",
        ),
        (
            &["login", "--app-url", "https://user:hunter2@app.example/"],
            None,
            "--app-url",
        ),
    ];
    for (args, var, flag) in cases {
        let mut cmd = env.command();
        cmd.args(*args);
        if let Some((name, value)) = var {
            cmd.env(name, value);
        }
        let (status, stdout, stderr) = run(cmd);
        assert_eq!(status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!("invalid {flag}")),
            "{args:?}: {stderr}"
        );
        assert!(
            !stderr.contains("hunter2") && !stdout.contains("hunter2"),
            "{args:?}: {stderr}"
        );
    }
    // Nor does --help show the variables' values.
    let mut cmd = env.command();
    cmd.args(["login", "--help"])
        .env("OPENROUTER_PKCE_URL", "https://user:hunter2@openrouter.ai")
        .env(
            "OPENROUTER_PKCE_APP_URL",
            "https://user:hunter2@app.example/",
        );
    let (status, stdout, _) = run(cmd);
    assert!(status.success());
    assert!(stdout.contains("OPENROUTER_PKCE_URL"), "{stdout}");
    assert!(!stdout.contains("hunter2"), "{stdout}");
}

/// A key file that is empty, or whose key holds a control character, is blamed on
/// --api-key-file (not reported as a missing --api-key the person did give), even with
/// OPENROUTER_API_KEY also set; nothing is sent.
#[test]
fn a_bad_api_key_file_is_named_as_such() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &[]);
    let empty = env.home().join("empty-key");
    std::fs::write(&empty, "\n").unwrap();
    let odd = env.home().join("odd-key");
    std::fs::write(&odd, "sk-or-v1-x\u{7}y\n").unwrap();
    for (file, expected) in [(&empty, "has none"), (&odd, "control characters")] {
        let mut cmd = env.command();
        cmd.args(["create-code", "--openrouter-url", &stand_in.url])
            .arg("--api-key-file")
            .arg(file)
            .env("OPENROUTER_API_KEY", "sk-or-v1-standin-management-key");
        let (status, _, stderr) = run(cmd);
        assert_eq!(status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("invalid --api-key-file") && stderr.contains(expected),
            "{stderr}"
        );
    }
    assert_eq!(
        stand_in.stats()["create_code_requests"],
        serde_json::json!([])
    );
}

/// OPENROUTER_API_KEY set for other tools does not stop --api-key-file (the file wins), but
/// --api-key and --api-key-file together on one command line are refused.
#[test]
fn an_api_key_file_wins_over_the_environment_but_not_over_the_flag() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &[]);
    let file = env.home().join("mgmt-key");
    std::fs::write(&file, "sk-or-v1-standin-management-key\n").unwrap();
    let mut cmd = env.command();
    cmd.args(["create-code", "--openrouter-url", &stand_in.url])
        .arg("--api-key-file")
        .arg(&file)
        .env("OPENROUTER_API_KEY", "sk-or-v1-some-inference-key");
    let (status, stdout, stderr) = run(cmd);
    assert!(status.success(), "{stderr}");
    assert!(json(&stdout)["code"].is_string(), "{stdout}");
    let mut cmd = env.command();
    cmd.args(["create-code", "--openrouter-url", &stand_in.url])
        .args([
            "--api-key",
            "sk-or-v1-standin-management-key",
            "--api-key-file",
        ])
        .arg(&file);
    let (status, _, stderr) = run(cmd);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("not both"), "{stderr}");
    assert_eq!(
        stand_in.stats()["create_code_requests"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

/// A key file is read only as far as its first line can be (a wrong path such as /dev/zero
/// must not eat memory), and a byte-order mark before the key is not sent as part of it.
#[test]
fn a_key_file_is_read_boundedly_and_without_its_byte_order_mark() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &[]);
    let mut cmd = env.command();
    cmd.args(["create-code", "--openrouter-url", &stand_in.url])
        .args(["--api-key-file", "/dev/zero"]);
    let (status, _, stderr) = run(cmd);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("invalid --api-key-file"), "{stderr}");
    let bom = env.home().join("notepad-key");
    std::fs::write(&bom, "\u{feff}sk-or-v1-standin-management-key\r\n").unwrap();
    let mut cmd = env.command();
    cmd.args(["create-code", "--openrouter-url", &stand_in.url])
        .arg("--api-key-file")
        .arg(&bom);
    let (status, stdout, stderr) = run(cmd);
    assert!(status.success(), "{stderr}");
    assert!(json(&stdout)["code"].is_string(), "{stdout}");
}
