//! Saved keys: `login --save`, `key`, `status`, `logout`, in the system keyring (a real Secret
//! Service under dbus-run-session) and in the file fallback where no keyring answers.

mod common;

#[cfg(target_os = "linux")]
use std::process::Command;

use common::*;

/// A `login --save` against the stand-in, piped (the browser script approves).
fn login_saving(env: &TestEnv, stand_in: &StandIn, extra: &[&str]) -> (String, String) {
    let mut cmd = env.with_browser("login", &stand_in.url);
    cmd.arg("--save").args(extra);
    let (status, stdout, stderr) = run(cmd);
    assert!(status.success(), "{stderr}");
    (stdout, stderr)
}

/// Windows' Credential Manager belongs to the account, not to a test's HOME: the tests here
/// that save under one profile name take turns there. (Elsewhere each HOME is its own store.)
fn account_store_turn() -> Option<std::sync::MutexGuard<'static, ()>> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    cfg!(windows).then(|| TURN.lock().unwrap_or_else(|e| e.into_inner()))
}

fn command(env: &TestEnv, args: &[&str]) -> (Option<i32>, String, String) {
    let mut cmd = env.command();
    cmd.args(args);
    let (status, stdout, stderr) = run(cmd);
    (status.code(), stdout, stderr)
}

