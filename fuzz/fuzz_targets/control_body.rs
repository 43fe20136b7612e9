//! A `POST /v1/flows` body: a request or a message naming the field at fault.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openrouter_pkce::fuzzing::CreateFlowRequest;

fuzz_target!(|data: &[u8]| {
    let now = time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
    match CreateFlowRequest::parse(data, now) {
        Ok(flow) => assert!(flow.limit.is_none_or(|l| l.is_finite() && l >= 0.0)),
        Err(message) => {
            let field = message.split(':').next().unwrap_or_default();
            assert!(["body", "exchange", "open_browser", "limit", "expires_at"].contains(&field), "{message}");
        }
    }
});
