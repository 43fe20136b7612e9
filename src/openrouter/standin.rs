//! The offline OpenRouter stand-in: `/auth`, `/api/v1/auth/keys` and `/api/v1/auth/keys/code`
//! with OpenRouter's rules (S256 checked, single-use codes that expire, bearer required, the
//! callback_url rule, OpenRouter's error bodies), served over plain HTTP on 127.0.0.1.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use url::Url;

use crate::error::{Error, Result};
use crate::pkce::{self, ChallengeMethod};
use crate::secret::{ApiKey, CodeVerifier};
use crate::server::pages::escape_html;

/// The management key the stand-in accepts unless told otherwise.
pub const DEFAULT_MANAGEMENT_KEY: &str = "sk-or-v1-standin-management-key";
/// Codes expire this long after they are issued, as OpenRouter's do.
const CODE_TTL: Duration = Duration::from_secs(600);
/// Largest JSON body the stand-in reads.
const MAX_BODY: usize = 64 * 1024;

/// How the stand-in behaves.
#[derive(Debug, Clone)]
pub struct StandInOptions {
    /// What `/auth` does without a person clicking.
    pub consent: Consent,
    /// Answer this many exchange requests with `fail_status` first.
    pub fail_exchanges: u32,
    /// The 5xx status for those failures.
    pub fail_status: u16,
    /// How long each exchange takes before it answers (a slow OpenRouter).
    pub exchange_delay: std::time::Duration,
    /// The bearer create-code accepts.
    pub management_key: ApiKey,
}

impl Default for StandInOptions {
    fn default() -> Self {
        Self {
            consent: Consent::Ask,
            fail_exchanges: 0,
            fail_status: 503,
            exchange_delay: std::time::Duration::ZERO,
            management_key: ApiKey::new(DEFAULT_MANAGEMENT_KEY),
        }
    }
}

/// What `/auth` does with a request that has a callback URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consent {
    /// Show a consent page with Approve and Deny.
    Ask,
    /// Redirect back with a code at once.
    AutoApprove,
    /// Redirect back with `error=access_denied` at once.
    AutoDeny,
}

struct IssuedCode {
    challenge: String,
    method: ChallengeMethod,
    issued: Instant,
}

struct ConsentRequest {
    callback_url: Url,
    challenge: String,
    method: ChallengeMethod,
    state: Option<String>,
}

#[derive(Default)]
struct Ledger {
    codes: HashMap<String, IssuedCode>,
    consent: HashMap<String, ConsentRequest>,
    user_keys: Vec<String>,
    failures_left: u32,
    exchange_requests: u64,
    exchanges_ok: u64,
    create_code_bodies: Vec<Value>,
}

#[derive(Clone)]
struct StandIn {
    options: Arc<StandInOptions>,
    ledger: Arc<Mutex<Ledger>>,
}

impl StandIn {
    fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn issue_code(&self, challenge: &str, method: ChallengeMethod) -> String {
        let code = format!("standin-code-{}", pkce::new_nonce().secret());
        self.ledger().codes.insert(
            code.clone(),
            IssuedCode {
                challenge: challenge.to_owned(),
                method,
                issued: Instant::now(),
            },
        );
        code
    }
}

/// The stand-in's routes.
pub fn router(options: StandInOptions) -> Router {
    let failures_left = options.fail_exchanges;
    let state = StandIn {
        options: Arc::new(options),
        ledger: Arc::new(Mutex::new(Ledger {
            failures_left,
            ..Ledger::default()
        })),
    };
    Router::new()
        .route("/auth", get(auth))
        .route("/auth/decide", post(decide))
        .route(
            "/api/v1/auth/keys",
            post(exchange).fallback(method_not_allowed),
        )
        .route(
            "/api/v1/auth/keys/code",
            post(create_code).fallback(method_not_allowed),
        )
        .route("/api/v1/key", get(current_key).fallback(method_not_allowed))
        .route("/_standin/stats", get(stats))
        .route("/_standin/revoke", post(revoke))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// Binds 127.0.0.1:`port` (0 for any) and serves the stand-in in the background.
pub async fn start(
    port: u16,
    options: StandInOptions,
) -> Result<(Url, tokio::task::JoinHandle<()>)> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let socket = crate::server::listener::bind_one(addr).await?;
    let bound = socket
        .local_addr()
        .map_err(|e| Error::internal("reading the stand-in's address", e))?;
    let url = Url::parse(&format!("http://{bound}/")).expect("a socket address forms a URL");
    let app = router(options);
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(socket, app).await {
            tracing::warn!(error = %e, "stand-in stopped");
        }
    });
    Ok((url, task))
}