fn issued_keys(stand_in: &StandIn) -> Vec<String> {
    stand_in.stats()["issued_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect()
}

/// With no D-Bus session (nothing answers as a keyring), the whole lifecycle works through the
/// 0600 file, says so once, and no secret reaches a log line at trace level. (Windows always has
/// its Credential Manager: see the next test.)
#[cfg(unix)]
#[test]
fn the_lifecycle_through_the_file_fallback() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &["--auto-approve"]);
    let (stdout, stderr) = login_saving(&env, &stand_in, &[]);
    // Piped with --save: no key on stdout, where it went instead.
    let saved = json(&stdout);
    assert!(saved.get("key").is_none(), "{saved}");
    assert_eq!(
        saved["profile"], "stand-in",
        "a stand-in key stays off real profiles"
    );
    assert_eq!(saved["storage"]["kind"], "file", "{saved}");
    assert!(
        stderr.contains("Not in the system keyring"),
        "the fallback is not said: {stderr}"
    );
    let file = std::path::PathBuf::from(saved["storage"]["path"].as_str().unwrap());
    let dir = file.parent().unwrap();
    assert!(file.starts_with(env.home().join(".local/share/openrouter-pkce")));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(dir), 0o700);
        assert_eq!(mode(&dir.join("stand-in.json")), 0o600);
    }
    // No temporary files left beside it (written atomically).
    let names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    let meta = std::fs::read_to_string(dir.join("stand-in.json")).unwrap();
    let issued = issued_keys(&stand_in);
    assert_eq!(issued.len(), 1);
    assert!(!meta.contains(&issued[0]), "the metadata holds the key");

    let trace = [("RUST_LOG", "trace")];
    let run_traced = |args: &[&str]| {
        let mut cmd = env.command();
        cmd.args(args).envs(trace);
        let (status, stdout, stderr) = run(cmd);
        assert!(!stderr.contains(&issued[0]), "{args:?} logged the key");
        (status.code(), stdout, stderr)
    };
    // `key`: the key alone, the one the stand-in issued.
    let (code, stdout, _) = run_traced(&["key", "--profile", "stand-in"]);
    assert_eq!(code, Some(0));
    assert_eq!(stdout, format!("{}\n", issued[0]));
    // `status`: OpenRouter's view of the key, as JSON when piped, without the key.
    let (code, stdout, stderr) = run_traced(&["status", "--profile", "stand-in"]);
    assert_eq!(code, Some(0), "{stderr}");
    let status = json(&stdout);
    assert_eq!(status["key"]["usage"], 0.25, "{status}");
    assert_eq!(status["key"]["limit_remaining"], 9.75);
    assert_eq!(status["user_id"], "user_standin");
    assert!(!stdout.contains(&issued[0]));
    // `logout`: gone, with the reminder that the key still exists on the account (for a key
    // from the real OpenRouter; a stand-in's exists nowhere).
    let meta_path = dir.join("stand-in.json");
    let mut meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&meta_path).unwrap()).unwrap();
    meta["openrouter_url"] = "https://openrouter.ai/".into();
    std::fs::write(&meta_path, meta.to_string()).unwrap();
    let (code, stdout, stderr) = run_traced(&["logout", "--profile", "stand-in"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(json(&stdout)["removed"], true);
    assert!(
        stderr.contains("https://openrouter.ai/settings/keys"),
        "{stderr}"
    );
    assert!(!file.exists() && !dir.join("stand-in.json").exists());
    // Then: `key` fails with its own exit code and says what to do; `logout` has nothing to do.
    let (code, stdout, stderr) = command(&env, &["key", "--profile", "stand-in"]);
    assert_eq!(code, Some(10), "{stderr}");
    assert!(stdout.is_empty());
    assert!(stderr.contains("run `openrouter-pkce login"), "{stderr}");
    let (code, stdout, stderr) = command(&env, &["logout", "--profile", "stand-in"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(json(&stdout)["removed"], false);
    assert!(stderr.contains("Nothing is saved"), "{stderr}");
}

/// Windows: the lifecycle through the Credential Manager: saved there (nothing key-shaped on
/// disk), read back by `key`, removed by `logout`, after which `key` exits 10.
#[cfg(windows)]
#[test]
fn the_lifecycle_through_the_credential_manager() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &["--auto-approve"]);
    // The Credential Manager is the account's, not this test's HOME: a name of our own.
    let profile = format!("lifecycle-{}", std::process::id());
    let (stdout, _) = login_saving(&env, &stand_in, &["--profile", &profile]);
    let saved = json(&stdout);
    assert_eq!(saved["storage"]["kind"], "keyring", "{saved}");
    let issued = issued_keys(&stand_in);
    let data = env.home().join(".local/share/openrouter-pkce/profiles");
    for entry in std::fs::read_dir(&data).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        assert!(!text.contains(&issued[0]), "the key is on disk");
    }
    let (code, stdout, stderr) = command(&env, &["key", "--profile", &profile]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, format!("{}\n", issued[0]));
    let (code, stdout, stderr) = command(&env, &["logout", "--profile", &profile]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(json(&stdout)["removed"], true);
    let (code, _, stderr) = command(&env, &["key", "--profile", &profile]);
    assert_eq!(code, Some(10), "{stderr}");
}

/// `status` tells a rejected key (revoked on the keys page) from an OpenRouter that does not
/// answer, and `key`/`status` without a saved key exit 10.
#[test]
fn status_reports_a_rejected_key_and_an_offline_openrouter() {
    let _turn = account_store_turn();
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &["--auto-approve"]);
    let (code, _, stderr) = command(&env, &["status"]);
    assert_eq!(code, Some(10), "{stderr}");
    login_saving(&env, &stand_in, &["--profile", "work"]);
    let revoke = format!("{}/_standin/revoke", stand_in.url.trim_end_matches('/'));
    let (status, _, _) = request("POST", &revoke, None);
    assert!((200..300).contains(&status), "revoke: {status}");
    let (code, _, stderr) = command(&env, &["status", "--profile", "work"]);
    assert_eq!(code, Some(5), "{stderr}");
    assert!(
        stderr.contains("the saved key was rejected") && stderr.contains("login"),
        "{stderr}"
    );
    drop(stand_in);
    let (code, _, stderr) = command(&env, &["status", "--profile", "work"]);
    assert_eq!(code, Some(6), "{stderr}");
}

