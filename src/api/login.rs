//! [`Login`]: one whole login from an app's own process, on the same driver and listener as
//! the command-line program's.

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::mpsc;
use url::Url;

use crate::api::{ApiKey, CodeBundle};
use crate::error::{Error, Result};
use crate::flow::driver::Deadline;
use crate::flow::local::{LocalOptions, PortChoice};
use crate::flow::present::Presenter;
use crate::flow::progress::Progress;
use crate::flow::scheme::{self, CallbackScheme};
use crate::flow::{CallbackHost, FlowResult, FlowSpec};
use crate::openrouter::AppAttribution;
use crate::report::{Event, Reporter};
use crate::tls::CertSource;

/// How the consent page reaches a browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Browser {
    /// Open the system browser (`$BROWSER`, else the platform's opener). The URL also comes
    /// as an [`Event::AuthorizeUrl`], for a window that shows it in case no browser opened.
    System,
    /// Open nothing: the app shows the URL from [`Event::AuthorizeUrl`] (a link, a QR code).
    None,
    /// A built-in HTTP client follows the consent page as a browser would: for an app's tests
    /// against an auto-approving [`StandIn`](crate::StandIn), never for real logins.
    BuiltIn,
}

/// Sets up a [`Login`]; every setting has the command-line program's default.
#[derive(Debug, Clone)]
#[must_use]
pub struct LoginBuilder {
    openrouter_url: String,
    port: Option<u16>,
    browser: Browser,
    scheme: CallbackScheme,
    timeout: Duration,
    limit: Option<f64>,
    config_dir: Option<PathBuf>,
    app_name: Option<String>,
    app_url: Option<String>,
}

impl Default for LoginBuilder {
    fn default() -> Self {
        Self {
            openrouter_url: crate::defaults::OPENROUTER_URL.to_owned(),
            port: None,
            browser: Browser::System,
            scheme: CallbackScheme::Auto,
            timeout: Duration::from_secs(crate::defaults::TIMEOUT_SECS),
            limit: None,
            config_dir: None,
            app_name: None,
            app_url: None,
        }
    }
}

impl LoginBuilder {
    /// OpenRouter's base URL (default `https://openrouter.ai`): https, or http on a loopback
    /// host such as a [`StandIn`](crate::StandIn).
    pub fn openrouter_url(mut self, url: impl Into<String>) -> Self {
        self.openrouter_url = url.into();
        self
    }

    /// The callback port: `0` for any free one, another number for exactly that one (taken:
    /// [`Error::PortInUse`]). Without it, 3000 when free, else any free port.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Whether to open the system browser ([`Browser::System`], the default) or leave the URL
    /// to the app ([`Browser::None`]).
    pub fn open_browser(mut self, open: bool) -> Self {
        self.browser = if open { Browser::System } else { Browser::None };
        self
    }

    /// How the consent page reaches a browser (see [`Browser`]).
    pub fn browser(mut self, browser: Browser) -> Self {
        self.browser = browser;
        self
    }

    /// The callback's scheme: [`CallbackScheme::Auto`] (the default) uses https only when
    /// the local CA is trusted (`openrouter-pkce trust`), so the browser shows no warning.
    ///
    /// [`CallbackScheme::Auto`]: crate::CallbackScheme::Auto
    pub fn callback_scheme(mut self, scheme: CallbackScheme) -> Self {
        self.scheme = scheme;
        self
    }

    /// How long the person has to approve, and the exchange to finish (default 300 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// A credit limit for the key, shown to the person on the consent page.
    pub fn limit(mut self, credits: f64) -> Self {
        self.limit = Some(credits);
        self
    }

