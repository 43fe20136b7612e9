//! Whatever a person or an app should hear while a command or a login runs goes through one
//! [`Reporter`], handed down to the code that has something to say: the command-line program's
//! renders prose, a spinner or `--events` JSON lines; an embedded login's feeds the app's
//! [`Events`](crate::Events) stream. There is no process-wide output state.

pub mod events;

use std::fmt::Debug;
use std::time::Instant;

pub use events::Event;

/// Where a login's (or a command's) progress goes. Every method may be called from any task
/// or thread; none may block or fail (a closed stderr or a dropped stream is ignored).
pub trait Reporter: Send + Sync + Debug {
    /// A step of a login, as `--events` and [`Events`](crate::Events) carry it.
    fn event(&self, event: &Event);

    /// One line for whoever follows along: a line on a person's terminal, a `notice` event
    /// for an app.
    fn say(&self, line: &str);

    /// A step done ("✓ Approved"): shown to a person only; apps have the events.
    fn done(&self, _line: &str) {}

    /// The login waits for the person until `deadline`: a countdown on a terminal.
    fn waiting(&self, _deadline: Instant) {}

    /// The wait (or another slow step) is over: clear any spinner.
    fn idle(&self) {}

    /// What the person should know about the callback's scheme, in this reporter's words
    /// (the CLI adds its remedy).
    fn scheme_note(&self, note: SchemeNote) {
        self.say(note.text());
    }

    /// Whether a person reads this in words, so the URL and hints are spelled out (not just
    /// carried in events).
    fn prose(&self) -> bool {
        false
    }

    /// Whether the person sits at this process's terminal, so an address can be pasted back
    /// (never for a library: it does not read its host's stdin).
    fn reads_terminal(&self) -> bool {
        false
    }
}

/// What the person should know about the callback's scheme. The words here are an app's (the
/// CLI adds its own remedy: `openrouter-pkce trust`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemeNote {
    /// `auto` fell back to http: the local certificate is not trusted yet.
    HttpUntrusted,
    /// https was asked for and the browser will warn about the certificate.
    HttpsUntrusted,
}

impl SchemeNote {
    /// The note in an app's words.
    pub fn text(self) -> &'static str {
        match self {
            SchemeNote::HttpUntrusted => {
                "Using an http callback for this login: the local certificate is not trusted by browsers yet."
            }
            SchemeNote::HttpsUntrusted => {
                "The browser will warn about the localhost certificate: the local certificate is not trusted by browsers yet."
            }
        }
    }
}

/// A reporter that drops everything: for tests nobody follows.
#[cfg(test)]
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

#[cfg(test)]
impl Reporter for Silent {
    fn event(&self, _event: &Event) {}
    fn say(&self, _line: &str) {}
}

/// `say!(reporter, "format", args…)`: one line through `reporter`.
macro_rules! say {
    ($reporter:expr, $($arg:tt)*) => {{
        #[allow(unused_imports)]
        use $crate::report::Reporter as _;
        $reporter.say(&format!($($arg)*));
    }};
}
pub(crate) use say;
