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
//! - `StandIn` (feature `stand-in`): an offline OpenRouter for the app's own tests.
//! - [`Error`]: what went wrong, with the CLI's [`exit_code`](Error::exit_code).
//!
//! Everything async runs on a Tokio runtime with I/O and timers enabled. The library prints
//! nothing, reads no stdin, and installs no signal handler or process-wide rustls provider.
//!
//! Inside, one login driver runs every login, in-process or through the background service;
//! the binary is `cli::main` (the `cli` feature).
//!
//! # Features
//! - `cli` (default): the `openrouter-pkce` program and everything only it uses (argument
//!   parsing, the terminal's spinner and colour, the background service). An app embedding a
//!   login turns the defaults off: `default-features = false`.
//! - `keyring` (default): [`SavedKeys`], the saved-key store the CLI uses, so an app and the
//!   CLI share one saved key.
//! - `stand-in` (default): [`StandIn`], the offline OpenRouter for an app's tests.
#![warn(missing_docs)]
// The login code is shared by the library, the command line and the background service; the
// parts only the service or the CLI's argument parsing reach (flow-table housekeeping, the
// clap value parsers) are unused when an app builds the library alone.
#![cfg_attr(not(feature = "cli"), allow(dead_code))]

mod api;
#[cfg(feature = "cli")]
pub mod cli;
pub mod defaults;
mod error;
mod flow;
mod input;
#[cfg(feature = "keyring")]
mod keys;
mod openrouter;
mod pkce;
mod report;
mod secret;
mod server;
#[cfg(feature = "cli")]
mod service;
mod sys;
mod tls;

pub use api::*;
pub use error::{Error, ErrorKind, Result};
pub use report::Event;

#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::flow::pending::{CallbackParams, PendingFlows};
    pub use crate::secret::{Nonce, State};
    pub use crate::server::guard::host_allowed;
    #[cfg(feature = "cli")]
    pub use crate::service::api::CreateFlowRequest;
    pub use crate::tls::der::not_after;
}

// They drive the service, which only the command line has.
#[cfg(all(test, feature = "cli"))]
mod tests;
