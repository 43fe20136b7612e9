//! A person's first login, and the machine interface an app drives: a busy or any port, the
//! question about trusting the local CA, the spinner and its ticks on a terminal, NDJSON events,
//! a browser page that tells the truth, and a dead OpenRouter reported within seconds though the browser comes first.

mod common;

use common::*;

/// The stderr lines of an `--events` run, each parsed (every line must be JSON).
fn events(stderr: &str) -> Vec<serde_json::Value> {
    stderr
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not an event ({e}): {line:?}"))
        })
        .collect()
}

fn names(events: &[serde_json::Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_owned())
        .collect()
}

/// The authorize URL from the `authorize_url` event, once it appears.
fn wait_url_event(login: &Running) -> url::Url {
    login.wait_stderr("the authorize_url event", |s| {
        s.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|e| e["event"] == "authorize_url")
            .map(|e| url::Url::parse(e["url"].as_str().unwrap()).unwrap())
    })
}

#[test]
fn events_narrate_a_login_as_json_lines_and_never_carry_the_key() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &["--auto-approve"]);
    let port = free_port();
    let login = Running::spawn(env.login_no_browser(&stand_in.url, port, &["--events"]));
    let url = wait_url_event(&login);
    assert_eq!(follow(&url), "200");
    let (status, stdout, stderr) = login.finish();
    assert!(status.success(), "{stderr}");
    let key = assert_standin_key(&stdout);
    assert!(!stderr.contains(&key), "the key is in an event: {stderr}");
    let events = events(&stderr);
    let names = names(&events);
    let order: Vec<&str> = [
        "listening",
        "authorize_url",
        "callback_received",
        "exchanging",
        "succeeded",
    ]
    .into_iter()
    .filter(|n| names.iter().any(|m| m == n))
    .collect();
    assert_eq!(
        order,
        [
            "listening",
            "authorize_url",
            "callback_received",
            "exchanging",
            "succeeded"
        ],
        "{stderr}"
    );
    let position = |n: &str| names.iter().position(|m| m == n).unwrap();
    assert!(position("listening") < position("authorize_url"));
    assert!(position("callback_received") < position("exchanging"));
    assert!(position("exchanging") < position("succeeded"));
    let listening = &events[position("listening")];
    assert_eq!(listening["port"], port);
    assert_eq!(
        listening["callback_url"],
        format!("http://localhost:{port}/callback/"),
        "the secret nonce is not in the listening event"
    );
    let authorize = &events[position("authorize_url")];
    assert!(authorize["expires_at"].as_str().unwrap().contains('T'));
    assert_eq!(events[position("succeeded")]["user_id"], "user_standin");
    // No prose: every line parsed as an event (checked above), and none is a panic.
    assert!(!stderr.contains("panicked"));
}

#[test]
fn events_report_a_browser_that_did_not_start_and_an_error_with_its_codes() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &["--auto-deny"]);
    let mut cmd = env.command();
    cmd.args([
        "authorize",
        "--events",
        "--openrouter-url",
        &stand_in.url,
        "--port",
        &free_port().to_string(),
        "--timeout",
        "20",
    ])
    .env("BROWSER", "false");
    let login = Running::spawn(cmd);
    let url = wait_url_event(&login);
    login.wait_stderr("browser_failed", |s| {
        s.contains("browser_failed").then_some(())
    });
    // The person opens the URL by hand and declines.
    follow(&url);
    let (status, stdout, stderr) = login.finish();
    assert_eq!(status.code(), Some(3), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    let events = events(&stderr);
    let failed = events
        .iter()
        .find(|e| e["event"] == "browser_failed")
        .unwrap();
    assert!(
        failed["message"].as_str().unwrap().contains("false"),
        "{failed}"
    );
    let last = events.last().unwrap();
    assert_eq!(last["event"], "error", "{stderr}");
    assert_eq!(last["code"], "denied");
    assert_eq!(last["exit_code"], 3);
    assert!(last["message"].as_str().unwrap().contains("access_denied"));
    assert!(names(&events).contains(&"callback_received".to_owned()));
}

