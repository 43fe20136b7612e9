//! End to end in a real browser: Debian's headless Chromium, driven by playwright-core, through
//! the stand-in's consent page to the HTTPS callback, with the CA trusted by `trust` into a
//! throwaway NSS database under the test's HOME (no --ignore-certificate-errors).
// Linux: Debian's Chromium and NSS; the Windows build is tested without a browser.
#![cfg(target_os = "linux")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

const CHROMIUM: &str = "/usr/bin/chromium";

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

fn screenshot(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/e2e")
        .join(name)
}

/// `None` when everything the browser test needs is here; otherwise why not.
fn missing_prerequisite() -> Option<String> {
    if !Path::new(CHROMIUM).exists() {
        return Some(format!("{CHROMIUM} not found (apt-get install chromium)"));
    }
    if Command::new("certutil").arg("-H").output().is_err() {
        return Some("certutil not found (apt-get install libnss3-tools)".into());
    }
    if Command::new("node").arg("--version").output().is_err() {
        return Some("node not found".into());
    }
    if !browser_dir().join("node_modules/playwright-core").exists() {
        return Some("playwright-core not installed (npm ci --prefix tests/browser)".into());
    }
    None
}

fn drive(env: &TestEnv, url: &url::Url, decision: &str, shot: &Path) -> serde_json::Value {
    drive_in(env, url, decision, shot, "light")
}

fn drive_in(
    env: &TestEnv,
    url: &url::Url,
    decision: &str,
    shot: &Path,
    scheme: &str,
) -> serde_json::Value {
    let out = Command::new("node")
        .arg(browser_dir().join("drive.mjs"))
        .args([url.as_str(), decision])
        .arg(shot)
        .env("HOME", env.home())
        .env("COLOR_SCHEME", scheme)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .last()
        .unwrap_or_else(|| panic!("no output: {}", String::from_utf8_lossy(&out.stderr)));
    json(line)
}

fn waiting_login(env: &TestEnv, stand_in: &StandIn, port: u16, extra: &[&str]) -> Running {
    let mut cmd = env.login_no_browser(&stand_in.url, port, &["--timeout", "60"]);
    cmd.args(extra);
    Running::spawn(cmd)
}

fn trust(env: &TestEnv) {
    let mut cmd = env.command();
    cmd.args(["trust", "--user-only"]);
    let (status, stdout, stderr) = run(cmd);
    assert!(status.success(), "{stderr}");
    let report = json(&stdout);
    assert!(
        report["trusted_in"][0]
            .as_str()
            .unwrap()
            .contains(".pki/nssdb"),
        "{report}"
    );
}

#[test]
fn chromium_approves_and_lands_on_the_success_page_with_a_trusted_certificate() {
    let missing = missing_prerequisite();
    if !require(missing.as_deref().unwrap_or_default(), missing.is_none()) {
        return;
    }
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &[]);
    let port = free_port();
    // https asked for explicitly: the default would use http until the CA is trusted.
    let login = waiting_login(&env, &stand_in, port, &["--callback-scheme", "https"]);
    let url = login.wait_authorize_url();

    // Control: before `trust`, Chromium refuses the local certificate and the login keeps waiting.
    let untrusted = drive(&env, &url, "approve", &screenshot("untrusted.png"));
    let error = untrusted["error"]
        .as_str()
        .unwrap_or_else(|| panic!("untrusted CA was accepted: {untrusted}"));
    assert!(error.contains("ERR_CERT_AUTHORITY_INVALID"), "{error}");

    trust(&env);
    let page = drive(&env, &url, "approve", &screenshot("approve.png"));
    assert!(page.get("error").is_none(), "{page}");
    assert_eq!(page["heading"], "Logged in to OpenRouter", "{page}");
    assert_eq!(page["lang"], "en");
    assert_ne!(
        page["headingColor"], "rgb(0, 0, 0)",
        "the page's style was blocked: {page}"
    );
    assert!(page["title"].as_str().unwrap().contains("Logged in"));
    // The address bar no longer shows the code (or the nonce).
    assert_eq!(
        page["url"],
        format!("https://localhost:{port}/callback"),
        "{page}"
    );
    assert!(screenshot("approve.png").metadata().unwrap().len() > 1000);

    let (status, stdout, stderr) = login.finish();
    assert!(status.success(), "{stderr}");
    assert_standin_key(&stdout);
}

/// A new user's first login: nothing trusted yet, default flags. The callback is http, so a
/// fresh Chromium profile lands on the success page with no certificate warning.
#[test]
fn chromium_logs_in_with_no_certificate_warning_before_any_trust() {
    let missing = missing_prerequisite();
    if !require(missing.as_deref().unwrap_or_default(), missing.is_none()) {
        return;
    }
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &[]);
    let login = waiting_login(&env, &stand_in, 0, &[]);
    let url = login.wait_authorize_url();
    let page = drive(&env, &url, "approve", &screenshot("first-login.png"));
    assert!(
        page.get("error").is_none(),
        "a warning or error page: {page}"
    );
    assert_eq!(page["heading"], "Logged in to OpenRouter", "{page}");
    assert!(
        page["url"]
            .as_str()
            .unwrap()
            .starts_with("http://localhost:"),
        "{page}"
    );
    let (status, stdout, stderr) = login.finish();
    assert!(status.success(), "{stderr}");
    assert_standin_key(&stdout);
    assert!(stderr.contains("openrouter-pkce trust"), "{stderr}");
}

#[test]
fn chromium_denies_and_lands_on_the_error_page() {
    let missing = missing_prerequisite();
    if !require(missing.as_deref().unwrap_or_default(), missing.is_none()) {
        return;
    }
    let env = TestEnv::new();
    trust(&env);
    let stand_in = StandIn::start(&env, &[]);
    let port = free_port();
    let login = waiting_login(&env, &stand_in, port, &[]);
    let url = login.wait_authorize_url();
    // In the dark theme: the error heading takes the dark palette's red.
    let page = drive_in(&env, &url, "deny", &screenshot("deny-dark.png"), "dark");
    assert!(page.get("error").is_none(), "{page}");
    assert_eq!(page["heading"], "Authorization denied", "{page}");
    assert_eq!(
        page["headingColor"], "rgb(255, 138, 148)",
        "dark theme not applied: {page}"
    );
    assert!(!page["url"].as_str().unwrap().contains("error="), "{page}");
    let (status, stdout, stderr) = login.finish();
    assert_eq!(status.code(), Some(3), "{stderr}");
    assert!(stdout.is_empty());
}
