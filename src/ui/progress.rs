//! One login's progress as the person (or the app, under `--events`) sees it: where to go,
//! whether a browser opened, a spinner with the time left, then each step as it completes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use time::OffsetDateTime;
use url::Url;

use crate::flow::{CallbackBase, Stage};
use crate::ui::events::Event;

/// A login's progress reporter; cheap to clone (the browser opener reports from its own task).
#[derive(Debug, Clone)]
pub struct Progress {
    inner: Arc<Inner>,
}

struct Inner {
    /// The embedding app's events stream, if it asked for one; taken (closing the stream) by
    /// [`Progress::finish`].
    sink: std::sync::Mutex<Option<crate::ui::Sink>>,
    /// The page that hands the URL to the browser (its command line must not carry it): kept
    /// until the login ends, then removed.
    page: std::sync::Mutex<Option<crate::sys::browser::RedirectFile>>,
    /// `login` (a key comes next) or `authorize` (the code bundle is the result).
    exchange: bool,
    callback_seen: AtomicBool,
    /// A line to say once the login has started (not before a failure it has nothing to do
    /// with, such as a busy port).
    note: std::sync::Mutex<Option<&'static str>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress")
            .field("exchange", &self.exchange)
            .finish_non_exhaustive()
    }
}

impl Progress {
    /// A reporter for a login that does (`login`) or does not (`authorize`) exchange.
    pub fn new(exchange: bool) -> Self {
        Self::with_sink(exchange, None)
    }

    /// A reporter that also sends every event to an embedding app's stream.
    pub fn with_sink(exchange: bool, sink: Option<crate::ui::Sink>) -> Self {
        Self {
            inner: Arc::new(Inner {
                sink: std::sync::Mutex::new(sink),
                page: std::sync::Mutex::new(None),
                exchange,
                callback_seen: AtomicBool::new(false),
                note: std::sync::Mutex::new(None),
            }),
        }
    }

    /// Reports `event`: on stderr under `--events`, and on the app's stream if it has one.
    pub fn emit(&self, event: Event) {
        crate::ui::emit(&event);
        if let Some(sink) = self.sink().as_ref() {
            let _ = sink.send(event);
        }
    }

    fn sink(&self) -> std::sync::MutexGuard<'_, Option<crate::ui::Sink>> {
        self.inner.sink.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A sender to the app's stream, for the login's own `say!` lines (none once finished).
    pub fn sink_handle(&self) -> Option<crate::ui::Sink> {
        self.sink().clone()
    }

    /// Sends the login's last event to the app's stream and closes it: whatever a helper task
    /// still reports afterwards (a browser opener that returns late) is not the app's concern.
    /// Only the first call sends.
    pub fn finish(&self, last: Event) {
        if let Some(sink) = self.sink().take() {
            let _ = sink.send(last);
        }
    }

    /// Keeps the browser's redirect page until the login ends.
    pub fn keep_page(&self, page: crate::sys::browser::RedirectFile) {
        *self.inner.page.lock().unwrap_or_else(|p| p.into_inner()) = Some(page);
    }

    /// Keeps `note` to say once the login has started.
    pub fn note_after_start(&self, note: Option<&'static str>) {
        *self.inner.note.lock().unwrap_or_else(|p| p.into_inner()) = note;
    }

    /// The listener the callback comes back to (and the note kept for this moment).
    pub fn listening(&self, base: &CallbackBase) {
        if let Some(note) = self
            .inner
            .note
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            say!("{note}");
        }
        self.emit(Event::Listening {
            port: base.port,
            callback_url: format!(
                "{}://{}:{}/callback/",
                base.scheme.as_str(),
                base.host.as_str(),
                base.port
            ),
        });
    }

    /// The consent page: always shown, so a person whose browser did not open (or opened
    /// somewhere they cannot see) still has the way forward.
    pub fn authorize_url(&self, url: &Url, expires_at: OffsetDateTime, opening: bool) {
        let expires_at = expires_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        self.emit(Event::AuthorizeUrl {
            url: url.to_string(),
            expires_at,
        });
        if !crate::ui::prose() {
            return;
        }
        if opening {
            say!("Opening OpenRouter in your browser to authorize.");
            say!("Open this URL in a browser if none opened, or on another device:\n\n  {url}\n");
        } else {
            say!("Open this URL in a browser, on this or another device:\n\n  {url}\n");
        }
    }

    /// Whether a browser command started (its exit status or spawn error).
    pub fn browser(&self, opened: Result<(), String>) {
        match opened {
            Ok(()) => self.emit(Event::BrowserOpened),
            Err(message) => {
                if crate::ui::prose() {
                    say!("No browser opened ({message}): open the URL above yourself.");
                } else {
                    self.emit(Event::BrowserFailed { message });
                }
            }
        }
    }

    /// Shows the spinner with the time left until `deadline` (on a terminal only).
    pub fn waiting(&self, deadline: std::time::Instant) {
        if !crate::ui::interactive_stderr() {
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
        crate::ui::start_spinner(bar);
    }

    /// The flow moved on: the callback came back and the code is being exchanged.
    pub fn stage(&self, stage: Stage) {
        if stage == Stage::Exchanging {
            self.callback_received();
            self.emit(Event::Exchanging);
        }
    }

    /// The callback arrived (said once).
    fn callback_received(&self) {
        if self.inner.callback_seen.swap(true, Ordering::Relaxed) {
            return;
        }
        crate::ui::stop_spinner();
        self.emit(Event::CallbackReceived);
        if self.inner.exchange {
            crate::ui::done("Approved — creating your key…");
        } else {
            crate::ui::done("Approved — the code was handed over.");
        }
    }

    /// The login ended; `approved` when the browser came back with a code (or a denial).
    pub fn ended(&self, callback_came: bool) {
        if callback_came {
            self.callback_received();
        }
        crate::ui::stop_spinner();
        // The browser has long read the page by now; nothing else may find it later.
        self.inner
            .page
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
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