/// Piped, `login` keeps its contract (the key as JSON, nothing saved) unless told `--save`;
/// on a terminal a stand-in key is still not saved by default; `--no-save` and `--save` win.
#[test]
fn what_login_saves_by_default() {
    let _turn = account_store_turn();
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &["--auto-approve"]);
    let profiles = env.home().join(".local/share/openrouter-pkce/profiles");
    let cmd = env.with_browser("login", &stand_in.url);
    let (status, stdout, stderr) = run(cmd);
    assert!(status.success(), "{stderr}");
    assert_standin_key(&stdout);
    let saved = std::fs::read_dir(&profiles).map(|d| d.count()).unwrap_or(0);
    assert_eq!(saved, 0, "a piped login saved its key");
    let (code, _, stderr) = command(&env, &["login", "--save", "--no-save"]);
    assert_eq!(code, Some(2), "{stderr}");
    let (code, _, stderr) = command(&env, &["login", "--save", "--output", "k.json"]);
    assert_eq!(code, Some(2), "{stderr}");
    let (code, _, stderr) = command(&env, &["key", "--profile", "../etc"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--profile"), "{stderr}");
    // On a terminal (a pty: Unix): a stand-in key is shown, not saved; with --save it is.
    #[cfg(unix)]
    for (extra, saves) in [("", false), ("--save", true)] {
        if !pty_available() {
            return;
        }
        let login = on_pty(
            &env,
            &format!(
                "login --no-browser --callback-scheme http --openrouter-url {} --port 0 --timeout 20 {extra}",
                stand_in.url
            ),
            &[],
        );
        let url = login.wait_stdout_match("the URL", url_in);
        assert_eq!(follow(&url), "200");
        let (status, out, _) = login.finish();
        assert!(status.success(), "{out}");
        assert_eq!(out.contains("key saved in"), saves, "{extra}: {out}");
        assert_eq!(out.contains("\"key\":"), !saves, "{extra}: {out}");
    }
}

/// Against a real Secret Service (gnome-keyring under dbus-run-session, unlocked): the key is
/// stored in the keyring, where an independent tool (`secret-tool`) finds it, read back by
/// `key`, and deleted by `logout`; no file holds it.
#[cfg(target_os = "linux")] // Secret Service; Windows: the_lifecycle_through_the_credential_manager
#[test]
fn the_lifecycle_through_a_real_secret_service() {
    let found = ["dbus-run-session", "gnome-keyring-daemon", "secret-tool"]
        .iter()
        .all(|tool| {
            Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .is_ok_and(|o| o.status.success())
        });
    if !require(
        "dbus-run-session, gnome-keyring-daemon and secret-tool (apt-get install dbus gnome-keyring libsecret-tools)",
        found,
    ) {
        return;
    }
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &["--auto-approve"]);
    let out = env.home().join("out");
    std::fs::create_dir_all(&out).unwrap();
    // One D-Bus session for the whole lifecycle, its keyring unlocked with a throwaway password.
    let script = format!(
        r#"set -u
echo -n throwaway | gnome-keyring-daemon --unlock --components=secrets > /dev/null
"{bin}" login --save --profile kr --openrouter-url "{url}" --port 0 --timeout 20 > "{out}/login.json" 2> "{out}/login.err"
echo $? > "{out}/login.rc"
secret-tool lookup service openrouter-pkce username kr > "{out}/lookup.txt"
"{bin}" key --profile kr > "{out}/key.txt"
mkdir -m 700 "{out}/nobus"
env -u DBUS_SESSION_BUS_ADDRESS XDG_RUNTIME_DIR="{out}/nobus" "{bin}" login --save --profile kr --openrouter-url "{url}" --port 0 --timeout 20 > "{out}/login2.json" 2> "{out}/login2.err"
"{bin}" logout --profile kr > "{out}/logout.json" 2> "{out}/logout.err"
secret-tool lookup service openrouter-pkce username kr > "{out}/after.txt"
echo $? > "{out}/after.rc"
"{bin}" key --profile kr > /dev/null 2>&1
echo $? > "{out}/key-after.rc"
"#,
        bin = BIN,
        url = stand_in.url,
        out = out.display(),
    );
    let mut cmd = env.command();
    let cmd = {
        let mut session = Command::new("dbus-run-session");
        session
            .args(["--", "sh", "-c", &script])
            .env_clear()
            .envs(cmd.get_envs().filter_map(|(k, v)| Some((k, v?))))
            .env("BROWSER", env.browser_script());
        cmd = session;
        cmd
    };
    let (status, _, stderr) = run(cmd);
    assert!(status.success(), "{stderr}");
    let read = |name: &str| std::fs::read_to_string(out.join(name)).unwrap_or_default();
    assert_eq!(read("login.rc").trim(), "0", "{}", read("login.err"));
    let saved = json(&read("login.json"));
    assert_eq!(
        saved["storage"]["kind"],
        "keyring",
        "{saved} {}",
        read("login.err")
    );
    let issued = issued_keys(&stand_in);
    assert_eq!(issued.len(), 2, "two logins");
    assert_eq!(
        read("lookup.txt").trim(),
        issued[0],
        "secret-tool found another secret"
    );
    assert_eq!(read("key.txt").trim(), issued[0]);
    assert!(
        !read("login.err").contains("Not in the system keyring"),
        "{}",
        read("login.err")
    );
    // A later save without a keyring went to the file, said an older copy may remain in the
    // keyring, and logout (with the keyring back) removed that copy too.
    assert_eq!(
        json(&read("login2.json"))["storage"]["kind"],
        "file",
        "{}",
        read("login2.err")
    );
    assert!(
        read("login2.err").contains("older key"),
        "{}",
        read("login2.err")
    );
    assert_eq!(json(&read("logout.json"))["removed"], true);
    assert!(
        read("after.txt").is_empty(),
        "still in the keyring after logout"
    );
    assert_ne!(read("after.rc").trim(), "0");
    assert_eq!(read("key-after.rc").trim(), "10");
}

