//! What an installation needs from the binary itself: shell completions and a man page,
//! generated from the same definitions the parser uses.

mod common;

use common::*;

fn output(args: &[&str]) -> String {
    let env = TestEnv::new();
    let mut cmd = env.command();
    cmd.args(args);
    let (status, stdout, stderr) = run(cmd);
    assert!(status.success(), "{args:?}: {stderr}");
    stdout
}

#[test]
fn completions_cover_every_shell_and_every_command() {
    for (shell, marker) in [
        ("bash", "complete -F _openrouter__pkce"),
        ("zsh", "#compdef openrouter-pkce"),
        ("fish", "complete -c openrouter-pkce"),
        ("elvish", "openrouter-pkce"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let script = output(&["completions", shell]);
        assert!(script.contains(marker), "{shell}: {script}");
        for command in ["login", "status", "logout", "create-code", "serve"] {
            assert!(script.contains(command), "{shell} misses {command}");
        }
    }
    // The bash script loads in bash and registers the completion (Unix: no bash on Windows).
    #[cfg(unix)]
    {
        let script = output(&["completions", "bash"]);
        let env = TestEnv::new();
        let path = env.home().join("openrouter-pkce.bash");
        std::fs::write(&path, script).unwrap();
        let loaded = std::process::Command::new("bash")
            .args([
                "-c",
                &format!("source '{}' && complete -p openrouter-pkce", path.display()),
            ])
            .output()
            .unwrap();
        assert!(
            loaded.status.success(),
            "{}",
            String::from_utf8_lossy(&loaded.stderr)
        );
    }
    let env = TestEnv::new();
    let mut cmd = env.command();
    cmd.args(["completions", "tcsh"]);
    let (status, _, stderr) = run(cmd);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("possible values"), "{stderr}");
}

#[test]
fn the_man_page_is_roff_naming_the_commands() {
    let page = output(&["man"]);
    assert!(page.contains(".TH openrouter-pkce 1"), "{page}");
    assert!(page.contains(".SH NAME"));
    for command in ["login", "key", "status", "logout", "trust", "completions"] {
        assert!(page.contains(command), "the man page misses {command}");
    }
    assert!(
        page.contains("OPENROUTER_PKCE_URL"),
        "the environment is not in the page"
    );
}

/// With HOME unset (as on stock Windows) and the XDG directories set, a whole login works and
/// everything lands in those directories.
#[test]
fn a_login_works_with_home_unset_and_xdg_dirs_set() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &["--auto-approve"]);
    let mut cmd = env.with_browser("login", &stand_in.url);
    cmd.env_remove("HOME")
        .env("XDG_DATA_HOME", env.home().join("data"))
        .arg("--save");
    let (status, stdout, stderr) = run(cmd);
    assert!(status.success(), "{stderr}");
    assert!(env.ca_cert().exists(), "the CA is not in XDG_CONFIG_HOME");
    let profiles = env.home().join("data/openrouter-pkce/profiles");
    assert!(profiles.join("stand-in.json").exists());
    // The key itself: in the file fallback here (no keyring answers); Windows always has its
    // Credential Manager.
    let kind = if cfg!(windows) { "keyring" } else { "file" };
    assert_eq!(json(&stdout)["storage"]["kind"], kind, "{stdout}");
    assert_eq!(profiles.join("stand-in.key").exists(), kind == "file");
}

/// `--version` names the commit when built from a checkout (this test runs in one).
#[test]
fn the_version_names_the_commit_of_a_checkout() {
    let version = output(&["--version"]);
    assert!(version.starts_with("openrouter-pkce 0."), "{version}");
    let in_checkout = std::process::Command::new("git")
        .args(["rev-parse", "--short=9", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .is_ok_and(|o| o.status.success());
    if in_checkout {
        assert!(version.contains("(git "), "{version}");
    }
}
