//! Property tests over everything that parses untrusted input: any input yields a typed refusal
//! or a valid result, never a panic, and only the genuine callback is ever accepted.

use crate::error::Error;
use crate::flow::pending::{Accepted, CallbackParams, PendingFlows, Registration, Rejection};
use crate::openrouter::CodeBundle;
use crate::secret::{Nonce, State};
use crate::server::guard::host_allowed;
use crate::service::api::CreateFlowRequest;
use proptest::prelude::*;

const NONCE: &str = "nonce-0123456789abcdefghijklmnopqrstuvwxyzAB";
const STATE: &str = "state-0123456789abcdefghijklmnopqrstuvwxyzAB";

fn flows() -> (PendingFlows, Registration) {
    let flows = PendingFlows::new();
    let reg = flows.register(Nonce::new(NONCE), State::new(STATE));
    (flows, reg)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Arbitrary callback paths and queries never panic, and never deliver without the secret.
    #[test]
    fn arbitrary_callbacks_are_refused_unless_they_carry_the_secrets(
        segment in "[ -~]{0,80}",
        query in "[ -~]{0,200}",
    ) {
        let (flows, mut reg) = flows();
        let Ok(url) = url::Url::parse(&format!("https://localhost:3000/callback/{segment}?{query}")) else {
            return Ok(());
        };
        let Some(params) = CallbackParams::from_url(&url) else { return Ok(()) };
        let outcome = flows.deliver(&params);
        let genuine = params.nonce.as_deref() == Some(NONCE);
        match outcome {
            Ok(_) => prop_assert!(genuine, "accepted a callback without the nonce or state"),
            Err(Rejection::UnknownLogin | Rejection::WrongState | Rejection::MissingCode) => {
                prop_assert!(reg.outcome.try_recv().is_err(), "a refused callback delivered something");
            }
        }
    }

    /// Forged callbacks built from the real nonce and state (exact, one byte changed, random,
    /// or left out): exactly the genuine combinations are accepted, and the code arrives intact.
    #[test]
    fn near_miss_callbacks_are_refused_and_genuine_ones_accepted(
        nonce in near_miss(NONCE),
        state in near_miss(STATE),
        code in proptest::option::of("[A-Za-z0-9._~-]{1,20}"),
    ) {
        let (flows, mut reg) = flows();
        let params = CallbackParams {
            nonce: nonce.clone(),
            state: state.clone(),
            code: code.clone(),
            ..CallbackParams::default()
        };
        let real_nonce = nonce.as_deref() == Some(NONCE);
        let real_state = state.as_deref() == Some(STATE);
        let genuine = real_nonce && (real_state || state.is_none());
        let expected = match (genuine, &code) {
            (true, Some(_)) => Ok(Accepted::Code),
            (true, None) => Err(Rejection::MissingCode),
            (false, _) if real_nonce => Err(Rejection::WrongState),
            (false, _) => Err(Rejection::UnknownLogin),
        };
        prop_assert_eq!(flows.deliver(&params), expected);
        match reg.outcome.try_recv() {
            Ok(delivered) => {
                prop_assert_eq!(expected, Ok(Accepted::Code));
                let delivered = delivered.outcome.unwrap();
                prop_assert_eq!(Some(delivered.secret()), code.as_deref());
            }
            Err(_) => prop_assert_ne!(expected, Ok(Accepted::Code)),
        }
    }

    /// The genuine callback delivers the exact code, whatever its bytes and whatever else rides along.
    #[test]
    fn the_genuine_callback_delivers_the_exact_code(
        code in "\\PC{1,64}",
        noise in proptest::collection::vec(("[a-z_]{1,10}", "\\PC{0,20}"), 0..5),
    ) {
        let (flows, mut reg) = flows();
        let mut url = url::Url::parse(&format!("https://localhost:3000/callback/{NONCE}")).unwrap();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("code", &code).append_pair("state", STATE);
            for (k, v) in &noise {
                q.append_pair(k, v);
            }
        }
        let params = CallbackParams::from_url(&url).unwrap();
        prop_assert_eq!(flows.deliver(&params), Ok(Accepted::Code));
        let delivered = reg.outcome.try_recv().unwrap().outcome.unwrap();
        prop_assert_eq!(delivered.secret(), code.as_str());
    }

    /// Any text as a code bundle: a bundle or a BadInput naming a bundle field, never anything else.
    #[test]
    fn code_bundle_parsing_is_total(text in "\\PC{0,300}") {
        check_bundle(&text)?;
    }

    /// JSON objects with plausible and implausible fields.
    #[test]
    fn code_bundle_objects_are_total(
        code in proptest::option::of(prop_oneof![Just(serde_json::json!("c")), any::<i64>().prop_map(serde_json::Value::from), Just(serde_json::Value::Null)]),
        verifier in proptest::option::of("[A-Za-z0-9._~-]{0,130}"),
        method in proptest::option::of("[A-Za-z0-9]{0,6}"),
    ) {
        let mut object = serde_json::Map::new();
        if let Some(c) = code { object.insert("code".into(), c); }
        if let Some(v) = verifier { object.insert("code_verifier".into(), v.into()); }
        if let Some(m) = method { object.insert("code_challenge_method".into(), m.into()); }
        check_bundle(&serde_json::Value::Object(object).to_string())?;
    }

    /// Any bytes as a control-API body: a request or an error that starts with the field name.
    #[test]
    fn control_bodies_are_total(body in proptest::collection::vec(any::<u8>(), 0..200)) {
        check_control_body(&body)?;
    }

    #[test]
    fn control_objects_are_total(
        exchange in proptest::option::of(prop_oneof![any::<bool>().prop_map(serde_json::Value::from), Just(serde_json::json!("true"))]),
        limit in proptest::option::of(prop_oneof![any::<f64>().prop_map(|f| serde_json::json!(f)), Just(serde_json::json!(-1)), Just(serde_json::json!("1"))]),
        expires in proptest::option::of("\\PC{0,30}"),
        extra in proptest::option::of("\\PC{0,12}"),
    ) {
        let mut object = serde_json::Map::new();
        if let Some(k) = extra { object.insert(k, serde_json::json!(1)); }
        if let Some(e) = exchange { object.insert("exchange".into(), e); }
        if let Some(l) = limit { object.insert("limit".into(), l); }
        if let Some(x) = expires { object.insert("expires_at".into(), x.into()); }
        check_control_body(serde_json::Value::Object(object).to_string().as_bytes())?;
    }

    /// The Host check accepts exactly the three loopback spellings on our port.
    #[test]
    fn host_check_accepts_only_loopback_on_our_port(host in "\\PC{0,40}", port in 1u16..) {
        let allowed = host_allowed(&host, port);
        let expected = [format!("localhost:{port}"), format!("127.0.0.1:{port}"), format!("[::1]:{port}")]
            .iter()
            .any(|h| h.eq_ignore_ascii_case(&host));
        prop_assert_eq!(allowed, expected, "{}", host);
    }

    /// Any Origin header at all keeps a request away from the control API.
    #[test]
    fn any_origin_is_refused_by_the_control_api(origin in "[ -~]{0,60}", path in prop_oneof![Just("/v1/flows"), Just("/healthz"), Just("/v1/flows/x")]) {
        let Ok(origin) = axum::http::HeaderValue::from_str(&origin) else { return Ok(()) };
        let status = control_api_status(path, origin);
        prop_assert_eq!(status, axum::http::StatusCode::FORBIDDEN);
    }

    /// Certificates are read with a tiny DER walker; garbage must not panic it.
    #[test]
    fn der_reader_is_total(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = crate::tls::der::not_after(&bytes);
    }
}