#[cfg(unix)] // a pty and SIGINT
#[test]
fn ctrl_c_says_cancelled_and_exits_130_in_prose_and_in_events() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &[]);
    for extra in [&[][..], &["--events"][..]] {
        let login = Running::spawn(env.login_no_browser(&stand_in.url, free_port(), extra));
        login.wait_stderr("the authorize URL", |s| s.contains("/auth?").then_some(()));
        signal(&login, "INT");
        let (status, _, stderr) = login.finish();
        assert_eq!(status.code(), Some(130), "{extra:?}: {stderr}");
        let last = stderr.lines().last().unwrap();
        if extra.is_empty() {
            assert_eq!(last, "cancelled", "{stderr}");
        } else {
            let event: serde_json::Value = serde_json::from_str(last).unwrap();
            assert_eq!(event["event"], "error");
            assert_eq!(event["exit_code"], 130);
        }
    }
}

#[test]
fn port_zero_listens_on_any_free_port_and_a_taken_explicit_port_says_what_to_do() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &["--auto-approve"]);
    let login = Running::spawn(env.login_no_browser(&stand_in.url, 0, &[]));
    let url = login.wait_authorize_url();
    let (callback, _) = callback_of(&url);
    assert_ne!(callback.port(), Some(0));
    assert_eq!(follow(&url), "200");
    let (status, stdout, stderr) = login.finish();
    assert!(status.success(), "{stderr}");
    assert_standin_key(&stdout);
    // An explicit port someone else holds: exit 7, the holder, and the way out.
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    let (status, _, stderr) = run(env.login_no_browser(&stand_in.url, port, &[]));
    assert_eq!(status.code(), Some(7), "{stderr}");
    let named = stderr.contains(&format!("pid {}", std::process::id()));
    assert!(
        named || wine_cannot("Wine's TCP table names no owning process"),
        "{stderr}"
    );
    assert!(
        stderr.contains("--port") && stderr.contains("openrouter-pkce serve"),
        "{stderr}"
    );
}

/// The browser does not wait for the network: the URL comes as soon as the port listens, and
/// the check that OpenRouter answers runs alongside. A dead OpenRouter still ends the login
/// with exit 6 (long before its 300 s timeout), said on the terminal and in `--events`.
#[test]
fn an_unreachable_openrouter_is_exit_6_though_the_browser_came_first() {
    let env = TestEnv::new();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    for command in ["login", "authorize"] {
        let mut cmd = env.command();
        cmd.args([
            command,
            "--openrouter-url",
            &url,
            "--port",
            "0",
            "--timeout",
            "300",
            "--no-browser",
        ]);
        let (status, stdout, stderr) = run(cmd);
        assert_eq!(status.code(), Some(6), "{command}: {stderr}");
        assert!(stdout.is_empty());
        assert!(stderr.contains("unreachable"), "{stderr}");
        assert!(
            stderr.contains("/auth?"),
            "{command} waited for the network: {stderr}"
        );

        let mut cmd = env.command();
        cmd.args([
            command,
            "--openrouter-url",
            &url,
            "--port",
            "0",
            "--timeout",
            "300",
            "--no-browser",
            "--events",
        ]);
        let (status, _, stderr) = run(cmd);
        assert_eq!(status.code(), Some(6), "{command}: {stderr}");
        let events: Vec<serde_json::Value> = stderr.lines().map(json).collect();
        let names: Vec<&str> = events
            .iter()
            .map(|e| e["event"].as_str().unwrap())
            .collect();
        let url_at = names.iter().position(|n| *n == "authorize_url");
        assert!(url_at.is_some(), "{names:?}");
        let last = events.last().unwrap();
        assert_eq!(last["event"], "error", "{last}");
        assert_eq!(last["code"], "unreachable", "{last}");
        assert_eq!(last["exit_code"], 6, "{last}");
    }
}