    /// Where the local CA lives (default: the user's `openrouter-pkce` config directory, the
    /// one `openrouter-pkce trust` installs from). An https login makes the CA there if it is
    /// missing; an http login writes nothing there. It must be an absolute path to a directory
    /// only this user can reach: one that others own or can read or write is not used (an
    /// https login then fails; an http one goes on without the certificate).
    pub fn config_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config_dir = Some(dir.into());
        self
    }

    /// The app's name, sent to OpenRouter as `X-OpenRouter-Title` (its app attribution, as
    /// the CLI's `--app-name`): 1 to 100 printable ASCII characters.
    pub fn app_name(mut self, name: &str) -> Self {
        self.app_name = Some(name.to_owned());
        self
    }

    /// The app's URL, sent to OpenRouter as `HTTP-Referer` (as the CLI's `--app-url`): an
    /// absolute http(s) URL without credentials.
    pub fn app_url(mut self, url: &str) -> Self {
        self.app_url = Some(url.to_owned());
        self
    }

    /// Checks every setting; nothing is bound or sent yet.
    ///
    /// # Errors
    /// [`Error::BadInput`] naming the setting at fault; [`Error::Internal`] when no config
    /// directory is given and the user's cannot be found.
    pub fn build(self) -> Result<Login> {
        let openrouter = crate::input::parse_openrouter_url(&self.openrouter_url)
            .map_err(|e| e.named("openrouter_url"))?;
        let limit = match self.limit {
            Some(l) => {
                Some(crate::input::parse_limit(&l.to_string()).map_err(|e| e.named("limit"))?)
            }
            None => None,
        };
        let max = Duration::from_secs(crate::defaults::MAX_TIMEOUT_SECS);
        // Whole seconds are what the messages count in; under one, a login cannot be done.
        if self.timeout < Duration::from_secs(1) || self.timeout > max {
            return Err(Error::bad_input(
                "timeout",
                format!("at least 1 s and at most {} s", max.as_secs()),
            ));
        }
        let config_dir = match self.config_dir {
            Some(dir) if dir.is_absolute() => dir,
            Some(_) => {
                return Err(Error::bad_input(
                    "config_dir",
                    "an absolute path to a directory of the user's own (it holds the local CA key)",
                ));
            }
            None => crate::sys::paths::config_dir()?,
        };
        let app = AppAttribution::checked(self.app_name.as_deref(), self.app_url.as_deref())?;
        let port = match self.port {
            None => PortChoice::Preferred(crate::defaults::PORT),
            Some(0) => PortChoice::Any,
            Some(p) => PortChoice::Exact(p),
        };
        Ok(Login {
            openrouter,
            port,
            browser: self.browser,
            scheme: self.scheme,
            timeout: self.timeout,
            limit,
            cert: CertSource::Local(config_dir),
            app,
            events: Unstarted::default(),
        })
    }
}

/// One login, ready to run: [`run`](Login::run) for a key, [`authorize`](Login::authorize)
/// for a code the app redeems itself.
///
/// Dropping the running future, or aborting the task it was spawned on, cancels the login:
/// the listener closes and a late callback finds nothing (dropping a `JoinHandle` only
/// detaches the task, and the login goes on). Nothing is printed, no stdin is read and no
/// signal handler or process-wide rustls provider is installed: progress comes only through
/// [`events`](Login::events).
///
/// Runs on a Tokio runtime with I/O and timers enabled (`#[tokio::main]`, Tauri's runtime);
/// polled elsewhere it panics.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> openrouter_pkce::Result<()> {
/// use openrouter_pkce::{Browser, Login, StandIn};
///
/// let stand_in = StandIn::start().await?; // an offline OpenRouter that approves at once
/// # let scratch = tempfile::tempdir().unwrap(); let dir = scratch.path().join("ca");
/// let key = Login::builder()
///     .openrouter_url(stand_in.url())
///     .port(0)
///     .browser(Browser::BuiltIn) // a real app keeps the system browser
///     .config_dir(&dir)
///     .build()?
///     .run()
///     .await?;
/// assert!(key.expose_secret().starts_with("sk-or-v1-"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Login {
    openrouter: Url,
    port: PortChoice,
    browser: Browser,
    scheme: CallbackScheme,
    timeout: Duration,
    limit: Option<f64>,
    cert: CertSource,
    app: AppAttribution,
    events: Unstarted,
}

/// The events stream of a login that has not started: dropped so (never run, or dropped
/// before its first poll), the stream still ends with `interrupted`, as a login dropped while
/// running does.
#[derive(Debug, Default)]
struct Unstarted(Option<mpsc::UnboundedSender<Event>>);

