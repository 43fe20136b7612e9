//! Keys as a person uses them after logging in, the way gh does: `profiles` lists what is
//! saved, `login --with-key` keeps a key they already have, and `exec` hands the key to a
//! tool in its environment only.

mod common;

use common::*;

fn command(env: &TestEnv, args: &[&str]) -> (Option<i32>, String, String) {
    let mut cmd = env.command();
    cmd.args(args);
    let (status, stdout, stderr) = run(cmd);
    (status.code(), stdout, stderr)
}

/// A key the stand-in minted, printed (not saved) by a piped login.
fn minted_key(env: &TestEnv, stand_in: &StandIn) -> String {
    let (status, stdout, stderr) = run(env.with_browser("login", &stand_in.url));
    assert!(status.success(), "{stderr}");
    json(&stdout)["key"].as_str().unwrap().to_owned()
}

fn with_key(env: &TestEnv, stand_in: &StandIn, profile: &str, key: &str) -> (Option<i32>, String) {
    let mut cmd = env.command();
    cmd.args([
        "login",
        "--with-key",
        "--profile",
        profile,
        "--openrouter-url",
        &stand_in.url,
    ]);
    let (status, _, stderr) = run_with_stdin(cmd, &format!("{key}\n"));
    (status.code(), stderr)
}

#[test]
fn a_key_one_already_has_is_checked_then_saved_and_profiles_lists_it() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &["--auto-approve"]);
    let key = minted_key(&env, &stand_in);
    let (code, stderr) = with_key(&env, &stand_in, "mine", &key);
    assert_eq!(code, Some(0), "{stderr}");
    let (code, stdout, stderr) = command(&env, &["key", "--profile", "mine"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout.trim(), key);
    // A key OpenRouter does not know: exit 5, nothing saved.
    let (code, stderr) = with_key(
        &env,
        &stand_in,
        "bogus",
        "sk-or-v1-not-a-real-key-0123456789",
    );
    assert_eq!(code, Some(5), "{stderr}");
    assert!(!stderr.contains("sk-or-v1-not-a-real-key"), "{stderr}");
    let (code, _, stderr) = command(&env, &["key", "--profile", "bogus"]);
    assert_eq!(code, Some(10), "{stderr}");
    // The empty profile names the ones that exist.
    assert!(stderr.contains("Saved profiles: mine"), "{stderr}");
    // Nothing that is not a key is even sent.
    let (code, stderr) = with_key(&env, &stand_in, "x", "two words");
    assert_eq!(code, Some(2), "{stderr}");

    with_key(&env, &stand_in, "second", &key);
    let (code, stdout, stderr) = command(&env, &["profiles"]);
    assert_eq!(code, Some(0), "{stderr}");
    let list = json(&stdout);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["profile"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["mine", "second"]);
    for p in list.as_array().unwrap() {
        for field in ["user_id", "storage", "openrouter_url", "saved_at"] {
            assert!(p.get(field).is_some(), "{field} missing: {p}");
        }
        assert!(p.get("key").is_none(), "{p}");
    }
}

#[cfg(unix)]
#[test]
fn exec_hands_the_key_to_the_command_alone_and_passes_its_status_through() {
    use std::os::unix::process::ExitStatusExt;
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &["--auto-approve"]);
    let key = minted_key(&env, &stand_in);
    with_key(&env, &stand_in, "default", &key);

    // The key is in the command's environment, the rest of the environment is as it was,
    // and the command's exit status is ours.
    let mut cmd = env.command();
    cmd.args([
        "exec",
        "--",
        "sh",
        "-c",
        "printf '%s|%s' \"$OPENROUTER_API_KEY\" \"$KEEP_ME\"; exit 7",
    ])
    .env("KEEP_ME", "kept");
    let (status, stdout, stderr) = run(cmd);
    assert_eq!(status.code(), Some(7), "{stderr}");
    assert_eq!(stdout, format!("{key}|kept"));
    // Not found and not executable are the shell's 127 and 126; no key saved is 10.
    let (code, _, stderr) = command(&env, &["exec", "--", "/nonexistent/tool"]);
    assert_eq!(code, Some(127), "{stderr}");
    let plain = env.home().join("not-executable");
    std::fs::write(&plain, "#!/bin/sh\n").unwrap();
    let (code, _, stderr) = command(&env, &["exec", "--", plain.to_str().unwrap()]);
    assert_eq!(code, Some(126), "{stderr}");
    let (code, _, stderr) = command(&env, &["exec", "--profile", "none", "--", "true"]);
    assert_eq!(code, Some(10), "{stderr}");

    // Signals reach the command: it is the process (the key on no command line either).
    let mut cmd = env.command();
    cmd.args(["exec", "--", "sleep", "30"]);
    let child = Running::spawn(cmd);
    let pid = child.child.id();
    let cmdline = poll(
        "the command to start",
        std::time::Duration::from_secs(10),
        || {
            let line = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            line.starts_with(b"sleep").then_some(line)
        },
    );
    assert!(!String::from_utf8_lossy(&cmdline).contains(&key));
    signal(&child, "TERM");
    let (status, _, _) = child.finish();
    assert_eq!(status.signal(), Some(libc::SIGTERM), "{status:?}");
}