fn api_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({"error": {"code": status.as_u16(), "message": message}})),
    )
        .into_response()
}

async fn method_not_allowed() -> Response {
    api_error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed")
}

/// OpenRouter's callback_url rule: https anywhere, or http on localhost / 127.0.0.1 / [::1].
fn callback_url_allowed(raw: &str) -> Option<Url> {
    let url = Url::parse(raw).ok()?;
    match url.scheme() {
        "https" => Some(url),
        "http" if crate::input::is_loopback_host(&url) => Some(url),
        _ => None,
    }
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title} · OpenRouter stand-in</title></head>\
         <body><main><h1>{title}</h1>{body}<p><small>openrouter-pkce offline stand-in: no real account is involved.</small></p></main></body></html>"
    );
    (status, [(header::CACHE_CONTROL, "no-store")], Html(html)).into_response()
}

#[derive(Deserialize)]
struct AuthQuery {
    callback_url: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    state: Option<String>,
}

async fn auth(State(s): State<StandIn>, Query(q): Query<AuthQuery>) -> Response {
    let Some(challenge) = q.code_challenge.filter(|c| !c.is_empty()) else {
        return page(
            StatusCode::BAD_REQUEST,
            "Missing code_challenge",
            "<p>The app did not send a PKCE challenge.</p>",
        );
    };
    let method = match q.code_challenge_method.as_deref() {
        None => ChallengeMethod::Plain,
        Some(m) => match ChallengeMethod::parse(m) {
            Some(m) => m,
            None => {
                return page(
                    StatusCode::BAD_REQUEST,
                    "Invalid code_challenge_method",
                    "<p>Use S256 or plain.</p>",
                );
            }
        },
    };
    let Some(raw_callback) = q.callback_url else {
        // Headless flow: show the code instead of redirecting; S256 only.
        if method != ChallengeMethod::S256 {
            return page(
                StatusCode::BAD_REQUEST,
                "S256 required",
                "<p>The headless flow requires code_challenge_method=S256.</p>",
            );
        }
        let code = s.issue_code(&challenge, method);
        let body = format!(
            "<p>Paste this code into the app. It works once, for 10 minutes.</p><p><code id=\"code\">{}</code></p>",
            escape_html(&code)
        );
        return page(StatusCode::OK, "Your authorization code", &body);
    };
    let Some(callback_url) = callback_url_allowed(&raw_callback) else {
        return page(
            StatusCode::BAD_REQUEST,
            "Invalid callback_url",
            "<p>callback_url must be https, or http on localhost or 127.0.0.1.</p>",
        );
    };
    let request = ConsentRequest {
        callback_url,
        challenge,
        method,
        state: q.state,
    };
    match s.options.consent {
        Consent::AutoApprove => approve(&s, request),
        Consent::AutoDeny => deny(request),
        Consent::Ask => {
            let id = pkce::new_nonce().secret().to_owned();
            let host = escape_html(request.callback_url.host_str().unwrap_or("?"));
            s.ledger().consent.insert(id.clone(), request);
            let body = format!(
                "<p>An app on <strong>{host}</strong> asks for an API key for your (pretend) account.</p>\
                 <form method=\"post\" action=\"/auth/decide\">\
                 <input type=\"hidden\" name=\"request\" value=\"{id}\">\
                 <button id=\"approve\" name=\"decision\" value=\"approve\">Approve</button> \
                 <button id=\"deny\" name=\"decision\" value=\"deny\">Deny</button></form>",
                id = escape_html(&id)
            );
            page(StatusCode::OK, "Authorize app", &body)
        }
    }
}

#[derive(Deserialize)]
struct Decision {
    request: String,
    decision: String,
}

async fn decide(State(s): State<StandIn>, Form(d): Form<Decision>) -> Response {
    let Some(request) = s.ledger().consent.remove(&d.request) else {
        return page(
            StatusCode::NOT_FOUND,
            "Unknown request",
            "<p>This consent request was already answered.</p>",
        );
    };
    if d.decision == "approve" {
        approve(&s, request)
    } else {
        deny(request)
    }
}

