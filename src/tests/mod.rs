//! Tests of the crate's insides that need no binary: parsers under arbitrary input, and the
//! service's routers driven without a socket (on tokio's paused clock where time matters).
//! Everything a person or an app can reach is tested from `tests/` through the binary and the
//! public API.

mod properties;
mod service_api;
