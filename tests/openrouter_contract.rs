//! Contract tests that cannot drift from OpenRouter's published API: every request body the
//! client sends and every reply the stand-in gives is validated against JSON Schemas written
//! from OpenRouter's OpenAPI document (tests/schemas/), and the stand-in's published rules are
//! checked one by one.

mod common;

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use openrouter_pkce::StandIn as InProcess;
use serde_json::{Value, json};

use common::*;

/// A schema from tests/schemas, with format checks (uri, date-time, uuid) on.
fn schema(name: &str) -> jsonschema::Validator {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/schemas")
        .join(format!("{name}.json"));
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[track_caller]
fn assert_valid(name: &str, instance: &Value) {
    let errors: Vec<String> = schema(name)
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{name}: {instance}\n{errors:#?}");
}

#[track_caller]
fn assert_invalid(name: &str, instance: &Value) {
    assert!(
        !schema(name).is_valid(instance),
        "{name} accepted {instance}: the schema is too loose"
    );
}

/// The schemas themselves catch drift: each refuses a body missing a required field or with a
/// wrong type (so a test passing means the shape matched, not that nothing was checked).
#[test]
fn the_schemas_refuse_what_the_document_refuses() {
    assert_invalid("exchange.request", &json!({"code_verifier": "v"}));
    assert_invalid(
        "exchange.request",
        &json!({"code": "c", "code_challenge_method": "MD5"}),
    );
    assert_invalid("exchange.request", &json!({"code": "c", "extra": 1}));
    assert_invalid("exchange.200", &json!({"key": "k"}));
    assert_invalid("create_code.request", &json!({"code_challenge": "c"}));
    assert_invalid(
        "create_code.request",
        &json!({"callback_url": "https://a.example/cb", "key_label": "x".repeat(101)}),
    );
    assert_invalid(
        "create_code.request",
        &json!({"callback_url": "https://a.example/cb", "workspace_id": "not-a-uuid"}),
    );
    assert_invalid(
        "create_code.request",
        &json!({"callback_url": "https://a.example/cb", "expires_at": "tomorrow"}),
    );
    assert_invalid(
        "create_code.200",
        &json!({"data": {"id": "c", "app_id": "1", "created_at": "t"}}),
    );
    assert_invalid("key.200", &json!({"data": {"label": "l"}}));
    assert_invalid("error", &json!({"error": {"message": "no code"}}));
}

/// A fake OpenRouter that records every request it gets and answers the documented success.
struct Recorder {
    addr: std::net::SocketAddr,
    requests: Arc<Mutex<Vec<(String, axum::http::HeaderMap, Value)>>>,
    _rt: tokio::runtime::Runtime,
}

impl Recorder {
    fn start() -> Self {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let app = axum::Router::new().fallback(
            move |uri: axum::http::Uri, headers: axum::http::HeaderMap, body: String| {
                let seen = seen.clone();
                async move {
                    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                    seen.lock()
                        .unwrap()
                        .push((uri.path().to_owned(), headers, body));
                    match uri.path() {
                        "/api/v1/auth/keys" => axum::Json(json!({"key": "sk-or-v1-recorded", "user_id": null})),
                        _ => axum::Json(json!({"data": {"id": "code-recorded", "app_id": 7, "created_at": "2026-11-29T00:00:00Z"}})),
                    }
                }
            },
        );
        let (addr, rt) = serve_in_background(app);
        Self {
            addr,
            requests,
            _rt: rt,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn bodies(&self, path: &str) -> Vec<Value> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _, _)| p == path)
            .map(|(_, _, b)| b.clone())
            .collect()
    }
}

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/// (a) Every body the client sends is one the document describes: create-code with every
/// field and with none of the optional ones, and the exchange with and without a method.
#[test]
fn every_request_body_the_client_sends_is_documented() {
    let env = TestEnv::new();
    let fake = Recorder::start();
    let run_ok = |args: &[&str], stdin: Option<&str>| {
        let mut cmd = env.command();
        cmd.args(args)
            .env("OPENROUTER_API_KEY", "sk-or-v1-management");
        let (status, stdout, stderr) = match stdin {
            Some(text) => run_with_stdin(cmd, text),
            None => run(cmd),
        };
        assert!(status.success(), "{args:?}: {stderr}");
        stdout
    };
    let url = fake.url();
    run_ok(&["create-code", "--openrouter-url", &url], None);
    run_ok(
        &[
            "create-code",
            "--openrouter-url",
            &url,
            "--callback-url",
            "https://myapp.example/cb",
            "--code-challenge-method",
            "plain",
            "--limit",
            "12.5",
            "--expires-at",
            "2099-12-31T23:59:59Z",
            "--key-label",
            "ci key",
            "--usage-limit-type",
            "weekly",
            "--workspace-id",
            "0b9c6f0e-3c1a-4c64-9f2b-6f1d2e3a4b5c",
        ],
        None,
    );
    let bodies = fake.bodies("/api/v1/auth/keys/code");
    assert_eq!(bodies.len(), 2);
    for body in &bodies {
        assert_valid("create_code.request", body);
    }
    assert_eq!(bodies[1]["usage_limit_type"], "weekly");
    // The exchange: a bundle with a method, and bundles without one (a code made without a
    // challenge), which are sent without one: never as a guessed S256.
    let with_method =
        json!({"code": "c1", "code_verifier": VERIFIER, "code_challenge_method": "S256"});
    let no_method = json!({"code": "c2", "code_verifier": VERIFIER});
    let bare = json!({"code": "c3"});
    for bundle in [&with_method, &no_method, &bare] {
        let out = run_ok(
            &["exchange", "--openrouter-url", &url],
            Some(&bundle.to_string()),
        );
        // `user_id: null` in the reply is fine.
        assert_eq!(json(&out)["key"], "sk-or-v1-recorded");
    }
    let sent = fake.bodies("/api/v1/auth/keys");
    assert_eq!(sent.len(), 3);
    for body in &sent {
        assert_valid("exchange.request", body);
    }
    assert_eq!(sent[0]["code_challenge_method"], "S256");
    assert!(
        sent[1].get("code_challenge_method").is_none(),
        "{}",
        sent[1]
    );
    assert_eq!(sent[1]["code_verifier"], VERIFIER);
    assert_eq!(sent[2], json!({"code": "c3"}));
}

/// `--app-name`/`--app-url` (or their environment variables) attribute the calls to the app
/// with the two headers the document lists for these operations.
#[test]
fn app_attribution_goes_in_the_documented_headers() {
    let env = TestEnv::new();
    let fake = Recorder::start();
    let mut cmd = env.command();
    cmd.args([
        "create-code",
        "--openrouter-url",
        &fake.url(),
        "--app-name",
        "My Desktop App",
    ])
    .env("OPENROUTER_API_KEY", "sk-or-v1-management")
    .env("OPENROUTER_PKCE_APP_URL", "https://myapp.example/");
    let (status, _, stderr) = run(cmd);
    assert!(status.success(), "{stderr}");
    let requests = fake.requests.lock().unwrap();
    let (_, headers, _) = requests.last().unwrap();
    assert_eq!(headers["x-openrouter-title"], "My Desktop App");
    assert_eq!(headers["http-referer"], "https://myapp.example/");
    assert!(
        headers.get(header::REFERER).is_none(),
        "OpenRouter reads HTTP-Referer"
    );
    drop(requests);
    // A value that cannot be a header is refused before anything is sent.
    let mut cmd = env.command();
    cmd.args([
        "create-code",
        "--openrouter-url",
        &fake.url(),
        "--app-name",
        "a\nb",
    ])
    .env("OPENROUTER_API_KEY", "sk-or-v1-management");
    let (status, _, stderr) = run(cmd);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--app-name"), "{stderr}");
}

/// A request to the library's stand-in (on its own loopback port): status, headers and JSON
/// body. Redirects are not followed.
async fn call(app: &InProcess, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Value) {
    let (parts, body) = req.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    install_crypto_provider();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url = format!("{}{}", app.url().trim_end_matches('/'), parts.uri);
    let response = client
        .request(parts.method, url)
        .headers(parts.headers)
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.unwrap();
    (
        status,
        headers,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn post(path: &str, bearer: Option<&str>, body: Value) -> Request<Body> {
    let mut req = Request::post(path).header(header::CONTENT_TYPE, "application/json");
    if let Some(key) = bearer {
        req = req.header(header::AUTHORIZATION, key);
    }
    req.body(Body::from(body.to_string())).unwrap()
}

/// `/auth` on an auto-approving stand-in; the redirect's query (the code, and state if echoed).
async fn authorize(app: &InProcess, query: &str) -> (StatusCode, url::Url) {
    let req = Request::get(format!("/auth?{query}"))
        .body(Body::empty())
        .unwrap();
    let (status, headers, _) = call(app, req).await;
    let location = headers
        .get(header::LOCATION)
        .map(|l| l.to_str().unwrap().to_owned())
        .unwrap_or_else(|| "http://none/".into());
    (status, url::Url::parse(&location).unwrap())
}

/// The exchange of `code` with the test verifier and S256, as the client sends it.
async fn exchange_s256(
    app: &InProcess,
    code: impl serde::Serialize,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let body = json!({"code": code, "code_verifier": VERIFIER, "code_challenge_method": "S256"});
    call(app, post("/api/v1/auth/keys", None, body)).await
}

/// `POST /api/v1/auth/keys/code` with `authorization` (the whole header value).
async fn create_code_at(
    app: &InProcess,
    authorization: &str,
    body: Value,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    call(
        app,
        post("/api/v1/auth/keys/code", Some(authorization), body),
    )
    .await
}

/// The `/auth` query of a login with an S256 `challenge`, coming back to [`CALLBACK`].
fn s256_query(challenge: &str) -> String {
    format!("callback_url={CALLBACK}&code_challenge={challenge}&code_challenge_method=S256")
}

fn code_of(url: &url::Url) -> String {
    url.query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no code in {url}"))
}

async fn approving(echo_state: bool) -> InProcess {
    InProcess::builder()
        .echo_state(echo_state)
        .start()
        .await
        .unwrap()
}

const CALLBACK: &str = "http%3A%2F%2Flocalhost%3A4000%2Fcb";

/// (b) Every reply the stand-in gives, success and error, has the documented shape; and its
/// rules are OpenRouter's, point by point.
#[tokio::test]
async fn every_stand_in_reply_is_documented_and_its_rules_are_openrouters() {
    let app = approving(false).await;
    // S256, as the client does: a code, exchanged once.
    let challenge = s256(VERIFIER);
    let (status, back) = authorize(
        &app,
        &format!(
            "callback_url={CALLBACK}&code_challenge={challenge}&code_challenge_method=S256&state=st"
        ),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        back.query_pairs().all(|(k, _)| k != "state"),
        "state is not documented, so it is not echoed by default: {back}"
    );
    let code = code_of(&back);
    let (status, _, reply) = exchange_s256(&app, &code).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_valid("exchange.200", &reply);
    let key = reply["key"].as_str().unwrap().to_owned();
    // Used twice: 403, documented error body.
    let (status, _, reply) = exchange_s256(&app, &code).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_valid("error", &reply);
    // Another method than the code's: 400 "Invalid code_challenge_method"; no method at all is
    // not silently plain.
    for sent in [json!("plain"), Value::Null] {
        let (_, back) = authorize(&app, &s256_query(&challenge)).await;
        let mut body = json!({"code": code_of(&back), "code_verifier": VERIFIER});
        if !sent.is_null() {
            body["code_challenge_method"] = sent.clone();
        }
        let (status, _, reply) = call(&app, post("/api/v1/auth/keys", None, body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{sent}: {reply}");
        assert_eq!(reply["error"]["message"], "Invalid code_challenge_method");
        assert_valid("error", &reply);
    }
    // The wrong verifier: 403.
    let (_, back) = authorize(&app, &s256_query(&challenge)).await;
    let (status, _, reply) = call(
        &app,
        post("/api/v1/auth/keys", None, json!({"code": code_of(&back), "code_verifier": "x".repeat(43), "code_challenge_method": "S256"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{reply}");
    assert_eq!(reply["error"]["message"], "Invalid code or code_verifier");
    // The guide's form without a challenge: a code exchanged with the code alone.
    let (status, back) = authorize(&app, &format!("callback_url={CALLBACK}")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, reply) = call(
        &app,
        post("/api/v1/auth/keys", None, json!({"code": code_of(&back)})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_valid("exchange.200", &reply);
    // GET /key for the key it issued, and 401 for any other.
    let get_key = |bearer: &str| {
        Request::get("/api/v1/key")
            .header(header::AUTHORIZATION, bearer)
            .body(Body::empty())
            .unwrap()
    };
    let (status, _, reply) = call(&app, get_key(&format!("Bearer {key}"))).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_valid("key.200", &reply);
    let (status, _, reply) = call(&app, get_key("Bearer sk-or-v1-unknown")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_valid("error", &reply);
    // Unknown paths: 404 with the documented error body.
    let (status, _, reply) = call(
        &app,
        Request::get("/api/v1/nope").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_valid("error", &reply);
}

#[tokio::test]
async fn create_code_at_the_stand_in_follows_the_documented_rules() {
    let app = approving(false).await;
    let mgmt = InProcess::MANAGEMENT_KEY;
    // Only callback_url is required; the bearer scheme is case-insensitive.
    let (status, _, reply) = create_code_at(
        &app,
        &format!("bearer {mgmt}"),
        json!({"callback_url": "https://myapp.example/cb"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_valid("create_code.200", &reply);
    // A code made without a challenge is exchanged without a verifier.
    let code = reply["data"]["id"].as_str().unwrap();
    let (status, _, reply) =
        call(&app, post("/api/v1/auth/keys", None, json!({"code": code}))).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    // A negative limit and a past expiry are refused (400 naming the field), as the client
    // refuses them before sending: an app's tests meet the refusal, not a stand-in leniency.
    for (body, field) in [
        (
            json!({"callback_url": "http://127.0.0.1:9/cb", "limit": -1}),
            "limit",
        ),
        (
            json!({"callback_url": "http://127.0.0.1:9/cb", "expires_at": "2000-01-01T00:00:00Z"}),
            "expires_at",
        ),
    ] {
        let (status, _, reply) = create_code_at(&app, &format!("Bearer {mgmt}"), body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
        assert_valid("error", &reply);
        assert!(
            reply["error"]["message"].as_str().unwrap().contains(field),
            "{reply}"
        );
    }
    // The callback_url rule: https, or localhost/127.0.0.1 on any port; not [::1] or 127.0.0.2.
    for bad in [
        "http://[::1]:3000/cb",
        "http://127.0.0.2:3000/cb",
        "http://example.com/cb",
        "ftp://localhost/cb",
    ] {
        let (status, _, reply) = create_code_at(
            &app,
            &format!("Bearer {mgmt}"),
            json!({"callback_url": bad}),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {reply}");
        assert_valid("error", &reply);
    }
    // Minute-precision expiry is refused, as documented.
    let (status, _, _) = create_code_at(
        &app,
        &format!("Bearer {mgmt}"),
        json!({
            "callback_url": "https://myapp.example/cb", "expires_at": "2099-01-01T00:00Z"
        }),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // No bearer: 401; a key the stand-in issued (an inference key): 403; both documented.
    let (status, _, reply) = call(
        &app,
        post(
            "/api/v1/auth/keys/code",
            None,
            json!({"callback_url": "https://a.example/"}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_valid("error", &reply);
    let (_, back) = authorize(&app, &format!("callback_url={CALLBACK}")).await;
    let (_, _, issued) = call(
        &app,
        post("/api/v1/auth/keys", None, json!({"code": code_of(&back)})),
    )
    .await;
    let inference = issued["key"].as_str().unwrap();
    let (status, _, reply) = create_code_at(
        &app,
        &format!("Bearer {inference}"),
        json!({"callback_url": "https://a.example/"}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_valid("error", &reply);
}

/// The headless form (no callback_url) needs a challenge and takes a key_label, which the key
/// then carries.
#[tokio::test]
async fn the_headless_form_needs_a_challenge_and_takes_a_label() {
    let app = approving(false).await;
    let get = |q: String| {
        let url = format!("{}auth?{q}", app.url());
        async move {
            let response = reqwest::get(url).await.unwrap();
            (response.status(), response.text().await.unwrap())
        }
    };
    install_crypto_provider();
    let (status, _) = get("key_label=x".into()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let challenge = s256(VERIFIER);
    let (status, page) = get(format!(
        "code_challenge={challenge}&code_challenge_method=S256&key_label=My%20CLI&limit=3"
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
    let code = page
        .split("<code id=\"code\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap();
    let (status, _, reply) = exchange_s256(&app, code).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let key = reply["key"].as_str().unwrap();
    let (_, _, info) = call(
        &app,
        Request::get("/api/v1/key")
            .header(header::AUTHORIZATION, format!("Bearer {key}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(info["data"]["label"], "My CLI");
    assert_eq!(info["data"]["limit"], 3.0);
}

/// `--echo-state` sends state back; the client logs in both ways (state is not documented, so
/// it must never depend on it).
#[test]
fn logins_work_whether_or_not_state_comes_back() {
    let env = TestEnv::new();
    for extra in [
        &["--auto-approve"][..],
        &["--auto-approve", "--echo-state"][..],
    ] {
        let stand_in = StandIn::start(&env, extra);
        let (status, stdout, stderr) = run(env.with_browser("login", &stand_in.url));
        assert!(status.success(), "{extra:?}: {stderr}");
        assert_standin_key(&stdout);
    }
    let back = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let app = approving(true).await;
        let query = format!(
            "callback_url={CALLBACK}&code_challenge=c&code_challenge_method=plain&state=st1"
        );
        authorize(&app, &query).await.1
    });
    assert!(
        back.query_pairs().any(|(k, v)| k == "state" && v == "st1"),
        "--echo-state did not echo: {back}"
    );
}

/// The stand-in checks S256 with its own code: RFC 7636's appendix B pair verifies through the
/// whole exchange, and a challenge made by the client's pkce module for another verifier fails.
#[tokio::test]
async fn the_stand_in_checks_s256_on_its_own() {
    let app = approving(false).await;
    // RFC 7636 appendix B.
    let rfc_challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let (_, back) = authorize(
        &app,
        &format!(
            "callback_url={CALLBACK}&code_challenge={rfc_challenge}&code_challenge_method=S256"
        ),
    )
    .await;
    let (status, _, reply) = call(
        &app,
        post("/api/v1/auth/keys", None, json!({"code": code_of(&back), "code_verifier": VERIFIER, "code_challenge_method": "S256"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
}

/// A fake OpenRouter answering `replies` in turn (the last one from then on), counting calls.
fn scripted(replies: Vec<(u16, Value)>) -> (String, Arc<Mutex<usize>>, tokio::runtime::Runtime) {
    let calls = Arc::new(Mutex::new(0usize));
    let seen = calls.clone();
    let replies = Arc::new(replies);
    let app = axum::Router::new().fallback(move || {
        let seen = seen.clone();
        let replies = replies.clone();
        async move {
            let mut n = seen.lock().unwrap();
            let (status, body) = replies[(*n).min(replies.len() - 1)].clone();
            *n += 1;
            (StatusCode::from_u16(status).unwrap(), axum::Json(body))
        }
    });
    let (addr, rt) = serve_in_background(app);
    (format!("http://{addr}"), calls, rt)
}

fn create_code(url: &str) -> (Option<i32>, String, String) {
    let env = TestEnv::new();
    let mut cmd = env.command();
    cmd.args(["create-code", "--openrouter-url", url])
        .env("OPENROUTER_API_KEY", "sk-or-v1-management");
    let (status, stdout, stderr) = run(cmd);
    (status.code(), stdout, stderr)
}

/// create-code redeems nothing, so "try again later" answers (5xx, 408, 409, 429) are retried
/// with backoff; the exchange keeps its narrow retry (a 500 there is not retried: see
/// `login::a_500_is_not_retried_because_the_code_may_be_spent`).
#[test]
fn create_code_retries_what_is_safe_to_retry() {
    let error = |code: u16| json!({"error": {"code": code, "message": "Resource conflict. Please try again later."}});
    let ok = json!({"data": {"id": "code-after-retries", "app_id": 1, "created_at": "2026-11-29T00:00:00Z"}});
    let (url, calls, _rt) = scripted(vec![
        (500, error(500)),
        (409, error(409)),
        (429, error(429)),
        (200, ok),
    ]);
    let (code, stdout, stderr) = create_code(&url);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(json(&stdout)["code"], "code-after-retries");
    assert_eq!(*calls.lock().unwrap(), 4);
    // Not retried: a 400 is the request's fault.
    let (url, calls, _rt) = scripted(vec![(400, error(400))]);
    let (code, _, stderr) = create_code(&url);
    assert_eq!(code, Some(5), "{stderr}");
    assert_eq!(*calls.lock().unwrap(), 1);
}

/// Replies as OpenRouter may send them: extra fields and a non-string `created_at` are fine,
/// `data.id` empty or not a string is a reply we could not use (exit 6), and an error's
/// `metadata` is kept in the message.
#[test]
fn create_code_replies_are_read_field_by_field() {
    let data = |id: Value, created_at: Value| json!({"data": {"id": id, "app_id": 3, "created_at": created_at, "new_field": [1]}, "more": true});
    let (url, _, _rt) = scripted(vec![(200, data(json!("code-x"), json!(1764374400)))]);
    let (code, stdout, stderr) = create_code(&url);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(json(&stdout)["code"], "code-x");
    for bad in [json!(""), json!(42), Value::Null] {
        let (url, _, _rt) = scripted(vec![(200, data(bad.clone(), json!("t")))]);
        let (code, stdout, stderr) = create_code(&url);
        assert_eq!(code, Some(6), "{bad}: {stderr}");
        assert!(stdout.is_empty());
        assert!(stderr.contains("could not read"), "{stderr}");
    }
    let (url, _, _rt) = scripted(vec![(
        400,
        json!({"error": {"code": 400, "message": "Invalid request parameters", "metadata": {"field": "workspace_id"}}}),
    )]);
    let (code, _, stderr) = create_code(&url);
    assert_eq!(code, Some(5));
    assert!(
        stderr.contains("workspace_id"),
        "metadata dropped: {stderr}"
    );
}

/// `--limit` goes on `/auth` (as OpenRouter's SDK sends it); `--headless` takes `--key-label`,
/// and the stand-in's key then carries both.
#[test]
fn limit_and_key_label_reach_the_authorize_url() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &["--auto-approve"]);
    let login = Running::spawn(env.login_no_browser(&stand_in.url, 0, &["--limit", "7.5"]));
    let url = login.wait_authorize_url();
    assert!(
        url.query_pairs().any(|(k, v)| k == "limit" && v == "7.5"),
        "{url}"
    );
    assert!(url.query_pairs().all(|(k, _)| k != "expires_at"), "{url}");
    assert_eq!(follow(&url), "200");
    let (status, _, stderr) = login.finish();
    assert!(status.success(), "{stderr}");
    let mut cmd = env.command();
    cmd.args(["login", "--key-label", "x"]);
    let (status, _, stderr) = run(cmd);
    assert_eq!(
        status.code(),
        Some(2),
        "--key-label without --headless: {stderr}"
    );
    let mut headless = Running::spawn({
        let mut cmd = env.command();
        cmd.args([
            "authorize",
            "--headless",
            "--openrouter-url",
            &stand_in.url,
            "--key-label",
            "My CLI",
            "--limit",
            "2",
        ])
        .stdin(std::process::Stdio::piped());
        cmd
    });
    let url = headless.wait_authorize_url();
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["key_label"], "My CLI", "{url}");
    assert_eq!(q["limit"], "2", "{url}");
    assert!(!q.contains_key("callback_url"));
    let page = blocking_get(url.as_str());
    let code = page
        .split("<code id=\"code\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned();
    headless.write_stdin(&format!("{code}\n"));
    let (status, stdout, stderr) = headless.finish();
    assert!(status.success(), "{stderr}");
    assert!(json(&stdout)["code"].is_string());
}

/// Whatever axum itself refuses (a body that is not UTF-8 or too large, a malformed query, a
/// wrong method) still answers with OpenRouter's JSON error body.
#[tokio::test]
async fn every_stand_in_error_is_the_documented_json() {
    let app = approving(false).await;
    let cases = [
        Request::post("/api/v1/auth/keys")
            .body(Body::from(vec![0xff, 0xfe, 0x00]))
            .unwrap(),
        Request::post("/api/v1/auth/keys")
            .body(Body::from(vec![b'x'; 70 * 1024]))
            .unwrap(),
        Request::get("/auth?limit=1&limit=2")
            .body(Body::empty())
            .unwrap(),
        Request::post("/auth").body(Body::empty()).unwrap(),
        Request::delete("/api/v1/key").body(Body::empty()).unwrap(),
    ];
    for req in cases {
        let what = format!("{} {}", req.method(), req.uri());
        let (status, headers, reply) = call(&app, req).await;
        assert!(status.is_client_error(), "{what}: {status}");
        let html = headers
            .get(header::CONTENT_TYPE)
            .is_some_and(|t| t.to_str().unwrap().starts_with("text/html"));
        if !html {
            assert_valid("error", &reply);
        }
    }
}

/// RFC 7636: a challenge sent without a method is plain, so the exchange may name `plain` or
/// none for it.
#[tokio::test]
async fn a_challenge_without_a_method_is_plain() {
    let app = approving(false).await;
    for sent in [Some("plain"), None] {
        let (_, back) = authorize(
            &app,
            &format!("callback_url={CALLBACK}&code_challenge={VERIFIER}"),
        )
        .await;
        let mut body = json!({"code": code_of(&back), "code_verifier": VERIFIER});
        if let Some(m) = sent {
            body["code_challenge_method"] = m.into();
        }
        let (status, _, reply) = call(&app, post("/api/v1/auth/keys", None, body)).await;
        assert_eq!(status, StatusCode::OK, "{sent:?}: {reply}");
    }
}

/// Once OpenRouter sent a key, it reaches the caller even if the rest of the reply is odd (a
/// user_id of another type is dropped); a reply with no readable key never quotes a key.
#[test]
fn a_minted_key_is_read_whatever_else_the_reply_holds() {
    let bundle = json!({"code": "c", "code_verifier": VERIFIER, "code_challenge_method": "S256"})
        .to_string();
    let exchange = |reply: Value| {
        let (url, _, _rt) = scripted(vec![(200, reply)]);
        let env = TestEnv::new();
        let mut cmd = env.command();
        cmd.args(["exchange", "--openrouter-url", &url]);
        let (status, stdout, stderr) = run_with_stdin(cmd, &bundle);
        (status.code(), stdout, stderr)
    };
    let (code, stdout, stderr) =
        exchange(json!({"key": "sk-or-v1-odd-reply-key-0123456789", "user_id": 5}));
    assert_eq!(code, Some(0), "{stderr}");
    let out = json(&stdout);
    assert_eq!(out["key"], "sk-or-v1-odd-reply-key-0123456789");
    assert!(out["user_id"].is_null());
    let hidden = "sk-or-v1-nested-key-9876543210abcdef";
    let (code, stdout, stderr) = exchange(json!({"data": {"key": hidden}}));
    assert_eq!(code, Some(6), "{stderr}");
    assert!(stdout.is_empty());
    assert!(
        !stderr.contains(&hidden[..20]),
        "a key was quoted: {stderr}"
    );
}

/// The management key is a key: `GET /api/v1/key` answers for it with `is_management_key`.
#[tokio::test]
async fn the_management_key_is_known_to_the_key_endpoint() {
    let app = approving(false).await;
    let req = Request::get("/api/v1/key")
        .header(
            header::AUTHORIZATION,
            format!("Bearer {}", InProcess::MANAGEMENT_KEY),
        )
        .body(Body::empty())
        .unwrap();
    let (status, _, reply) = call(&app, req).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_valid("key.200", &reply);
    assert_eq!(reply["data"]["is_management_key"], true, "{reply}");
}

/// Create-code fails on demand (any 4xx/5xx, then success), and the exchange can send a null
/// `user_id`, which the schema allows: what an app's retries and parsing must meet.
#[tokio::test]
async fn create_code_fails_on_demand_and_user_id_can_be_null() {
    assert!(InProcess::builder().fail_create_codes(1, 302).is_err());
    for status in [409, 500] {
        let app = InProcess::builder()
            .fail_create_codes(1, status)
            .unwrap()
            .null_user_id(true)
            .start()
            .await
            .unwrap();
        let bearer = format!("Bearer {}", InProcess::MANAGEMENT_KEY);
        let body = json!({"callback_url": "https://myapp.example/cb"});
        let (first, _, reply) = create_code_at(&app, &bearer, body.clone()).await;
        assert_eq!(first.as_u16(), status, "{reply}");
        assert_valid("error", &reply);
        let (second, _, reply) = create_code_at(&app, &bearer, body).await;
        assert_eq!(second, StatusCode::OK, "{reply}");
        let code = reply["data"]["id"].as_str().unwrap();
        let (ok, _, reply) =
            call(&app, post("/api/v1/auth/keys", None, json!({"code": code}))).await;
        assert_eq!(ok, StatusCode::OK, "{reply}");
        assert_valid("exchange.200", &reply);
        assert!(reply["user_id"].is_null(), "{reply}");
    }
}