fn profiles_dir(env: &TestEnv) -> std::path::PathBuf {
    env.home().join(".local/share/openrouter-pkce/profiles")
}

#[cfg(unix)]
fn set_mode(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[cfg(unix)]
fn mode_of(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Saved keys live only in a private directory of the user's: one whose mode is too open is
/// made private again before a key goes in; files in a directory others can write are not
/// trusted (their metadata says where `status` sends the key); a symlinked directory is
/// refused, and the key then reaches stdout instead of being lost.
#[cfg(unix)]
#[test]
fn saved_keys_only_live_in_a_private_directory() {
    let _turn = account_store_turn();
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &["--auto-approve"]);
    let dir = profiles_dir(&env);
    std::fs::create_dir_all(&dir).unwrap();
    set_mode(dir.parent().unwrap(), 0o700);
    set_mode(&dir, 0o777);
    // Open to others before we ever used it: refused before any browser opens, and left as
    // it is (never quietly repaired: something may already be planted in it).
    let mut cmd = env.with_browser("login", &stand_in.url);
    cmd.arg("--save");
    let (status, stdout, stderr) = run(cmd);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot be trusted"), "{stderr}");
    assert!(stdout.is_empty());
    assert!(issued_keys(&stand_in).is_empty(), "a key was minted anyway");
    assert_eq!(mode_of(&dir), 0o777, "the open directory was repaired");
    std::fs::remove_dir(&dir).unwrap();
    login_saving(&env, &stand_in, &[]);
    assert_eq!(mode_of(&dir), 0o700);
    // Opened up afterwards (someone could have swapped the metadata): not trusted.
    set_mode(&dir, 0o770);
    let (code, stdout, stderr) = command(&env, &["key", "--profile", "stand-in"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stdout.is_empty());
    assert!(stderr.contains("cannot be trusted"), "{stderr}");
    // logout still clears it.
    let (code, _, stderr) = command(&env, &["logout", "--profile", "stand-in"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!dir.join("stand-in.key").exists());
    // A symlink in place of the directory: refused before any browser opens (nothing minted).
    std::fs::remove_dir_all(&dir).unwrap();
    let elsewhere = env.home().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &dir).unwrap();
    let minted = issued_keys(&stand_in).len();
    let mut cmd = env.with_browser("login", &stand_in.url);
    cmd.arg("--save");
    let (status, stdout, stderr) = run(cmd);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("symbolic link"), "{stderr}");
    assert!(stdout.is_empty());
    assert_eq!(
        issued_keys(&stand_in).len(),
        minted,
        "a key was minted anyway"
    );
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
}

/// The key is always read from the profile's own file, never from a path its metadata names;
/// unreadable metadata makes `key` say what to do, and `logout` clears it anyway.
#[test]
fn metadata_cannot_redirect_the_key_and_a_broken_one_is_cleared() {
    let _turn = account_store_turn();
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &["--auto-approve"]);
    login_saving(&env, &stand_in, &[]);
    let meta_path = profiles_dir(&env).join("stand-in.json");
    let decoy = env.home().join("decoy.key");
    std::fs::write(&decoy, "sk-or-v1-decoy\n").unwrap();
    let mut meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&meta_path).unwrap()).unwrap();
    meta["storage"]["path"] = decoy.display().to_string().into();
    std::fs::write(&meta_path, meta.to_string()).unwrap();
    let (code, stdout, _) = command(&env, &["key", "--profile", "stand-in"]);
    assert_eq!(code, Some(0));
    assert_eq!(stdout.trim(), issued_keys(&stand_in)[0]);
    std::fs::write(&meta_path, "garbage").unwrap();
    let (code, _, stderr) = command(&env, &["key", "--profile", "stand-in"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("remove the profile stand-in (logout)"),
        "{stderr}"
    );
    let (code, stdout, stderr) = command(&env, &["logout", "--profile", "stand-in"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(json(&stdout)["removed"], true);
    assert!(!meta_path.exists() && !profiles_dir(&env).join("stand-in.key").exists());
}

/// `status` shows what it can of an odd reply: fields of the wrong type are left out, text is
/// cut short and loses terminal escapes; never a failure for one bad field.
#[test]
fn status_reads_an_odd_reply_field_by_field() {
    let _turn = account_store_turn();
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &["--auto-approve"]);
    login_saving(&env, &stand_in, &[]);
    let app = axum::Router::new().route(
        "/api/v1/key",
        axum::routing::get(|| async {
            axum::Json(serde_json::json!({"data": {
                "label": format!("\u{1b}]0;TITLE\u{7}{}", "L".repeat(60_000)),
                "limit": "10",
                "usage": 1.5,
                "limit_reset": 5,
                "is_free_tier": true,
                "brand_new_field": {"x": 1}
            }}))
        }),
    );
    let (addr, _rt) = serve_in_background(app);
    let meta_path = profiles_dir(&env).join("stand-in.json");
    let mut meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&meta_path).unwrap()).unwrap();
    meta["openrouter_url"] = format!("http://{addr}/").into();
    std::fs::write(&meta_path, meta.to_string()).unwrap();
    let (code, stdout, stderr) = command(&env, &["status", "--profile", "stand-in"]);
    assert_eq!(code, Some(0), "{stderr}");
    let status = json(&stdout);
    assert_eq!(status["key"]["usage"], 1.5);
    assert!(
        status["key"]["limit"].is_null(),
        "a string limit is left out"
    );
    assert_eq!(status["key"]["is_free_tier"], true);
    let label = status["key"]["label"].as_str().unwrap();
    assert_eq!(label.chars().count(), 100, "the label is cut short");
    assert!(
        !label.contains('\u{1b}') && !label.contains("TITLE"),
        "{label}"
    );
}

