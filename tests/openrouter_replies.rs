//! Replies from OpenRouter (or whatever answers in its place) are data: a 2xx body that does
//! not parse is reported as unreadable with an excerpt, and a huge body is read only so far.

mod common;

use common::*;

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/// A fake OpenRouter whose exchange endpoint answers 200 with `body`.
fn fake_openrouter(body: String) -> (String, tokio::runtime::Runtime) {
    let app = axum::Router::new().route(
        "/api/v1/auth/keys",
        axum::routing::post(move || {
            let body = body.clone();
            async move { body }
        }),
    );
    let (addr, runtime) = serve_in_background(app);
    (format!("http://{addr}"), runtime)
}

fn exchange(env: &TestEnv, url: &str) -> (Option<i32>, String, String) {
    let mut cmd = env.command();
    cmd.args([
        "exchange",
        "--openrouter-url",
        url,
        "--code",
        "the-code",
        "--code-verifier",
        VERIFIER,
    ]);
    let (status, stdout, stderr) = run(cmd);
    (status.code(), stdout, stderr)
}

#[test]
fn a_200_that_does_not_parse_is_unreadable_not_unreachable() {
    let env = TestEnv::new();
    let (url, _rt) = fake_openrouter("<html>Welcome to the captive portal</html>".into());
    let (code, stdout, stderr) = exchange(&env, &url);
    assert_eq!(code, Some(6), "{stderr}");
    assert!(stdout.is_empty());
    assert!(
        stderr.contains("OpenRouter sent a reply we could not read"),
        "{stderr}"
    );
    assert!(stderr.contains("HTTP 200"), "{stderr}");
    assert!(stderr.contains("captive portal"), "no excerpt: {stderr}");
    assert!(!stderr.contains("unreachable"), "{stderr}");
}

#[test]
fn a_huge_reply_is_read_only_so_far_and_quoted_briefly() {
    let env = TestEnv::new();
    let (url, _rt) = fake_openrouter("x".repeat(8 * 1024 * 1024));
    let (code, _, stderr) = exchange(&env, &url);
    assert_eq!(code, Some(6), "{stderr}");
    assert!(
        stderr.contains("could not read"),
        "{}",
        &stderr[..stderr.len().min(500)]
    );
    assert!(
        stderr.len() < 2_000,
        "the whole body was echoed: {} bytes",
        stderr.len()
    );
}

/// A 200 whose `key` could not be a key (escape sequences, a newline, spaces, too long) is a
/// reply we could not read: nothing printed or saved, and the would-be key not echoed raw.
#[test]
fn an_implausible_key_is_unreadable_and_never_printed() {
    let env = TestEnv::new();
    for key in [
        "sk-or-v1-\u{1b}[2Jabc\ndef".to_owned(),
        "sk-or-v1-has spaces in it".to_owned(),
        format!("sk-or-v1-{}", "a".repeat(600)),
    ] {
        let body = serde_json::json!({"key": key, "user_id": "u"}).to_string();
        let (url, _rt) = fake_openrouter(body);
        let (code, stdout, stderr) = exchange(&env, &url);
        assert_eq!(code, Some(6), "{key:?}: {stderr}");
        assert!(stdout.is_empty(), "{stdout}");
        assert!(stderr.contains("a reply we could not read"), "{stderr}");
        assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
        assert!(!stderr.contains(&key), "{stderr}");
    }
}
