//! The command line: clap's arguments ([`args`]), the typed configuration built from them once
//! ([`config`]), the dispatcher ([`run`]) and the commands.

pub mod args;
pub mod config;
pub mod keys;
pub mod login;
pub mod output;
pub mod run;
pub mod scheme;
pub mod serve;
pub mod tools;

pub use args::{Cli, Command};
pub use run::run;