/// The real value, the value with one byte changed, a random value, or nothing.
fn near_miss(real: &'static str) -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(Some(real.to_owned())),
        (0..real.len(), 0u8..26).prop_map(move |(i, letter)| {
            let mut bytes = real.as_bytes().to_vec();
            let replacement = b'a' + letter;
            bytes[i] = if bytes[i] == replacement {
                b'0'
            } else {
                replacement
            };
            Some(String::from_utf8(bytes).unwrap())
        }),
        "[A-Za-z0-9_-]{0,60}".prop_map(Some),
        Just(None),
    ]
}

fn check_bundle(text: &str) -> Result<(), TestCaseError> {
    match CodeBundle::from_json(text) {
        Ok(bundle) => prop_assert!(!bundle.code.secret().is_empty()),
        Err(Error::BadInput { field, .. }) => {
            prop_assert!(
                [
                    "code bundle",
                    "code",
                    "code_verifier",
                    "code_challenge_method"
                ]
                .contains(&field),
                "{}",
                field
            )
        }
        Err(other) => prop_assert!(false, "unexpected error {:?}", other),
    }
    Ok(())
}

fn check_control_body(body: &[u8]) -> Result<(), TestCaseError> {
    let now = time::OffsetDateTime::now_utc();
    match CreateFlowRequest::parse(body, now) {
        Ok(flow) => prop_assert!(flow.limit.is_none_or(|l| l.is_finite() && l >= 0.0)),
        Err(message) => {
            let field = message.split(':').next().unwrap_or_default();
            prop_assert!(
                ["body", "exchange", "open_browser", "limit", "expires_at"].contains(&field),
                "message does not start with a field: {}",
                message
            );
        }
    }
    Ok(())
}

fn control_api_status(path: &str, origin: axum::http::HeaderValue) -> axum::http::StatusCode {
    use tower::ServiceExt;
    // One service for every case: building its HTTP client is the slow part.
    static SERVICE: std::sync::OnceLock<(tokio::runtime::Runtime, crate::service::Service)> =
        std::sync::OnceLock::new();
    let (runtime, service) = SERVICE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let config = crate::service::ServiceConfig::new(
            url::Url::parse("http://127.0.0.1:9/").unwrap(),
            4321,
            crate::tls::CertSource::Local(std::env::temp_dir().join("no-ca")),
        );
        let service = crate::service::Service::new(config);
        (runtime, service)
    });
    let request = axum::http::Request::post(path)
        .header("host", "localhost:4321")
        .header("origin", origin)
        .body(axum::body::Body::from("{}"))
        .unwrap();
    runtime
        .block_on(service.control_router().oneshot(request))
        .unwrap()
        .status()
}
