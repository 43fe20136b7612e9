//! One login's progress, told to the [`Reporter`] it was given: where to go, whether a browser
//! opened, the wait with its deadline, then each step as it completes. It also holds what the
//! login keeps until it ends (the browser's redirect page, a note to say once it has started).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use time::OffsetDateTime;
use url::Url;

use crate::flow::{CallbackBase, Stage};
use crate::report::{Event, Reporter, SchemeNote, say};

/// A login's progress reporter; cheap to clone (the browser opener reports from its own task).
#[derive(Debug, Clone)]
pub struct Progress {
    inner: Arc<Inner>,
}

struct Inner {
    /// Where everything is told.
    reporter: Arc<dyn Reporter>,
    /// The page that hands the URL to the browser (its command line must not carry it): kept
    /// until the login ends, then removed.
    page: Mutex<Option<crate::sys::browser::RedirectFile>>,
    /// `login` (a key comes next) or `authorize` (the code bundle is the result).
    exchange: bool,
    callback_seen: AtomicBool,
    /// A line to say once the login has started (not before a failure it has nothing to do
    /// with, such as a busy port).
    note: Mutex<Option<SchemeNote>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress")
            .field("exchange", &self.exchange)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Progress {
    /// A reporter for a login that does (`login`) or does not (`authorize`) exchange, telling
    /// `reporter` everything.
    pub fn new(exchange: bool, reporter: Arc<dyn Reporter>) -> Self {
        Self {
            inner: Arc::new(Inner {
                reporter,
                page: Mutex::new(None),
                exchange,
                callback_seen: AtomicBool::new(false),
                note: Mutex::new(None),
            }),
        }
    }

    /// The reporter this login tells, for code that has a line of its own to say.
    pub fn reporter(&self) -> &Arc<dyn Reporter> {
        &self.inner.reporter
    }

    /// Reports `event`.
    pub fn emit(&self, event: Event) {
        self.inner.reporter.event(&event);
    }

    /// Keeps the browser's redirect page until the login ends.
    pub fn keep_page(&self, page: crate::sys::browser::RedirectFile) {
        *lock(&self.inner.page) = Some(page);
    }

    /// Keeps `note` to say once the login has started.
    pub fn note_after_start(&self, note: Option<SchemeNote>) {
        *lock(&self.inner.note) = note;
    }

    /// The listener the callback comes back to (and the note kept for this moment).
    pub fn listening(&self, base: &CallbackBase) {
        if let Some(note) = lock(&self.inner.note).take() {
            self.inner.reporter.scheme_note(note);
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
        let reporter = &self.inner.reporter;
        if !reporter.prose() {
            return;
        }
        if opening {
            say!(reporter, "Opening OpenRouter in your browser to authorize.");
            say!(
                reporter,
                "Open this URL in a browser if none opened, or on another device:\n\n  {url}\n"
            );
        } else {
            say!(
                reporter,
                "Open this URL in a browser, on this or another device:\n\n  {url}\n"
            );
        }
    }

    /// The consent page as an event only: for the built-in client, which needs no person.
    pub fn authorize_url_event(&self, url: &Url, expires_at: OffsetDateTime) {
        self.emit(Event::AuthorizeUrl {
            url: url.to_string(),
            expires_at: expires_at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
        });
    }

    /// Whether a browser command started (its exit status or spawn error).
    pub fn browser(&self, opened: Result<(), String>) {
        match opened {
            Ok(()) => self.emit(Event::BrowserOpened),
            Err(message) => {
                if self.inner.reporter.prose() {
                    say!(
                        self.inner.reporter,
                        "No browser opened ({message}): open the URL above yourself."
                    );
                } else {
                    self.emit(Event::BrowserFailed { message });
                }
            }
        }
    }

    /// The wait for the person until `deadline` (a countdown on a terminal).
    pub fn waiting(&self, deadline: std::time::Instant) {
        self.inner.reporter.waiting(deadline);
    }

    /// The flow moved on: the callback came back and the code is being exchanged.
    pub fn stage(&self, stage: Stage) {
        if stage == Stage::Exchanging {
            self.callback_received(true);
            self.emit(Event::Exchanging);
        }
    }

    /// The callback arrived (said once); `approved` unless it carried a denial.
    fn callback_received(&self, approved: bool) {
        if self.inner.callback_seen.swap(true, Ordering::Relaxed) {
            return;
        }
        self.inner.reporter.idle();
        self.emit(Event::CallbackReceived);
        if !approved {
            return;
        }
        if self.inner.exchange {
            self.inner.reporter.done("Approved — creating your key…");
        } else {
            self.inner
                .reporter
                .done("Approved — the code was handed over.");
        }
    }

    /// The login ended. `callback` says whether the browser came back, and `approved`
    /// whether with a code (not a denial).
    pub fn ended(&self, callback: bool, approved: bool) {
        if callback {
            self.callback_received(approved);
        }
        self.inner.reporter.idle();
        // The browser has long read the page by now; nothing else may find it later.
        lock(&self.inner.page).take();
    }
}
