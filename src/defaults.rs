//! Every default and every bound in one place: the CLI's flags, the service and the listener
//! read them from here so they cannot disagree.

use std::time::Duration;

/// OpenRouter's base URL.
pub const OPENROUTER_URL: &str = "https://openrouter.ai";
/// The callback port (the one OpenRouter's guide uses).
pub const PORT: u16 = 3000;
/// `login`/`authorize --timeout`: how long to wait for the browser, in seconds.
pub const TIMEOUT_SECS: u64 = 300;
/// `serve --flow-timeout`: how long a service flow waits for its callback, in seconds.
pub const FLOW_TIMEOUT_SECS: u64 = 600;
/// `serve --max-pending`: most logins pending in the service at once.
pub const MAX_PENDING: usize = 64;
/// How long a finished service flow's result stays retrievable.
pub const RESULT_TTL: Duration = Duration::from_secs(300);
/// `serve --header-timeout`: seconds a client may take to send its TLS hello or request head.
pub const HEADER_TIMEOUT_SECS: u64 = 10;
/// `serve --max-connections`: most connections served at once.
pub const MAX_CONNECTIONS: usize = 512;
/// `mock-server --port`.
pub const STAND_IN_PORT: u16 = 8787;
/// How long the browser's callback page waits for the exchange before it says "still working"
/// (the exchange itself is bounded by the HTTP client's own timeouts).
pub const CALLBACK_PAGE_WAIT: Duration = Duration::from_secs(20);
/// How long the OpenRouter reachability check before the browser opens may take.
pub const REACHABILITY_TIMEOUT: Duration = Duration::from_secs(5);
/// `demo`: how long the built-in client may take.
pub const DEMO_TIMEOUT: Duration = Duration::from_secs(60);

/// Longest `--timeout`/`--flow-timeout` accepted: a day (no one waits longer for a browser,
/// and it keeps every deadline far from `Instant` overflow).
pub const MAX_TIMEOUT_SECS: u64 = 24 * 3600;
/// Longest `--header-timeout` accepted.
pub const MAX_HEADER_TIMEOUT_SECS: u64 = 600;
/// Most `--max-connections` accepted (far above what one loopback helper needs; fits a
/// semaphore's permit count).
pub const MAX_MAX_CONNECTIONS: usize = 65_536;
/// Most `--max-pending` accepted.
pub const MAX_MAX_PENDING: usize = 100_000;
