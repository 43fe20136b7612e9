//! A code bundle on stdin: a bundle or a bad-input error, never a panic or another error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openrouter_pkce::{CodeBundle, Error};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match CodeBundle::from_json(text) {
        Ok(bundle) => assert!(!bundle.code().is_empty()),
        Err(Error::BadInput { .. }) => {}
        Err(other) => panic!("unexpected error kind: {other:?}"),
    }
});
