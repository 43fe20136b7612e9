//! What a person (or an app reading stderr, or an app embedding the library) sees while a
//! command runs.
//!
//! Three modes, chosen once at start-up: quiet for an app embedding the library (the default:
//! a library never writes to the host's stderr; its login's events go to the app's own
//! [`Events`](crate::Events) stream), prose for people (colour and a spinner only on a
//! terminal, never with `NO_COLOR`), or `--events`, where stderr carries one JSON object per
//! line ([`events::Event`]) and no prose at all. Every message goes through here (the crate's
//! `say!` macro), so two can never be mixed on one stream.

pub mod events;
pub mod progress;

use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};

use anstyle::{AnsiColor, Style};
use indicatif::ProgressBar;
use tokio::sync::mpsc::UnboundedSender;

use crate::error::Error;
use events::Event;

/// Nothing on stderr: the library inside someone else's program.
const QUIET: u8 = 0;
/// Lines for a person: the command-line program.
const PROSE: u8 = 1;
/// NDJSON events on stderr: the command-line program under `--events`.
const EVENTS: u8 = 2;

static MODE: AtomicU8 = AtomicU8::new(QUIET);
/// The spinner on screen, if any: other lines are printed above it, not through it.
static SPINNER: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Where an embedded login's events go: the app's [`Events`](crate::Events) stream.
pub type Sink = UnboundedSender<Event>;

tokio::task_local! {
    /// The events stream of the embedded login running on this task, so a `say!` deep in the
    /// flow reaches the app as a `notice` without every layer passing the sink along.
    static SINK: Sink;
}

/// Runs `fut` with its `say!` lines going to `sink` as `notice` events.
pub async fn with_sink<F: std::future::Future>(sink: Sink, fut: F) -> F::Output {
    SINK.scope(sink, fut).await
}

/// The command-line program speaks to a person on stderr (the library stays quiet).
pub fn use_prose() {
    let _ = MODE.compare_exchange(QUIET, PROSE, Ordering::Relaxed, Ordering::Relaxed);
}

/// Switches stderr to NDJSON events for the rest of the process (`--events`).
pub fn use_events() {
    MODE.store(EVENTS, Ordering::Relaxed);
}

/// Whether stderr carries events instead of prose.
pub fn events() -> bool {
    MODE.load(Ordering::Relaxed) == EVENTS
}

/// Whether a person reads stderr: the command-line program, not an app embedding the library.
pub fn prose() -> bool {
    MODE.load(Ordering::Relaxed) == PROSE
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

/// One line for the person (the `say!` macro); in events mode, a `notice` event instead; in
/// an embedded login, a `notice` on the app's stream.
pub fn say(args: std::fmt::Arguments<'_>) {
    let text = args.to_string();
    let _ = SINK.try_with(|sink| {
        sink.send(Event::Notice {
            message: text.trim().to_owned(),
        })
    });
    if events() {
        emit(&Event::Notice {
            message: text.trim().to_owned(),
        });
    } else if prose() {
        write_stderr(&format!("{text}\n"));
    }
}

/// Writes `event` as one JSON line, in events mode only.
pub fn emit(event: &Event) {
    if !events() {
        return;
    }
    if let Ok(line) = serde_json::to_string(event) {
        write_stderr(&format!("{line}\n"));
    }
}

/// A step done: "✓ text" with the tick in green (prose only).
pub fn done(text: &str) {
    if prose() {
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
    if !prose() {
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
    prose() && std::io::stderr().is_terminal()
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