impl Drop for Unstarted {
    fn drop(&mut self) {
        if let Some(sink) = self.0.take() {
            let _ = sink.send(Event::error(&Error::Interrupted));
        }
    }
}

impl Login {
    /// A builder with the command-line program's defaults.
    pub fn builder() -> LoginBuilder {
        LoginBuilder::default()
    }

    /// The login's progress, for an app that shows it: the URL to open, whether a browser
    /// started, the callback, the exchange, and the end (the same events as `--events`).
    /// Call before running; a second call takes the stream over from the first.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> openrouter_pkce::Result<()> {
    /// use openrouter_pkce::{Event, Login, StandIn};
    ///
    /// let stand_in = StandIn::start().await?;
    /// # let scratch = tempfile::tempdir().unwrap(); let dir = scratch.path().join("ca");
    /// let mut login = Login::builder()
    ///     .openrouter_url(stand_in.url())
    ///     .port(0)
    ///     .open_browser(false)
    ///     .config_dir(&dir)
    ///     .build()?;
    /// let mut events = login.events();
    /// let running = tokio::spawn(login.run());
    /// while let Some(event) = events.recv().await {
    ///     if let Event::AuthorizeUrl { url, .. } = event {
    ///         // A real app shows `url`; here the stand-in's "browser" follows it.
    ///         stand_in.approve(&url).await?;
    ///     }
    /// }
    /// let key = running.await.expect("the login task")?;
    /// assert!(key.user_id().is_some());
    /// # Ok(())
    /// # }
    /// ```
    pub fn events(&mut self) -> Events {
        let (tx, rx) = mpsc::unbounded_channel();
        // The earlier stream (if any) just ends: this one takes over.
        self.events.0 = Some(tx);
        Events { rx }
    }

    /// Runs the whole login and exchanges the code: the key, once the person approved.
    ///
    /// # Errors
    /// Every way a login ends without a key, each with its [`Error::exit_code`]: the person
    /// declined ([`Error::Denied`]), [`Error::TimedOut`], the port is taken, OpenRouter
    /// refused or is unreachable.
    pub async fn run(self) -> Result<ApiKey> {
        match self.drive(true).await? {
            FlowResult::Key(key) => Ok(ApiKey::from_response(key)),
            FlowResult::Bundle(_) => Err(Error::internal(
                "running the login",
                "the login ended with a code, not a key",
            )),
        }
    }

    /// Runs the login up to the code: the bundle an app redeems later with
    /// [`OpenRouter::exchange`](crate::OpenRouter::exchange) (codes work once, for a limited
    /// time).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> openrouter_pkce::Result<()> {
    /// use openrouter_pkce::{Browser, Login, OpenRouter, StandIn};
    ///
    /// let stand_in = StandIn::start().await?;
    /// # let scratch = tempfile::tempdir().unwrap(); let dir = scratch.path().join("ca");
    /// let bundle = Login::builder()
    ///     .openrouter_url(stand_in.url())
    ///     .port(0)
    ///     .browser(Browser::BuiltIn)
    ///     .config_dir(&dir)
    ///     .build()?
    ///     .authorize()
    ///     .await?;
    /// let saved = bundle.to_json(); // secret: keep it where only the app can read it
    /// # let bundle = openrouter_pkce::CodeBundle::from_json(&saved)?;
    /// let key = OpenRouter::new(stand_in.url())?.exchange(&bundle).await?;
    /// assert!(key.expose_secret().starts_with("sk-or-v1-"));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// As [`run`](Login::run), but never an exchange failure.
    pub async fn authorize(self) -> Result<CodeBundle> {
        match self.drive(false).await? {
            FlowResult::Bundle(bundle) => Ok(bundle),
            FlowResult::Key(_) => Err(Error::internal(
                "running the login",
                "the login ended with a key, not a code",
            )),
        }
    }