fn approve(s: &StandIn, request: ConsentRequest) -> Response {
    let code = s.issue_code(&request.challenge, request.method);
    let mut url = request.callback_url;
    url.query_pairs_mut().append_pair("code", &code);
    if let Some(state) = &request.state {
        url.query_pairs_mut().append_pair("state", state);
    }
    Redirect::to(url.as_str()).into_response()
}

fn deny(request: ConsentRequest) -> Response {
    // OpenRouter may leave state off a denial; the client must cope with that.
    let mut url = request.callback_url;
    url.query_pairs_mut()
        .append_pair("error", "access_denied")
        .append_pair("error_description", "The user denied the request");
    Redirect::to(url.as_str()).into_response()
}

async fn exchange(State(s): State<StandIn>, body: String) -> Response {
    if !s.options.exchange_delay.is_zero() {
        tokio::time::sleep(s.options.exchange_delay).await;
    }
    {
        let mut ledger = s.ledger();
        ledger.exchange_requests += 1;
        if ledger.failures_left > 0 {
            ledger.failures_left -= 1;
            let status = StatusCode::from_u16(s.options.fail_status)
                .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            return api_error(status, "Service temporarily unavailable");
        }
    }
    let Ok(body) = serde_json::from_str::<Value>(&body) else {
        return api_error(StatusCode::BAD_REQUEST, "Invalid JSON body");
    };
    let (Some(code), Some(verifier)) = (body["code"].as_str(), body["code_verifier"].as_str())
    else {
        return api_error(
            StatusCode::BAD_REQUEST,
            "code and code_verifier are required",
        );
    };
    let method = match body["code_challenge_method"].as_str() {
        None => ChallengeMethod::Plain,
        Some(m) => match ChallengeMethod::parse(m) {
            Some(m) => m,
            None => return api_error(StatusCode::BAD_REQUEST, "Invalid code_challenge_method"),
        },
    };
    let mut ledger = s.ledger();
    // Single use: the code is gone after the first attempt, right or wrong.
    let Some(issued) = ledger.codes.remove(code) else {
        return api_error(StatusCode::FORBIDDEN, "Invalid code or code_verifier");
    };
    let verifier = CodeVerifier::new(verifier);
    let fresh = issued.issued.elapsed() < CODE_TTL;
    let matches = issued.method == method && pkce::challenge(&verifier, method) == issued.challenge;
    if !fresh || !matches {
        return api_error(StatusCode::FORBIDDEN, "Invalid code or code_verifier");
    }
    let key = format!("sk-or-v1-standin-{}", pkce::new_nonce().secret());
    ledger.user_keys.push(key.clone());
    ledger.exchanges_ok += 1;
    (
        StatusCode::OK,
        Json(json!({"key": key, "user_id": "user_standin"})),
    )
        .into_response()
}

/// The bearer token of a request; the scheme name is case-insensitive (RFC 9110).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// `GET /api/v1/key`: the metadata of the key making the request, for keys this stand-in
/// issued (401 otherwise), in the shape OpenRouter's TypeScript SDK parses (every field its
/// schema requires, including the deprecated `rate_limit`).
async fn current_key(State(s): State<StandIn>, headers: HeaderMap) -> Response {
    let Some(key) = bearer(&headers) else {
        return api_error(StatusCode::UNAUTHORIZED, "Missing Authentication header");
    };
    if !s.ledger().user_keys.iter().any(|k| k == key) {
        return api_error(StatusCode::UNAUTHORIZED, "User not found.");
    }
    Json(json!({
        "data": {
            "label": format!("{}…{}", &key[..12.min(key.len())], &key[key.len().saturating_sub(3)..]),
            "limit": 10.0,
            "limit_remaining": 9.75,
            "limit_reset": "monthly",
            "usage": 0.25,
            "usage_daily": 0.05,
            "usage_weekly": 0.1,
            "usage_monthly": 0.25,
            "byok_usage": 0.0,
            "byok_usage_daily": 0.0,
            "byok_usage_weekly": 0.0,
            "byok_usage_monthly": 0.0,
            "include_byok_in_limit": false,
            "is_free_tier": false,
            "is_management_key": false,
            "is_provisioning_key": false,
            "expires_at": null,
            "creator_user_id": "user_standin",
            "organization_id": null,
            "workspace_id": null,
            "allowed_data_regions": ["global"],
            "free_model_daily_requests": {"limit": 50, "remaining": 50, "used": 0},
            "rate_limit": {"interval": "10s", "note": "This field is deprecated and safe to ignore.", "requests": -1}
        }
    }))
    .into_response()
}

