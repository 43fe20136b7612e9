//! No secret (verifier, code, state, nonce, key) reaches stderr, even with RUST_LOG=trace. The
//! one exception is deliberate: the authorize URL (which carries the state and nonce) is shown
//! to the person on their own terminal, never in a log line.

mod common;

use common::*;

fn assert_absent(stderr: &str, secrets: &[(&str, &str)]) {
    for (name, value) in secrets {
        assert!(
            value.len() >= 8,
            "{name} is too short to be a meaningful probe"
        );
        assert!(
            !stderr.contains(value),
            "{name} leaked into stderr:\n{stderr}"
        );
    }
}

#[test]
fn authorize_and_exchange_at_trace_level_log_no_secrets() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &["--auto-approve"]);
    let mut cmd = env.command();
    cmd.args([
        "authorize",
        "--openrouter-url",
        &stand_in.url,
        "--port",
        &free_port().to_string(),
    ])
    .env("BROWSER", env.browser_script())
    .env("RUST_LOG", "trace");
    let (status, bundle, stderr) = run(cmd);
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains("TRACE") || stderr.contains("DEBUG"),
        "trace logging was not on:\n{stderr}"
    );
    let b = json(&bundle);
    let authorize = url::Url::parse(&std::fs::read_to_string(env.browser_log()).unwrap()).unwrap();
    let q: std::collections::HashMap<_, _> = authorize.query_pairs().into_owned().collect();
    let callback = url::Url::parse(&q["callback_url"]).unwrap();
    let nonce = callback.path_segments().unwrap().nth(1).unwrap().to_owned();
    assert_absent(
        &stderr,
        &[
            ("code", b["code"].as_str().unwrap()),
            ("code_verifier", b["code_verifier"].as_str().unwrap()),
        ],
    );
    // The URL line for the person aside, nothing else carries the state or the nonce.
    let shown = format!("  {authorize}");
    assert!(stderr.contains(&shown), "the URL was not shown:\n{stderr}");
    let rest = stderr.replace(&shown, "");
    assert_absent(&rest, &[("state", &q["state"]), ("nonce", &nonce)]);

    let mut exchange = env.command();
    exchange
        .args(["exchange", "--openrouter-url", &stand_in.url])
        .env("RUST_LOG", "trace");
    let (status, stdout, stderr) = run_with_stdin(exchange, &bundle);
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains("TRACE") || stderr.contains("DEBUG"),
        "trace logging was not on:\n{stderr}"
    );
    let key = json(&stdout)["key"].as_str().unwrap().to_owned();
    assert_absent(
        &stderr,
        &[
            ("key", &key),
            ("code", b["code"].as_str().unwrap()),
            ("code_verifier", b["code_verifier"].as_str().unwrap()),
        ],
    );
}

#[test]
fn a_failed_exchange_at_trace_level_logs_no_secrets() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &["--fail-exchanges", "1"]);
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let mut cmd = env.command();
    cmd.args([
        "exchange",
        "--openrouter-url",
        &stand_in.url,
        "--code",
        "secret-code-123456",
        "--code-verifier",
        verifier,
    ])
    .env("RUST_LOG", "trace");
    let (status, _, stderr) = run(cmd);
    assert_eq!(status.code(), Some(5), "{stderr}");
    assert_absent(
        &stderr,
        &[("code", "secret-code-123456"), ("code_verifier", verifier)],
    );
}
