//! A pasted or requested callback URL: parse, match against a pending flow, never panic, and
//! never accept one that lacks the flow's nonce and state.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openrouter_pkce::fuzzing::{CallbackParams, Nonce, PendingFlows, State};

const NONCE: &str = "fuzz-nonce-0123456789abcdefghijklmnopqrstuvw";
const STATE: &str = "fuzz-state-0123456789abcdefghijklmnopqrstuvw";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(url) = url::Url::parse(&format!("https://localhost:3000/callback/{text}")) else { return };
    let Some(params) = CallbackParams::from_url(&url) else { return };
    let flows = PendingFlows::new();
    let _reg = flows.register(Nonce::new(NONCE), State::new(STATE));
    if flows.deliver(&params).is_ok() {
        assert!(params.nonce.as_deref() == Some(NONCE) || params.state.as_deref() == Some(STATE));
        if let (Some(n), Some(s)) = (params.nonce.as_deref(), params.state.as_deref()) {
            assert!(n == NONCE && s == STATE, "accepted with one secret wrong");
        }
    }
});
