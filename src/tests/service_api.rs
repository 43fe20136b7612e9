//! The service's control API (its socket's Router) and callback routing (its TCP port's Router),
//! driven with no socket: requests under `/v1` go to the control Router, the rest to the port's.

use std::time::Duration;

use crate::service::{Service, ServiceConfig};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

const PORT: u16 = 4321;

/// A service at the shipped defaults, against a stand-in OpenRouter (flows start only when
/// OpenRouter answers), with a local CA that is not trusted anywhere.
struct TestService {
    service: Service,
    _stand_in: tokio::task::JoinHandle<()>,
}

impl std::ops::Deref for TestService {
    type Target = Service;
    fn deref(&self) -> &Service {
        &self.service
    }
}

async fn service() -> TestService {
    let (url, stand_in) = crate::openrouter::stand_in::start(0, Default::default())
        .await
        .unwrap();
    let untrusted = std::env::temp_dir().join("openrouter-pkce-service-api-no-ca");
    let config = ServiceConfig::new(url, PORT, crate::tls::CertSource::Local(untrusted));
    TestService {
        service: Service::new(config),
        _stand_in: stand_in,
    }
}

/// A service whose OpenRouter check has already passed in real time, then the clock paused:
/// the check's network round trip must not meet a clock that jumps ahead while it waits.
async fn paused_service() -> TestService {
    let s = service().await;
    s.engine().check_reachable().await.unwrap();
    tokio::time::pause();
    s
}

fn request(method: &str, uri: &str) -> axum::http::request::Builder {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(header::HOST, format!("localhost:{PORT}"))
        .header(header::CONTENT_TYPE, "application/json")
}

/// `flow`'s status document once it ends (a long poll of up to 5 s).
async fn status_after_wait(s: &Service, flow: &Value) -> Value {
    let id = flow["id"].as_str().unwrap();
    send(s, get(&format!("/v1/flows/{id}?wait=5"))).await.1
}

/// A control-API GET with no body.
fn get(path: &str) -> Request<Body> {
    request("GET", path).body(Body::empty()).unwrap()
}

/// `GET /v1/flows/{id}?wait=30` for `flow`, on a task of its own: its JSON reply.
fn long_poll(s: &Service, flow: &Value) -> tokio::task::JoinHandle<Value> {
    let s = s.clone();
    let id = flow["id"].as_str().unwrap().to_owned();
    tokio::spawn(async move {
        let req = get(&format!("/v1/flows/{id}?wait=30"));
        send(&s, req).await.1
    })
}

async fn send(service: &Service, req: Request<Body>) -> (StatusCode, Value, String) {
    let router = if req.uri().path().starts_with("/v1") {
        service.control_router()
    } else {
        service.browser_router()
    };
    send_to(router, req).await
}

async fn send_to(router: axum::Router, req: Request<Body>) -> (StatusCode, Value, String) {
    let response = router.oneshot(req).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    )
}

async fn create(service: &Service, body: &str) -> (StatusCode, Value) {
    let req = request("POST", "/v1/flows")
        .body(Body::from(body.to_owned()))
        .unwrap();
    let (status, json, _) = send(service, req).await;
    (status, json)
}

#[tokio::test]
async fn the_tcp_port_serves_no_control_api() {
    let s = service().await;
    for (method, path) in [
        ("POST", "/v1/flows"),
        ("GET", "/v1/flows/x"),
        ("DELETE", "/v1/flows/x"),
    ] {
        let req = request(method, path).body(Body::from("{}")).unwrap();
        let (status, _, _) = send_to(s.browser_router(), req).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}");
    }
    assert_eq!(s.pending(), 0);
}

#[tokio::test]
async fn control_requests_with_an_origin_are_403() {
    let s = service().await;
    let req = request("POST", "/v1/flows")
        .header(header::ORIGIN, "https://evil.example")
        .body(Body::from("{}"))
        .unwrap();
    assert_eq!(send(&s, req).await.0, StatusCode::FORBIDDEN);
    let req = Request::get("/healthz")
        .header(header::ORIGIN, "null")
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        send_to(s.control_router(), req).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(s.pending(), 0);
}

