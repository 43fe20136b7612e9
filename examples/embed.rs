//! How a desktop app (Tauri, egui, iced…) embeds the login: start it from a button, show its
//! progress in the window, keep the key, and cancel by aborting the task.
//!
//! ```text
//! cargo run --example embed              # a real login at openrouter.ai, in your browser
//! cargo run --example embed -- --stand-in  # offline, against the built-in stand-in (CI runs this)
//! ```

use std::time::Duration;

use openrouter_pkce::{Browser, Event, Login, StandIn};

/// What the app's window would show; here, lines on stdout.
fn show(status: &str) {
    println!("[window] {status}");
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(std::env::args().any(|a| a == "--stand-in")).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            show(&format!("Login failed: {e}"));
            // The same numbers as the command-line program, for an app that reports them.
            std::process::ExitCode::from(e.exit_code())
        }
    }
}

async fn run(offline: bool) -> openrouter_pkce::Result<()> {
    // Offline: an OpenRouter stand-in in this process, and a throwaway config directory so
    // the example never touches the user's local CA.
    let stand_in = if offline {
        Some(StandIn::start().await?)
    } else {
        None
    };
    // A fresh directory of our own (a predictable name in /tmp could be someone else's).
    let scratch = tempfile::tempdir().expect("a temporary directory");

    let mut builder = Login::builder().timeout(Duration::from_secs(180));
    if let Some(stand_in) = &stand_in {
        builder = builder
            .openrouter_url(stand_in.url())
            .port(0)
            .browser(Browser::None)
            .config_dir(scratch.path().join("ca"));
    }
    let mut login = builder.build()?;
    let mut events = login.events();

    // The login runs on its own task; the window stays responsive. `task.abort()` cancels the
    // login and closes its port, e.g. when the person closes the window (dropping the
    // JoinHandle would only detach the task). An egui app reads `events.try_recv()` in its
    // `update` instead of awaiting.
    let task = tokio::spawn(login.run());

    while let Some(event) = events.recv().await {
        match event {
            Event::AuthorizeUrl { url, expires_at } => {
                show(&format!(
                    "Approve in your browser (until {expires_at}), or open: {url}"
                ));
                if let Some(stand_in) = &stand_in {
                    // Offline there is no person: the stand-in's "browser" approves.
                    stand_in.approve(&url).await?;
                }
            }
            Event::BrowserFailed { message } => show(&format!("No browser opened: {message}")),
            Event::CallbackReceived => show("Approved: creating your key…"),
            Event::Notice { message } => show(&message),
            Event::Error { message, .. } => show(&format!("Stopped: {message}")),
            _ => {}
        }
    }
    let key = task.await.expect("the login task ends without panicking")?;
    // A real app stores the key in the OS keyring; never in a log.
    show(&format!(
        "Logged in{}; the key has {} characters.",
        key.user_id()
            .map(|u| format!(" as {u}"))
            .unwrap_or_default(),
        key.expose_secret().len()
    ));
    Ok(())
}