/// A user id from OpenRouter is shown without terminal escapes (a window title, a cleared
/// screen) and cut short.
#[test]
fn a_hostile_user_id_is_shown_harmlessly() {
    let env = TestEnv::new();
    let app = axum::Router::new()
        .route(
            "/auth",
            axum::routing::get(
                |q: axum::extract::Query<std::collections::HashMap<String, String>>| async move {
                    let target = format!("{}?code=the-code", q["callback_url"]);
                    axum::response::Redirect::to(&target)
                },
            ),
        )
        .route(
            "/api/v1/auth/keys",
            axum::routing::post(|| async {
                axum::Json(serde_json::json!({
                    "key": "sk-or-v1-hostile-but-fine",
                    "user_id": format!("\u{1b}]0;PWNED\u{7}\u{1b}[2Juser{}", "x".repeat(500))
                }))
            }),
        )
        .fallback(|| async { "" });
    let (addr, _rt) = serve_in_background(app);
    let login = Running::spawn(env.login_no_browser(&format!("http://{addr}"), 0, &[]));
    assert_eq!(follow(&login.wait_authorize_url()), "200");
    let (status, stdout, stderr) = login.finish();
    assert!(status.success(), "{stderr}");
    assert!(stdout.contains("sk-or-v1-hostile-but-fine"));
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
    assert!(!stderr.contains("PWNED"), "{stderr}");
    let line = stderr.lines().find(|l| l.contains("Logged in as")).unwrap();
    assert!(line.chars().count() < 200, "{line}");
}

