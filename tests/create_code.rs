//! `create-code | exchange`: the exact CreateAuthKeysCodeRequest OpenRouter receives, and the
//! management-key rules.

mod common;

use common::*;

const MGMT: &str = "sk-or-v1-standin-management-key";

#[test]
fn create_code_sends_every_field_and_its_bundle_exchanges() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &[]);
    let mut cmd = env.command();
    cmd.args([
        "create-code",
        "--openrouter-url",
        &stand_in.url,
        "--limit",
        "100",
        "--expires-at",
        "2099-01-01T00:00:00Z",
        "--key-label",
        "ci runner",
        "--usage-limit-type",
        "monthly",
        "--workspace-id",
        "123e4567-e89b-12d3-a456-426614174000",
        "--port",
        "3456",
    ])
    .env("OPENROUTER_API_KEY", MGMT);
    let (status, bundle, stderr) = run(cmd);
    assert!(status.success(), "{stderr}");
    let b = json(&bundle);
    assert!(b["code"].as_str().unwrap().starts_with("standin-code-"));
    assert_eq!(b["code_challenge_method"], "S256");

    let sent = &stand_in.stats()["create_code_requests"][0];
    let challenge = sent["code_challenge"].as_str().unwrap().to_owned();
    assert_eq!(
        sent,
        &serde_json::json!({
            "callback_url": "https://localhost:3456/callback",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "limit": 100.0,
            "expires_at": "2099-01-01T00:00:00Z",
            "key_label": "ci runner",
            "usage_limit_type": "monthly",
            "workspace_id": "123e4567-e89b-12d3-a456-426614174000",
        })
    );
    // The challenge really is S256 of the bundle's verifier.
    assert_eq!(challenge, s256(b["code_verifier"].as_str().unwrap()));

    let (status, stdout, stderr) = stand_in.exchange(&env, &bundle);
    assert!(status.success(), "{stderr}");
    assert_standin_key(&stdout);
}

#[test]
fn plain_method_and_unset_optionals_are_omitted() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &[]);
    let mut cmd = env.command();
    cmd.args([
        "create-code",
        "--openrouter-url",
        &stand_in.url,
        "--api-key",
        MGMT,
        "--code-challenge-method",
        "plain",
    ]);
    let (status, bundle, stderr) = run(cmd);
    assert!(status.success(), "{stderr}");
    let sent = &stand_in.stats()["create_code_requests"][0];
    let keys: Vec<&str> = sent
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys.len(), 3, "{sent}");
    assert_eq!(sent["code_challenge_method"], "plain");
    assert_eq!(sent["code_challenge"], json(&bundle)["code_verifier"]);
    let (status, _, stderr) = stand_in.exchange(&env, &bundle);
    assert!(status.success(), "{stderr}");
}

#[test]
fn a_user_key_is_not_a_management_key() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &[]);
    // Mint a user key first.
    let mut create = env.command();
    create.args([
        "create-code",
        "--openrouter-url",
        &stand_in.url,
        "--api-key",
        MGMT,
    ]);
    let (_, bundle, _) = run(create);
    let (_, key_json, _) = stand_in.exchange(&env, &bundle);
    let user_key = json(&key_json)["key"].as_str().unwrap().to_owned();

    let mut cmd = env.command();
    cmd.args([
        "create-code",
        "--openrouter-url",
        &stand_in.url,
        "--api-key",
        &user_key,
    ]);
    let (status, _, stderr) = run(cmd);
    assert_eq!(status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains("403") && stderr.contains("Only management keys"),
        "{stderr}"
    );
    assert!(!stderr.contains(&user_key), "the key leaked into stderr");

    let mut cmd = env.command();
    cmd.args([
        "create-code",
        "--openrouter-url",
        &stand_in.url,
        "--api-key",
        "sk-wrong",
    ]);
    let (status, _, stderr) = run(cmd);
    assert_eq!(status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("401"), "{stderr}");
}
