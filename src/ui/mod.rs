//! What a person (or an app reading stderr) sees while a command runs.
//!
//! Two modes, chosen once at start-up: prose for people (colour and a spinner only on a
//! terminal, never with `NO_COLOR`), or `--events`, where stderr carries one JSON object per
//! line ([`events::Event`]) and no prose at all. Every message goes through here (the crate's
//! `say!` macro), so the two can never be mixed on one stream.

pub mod events;
pub mod progress;

use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use anstyle::{AnsiColor, Style};
use indicatif::ProgressBar;

use crate::error::Error;
use events::Event;

static EVENTS: AtomicBool = AtomicBool::new(false);
/// The spinner on screen, if any: other lines are printed above it, not through it.
static SPINNER: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Switches stderr to NDJSON events for the rest of the process (`--events`).
pub fn use_events() {
    EVENTS.store(true, Ordering::Relaxed);
}

/// Whether stderr carries events instead of prose.
pub fn events() -> bool {
    EVENTS.load(Ordering::Relaxed)
}

fn spinner() -> std::sync::MutexGuard<'static, Option<ProgressBar>> {
    SPINNER.lock().unwrap_or_else(|p| p.into_inner())
}

/// Writes raw text to stderr, above the spinner if one is showing. A closed or full stderr
/// is ignored: the release build aborts on panic, and a person piping our messages into
/// `head` must not kill a login.
fn write_stderr(text: &str) {
    let write = || {
        let mut err = anstream::stderr().lock();
        let _ = err.write_all(text.as_bytes());
        let _ = err.flush();
    };
    match spinner().as_ref() {
        Some(bar) => bar.suspend(write),
        None => write(),
    }
}

/// One line for the person (the `say!` macro); in events mode, a `notice` event instead.
pub fn say(args: std::fmt::Arguments<'_>) {
    let text = args.to_string();
    if events() {
        emit(&Event::Notice {
            message: text.trim(),
        });
    } else {
        write_stderr(&format!("{text}\n"));
    }
}

/// Writes `event` as one JSON line, in events mode only.
pub fn emit(event: &Event<'_>) {
    if !events() {
        return;
    }
    if let Ok(line) = serde_json::to_string(event) {
        write_stderr(&format!("{line}\n"));
    }
}

/// A step done: "✓ text" with the tick in green (prose only).
pub fn done(text: &str) {
    if !events() {
        let green = Style::new().fg_color(Some(AnsiColor::Green.into())).bold();
        write_stderr(&format!("{green}✓{green:#} {text}\n"));
    }
}

/// The end of a failed command: "error: …" in red (or just "cancelled"), or an `error` event.
pub fn failed(error: &Error) {
    stop_spinner();
    if events() {
        emit(&Event::error(error));
        return;
    }
    if matches!(error, Error::Interrupted) {
        write_stderr("cancelled\n");
        return;
    }
    let red = Style::new().fg_color(Some(AnsiColor::Red.into())).bold();
    write_stderr(&format!("{red}error:{red:#} {error}\n"));
}

/// Whether a spinner can be shown: prose mode with stderr on a terminal.
pub fn interactive_stderr() -> bool {
    use std::io::IsTerminal;
    !events() && std::io::stderr().is_terminal()
}

/// Shows `bar` as the spinner (replacing any other).
fn start_spinner(bar: ProgressBar) {
    if let Some(old) = spinner().replace(bar) {
        old.finish_and_clear();
    }
}

/// A spinner with `message` while something slow runs (on a terminal only); cleared by
/// [`stop_spinner`].
pub fn busy(message: &str) {
    if !interactive_stderr() {
        return;
    }
    let bar = ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr())
        .with_message(message.to_owned());
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    start_spinner(bar);
}

/// Clears the spinner, if one is showing.
pub fn stop_spinner() {
    if let Some(bar) = spinner().take() {
        bar.finish_and_clear();
    }
}