#[tokio::test]
async fn a_foreign_host_is_refused() {
    let s = service().await;
    for host in [
        "evil.example:4321".to_owned(),
        format!("localhost:{}", PORT + 1),
        "attacker.localhost.example".to_owned(),
    ] {
        let req = Request::get("/callback/x?code=c&state=s")
            .header(header::HOST, host.as_str())
            .body(Body::empty())
            .unwrap();
        assert_eq!(
            send(&s, req).await.0,
            StatusCode::MISDIRECTED_REQUEST,
            "{host}"
        );
    }
    assert_eq!(s.pending(), 0);
}

#[tokio::test]
async fn healthz_is_200_with_no_data() {
    let s = service().await;
    let req = Request::get("/healthz")
        .header(header::HOST, format!("127.0.0.1:{PORT}"))
        .body(Body::empty())
        .unwrap();
    let (status, _, text) = send(&s, req).await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.is_empty(), "{text}");
}

#[tokio::test]
async fn bad_bodies_are_400_naming_the_field() {
    let s = service().await;
    for (body, field) in [
        ("not json", "body"),
        ("[]", "body"),
        (
            r#"{"exchange":"yes"}"#,
            "body: invalid type: string \"yes\", expected a boolean",
        ),
        (
            r#"{"open_browser":1}"#,
            "body: invalid type: integer `1`, expected a boolean",
        ),
        (r#"{"limit":-5}"#, "limit"),
        (r#"{"limit":"ten"}"#, "body: invalid type: string \"ten\""),
        (r#"{"expires_at":"tomorrow"}"#, "expires_at"),
        (r#"{"expires_at":"2001-01-01T00:00:00Z"}"#, "expires_at"),
        (
            r#"{"callback_scheme":"ftp"}"#,
            "body: unknown variant `ftp`",
        ),
        (r#"{"exchnage":true}"#, "body: unknown field `exchnage`"),
    ] {
        let (status, json) = create(&s, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let message = json["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(field), "{body}: {message}");
        assert_eq!(json["error"]["code"], "bad_request");
        assert_eq!(json["error"]["exit_code"], 2);
    }
    assert_eq!(s.pending(), 0);
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let s = service().await;
    let body = format!(r#"{{"exchange":true,"pad":"{}"}}"#, "x".repeat(64 * 1024));
    let (status, json) = create(&s, &body).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(json["error"]["code"], "bad_request", "not JSON: {json}");
}

#[tokio::test]
async fn every_control_refusal_is_json() {
    let s = service().await;
    for (method, path, want) in [
        ("PUT", "/v1/flows", StatusCode::METHOD_NOT_ALLOWED),
        ("GET", "/v1/nothing", StatusCode::NOT_FOUND),
        ("POST", "/v1/flows/x", StatusCode::METHOD_NOT_ALLOWED),
    ] {
        let req = request(method, path).body(Body::empty()).unwrap();
        let (status, json, text) = send(&s, req).await;
        assert_eq!(status, want, "{method} {path}");
        assert!(
            json["error"]["message"].is_string(),
            "{method} {path}: {text}"
        );
        assert!(json["error"]["exit_code"].is_number(), "{text}");
    }
}

#[tokio::test]
async fn unknown_ids_are_404() {
    let s = service().await;
    let req = get("/v1/flows/nope");
    assert_eq!(send(&s, req).await.0, StatusCode::NOT_FOUND);
    let req = request("DELETE", "/v1/flows/nope")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&s, req).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_default_pending_cap_gives_429() {
    let s = service().await;
    let cap = crate::defaults::MAX_PENDING;
    for _ in 0..cap {
        assert_eq!(
            create(&s, r#"{"exchange":false}"#).await.0,
            StatusCode::CREATED
        );
    }
    let (status, json) = create(&s, r#"{"exchange":false}"#).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{json}");
    assert_eq!(json["error"]["code"], "too_many_flows");
    assert_eq!(json["error"]["exit_code"], 9);
    assert_eq!(s.pending(), cap);
}

#[tokio::test]
async fn a_huge_wait_is_clamped_not_a_crash() {
    let s = service().await;
    let (_, flow) = create(&s, r#"{"exchange":false}"#).await;
    let id = flow["id"].as_str().unwrap();
    s.stop();
    for wait in ["1e300", "18446744073709551615"] {
        let req = get(&format!("/v1/flows/{id}?wait={wait}"));
        let (status, json, _) = send(&s, req).await;
        assert_eq!(status, StatusCode::OK, "{wait}");
        assert_eq!(json["error"]["code"], "service_stopping");
    }
}

#[tokio::test]
async fn another_openrouter_url_is_a_conflict_and_scheme_and_host_are_honoured() {
    let s = service().await;
    let (status, json) = create(&s, r#"{"openrouter_url":"https://openrouter.ai/"}"#).await;
    assert_eq!(status, StatusCode::CONFLICT, "{json}");
    assert_eq!(json["error"]["code"], "conflict");
    assert_eq!(json["error"]["exit_code"], 2);
    assert_eq!(s.pending(), 0);
    let body = serde_json::json!({
        "openrouter_url": s.engine().config().openrouter,
        "callback_scheme": "https",
        "callback_host": "127.0.0.1",
    });
    let (status, json) = create(&s, &body.to_string()).await;
    assert_eq!(status, StatusCode::CREATED, "{json}");
    let (cb, _) = callback_of(json["authorize_url"].as_str().unwrap());
    assert_eq!(
        cb.scheme(),
        "https",
        "an explicit https is obeyed, trusted or not"
    );
    assert_eq!(cb.host_str(), Some("127.0.0.1"));
    // Without them, the service's own defaults: auto (http while the CA is untrusted), localhost.
    for body in ["{}", r#"{"callback_scheme":"auto"}"#] {
        let (_, json) = create(&s, body).await;
        let (cb, _) = callback_of(json["authorize_url"].as_str().unwrap());
        assert_eq!((cb.scheme(), cb.host_str()), ("http", Some("localhost")));
    }
}

#[tokio::test]
async fn a_flow_is_refused_while_openrouter_does_not_answer() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = url::Url::parse(&format!("http://{}/", closed.local_addr().unwrap())).unwrap();
    drop(closed);
    let untrusted = std::env::temp_dir().join("openrouter-pkce-service-api-no-ca");
    let s = Service::new(ServiceConfig::new(
        url,
        PORT,
        crate::tls::CertSource::Local(untrusted),
    ));
    let (status, json) = create(&s, r#"{"exchange":true}"#).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{json}");
    assert_eq!(json["error"]["code"], "unreachable");
    assert_eq!(json["error"]["exit_code"], 6);
    assert_eq!(s.pending(), 0, "no flow is left waiting for a browser");
}

/// The callback URL and state inside an authorize URL.
fn callback_of(authorize: &str) -> (url::Url, String) {
    let url = url::Url::parse(authorize).unwrap();
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    (
        url::Url::parse(&q["callback_url"]).unwrap(),
        q["state"].clone(),
    )
}

async fn callback(s: &Service, url: &url::Url) -> (StatusCode, String) {
    let path = format!("{}?{}", url.path(), url.query().unwrap_or(""));
    let req = Request::get(path)
        .header(header::HOST, format!("localhost:{PORT}"))
        .body(Body::empty())
        .unwrap();
    let (status, _, text) = send(s, req).await;
    (status, text)
}

#[tokio::test]
async fn callbacks_are_routed_to_their_flow_by_state_and_nonce() {
    let s = service().await;
    let (_, a) = create(&s, r#"{"exchange":false,"limit":5}"#).await;
    let (_, b) = create(&s, r#"{"exchange":false}"#).await;
    assert_ne!(a["id"], b["id"]);
    assert!(a["authorize_url"].as_str().unwrap().contains("limit=5"));
    assert!(a["expires_at"].as_str().unwrap().contains('T'));
    let (cb_a, state_a) = callback_of(a["authorize_url"].as_str().unwrap());
    let (cb_b, state_b) = callback_of(b["authorize_url"].as_str().unwrap());
    assert_ne!(state_a, state_b);

    // A's nonce with B's state is refused and changes nothing.
    let mut crossed = cb_a.clone();
    crossed
        .query_pairs_mut()
        .append_pair("code", "x")
        .append_pair("state", &state_b);
    assert_eq!(callback(&s, &crossed).await.0, StatusCode::BAD_REQUEST);

    let mut real_b = cb_b.clone();
    real_b
        .query_pairs_mut()
        .append_pair("code", "code-for-b")
        .append_pair("state", &state_b);
    let (status, page) = callback(&s, &real_b).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains("code-for-b"));
    // Replaying the same callback finds nothing.
    assert_eq!(callback(&s, &real_b).await.0, StatusCode::NOT_FOUND);

    let get = |id: &Value| {
        request("GET", &format!("/v1/flows/{}?wait=5", id.as_str().unwrap()))
            .body(Body::empty())
            .unwrap()
    };
    let (_, status_b, _) = send(&s, get(&b["id"])).await;
    assert_eq!(status_b["status"], "succeeded");
    assert_eq!(status_b["result"]["code"], "code-for-b");
    assert_eq!(status_b["result"]["code_challenge_method"], "S256");
    // A is still waiting; a short wait returns pending.
    let req = request(
        "GET",
        &format!("/v1/flows/{}?wait=0.1", a["id"].as_str().unwrap()),
    )
    .body(Body::empty())
    .unwrap();
    assert_eq!(send(&s, req).await.1["status"], "pending");
    // The finished result can be fetched again (a caller that lost its connection).
    let (_, again, _) = send(&s, get(&b["id"])).await;
    assert_eq!(again["result"]["code"], "code-for-b");
}

// The paused clock orders events: it only moves when every task is idle, so the long-poll is
// waiting before the callback is sent.
#[tokio::test]
async fn a_long_poll_returns_as_soon_as_the_callback_lands() {
    let s = paused_service().await;
    let (_, flow) = create(&s, r#"{"exchange":false}"#).await;
    let (cb, state) = callback_of(flow["authorize_url"].as_str().unwrap());
    let poll = long_poll(&s, &flow);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !poll.is_finished(),
        "the long-poll answered before the callback"
    );
    let mut real = cb.clone();
    real.query_pairs_mut()
        .append_pair("code", "c1")
        .append_pair("state", &state);
    callback(&s, &real).await;
    let result = tokio::time::timeout(Duration::from_secs(5), poll)
        .await
        .expect("long-poll answered")
        .unwrap();
    assert_eq!(result["status"], "succeeded");
}

#[tokio::test]
async fn a_denial_fails_the_flow_with_the_denied_code() {
    let s = service().await;
    let (_, flow) = create(&s, r#"{"exchange":true}"#).await;
    let (mut cb, _) = callback_of(flow["authorize_url"].as_str().unwrap());
    cb.query_pairs_mut().append_pair("error", "access_denied");
    assert_eq!(callback(&s, &cb).await.0, StatusCode::OK);
    let status = status_after_wait(&s, &flow).await;
    assert_eq!(status["status"], "failed");
    assert_eq!(status["error"]["code"], "denied");
    assert_eq!(status["error"]["exit_code"], 3);
}

#[tokio::test]
async fn delete_cancels_and_the_callback_right_after_is_refused() {
    let s = service().await;
    let (_, flow) = create(&s, r#"{"exchange":false}"#).await;
    let id = flow["id"].as_str().unwrap();
    let req = request("DELETE", &format!("/v1/flows/{id}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&s, req).await.0, StatusCode::NO_CONTENT);
    let (mut cb, state) = callback_of(flow["authorize_url"].as_str().unwrap());
    cb.query_pairs_mut()
        .append_pair("code", "late")
        .append_pair("state", &state);
    // No pause: the DELETE has withdrawn the callback registration before it answered.
    let (status, page) = callback(&s, &cb).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{page}");
    assert_eq!(s.pending(), 0);
    let req = get(&format!("/v1/flows/{id}"));
    assert_eq!(send(&s, req).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn pending_flows_expire_at_the_default_flow_timeout() {
    let s = paused_service().await;
    let started = tokio::time::Instant::now();
    let (_, flow) = create(&s, r#"{"exchange":false}"#).await;
    let id = flow["id"].as_str().unwrap();
    let status = loop {
        let req = get(&format!("/v1/flows/{id}?wait=60"));
        let status = send(&s, req).await.1;
        if status["status"] != "pending" {
            break status;
        }
    };
    let waited = started.elapsed();
    assert_eq!(status["status"], "expired");
    assert_eq!(status["error"]["code"], "expired");
    assert_eq!(status["error"]["exit_code"], 4);
    let timeout = Duration::from_secs(crate::defaults::FLOW_TIMEOUT_SECS);
    assert!(
        waited >= timeout && waited < timeout + Duration::from_secs(61),
        "{waited:?}"
    );
    // An expired flow's callback finds no login.
    let (mut cb, state) = callback_of(flow["authorize_url"].as_str().unwrap());
    cb.query_pairs_mut()
        .append_pair("code", "late")
        .append_pair("state", &state);
    assert_eq!(callback(&s, &cb).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn finished_results_are_wiped_after_the_default_ttl() {
    let s = paused_service().await;
    let (_, flow) = create(&s, r#"{"exchange":false}"#).await;
    let (mut cb, state) = callback_of(flow["authorize_url"].as_str().unwrap());
    cb.query_pairs_mut()
        .append_pair("code", "c")
        .append_pair("state", &state);
    callback(&s, &cb).await;
    let id = flow["id"].as_str().unwrap();
    let req = get(&format!("/v1/flows/{id}?wait=5"));
    assert_eq!(send(&s, req).await.1["status"], "succeeded");
    let ttl = crate::defaults::RESULT_TTL;
    tokio::time::advance(ttl - Duration::from_secs(1)).await;
    assert_eq!(s.sweep(), 0, "wiped before the TTL");
    tokio::time::advance(Duration::from_secs(2)).await;
    assert_eq!(s.sweep(), 1);
    let req = get(&format!("/v1/flows/{id}"));
    assert_eq!(send(&s, req).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn stopping_fails_pending_flows_and_refuses_new_ones() {
    let s = paused_service().await;
    let (_, flow) = create(&s, r#"{"exchange":true}"#).await;
    let poll = long_poll(&s, &flow);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!poll.is_finished());
    s.stop();
    let status = tokio::time::timeout(Duration::from_secs(2), poll)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status["status"], "failed");
    assert_eq!(status["error"]["code"], "service_stopping");
    assert_eq!(status["error"]["exit_code"], 8);
    assert_eq!(
        create(&s, r#"{"exchange":true}"#).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

/// A service flow with `exchange: true` holds the browser's page until the exchange is done:
/// a code OpenRouter refuses gets a page saying the key was not created (never "logged in"),
/// and the flow's status carries the same failure.
#[tokio::test]
async fn the_page_of_an_exchanging_flow_says_what_became_of_the_key() {
    let s = service().await;
    let (_, flow) = create(&s, r#"{"exchange":true}"#).await;
    let (mut cb, state) = callback_of(flow["authorize_url"].as_str().unwrap());
    cb.query_pairs_mut()
        .append_pair("code", "a-code-the-stand-in-never-issued")
        .append_pair("state", &state);
    let (status, page) = callback(&s, &cb).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{page}");
    assert!(page.contains("The key was not created"), "{page}");
    assert!(
        page.contains("works once"),
        "the page says what to do: {page}"
    );
    assert!(!page.contains("Logged in"), "{page}");
    let status = status_after_wait(&s, &flow).await;
    assert_eq!(status["status"], "failed");
    assert_eq!(status["error"]["code"], "refused");
}

/// OpenRouter's `/auth` has no expiry parameter, so a flow asking for one is refused (a person
/// would believe their key expires when it never does); `limit` goes on the URL.
#[tokio::test]
async fn expires_at_is_refused_and_limit_is_sent() {
    let s = service().await;
    let (status, json) = create(
        &s,
        r#"{"exchange":false,"expires_at":"2099-01-01T00:00:00Z"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{json}");
    let message = json["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("expires_at") && message.contains("create-code"),
        "{message}"
    );
    assert_eq!(s.pending(), 0);
    let (status, json) = create(&s, r#"{"exchange":false,"limit":5}"#).await;
    assert_eq!(status, StatusCode::CREATED, "{json}");
    let url = url::Url::parse(json["authorize_url"].as_str().unwrap()).unwrap();
    assert!(
        url.query_pairs().any(|(k, v)| k == "limit" && v == "5"),
        "{url}"
    );
    assert!(url.query_pairs().all(|(k, _)| k != "expires_at"), "{url}");
}
