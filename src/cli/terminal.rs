//! The command-line program's [`Reporter`]: what a person (or an app reading stderr) sees while
//! a command runs. Prose for people (colour and a spinner only on a terminal, never with
//! `NO_COLOR`), or under `--events` one JSON object per line ([`Event`]) and no prose at all.
//! One value, made in `main` and passed down: every line goes through it, so two modes can
//! never be mixed on one stream, and nothing about output is process-wide.

use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anstyle::{AnsiColor, Style};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::error::Error;
use crate::report::{Event, Reporter};

/// stderr for a person, or for an app under `--events`.
#[derive(Debug, Default)]
pub struct Terminal {
    /// NDJSON events instead of prose (`--events`).
    events: AtomicBool,
    /// The spinner on screen, if any: other lines are printed above it, not through it.
    spinner: Mutex<Option<ProgressBar>>,
}

impl Terminal {
    /// Prose on stderr (colour and spinner where stderr is a terminal).
    pub fn prose() -> Self {
        Self::default()
    }

    /// Switches stderr to NDJSON events for the rest of the command (`--events`).
    pub fn use_events(&self) {
        self.events.store(true, Ordering::Relaxed);
    }

    /// Whether stderr carries events instead of prose.
    pub fn events(&self) -> bool {
        self.events.load(Ordering::Relaxed)
    }

    fn spinner(&self) -> std::sync::MutexGuard<'_, Option<ProgressBar>> {
        self.spinner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes raw text to stderr, above the spinner if one is showing. A closed or full stderr
    /// is ignored: the release build aborts on panic, and a person piping our messages into
    /// `head` must not kill a login.
    fn write_stderr(&self, text: &str) {
        let write = || {
            let mut err = anstream::stderr().lock();
            let _ = err.write_all(text.as_bytes());
            let _ = err.flush();
        };
        match self.spinner().as_ref() {
            Some(bar) => bar.suspend(write),
            None => write(),
        }
    }

    /// Writes `event` as one JSON line, in events mode only.
    pub fn emit(&self, event: &Event) {
        if !self.events() {
            return;
        }
        if let Ok(line) = crate::report::events::to_json_line(event) {
            self.write_stderr(&line);
        }
    }

    /// The end of a failed command: "error: …" in red (or just "cancelled"), or an `error`
    /// event; the message carries the CLI's own hint (a flag, a command to run).
    pub fn failed(&self, error: &Error, context: crate::cli::hints::Context) {
        self.stop_spinner();
        let message = crate::cli::hints::message(error, context);
        if self.events() {
            self.emit(&Event::Error {
                code: error.kind(),
                exit_code: error.exit_code(),
                message,
            });
            return;
        }
        // A command `exec` ran has spoken for itself.
        if matches!(error, Error::ChildExited { message: None, .. }) {
            return;
        }
        if matches!(error, Error::Interrupted) {
            self.write_stderr("cancelled\n");
            return;
        }
        let red = Style::new().fg_color(Some(AnsiColor::Red.into())).bold();
        self.write_stderr(&format!("{red}error:{red:#} {message}\n"));
    }

    /// Whether a spinner can be shown: prose mode with stderr on a terminal.
    pub fn interactive_stderr(&self) -> bool {
        use std::io::IsTerminal;
        !self.events() && std::io::stderr().is_terminal()
    }

    /// Shows `bar` as the spinner (replacing any other).
    fn start_spinner(&self, bar: ProgressBar) {
        if let Some(old) = self.spinner().replace(bar) {
            old.finish_and_clear();
        }
    }

    /// A spinner with `message` while something slow runs (on a terminal only); cleared by
    /// [`stop_spinner`](Self::stop_spinner).
    pub fn busy(&self, message: &str) {
        if !self.interactive_stderr() {
            return;
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
            .with_style(ProgressStyle::default_spinner())
            .with_message(message.to_owned());
        bar.enable_steady_tick(Duration::from_millis(120));
        self.start_spinner(bar);
    }

    /// Clears the spinner, if one is showing.
    pub fn stop_spinner(&self) {
        if let Some(bar) = self.spinner().take() {
            bar.finish_and_clear();
        }
    }
}

impl Reporter for Terminal {
    fn event(&self, event: &Event) {
        self.emit(event);
    }

    /// One line for the person; in events mode, a `notice` event instead.
    fn say(&self, line: &str) {
        if self.events() {
            self.emit(&Event::Notice {
                message: line.trim().to_owned(),
            });
        } else {
            self.write_stderr(&format!("{line}\n"));
        }
    }

    /// "✓ text" with the tick in green (prose only).
    fn done(&self, line: &str) {
        if !self.events() {
            let green = Style::new().fg_color(Some(AnsiColor::Green.into())).bold();
            self.write_stderr(&format!("{green}✓{green:#} {line}\n"));
        }
    }

    /// The spinner with the time left until `deadline` (on a terminal only).
    fn waiting(&self, deadline: std::time::Instant) {
        if !self.interactive_stderr() {
            return;
        }
        let style = ProgressStyle::with_template("{spinner} {msg} {left}, Ctrl-C to cancel")
            .unwrap_or_else(|_| ProgressStyle::default_spinner())
            .with_key(
                "left",
                move |_: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let left = deadline.saturating_duration_since(std::time::Instant::now());
                    let _ = write!(w, "{} left", clock(left));
                },
            );
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
            .with_style(style)
            .with_message("Waiting for you to approve in the browser…");
        bar.enable_steady_tick(Duration::from_millis(120));
        self.start_spinner(bar);
    }

    fn scheme_note(&self, note: crate::report::SchemeNote) {
        self.say(crate::cli::hints::scheme_note(note));
    }

    fn idle(&self) {
        self.stop_spinner();
    }

    fn prose(&self) -> bool {
        !self.events()
    }

    fn reads_terminal(&self) -> bool {
        !self.events()
    }
}

/// `m:ss` for a countdown.
fn clock(left: Duration) -> String {
    let secs = left.as_secs();
    format!("{}:{:02}", secs / 60, secs % 60)
}

#[cfg(test)]
mod tests {
    #[test]
    fn countdown_reads_minutes_and_seconds() {
        use std::time::Duration;
        assert_eq!(super::clock(Duration::from_secs(291)), "4:51");
        assert_eq!(super::clock(Duration::from_secs(9)), "0:09");
        assert_eq!(super::clock(Duration::from_millis(900)), "0:00");
    }
}