#[test]
fn the_page_says_the_key_was_not_created_when_the_exchange_fails() {
    let env = TestEnv::new();
    // 500 is not retried: the exchange fails after the person approved.
    let stand_in = StandIn::start(
        &env,
        &[
            "--auto-approve",
            "--fail-exchanges",
            "9",
            "--fail-status",
            "500",
        ],
    );
    let cmd = env.with_browser("login", &stand_in.url);
    let (status, stdout, stderr) = run(cmd);
    assert_eq!(status.code(), Some(6), "{stderr}");
    assert!(stdout.is_empty());
    env.wait_browser_landed();
    let page = std::fs::read_to_string(env.browser_page()).unwrap();
    assert!(page.contains("The key was not created"), "{page}");
    assert!(
        page.contains("HTTP 500"),
        "the page says what failed: {page}"
    );
    assert!(!page.contains("Logged in"), "{page}");
}

#[test]
fn authorize_pages_say_the_code_was_handed_to_the_app() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &["--auto-approve"]);
    let cmd = env.with_browser("authorize", &stand_in.url);
    let (status, stdout, stderr) = run(cmd);
    assert!(status.success(), "{stderr}");
    assert!(json(&stdout)["code"].is_string());
    env.wait_browser_landed();
    let page = std::fs::read_to_string(env.browser_page()).unwrap();
    assert!(page.contains("handed to the app"), "{page}");
    assert!(!page.contains("Logged in"), "{page}");
}

/// What a person sees on a terminal: the URL with the way forward, a spinner with the time
/// left, a green tick for each step, and who they are logged in as. Piped, the same words
/// with no escape codes at all; with NO_COLOR, no colour on the terminal either.
#[cfg(unix)] // a pty (`script`)
#[test]
fn a_terminal_gets_a_spinner_and_ticks_and_a_pipe_gets_plain_text() {
    if !pty_available() {
        return;
    }
    let env = TestEnv::new();
    // Delay the exchange so the "creating your key" step is on screen for a moment.
    let stand_in = StandIn::start(&env, &["--auto-approve", "--exchange-delay-ms", "300"]);
    for no_color in [false, true] {
        let vars: &[(&str, &str)] = if no_color { &[("NO_COLOR", "1")] } else { &[] };
        let login = on_pty(
            &env,
            &format!(
                "login --no-browser --callback-scheme http --openrouter-url {} --port 0 --timeout 300",
                stand_in.url
            ),
            vars,
        );
        let url = login.wait_stdout_match("the spinner", |out| {
            (out.contains("Waiting for you to approve in the browser…")
                && out.contains("left, Ctrl-C to cancel"))
            .then(|| url_in(out))
            .flatten()
        });
        assert_eq!(follow(&url), "200");
        let (status, out, _) = login.finish();
        assert!(status.success(), "{out}");
        assert!(
            out.contains("Open this URL in a browser, on this or another device"),
            "{out}"
        );
        assert!(out.contains("4:5"), "no time left shown: {out:?}");
        assert!(out.contains("Approved — creating your key…"), "{out}");
        assert!(out.contains("Logged in as user_standin"), "{out}");
        let green = "\u{1b}[32m";
        let coloured = out.contains(green) || out.contains("\u{1b}[1m\u{1b}[32m");
        assert_eq!(coloured, !no_color, "NO_COLOR={no_color}: {out:?}");
    }
    // Piped: plain text.
    let login = Running::spawn(env.login_no_browser(&stand_in.url, 0, &[]));
    let url = login.wait_authorize_url();
    assert_eq!(follow(&url), "200");
    let (status, _, stderr) = login.finish();
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("✓ Logged in as user_standin"), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "escape codes on a pipe: {stderr:?}"
    );
    assert!(!stderr.contains("Ctrl-C to cancel"), "a spinner on a pipe");
}