/// Test hook: forget every key issued so far, as if the person deleted them on the keys page.
async fn revoke(State(s): State<StandIn>) -> StatusCode {
    s.ledger().user_keys.clear();
    StatusCode::NO_CONTENT
}

async fn create_code(State(s): State<StandIn>, headers: HeaderMap, body: String) -> Response {
    let Some(bearer) = bearer(&headers) else {
        return api_error(StatusCode::UNAUTHORIZED, "Missing Authentication header");
    };
    if s.ledger().user_keys.iter().any(|k| k == bearer) {
        return api_error(
            StatusCode::FORBIDDEN,
            "Only management keys can perform this operation",
        );
    }
    if !s.options.management_key.ct_eq(bearer) {
        return api_error(StatusCode::UNAUTHORIZED, "Invalid API key");
    }
    let Ok(body) = serde_json::from_str::<Value>(&body) else {
        return api_error(StatusCode::BAD_REQUEST, "Invalid JSON body");
    };
    if let Err(message) = check_create_code_body(&body) {
        return api_error(StatusCode::BAD_REQUEST, &message);
    }
    let method = body["code_challenge_method"]
        .as_str()
        .and_then(ChallengeMethod::parse)
        .unwrap_or(ChallengeMethod::Plain);
    let challenge = body["code_challenge"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let code = s.issue_code(&challenge, method);
    s.ledger().create_code_bodies.push(body);
    let created_at = OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default();
    (
        StatusCode::OK,
        Json(json!({"data": {"id": code, "app_id": 1, "created_at": created_at}})),
    )
        .into_response()
}

/// OpenRouter's validation of a CreateAuthKeysCodeRequest body.
fn check_create_code_body(body: &Value) -> std::result::Result<(), String> {
    let callback = body["callback_url"]
        .as_str()
        .ok_or("callback_url is required")?;
    callback_url_allowed(callback).ok_or("callback_url must be https, or http on localhost")?;
    if body["code_challenge"].as_str().is_none_or(str::is_empty) {
        return Err("code_challenge is required".into());
    }
    if let Some(m) = body.get("code_challenge_method") {
        m.as_str()
            .and_then(ChallengeMethod::parse)
            .ok_or("Invalid code_challenge_method")?;
    }
    if let Some(limit) = body.get("limit") {
        limit
            .as_f64()
            .filter(|l| *l >= 0.0)
            .ok_or("limit must be a non-negative number")?;
    }
    match body.get("expires_at") {
        None | Some(Value::Null) => {}
        Some(v) => {
            let at = v
                .as_str()
                .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
                .ok_or("expires_at must be an ISO 8601 date-time")?;
            if at <= OffsetDateTime::now_utc() {
                return Err("expires_at must be in the future".into());
            }
        }
    }
    if let Some(label) = body.get("key_label") {
        label
            .as_str()
            .filter(|l| l.chars().count() <= 100)
            .ok_or("key_label must be at most 100 characters")?;
    }
    if let Some(t) = body.get("usage_limit_type") {
        t.as_str()
            .filter(|t| matches!(*t, "daily" | "weekly" | "monthly"))
            .ok_or("usage_limit_type must be daily, weekly or monthly")?;
    }
    if let Some(w) = body.get("workspace_id") {
        w.as_str()
            .and_then(|w| crate::input::parse_workspace_id(w).ok())
            .ok_or("workspace_id must be a UUID")?;
    }
    Ok(())
}

async fn stats(State(s): State<StandIn>) -> Response {
    let ledger = s.ledger();
    Json(json!({
        "exchange_requests": ledger.exchange_requests,
        "exchanges_ok": ledger.exchanges_ok,
        "create_code_requests": ledger.create_code_bodies,
        // A fake's own record, for tests that check a saved key is the one issued.
        "issued_keys": ledger.user_keys,
    }))
    .into_response()
}
