//! The operating system's side: paths, private files, the browser, signals, who holds a port,
//! and the HTTP client builder.

pub mod browser;
pub mod files;
pub mod http;
#[cfg(unix)]
pub mod owner;
pub mod paths;
#[cfg(feature = "cli")]
pub mod port_holder;
#[cfg_attr(unix, path = "process_unix.rs")]
#[cfg_attr(windows, path = "process_windows.rs")]
pub mod process;
pub mod signal;
pub mod text;