/// The key store trusts nothing planted (Unix: modes and owners): a directory that was open
/// to others is refused, never quietly made private again; metadata another user owns is
/// never read; and the OpenRouter URL in the metadata obeys `--openrouter-url`'s rule on every
/// read, so nothing is sent to where a planted file points.
#[cfg(unix)]
#[test]
fn the_key_store_trusts_nothing_planted() {
    let _turn = account_store_turn();
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &["--auto-approve"]);
    login_saving(&env, &stand_in, &[]);
    let data = env.home().join(".local/share/openrouter-pkce");
    let profiles = data.join("profiles");
    let meta = profiles.join("stand-in.json");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let chmod = |p: &std::path::Path, m: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap()
    };

    // A mistaken chmod: saving under another profile is refused, and nothing is repaired.
    chmod(&profiles, 0o777);
    let mut cmd = env.with_browser("login", &stand_in.url);
    cmd.args(["--save", "--profile", "other"]);
    let (status, stdout, stderr) = run(cmd);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&profiles.display().to_string()), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert_eq!(mode(&profiles), 0o777, "the directory was quietly repaired");
    let (code, _, stderr) = command(&env, &["status", "--profile", "stand-in"]);
    assert_eq!(code, Some(1), "{stderr}");
    chmod(&profiles, 0o700);

    // Metadata that belongs to another user is not read (giving a file away takes root).
    // SAFETY: geteuid has no preconditions.
    if require(
        "root, to give a file to another user",
        unsafe { libc::geteuid() } == 0,
    ) {
        let nobody = 65534;
        std::os::unix::fs::chown(&meta, Some(nobody), Some(nobody)).unwrap();
        let (code, _, stderr) = command(&env, &["status", "--profile", "stand-in"]);
        assert_eq!(code, Some(1), "{stderr}");
        assert!(stderr.contains("not trusting"), "{stderr}");
        assert!(stderr.contains("belongs to uid 65534"), "{stderr}");
        std::os::unix::fs::chown(&meta, Some(0), Some(0)).unwrap();
    }

    // A URL the --openrouter-url rule refuses: exit 2 naming the file, nothing sent.
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&meta).unwrap()).unwrap();
    doc["openrouter_url"] = "http://example.invalid/".into();
    std::fs::write(&meta, doc.to_string()).unwrap();
    chmod(&meta, 0o600);
    for args in [
        ["status", "--profile", "stand-in"],
        ["key", "--profile", "stand-in"],
    ] {
        let (code, stdout, stderr) = command(&env, &args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(&meta.display().to_string()), "{stderr}");
        assert!(stdout.is_empty(), "{stdout}");
    }
    // logout still clears it (it sends nothing).
    let (code, _, stderr) = command(&env, &["logout", "--profile", "stand-in"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!meta.exists());
}
