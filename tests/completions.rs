//! Shell completions complete and every manual page exists: bash's completion function run
//! the way bash runs it (COMP_WORDS/COMP_CWORD) for a subcommand's flag and a flag's values;
//! zsh and fish load their scripts without error; `man COMMAND` gives each page the main page
//! names.
#![cfg(unix)]

mod common;

use std::process::Command;

use common::*;

fn script(env: &TestEnv, shell: &str) -> std::path::PathBuf {
    let mut cmd = env.command();
    cmd.args(["completions", shell]);
    let (status, stdout, stderr) = run(cmd);
    assert!(status.success(), "{stderr}");
    let path = env.home().join(format!("completion.{shell}"));
    std::fs::write(&path, stdout).unwrap();
    path
}

/// What bash's completion function offers for `words`, the last one being completed.
fn bash_complete(script: &std::path::Path, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let cword = words.len() - 1;
    let prev = if cword > 0 { words[cword - 1] } else { "" };
    let program = format!(
        "source '{}'\nCOMP_WORDS=({})\nCOMP_CWORD={cword}\n_openrouter__pkce openrouter-pkce '{}' '{}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display(),
        quoted.join(" "),
        words[cword],
        prev
    );
    let out = Command::new("bash")
        .args(["-c", &program])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn bash_completes_a_subcommands_flags_and_a_flags_values() {
    let env = TestEnv::new();
    let bash = script(&env, "bash");
    assert_eq!(
        bash_complete(&bash, &["openrouter-pkce", "login", "--callback-s"]),
        ["--callback-scheme"]
    );
    assert_eq!(
        bash_complete(
            &bash,
            &["openrouter-pkce", "login", "--callback-scheme", ""]
        ),
        ["auto", "https", "http"]
    );
    assert_eq!(
        bash_complete(&bash, &["openrouter-pkce", "mock-server", "--fail-c"]),
        ["--fail-create-codes"]
    );
    assert!(bash_complete(&bash, &["openrouter-pkce", "pro"]).contains(&"profiles".to_owned()));
}

#[test]
fn zsh_and_fish_load_their_scripts() {
    let env = TestEnv::new();
    let zsh_found = Command::new("zsh").arg("--version").output().is_ok();
    if require("zsh is not installed", zsh_found) {
        let zsh = script(&env, "zsh");
        let program = format!(
            "autoload -U compinit && compinit -u -d '{}/zcompdump' && source '{}' && (( $+_comps[openrouter-pkce] ))",
            env.home().display(),
            zsh.display()
        );
        let out = Command::new("zsh")
            .args(["-f", "-c", &program])
            .env("HOME", env.home())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let fish_found = Command::new("fish").arg("--version").output().is_ok();
    if require("fish is not installed", fish_found) {
        let fish = script(&env, "fish");
        let program = format!(
            "source '{}'; complete -C 'openrouter-pkce login --callback-scheme '",
            fish.display()
        );
        let out = Command::new("fish")
            .args(["--no-config", "-c", &program])
            .env("HOME", env.home())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let offered = String::from_utf8_lossy(&out.stdout);
        assert!(offered.contains("https"), "{offered}");
    }
}

#[test]
fn every_page_the_main_man_page_names_exists() {
    let env = TestEnv::new();
    let mut cmd = env.command();
    cmd.arg("man");
    let (status, main, stderr) = run(cmd);
    assert!(status.success(), "{stderr}");
    let mut cmd = env.command();
    cmd.args(["man", "--list"]);
    let (_, list, _) = run(cmd);
    let pages: Vec<&str> = list.lines().collect();
    assert!(
        pages.contains(&"login") && pages.contains(&"service-install"),
        "{pages:?}"
    );
    // Each page the main one refers to is in the list, and renders under its own name.
    let named: Vec<String> = main
        .split("openrouter\\-pkce\\-")
        .skip(1)
        .filter_map(|rest| rest.split_once("(1)").map(|(n, _)| n.replace("\\-", "-")))
        // A command's name, not a placeholder in the prose (`openrouter-pkce-COMMAND(1)`).
        .filter(|n| n.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'))
        .collect();
    assert!(!named.is_empty(), "{main}");
    for name in &named {
        assert!(
            pages.contains(&name.as_str()),
            "{name} is named but has no page"
        );
        let mut cmd = env.command();
        cmd.args(["man", name]);
        let (status, page, stderr) = run(cmd);
        assert!(status.success(), "{name}: {stderr}");
        assert!(
            page.contains(&format!(".TH openrouter-pkce-{name} 1")),
            "{name}: {}",
            &page[..page.len().min(300)]
        );
    }
    let mut cmd = env.command();
    cmd.args(["man", "nope"]);
    let (status, _, stderr) = run(cmd);
    assert_eq!(status.code(), Some(2), "{stderr}");
}