/// On a terminal, with the local CA untrusted, the first login asks once whether to trust it.
/// No: http, and never asked again. Yes: `trust` runs and the login continues over https.
#[cfg(unix)] // a pty (`script`)
#[test]
fn a_first_login_on_a_terminal_asks_once_to_trust_the_ca() {
    if !pty_available() {
        return;
    }
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &["--auto-approve"]);
    let question = "Trust the local certificate so your browser accepts https://localhost? [Y/n]";
    let args = format!(
        "login --no-browser --openrouter-url {} --port 0 --timeout 60",
        stand_in.url
    );
    let login_answering = |answer: Option<&str>| {
        let mut login = on_pty(&env, &args, &[]);
        if let Some(answer) = answer {
            login.wait_stdout_match("the question", |out| out.contains(question).then_some(()));
            login.write_stdin(&format!("{answer}\n"));
        }
        let url = login.wait_stdout_match("the URL", url_in);
        let (callback, _) = callback_of(&url);
        follow_trusting(&env, &url);
        let (status, out, _) = login.finish();
        assert!(status.success(), "{out}");
        (callback.scheme().to_owned(), out)
    };
    let (scheme, out) = login_answering(Some("n"));
    assert_eq!(scheme, "http", "{out}");
    assert!(out.contains("you will not be asked again"), "{out}");
    let (scheme, out) = login_answering(None);
    assert_eq!(scheme, "http");
    assert!(!out.contains(question), "asked again: {out}");
    if !require(
        "certutil (libnss3-tools) is not installed",
        certutil_found(),
    ) {
        return;
    }
    // Another person on another machine says yes.
    let env_yes = TestEnv::new();
    let mut login = on_pty(&env_yes, &args, &[]);
    login.wait_stdout_match("the question", |out| out.contains(question).then_some(()));
    login.write_stdin("\n");
    let url = login.wait_stdout_match("the URL", url_in);
    let (callback, _) = callback_of(&url);
    assert_eq!(callback.scheme(), "https", "{}", login.stdout());
    follow_trusting(&env_yes, &url);
    let (status, out, _) = login.finish();
    assert!(status.success(), "{out}");
    assert!(out.contains("Trusted the local certificate in"), "{out}");
    assert!(env_yes.home().join(".pki/nssdb/cert9.db").exists());
}

/// The question about trust is never answered by accident: end of input (Ctrl-D) is no answer
/// (http, nothing trusted, nothing remembered), an unclear answer is asked again, Ctrl-C
/// cancels at once, and `--timeout` covers the question too.
#[cfg(unix)] // a pty (`script`)
#[test]
fn the_trust_question_takes_only_clear_answers() {
    if !pty_available() {
        return;
    }
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &["--auto-approve"]);
    let question = "[Y/n]";
    let args = |timeout: u32| {
        format!(
            "login --no-browser --openrouter-url {} --port 0 --timeout {timeout}",
            stand_in.url
        )
    };
    let declined = env.config_dir().join("trust-declined");
    let trusted = env.config_dir().join("trusted");
    // Ctrl-D: http for this login, asked again next time.
    let mut login = on_pty(&env, &args(30), &[]);
    login.wait_stdout_match("the question", |out| out.contains(question).then_some(()));
    login.write_stdin("\u{4}");
    let url = login.wait_stdout_match("the URL", url_in);
    assert_eq!(callback_of(&url).0.scheme(), "http");
    assert_eq!(follow(&url), "200");
    let (status, out, _) = login.finish();
    assert!(status.success(), "{out}");
    assert!(!declined.exists() && !trusted.exists(), "{out}");
    // Unclear, then no.
    let mut login = on_pty(&env, &args(30), &[]);
    login.wait_stdout_match("the question", |out| out.contains(question).then_some(()));
    login.write_stdin("sure\n");
    login.wait_stdout_match("a second asking", |out| {
        out.contains("Please answer y or n.").then_some(())
    });
    assert!(!declined.exists(), "an unclear answer was taken as no");
    login.write_stdin("n\n");
    let url = login.wait_stdout_match("the URL", url_in);
    assert_eq!(follow(&url), "200");
    let (status, out, _) = login.finish();
    assert!(status.success(), "{out}");
    assert!(declined.exists(), "{out}");
    std::fs::remove_file(&declined).unwrap();
    // Ctrl-C at the question: cancelled, nothing decided.
    let mut login = on_pty(&env, &args(30), &[]);
    login.wait_stdout_match("the question", |out| out.contains(question).then_some(()));
    login.write_stdin("\u{3}");
    let (status, out, _) = login.finish();
    assert_eq!(status.code(), Some(130), "{out}");
    assert!(out.contains("cancelled"), "{out}");
    assert!(!declined.exists() && !trusted.exists());
    // Nobody answers: --timeout still ends the command.
    let login = on_pty(&env, &args(2), &[]);
    login.wait_stdout_match("the question", |out| out.contains(question).then_some(()));
    let (status, out, _) = login.finish();
    assert_eq!(status.code(), Some(4), "{out}");
    assert!(!declined.exists() && !trusted.exists());
}

