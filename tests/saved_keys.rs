//! `SavedKeys`: an app and the CLI share one saved key. Alone in its test binary, because it
//! points this process's HOME and XDG directories at a temporary one (the store reads them).
#![cfg(unix)]

mod common;

use openrouter_pkce::{ApiKey, Error, SavedKeys};

use common::*;

#[test]
fn a_key_saved_by_the_app_is_the_clis_and_back() {
    let env = TestEnv::new();
    // SAFETY: this test binary has this one test, and nothing else reads the environment
    // while it is changed (before any thread of ours starts).
    unsafe {
        std::env::set_var("HOME", env.home());
        std::env::set_var("XDG_CONFIG_HOME", env.home().join("config"));
        std::env::set_var("XDG_STATE_HOME", env.home().join("state"));
        std::env::set_var("XDG_RUNTIME_DIR", env.home().join("runtime"));
        std::env::remove_var("XDG_DATA_HOME");
        // No keyring answers: the 0600 file, as on a machine without a Secret Service.
        std::env::remove_var("DBUS_SESSION_BUS_ADDRESS");
    }
    assert!(SavedKeys::load("work").unwrap().is_none());
    let key = ApiKey::new("sk-or-v1-0123456789abcdef0123456789abcdef");
    SavedKeys::save("work", &key, "http://127.0.0.1:9/").unwrap();

    // The CLI reads what the app saved.
    let mut cmd = env.command();
    cmd.args(["key", "--profile", "work"]);
    let (status, stdout, stderr) = run(cmd);
    assert!(status.success(), "{stderr}");
    assert_eq!(stdout.trim(), key.expose_secret());

    // And the app reads it back, with where it came from.
    let saved = SavedKeys::load("work").unwrap().expect("saved");
    assert_eq!(saved.key().expose_secret(), key.expose_secret());
    assert_eq!(saved.openrouter_url(), "http://127.0.0.1:9/");

    // Bad input names the app's parameter, not a CLI flag; nothing is saved.
    let e = SavedKeys::save("../x", &key, "http://127.0.0.1:9/").unwrap_err();
    assert!(
        matches!(
            e,
            Error::BadInput {
                field: "profile",
                ..
            }
        ),
        "{e:?}"
    );
    // What is not a key is not saved (`key` would print it raw).
    for bad in ["", "sk-or-v1-a\n\u{1b}[31mRED", "two words"] {
        let e = SavedKeys::save("other", &ApiKey::new(bad), "http://127.0.0.1:9/").unwrap_err();
        assert!(matches!(e, Error::BadInput { field: "key", .. }), "{e:?}");
    }
    let e = SavedKeys::save("other", &key, "http://0.0.0.0:9/").unwrap_err();
    assert!(matches!(e, Error::BadInput { .. }), "{e:?}");
    assert!(SavedKeys::load("other").unwrap().is_none());

    assert!(SavedKeys::remove("work").unwrap());
    assert!(SavedKeys::load("work").unwrap().is_none());
    let mut cmd = env.command();
    cmd.args(["key", "--profile", "work"]);
    let (status, _, _) = run(cmd);
    assert_eq!(status.code(), Some(10));
}
