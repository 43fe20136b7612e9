//! An embedded login with the system browser: the URL goes to `$BROWSER` (never on its command
//! line), and the events stream ends with the login's outcome even while the browser command
//! has not returned yet. Alone in its test binary, because it sets `BROWSER` for the process.
#![cfg(unix)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use openrouter_pkce::{Event, Login, StandIn};

use common::*;

#[tokio::test]
async fn the_stream_ends_with_the_outcome_while_the_browser_command_still_runs() {
    let env = TestEnv::new();
    // A browser command that records its arguments and takes its time to return.
    let script = env.home().join("slow-browser");
    let args = env.home().join("browser-args");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$@\" > '{}'\nsleep 5\n", args.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    // SAFETY: set before the login starts any thread that reads the environment; this is the
    // binary's only test.
    unsafe { std::env::set_var("BROWSER", &script) };

    let stand_in = StandIn::start().await.unwrap();
    let mut login = Login::builder()
        .openrouter_url(stand_in.url())
        .port(0)
        .config_dir(env.config_dir())
        .build()
        .unwrap();
    let mut events = login.events();
    let running = tokio::spawn(login.run());
    loop {
        match events
            .recv()
            .await
            .expect("the stream ended before the outcome")
        {
            Event::AuthorizeUrl { url, .. } => {
                // The browser was handed a page, not the URL with the login's state.
                // Polled without blocking the runtime, which runs the browser command too.
                let seen = tokio::time::timeout(Duration::from_secs(10), async {
                    loop {
                        match std::fs::read_to_string(&args) {
                            Ok(seen) if seen.ends_with('\n') => break seen,
                            _ => tokio::time::sleep(Duration::from_millis(10)).await,
                        }
                    }
                })
                .await
                .expect("the browser command did not run");
                assert!(!seen.contains("state="), "{seen}");
                stand_in.approve(&url).await.unwrap();
            }
            Event::Succeeded { .. } => break,
            Event::Error { message, .. } => panic!("{message}"),
            _ => {}
        }
    }
    running.await.unwrap().unwrap();
    // The browser command is still sleeping; the stream does not wait for it.
    let after = tokio::time::timeout(Duration::from_secs(3), events.recv()).await;
    assert_eq!(after, Ok(None), "the stream went on after the outcome");
}