/// A login through the service lets the service resolve `auto` with its own certificate, and
/// its events count down to the command's deadline, not the service's longer flow timeout.
#[test]
fn a_delegated_login_leaves_auto_to_the_service_and_reports_its_own_deadline() {
    let env = TestEnv::new();
    private_runtime_dir(&env);
    let stand_in = StandIn::start(&env, &["--auto-approve"]);
    // The service is told to use https (as it would with --tls-cert or a trusted CA).
    let served = start_service(&env, &stand_in, &["--callback-scheme", "https"]);
    let mut cmd = env.login_no_browser(&stand_in.url, served.port, &["--events"]);
    cmd.args(["--timeout", "40"]);
    let login = Running::spawn(cmd);
    let url = wait_url_event(&login);
    assert_eq!(callback_of(&url).0.scheme(), "https", "{}", login.stderr());
    follow_trusting(&env, &url);
    let (status, stdout, stderr) = login.finish();
    assert!(status.success(), "{stderr}");
    assert_standin_key(&stdout);
    let events = events(&stderr);
    let authorize = events
        .iter()
        .find(|e| e["event"] == "authorize_url")
        .unwrap();
    let expires = time::OffsetDateTime::parse(
        authorize["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let left = expires - time::OffsetDateTime::now_utc();
    assert!(
        left <= time::Duration::seconds(41),
        "expires_at is the service's 10 minutes, not --timeout: {authorize}"
    );
    let listening = events.iter().find(|e| e["event"] == "listening").unwrap();
    assert_eq!(
        listening["callback_url"],
        format!("https://localhost:{}/callback/", served.port)
    );
}

/// Under --events every line is JSON, including a refused command line and log lines.
#[test]
fn events_stay_json_for_bad_flags_and_logs() {
    let env = TestEnv::new();
    for bad in [
        &[
            "login",
            "--events",
            "--openrouter-url",
            "http://example.com/",
        ][..],
        &["login", "--events", "--timeout", "0"][..],
        &["login", "--events", "--no-such-flag"][..],
    ] {
        let mut cmd = env.command();
        cmd.args(bad);
        let (status, _, stderr) = run(cmd);
        assert_eq!(status.code(), Some(2), "{bad:?}: {stderr}");
        let events = events(&stderr);
        let last = events.last().unwrap();
        assert_eq!(last["event"], "error", "{bad:?}: {stderr}");
        assert_eq!(last["code"], "bad_input");
        assert_eq!(last["exit_code"], 2);
    }
    let stand_in = StandIn::start(&env, &["--auto-approve"]);
    let mut cmd = env.login_no_browser(&stand_in.url, 0, &["--events"]);
    cmd.env("RUST_LOG", "openrouter_pkce=debug");
    let login = Running::spawn(cmd);
    follow(&wait_url_event(&login));
    let (status, _, stderr) = login.finish();
    assert!(status.success(), "{stderr}");
    // Every line parses (events() panics otherwise), logs included.
    assert!(events(&stderr).len() > 5, "{stderr}");
}

/// The browser came back but the key was still being created when --timeout ran out: the
/// terminal says so (not "waiting for the browser"), and the browser's page is answered.
#[test]
fn a_timeout_during_the_exchange_says_so_on_the_terminal_and_the_page() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &["--auto-approve", "--exchange-delay-ms", "30000"]);
    let mut cmd = env.login_no_browser(&stand_in.url, 0, &[]);
    cmd.args(["--timeout", "3"]);
    let login = Running::spawn(cmd);
    let url = login.wait_authorize_url();
    let browser = std::thread::spawn(move || fetch(url.as_str()));
    let (status, _, stderr) = login.finish();
    assert_eq!(status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("while OpenRouter was creating the key"),
        "{stderr}"
    );
    let (page_status, page) = browser.join().unwrap();
    assert!(
        page.contains("Login stopped"),
        "no answer for the browser: {page}"
    );
    assert_eq!(page_status, 410, "{page}");
}
