//! openrouter-pkce: get an OpenRouter API key through OAuth PKCE with a loopback callback.
//!
//! The library holds everything; the binary only parses arguments and maps exit codes.
//! One login driver ([`flow::driver`]) runs every login, in-process ([`flow::local`]) or through
//! the background service ([`service`]).

/// One line for the person on stderr, through [`ui::say`]: never a panic on a closed stderr
/// (the release build aborts on panic, and a person piping our messages into `head` must not
/// kill a login), printed above the spinner, and a `notice` event under `--events`.
macro_rules! say {
    ($($arg:tt)*) => {{
        $crate::ui::say(format_args!($($arg)*));
    }};
}

pub mod cli;
pub mod defaults;
pub mod error;
pub mod flow;
pub mod input;
pub mod keys;
pub mod logging;
pub mod openrouter;
pub mod pkce;
pub mod secret;
pub mod server;
pub mod service;
pub mod sys;
pub mod tls;
pub mod ui;

pub use error::{Error, Result, exit_code};
