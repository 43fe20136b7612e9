//! openrouter-pkce: get an OpenRouter API key through OAuth PKCE with a loopback callback.
//!
//! The flow logic lives here so the CLI, the background service and the tests share it.

pub mod browser;
pub mod callback;
pub mod cli;
pub mod config;
pub mod der;
pub mod error;
pub mod files;
pub mod flow;
pub mod guard;
pub mod listener;
pub mod logging;
pub mod login;
pub mod openrouter;
pub mod pages;
pub mod paths;
pub mod pkce;
pub mod port_holder;
pub mod run;
pub mod secret;
pub mod service;
pub mod service_client;
pub mod service_unit;
pub mod standin;
pub mod tls;
pub mod trust;

pub use error::{Error, Result, exit_code};
