//! The Host check: accepts exactly localhost, 127.0.0.1 and [::1] on the port.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openrouter_pkce::fuzzing::{host_allowed, not_after};

fuzz_target!(|data: &[u8]| {
    let Ok(host) = std::str::from_utf8(data) else { return };
    let port = 3000;
    let expected = ["localhost:3000", "127.0.0.1:3000", "[::1]:3000"].iter().any(|h| h.eq_ignore_ascii_case(host));
    assert_eq!(host_allowed(host, port), expected, "{host:?}");
    let _ = not_after(data);
});
