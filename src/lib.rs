//! Get an OpenRouter API key through OAuth PKCE with a loopback callback, the way
//! `gh auth login` gets a GitHub token: from an app's own process or from the
//! `openrouter-pkce` command.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> openrouter_pkce::Result<()> {
//! use openrouter_pkce::{Browser, Login, StandIn};
//!
//! # let stand_in = StandIn::start().await?;
//! # let scratch = tempfile::tempdir().unwrap(); let dir = scratch.path().join("ca");
//! let key = Login::builder()
//! #   .openrouter_url(stand_in.url()).port(0).browser(Browser::BuiltIn).config_dir(&dir)
//!     .build()?
//!     .run() // opens the browser, waits for the person to approve, exchanges the code
//!     .await?;
//! println!("logged in as {:?}", key.user_id());
//! # Ok(())
//! # }
//! ```
//!
//! - [`Login`]: one whole login (listener, browser, callback, exchange) with
//!   [`Events`] for an app that shows progress; drop the future to cancel.
//! - [`OpenRouter`] ([`exchange`], [`create_code`]): the two PKCE calls on their own.
//! - [`StandIn`]: an offline OpenRouter for the app's own tests.
//! - [`Error`]: what went wrong, with the CLI's [`exit_code`](Error::exit_code).
//!
//! Everything async runs on a Tokio runtime with I/O and timers enabled. The library prints
//! nothing, reads no stdin, and installs no signal handler or process-wide rustls provider.
//!
//! Inside, one login driver runs every login, in-process or through the background service;
//! the binary is [`cli::main`].
#![warn(missing_docs)]

/// One line for the person on stderr, through [`ui::say`]: never a panic on a closed stderr
/// (the release build aborts on panic, and a person piping our messages into `head` must not
/// kill a login), printed above the spinner, and a `notice` event under `--events`.
macro_rules! say {
    ($($arg:tt)*) => {{
        $crate::ui::say(format_args!($($arg)*));
    }};
}

mod api;
pub mod cli;
pub mod defaults;
mod error;
mod flow;
mod input;
mod keys;
mod logging;
mod openrouter;
mod pkce;
mod secret;
mod server;
mod service;
mod sys;
mod tls;
mod ui;

pub use api::*;
pub use error::{Error, ErrorKind, Result};
pub use ui::events::Event;

/// The parsers of untrusted input, for the `cargo fuzz` targets only (built with
/// `--cfg fuzzing`, never part of the API).
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::flow::pending::{CallbackParams, PendingFlows};
    pub use crate::secret::{Nonce, State};
    pub use crate::server::guard::host_allowed;
    pub use crate::service::api::CreateFlowRequest;
    pub use crate::tls::der::not_after;
}

#[cfg(test)]
mod tests;