    /// The one driver, on an in-process host; the outcome is the events stream's last event.
    async fn drive(mut self, exchange: bool) -> Result<FlowResult> {
        let reporter = Arc::new(AppEvents(Mutex::new(self.events.0.take())));
        // Dropped before the end (the app dropped or aborted the login): say so, and close.
        let cancelled = Finish(reporter.clone());
        let progress = Progress::new(exchange, reporter.clone());
        let outcome = self.drive_quietly(exchange, &progress).await;
        reporter.finish(match &outcome {
            Ok(FlowResult::Key(key)) => Event::Succeeded {
                user_id: key.user_id.clone(),
            },
            Ok(FlowResult::Bundle(_)) => Event::Succeeded { user_id: None },
            Err(e) => Event::error(e),
        });
        drop(cancelled);
        outcome
    }

    async fn drive_quietly(self, exchange: bool, progress: &Progress) -> Result<FlowResult> {
        let deadline = Deadline::after(self.timeout);
        let cert = self.cert.clone();
        let choice = self.scheme;
        let resolved = tokio::task::spawn_blocking(move || {
            scheme::resolve(choice, &cert, crate::tls::trust::is_trusted)
        })
        .await
        .map_err(|e| Error::internal("choosing the callback scheme", e))?;
        progress.note_after_start(resolved.note);
        let spec = FlowSpec {
            exchange,
            scheme: resolved.scheme,
            host: CallbackHost::Localhost,
            limit: self.limit,
        };
        let options = LocalOptions {
            openrouter: self.openrouter,
            port: self.port,
            scheme: spec.scheme,
            cert: self.cert,
            timeout: self.timeout,
            app: self.app,
            always_https: false,
        };
        let presenter = match self.browser {
            Browser::System => Presenter::Browser,
            Browser::None => Presenter::PrintOnly,
            Browser::BuiltIn => Presenter::BuiltInClient,
        };
        crate::flow::local::run(&options, spec, presenter, deadline, progress).await
    }
}

/// The library's [`Reporter`]: every event and line goes to the app's [`Events`] stream, if it
/// asked for one; nothing is printed.
#[derive(Debug)]
struct AppEvents(Mutex<Option<mpsc::UnboundedSender<Event>>>);

impl AppEvents {
    fn send(&self, event: Event) {
        if let Some(sink) = self.0.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            let _ = sink.send(event);
        }
    }

    /// Sends the login's last event and closes the stream: whatever a helper task still
    /// reports afterwards (a browser opener that returns late) is not the app's concern. Only
    /// the first call sends.
    fn finish(&self, last: Event) {
        if let Some(sink) = self.0.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = sink.send(last);
        }
    }
}

impl Reporter for AppEvents {
    fn event(&self, event: &Event) {
        self.send(event.clone());
    }

    fn say(&self, line: &str) {
        self.send(Event::Notice {
            message: line.trim().to_owned(),
        });
    }
}

/// Ends the events stream with `error` (`interrupted`) when a login is dropped before it
/// ended; does nothing once [`AppEvents::finish`] has sent the outcome.
struct Finish(Arc<AppEvents>);

impl Drop for Finish {
    fn drop(&mut self) {
        self.0.finish(Event::error(&Error::Interrupted));
    }
}

/// A login's progress events, in order. The last one is [`Event::Succeeded`] or
/// [`Event::Error`] (code `interrupted` when the login was dropped before it ended); then
/// the stream ends.
#[derive(Debug)]
pub struct Events {
    rx: mpsc::UnboundedReceiver<Event>,
}

impl Events {
    /// The next event; `None` once the login is over (or was dropped).
    pub async fn recv(&mut self) -> Option<Event> {
        self.rx.recv().await
    }

    /// The next event if one is waiting, without waiting: for a UI's frame loop (egui's
    /// `update`). `None` when none is waiting yet, or the stream is over.
    pub fn try_recv(&mut self) -> Option<Event> {
        self.rx.try_recv().ok()
    }

    /// The next event, blocking the thread: for a plain thread outside the async runtime
    /// (it panics when called on one of the runtime's threads). `None` once the login is over.
    pub fn blocking_recv(&mut self) -> Option<Event> {
        self.rx.blocking_recv()
    }
}

/// The events as a [`Stream`](futures_core::Stream), for `StreamExt` combinators and UI
/// frameworks that take streams; it ends after the last event, like [`recv`](Events::recv).
impl futures_core::Stream for Events {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.rx.poll_recv(cx)
    }
}
