//! The stand-in's replies parse in OpenRouter's official TypeScript SDK (npm `@openrouter/sdk`,
//! pinned in tests/sdk/package.json), whose schemas require more than the published OpenAPI
//! snapshot shows: if the stand-in drifts from what the SDK accepts, app developers testing
//! against it would be misled.
// The stand-in's replies are the same on every OS: node and the SDK run on the Linux host.
#![cfg(not(windows))]

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::*;

fn sdk_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sdk")
}

fn missing() -> Option<String> {
    if Command::new("node").arg("--version").output().is_err() {
        return Some("node not found".into());
    }
    if !sdk_dir().join("node_modules/@openrouter/sdk").exists() {
        return Some("@openrouter/sdk not installed (npm ci --prefix tests/sdk)".into());
    }
    None
}

fn current_key(stand_in: &StandIn, key: &str) -> serde_json::Value {
    let out = Command::new("node")
        .arg(sdk_dir().join("current_key.mjs"))
        .arg(&stand_in.url)
        .arg(key)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    json(String::from_utf8_lossy(&out.stdout).trim())
}

#[test]
fn the_current_key_reply_parses_in_the_official_sdk() {
    let absent = missing();
    if !require(absent.as_deref().unwrap_or_default(), absent.is_none()) {
        return;
    }
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &["--auto-approve"]);
    let login = Running::spawn(env.login_no_browser(&stand_in.url, 0, &[]));
    follow(&login.wait_authorize_url());
    let (status, stdout, stderr) = login.finish();
    assert!(status.success(), "{stderr}");
    let key = assert_standin_key(&stdout);
    let reply = current_key(&stand_in, &key);
    assert_eq!(
        reply["ok"], true,
        "the SDK refused the stand-in's reply: {reply}"
    );
    let data = &reply["data"];
    assert_eq!(data["usage"], 0.25, "{data}");
    assert_eq!(data["limitRemaining"], 9.75, "{data}");
    assert_eq!(data["allowedDataRegions"][0], "global", "{data}");
    assert_eq!(data["freeModelDailyRequests"]["limit"], 50, "{data}");
    // A key the stand-in never issued is refused (401), which the SDK reports as an error.
    let reply = current_key(&stand_in, "sk-or-v1-not-issued-by-the-stand-in");
    assert_eq!(reply["ok"], false, "{reply}");
}
