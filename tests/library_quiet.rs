//! A library must not act on its host's process: a whole login through it writes nothing to
//! the process's stderr (its notices go to the app's events stream), installs no Ctrl-C
//! handler (the app keeps its own, and cancels a login by dropping it) and no process-wide
//! rustls crypto provider (the app may install its own). Alone in its test binary, because it
//! redirects the process's stderr.
#![cfg(unix)]

mod common;

use std::io::{Read, Seek};
use std::os::fd::AsRawFd;

use openrouter_pkce::{Event, Login, StandIn};

use common::*;

/// The SIGINT handler in force: `SIG_DFL` unless someone installed one.
fn sigint_handler() -> libc::sighandler_t {
    // SAFETY: a null new action only reads the current one into `old`.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        assert_eq!(libc::sigaction(libc::SIGINT, std::ptr::null(), &mut old), 0);
        old.sa_sigaction
    }
}

#[tokio::test]
async fn a_login_prints_nothing_and_takes_no_signal_and_no_crypto_default() {
    assert_eq!(
        sigint_handler(),
        libc::SIG_DFL,
        "the test harness took SIGINT"
    );
    let env = TestEnv::new();
    let stand_in = StandIn::start().await.unwrap();
    // The process's stderr goes to a file for the length of the login.
    let mut captured = tempfile::tempfile().unwrap();
    // SAFETY: dup/dup2 on descriptors this process owns; fd 2 is restored below.
    let saved = unsafe { libc::dup(2) };
    assert!(saved >= 0);
    assert!(unsafe { libc::dup2(captured.as_raw_fd(), 2) } >= 0);

    let mut login = Login::builder()
        .openrouter_url(stand_in.url())
        .port(0)
        .open_browser(false)
        .config_dir(env.config_dir())
        .build()
        .unwrap();
    let mut events = login.events();
    let running = tokio::spawn(login.run());
    let mut notices = Vec::new();
    while let Some(event) = events.recv().await {
        match event {
            Event::AuthorizeUrl { url, .. } => stand_in.approve(&url).await.unwrap(),
            Event::Notice { message } => notices.push(message),
            _ => {}
        }
    }
    let key = running.await.unwrap();

    assert!(unsafe { libc::dup2(saved, 2) } >= 0);
    unsafe { libc::close(saved) };
    key.unwrap();
    let mut written = String::new();
    captured.rewind().unwrap();
    captured.read_to_string(&mut written).unwrap();
    assert_eq!(written, "", "the library wrote to the host's stderr");
    // What the CLI would have said went to the app instead (the untrusted CA's http note).
    assert!(
        notices.iter().any(|n| n.contains("http callback")),
        "{notices:?}"
    );
    assert_eq!(
        sigint_handler(),
        libc::SIG_DFL,
        "the library installed a SIGINT handler"
    );
    assert!(
        rustls::crypto::CryptoProvider::get_default().is_none(),
        "the library installed a process-wide rustls provider"
    );
    // An app that installs its own provider afterwards is not refused.
    assert!(
        rustls::crypto::ring::default_provider()
            .install_default()
            .is_ok()
    );
}
