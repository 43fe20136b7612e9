//! The offline OpenRouter stand-in: `/auth`, `/api/v1/auth/keys`, `/api/v1/auth/keys/code` and
//! `/api/v1/key` with OpenRouter's published rules (single-use codes that expire, the challenge
//! checked, bearer required, the callback_url rule, OpenRouter's error bodies), served over
//! plain HTTP on 127.0.0.1.
//!
//! It is OpenRouter's side of the login: it checks S256 with its own few lines over sha2 and
//! base64, never the client's `pkce` module, so a bug in our challenge cannot be mirrored by
//! the thing that is supposed to catch it. Where OpenRouter's behaviour is observed rather
//! than documented (the README lists these), it follows the observation; `state` is not a
//! documented parameter, so it is echoed only with `echo_state`.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

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
use crate::pkce;
use crate::secret::KeySecret;
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
    /// Answer this many create-code requests with `fail_status` first (after the key and
    /// body checks, so a failure is played only for a request that would succeed).
    pub fail_create_codes: u32,
    /// The status for the exchange failures.
    pub fail_status: u16,
    /// The status for the create-code failures: any 4xx or 5xx (409 and 500 are the ones an
    /// app retries).
    pub fail_create_status: u16,
    /// Send the exchange's `user_id` as `null` (the published schema has it required but
    /// nullable), so an app tests that case.
    pub null_user_id: bool,
    /// How long each exchange takes before it answers (a slow OpenRouter).
    pub exchange_delay: std::time::Duration,
    /// The bearer create-code accepts.
    pub management_key: KeySecret,
    /// Send `state` back on the redirect (OpenRouter does not document doing so).
    pub echo_state: bool,
}

impl Default for StandInOptions {
    fn default() -> Self {
        Self {
            consent: Consent::Ask,
            fail_exchanges: 0,
            fail_create_codes: 0,
            fail_status: 503,
            fail_create_status: 503,
            null_user_id: false,
            exchange_delay: std::time::Duration::ZERO,
            management_key: KeySecret::new(DEFAULT_MANAGEMENT_KEY),
            echo_state: false,
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

/// What an issued code was bound to.
#[derive(Clone)]
struct Binding {
    /// The PKCE challenge and the method it was requested with (none named: compared as
    /// RFC 7636's default, plain, but the exchange must then name none either).
    challenge: Option<(String, Option<Method>)>,
    /// The key's credit limit, when asked for.
    limit: Option<f64>,
    /// The key's label, when asked for.
    key_label: Option<String>,
}

struct IssuedCode {
    binding: Binding,
    issued: Instant,
}

struct ConsentRequest {
    callback_url: Url,
    binding: Binding,
    state: Option<String>,
}

/// The two challenge methods, as OpenRouter's side knows them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Method {
    S256,
    Plain,
}

impl Method {
    fn parse(name: &str) -> Option<Self> {
        match name {
            "S256" => Some(Method::S256),
            "plain" => Some(Method::Plain),
            _ => None,
        }
    }

    /// Whether `verifier` answers `challenge` (RFC 7636 section 4.6), computed here.
    fn verifies(self, verifier: &str, challenge: &str) -> bool {
        use base64::Engine;
        use sha2::Digest;
        let expected = match self {
            Method::Plain => verifier.to_owned(),
            Method::S256 => base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(sha2::Sha256::digest(verifier.as_bytes())),
        };
        subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), challenge.as_bytes()).into()
    }
}

/// A key the stand-in issued, with what it was bound to.
struct IssuedKey {
    key: String,
    limit: Option<f64>,
    label: Option<String>,
}

#[derive(Default)]
struct Ledger {
    codes: HashMap<String, IssuedCode>,
    consent: HashMap<String, ConsentRequest>,
    user_keys: Vec<IssuedKey>,
    failures_left: u32,
    create_failures_left: u32,
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

    fn issue_code(&self, binding: Binding) -> String {
        let code = format!("standin-code-{}", pkce::new_nonce().secret());
        self.ledger().codes.insert(
            code.clone(),
            IssuedCode {
                binding,
                issued: Instant::now(),
            },
        );
        code
    }

    fn issued_key(&self, key: &str) -> Option<(Option<f64>, Option<String>)> {
        self.ledger()
            .user_keys
            .iter()
            .find(|k| k.key == key)
            .map(|k| (k.limit, k.label.clone()))
    }
}

/// The stand-in's routes.
pub fn router(options: StandInOptions) -> Router {
    let failures_left = options.fail_exchanges;
    let create_failures_left = options.fail_create_codes;
    let state = StandIn {
        options: Arc::new(options),
        ledger: Arc::new(Mutex::new(Ledger {
            failures_left,
            create_failures_left,
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
        .fallback(|| async { api_error(StatusCode::NOT_FOUND, "Not Found") })
        .layer(axum::middleware::map_response(json_errors))
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

/// Every API error is OpenRouter's JSON error body, also the ones axum makes itself (a body
/// that is not UTF-8, too large, a malformed query, a wrong method); the consent pages stay
/// HTML.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json_or_page = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json") || t.starts_with("text/html"));
    if (status.is_client_error() || status.is_server_error()) && !is_json_or_page {
        return api_error(status, status.canonical_reason().unwrap_or("Error"));
    }
    response
}

async fn method_not_allowed() -> Response {
    api_error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed")
}

/// OpenRouter's documented callback_url rule: https URLs, and localhost/127.0.0.1 URLs on any
/// port ([::1] and the rest of 127.0.0.0/8 are not in it).
fn callback_url_allowed(raw: &str) -> Option<Url> {
    let url = Url::parse(raw).ok()?;
    let local = matches!(url.host_str(), Some("localhost" | "127.0.0.1"));
    match url.scheme() {
        "https" => Some(url),
        "http" if local => Some(url),
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
    limit: Option<String>,
    key_label: Option<String>,
}

async fn auth(State(s): State<StandIn>, Query(q): Query<AuthQuery>) -> Response {
    let bad =
        |title: &str, text: &str| page(StatusCode::BAD_REQUEST, title, &format!("<p>{text}</p>"));
    // The guide's form without a challenge is allowed; a method only means something with one.
    let challenge = match (
        q.code_challenge.filter(|c| !c.is_empty()),
        q.code_challenge_method.as_deref(),
    ) {
        (None, _) => None,
        (Some(c), Some(m)) => match Method::parse(m) {
            Some(m) => Some((c, Some(m))),
            None => return bad("Invalid code_challenge_method", "Use S256 or plain."),
        },
        (Some(c), None) => Some((c, None)),
    };
    let limit = match q.limit.as_deref().map(str::parse::<f64>) {
        None => None,
        Some(Ok(l)) if l.is_finite() => Some(l),
        Some(_) => return bad("Invalid limit", "limit must be a number."),
    };
    if q.key_label
        .as_ref()
        .is_some_and(|l| l.chars().count() > 100)
    {
        return bad(
            "Invalid key_label",
            "key_label must be at most 100 characters.",
        );
    }
    let binding = Binding {
        challenge,
        limit,
        key_label: q.key_label,
    };
    let Some(raw_callback) = q.callback_url else {
        // Headless flow: show the code instead of redirecting; a challenge is required.
        if binding.challenge.is_none() {
            return bad(
                "code_challenge required",
                "The flow without a callback_url requires a code_challenge.",
            );
        }
        let code = s.issue_code(binding);
        let body = format!(
            "<p>Paste this code into the app. It works once, for 10 minutes.</p><p><code id=\"code\">{}</code></p>",
            escape_html(&code)
        );
        return page(StatusCode::OK, "Your authorization code", &body);
    };
    let Some(callback_url) = callback_url_allowed(&raw_callback) else {
        return bad(
            "Invalid callback_url",
            "callback_url must be https, or on localhost or 127.0.0.1.",
        );
    };
    let request = ConsentRequest {
        callback_url,
        binding,
        state: q.state.filter(|_| s.options.echo_state),
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
    let code = s.issue_code(request.binding);
    let mut url = request.callback_url;
    url.query_pairs_mut().append_pair("code", &code);
    if let Some(state) = &request.state {
        url.query_pairs_mut().append_pair("state", state);
    }
    Redirect::to(url.as_str()).into_response()
}

fn deny(request: ConsentRequest) -> Response {
    // Observed (not documented): a denial comes back as error=access_denied.
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
    let Some(code) = body["code"].as_str() else {
        return api_error(StatusCode::BAD_REQUEST, "code is required");
    };
    // Absent or null is no method: never silently plain.
    let method = match &body["code_challenge_method"] {
        Value::Null => None,
        Value::String(m) => match Method::parse(m) {
            Some(m) => Some(m),
            None => return api_error(StatusCode::BAD_REQUEST, "Invalid code_challenge_method"),
        },
        _ => return api_error(StatusCode::BAD_REQUEST, "Invalid code_challenge_method"),
    };
    let verifier = match &body["code_verifier"] {
        Value::Null => None,
        Value::String(v) => Some(v.as_str()),
        _ => return api_error(StatusCode::BAD_REQUEST, "code_verifier must be a string"),
    };
    let mut ledger = s.ledger();
    // Single use: the code is gone after the first attempt, right or wrong.
    let Some(issued) = ledger.codes.remove(code) else {
        return api_error(StatusCode::FORBIDDEN, "Invalid code or code_verifier");
    };
    if issued.issued.elapsed() >= CODE_TTL {
        return api_error(StatusCode::FORBIDDEN, "Authorization code expired");
    }
    let verified = match (&issued.binding.challenge, method) {
        (None, None) => true,
        // RFC 7636: a challenge sent without a method is plain, so `plain` or none may be
        // named for it; a code made with S256 needs S256 (no method is never taken as plain).
        (Some((challenge, bound)), sent)
            if *bound == sent || (bound.is_none() && sent == Some(Method::Plain)) =>
        {
            verifier.is_some_and(|v| sent.unwrap_or(Method::Plain).verifies(v, challenge))
        }
        // The exchange names another method than the code was made with (or one where the
        // code has none, or none where it has one).
        _ => return api_error(StatusCode::BAD_REQUEST, "Invalid code_challenge_method"),
    };
    if !verified {
        return api_error(StatusCode::FORBIDDEN, "Invalid code or code_verifier");
    }
    let key = format!("sk-or-v1-standin-{}", pkce::new_nonce().secret());
    ledger.user_keys.push(IssuedKey {
        key: key.clone(),
        limit: issued.binding.limit,
        label: issued.binding.key_label,
    });
    ledger.exchanges_ok += 1;
    (
        StatusCode::OK,
        Json(json!({
            "key": key,
            "user_id": if s.options.null_user_id { Value::Null } else { json!("user_standin") },
        })),
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
    // The management key is a key too: OpenRouter answers for it, with is_management_key.
    let management = s.options.management_key.ct_eq(key);
    let (limit, label) = match s.issued_key(key) {
        Some(found) => found,
        None if management => (None, Some("stand-in management key".to_owned())),
        None => return api_error(StatusCode::UNAUTHORIZED, "User not found."),
    };
    let limit = limit.unwrap_or(10.0);
    Json(json!({
        "data": {
            "label": label.unwrap_or_else(|| format!("{}...{}", &key[..12.min(key.len())], &key[key.len().saturating_sub(3)..])),
            "limit": limit,
            "limit_remaining": limit - 0.25,
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
            "is_management_key": management,
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
    if s.issued_key(bearer).is_some() {
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
    if let Err(message) = check_create_code_body(&body, OffsetDateTime::now_utc()) {
        return api_error(StatusCode::BAD_REQUEST, &message);
    }
    {
        let mut ledger = s.ledger();
        if ledger.create_failures_left > 0 {
            ledger.create_failures_left -= 1;
            let status = StatusCode::from_u16(s.options.fail_create_status)
                .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            return api_error(status, "Failed on purpose by the stand-in");
        }
    }
    let challenge = body["code_challenge"]
        .as_str()
        .filter(|c| !c.is_empty())
        .map(|c| {
            let method = body["code_challenge_method"]
                .as_str()
                .and_then(Method::parse);
            (c.to_owned(), method)
        });
    let code = s.issue_code(Binding {
        challenge,
        limit: body["limit"].as_f64(),
        key_label: body["key_label"].as_str().map(str::to_owned),
    });
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

/// OpenRouter's validation of a CreateAuthKeysCodeRequest body, from its published schema:
/// only `callback_url` is required; the rest is checked for type and form, and (as the client
/// checks before sending, so an app's tests see the refusal it would meet) a negative limit
/// and an `expires_at` that is not in the future are refused, naming the field.
fn check_create_code_body(body: &Value, now: OffsetDateTime) -> std::result::Result<(), String> {
    let callback = body["callback_url"]
        .as_str()
        .ok_or("callback_url is required")?;
    callback_url_allowed(callback)
        .ok_or("callback_url must be https, or on localhost or 127.0.0.1")?;
    if let Some(c) = body.get("code_challenge") {
        c.as_str().ok_or("code_challenge must be a string")?;
    }
    if let Some(m) = body.get("code_challenge_method") {
        m.as_str()
            .and_then(Method::parse)
            .ok_or("Invalid code_challenge_method")?;
    }
    if let Some(limit) = body.get("limit") {
        let limit = limit.as_f64().ok_or("limit must be a number")?;
        if limit < 0.0 {
            return Err("limit must not be negative".into());
        }
    }
    match body.get("expires_at") {
        None | Some(Value::Null) => {}
        Some(v) => {
            // ISO 8601 UTC with seconds: minute precision is rejected.
            let at = v
                .as_str()
                .filter(|t| t.len() >= 20 && t.as_bytes().get(16) == Some(&b':'))
                .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
                .ok_or("expires_at must be an ISO 8601 date-time with seconds")?;
            if at <= now {
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
        "issued_keys": ledger.user_keys.iter().map(|k| k.key.as_str()).collect::<Vec<_>>(),
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

    /// An expired code: 403 "Authorization code expired", at the shipped ten minutes, on a
    /// paused clock (the stand-in keeps time with tokio's clock for this).
    #[tokio::test(start_paused = true)]
    async fn an_expired_code_says_so() {
        let app = router(StandInOptions {
            consent: Consent::AutoApprove,
            ..StandInOptions::default()
        });
        let challenge = pkce::challenge(
            &crate::secret::CodeVerifier::new(VERIFIER),
            pkce::ChallengeMethod::S256,
        );
        let auth = Request::get(format!(
            "/auth?callback_url=http%3A%2F%2Flocalhost%3A4000%2Fcb&code_challenge={challenge}&code_challenge_method=S256"
        ))
        .body(Body::empty())
        .unwrap();
        let back = app.clone().oneshot(auth).await.unwrap();
        let location = back.headers()[header::LOCATION].to_str().unwrap();
        let code = Url::parse(location)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "code")
            .unwrap()
            .1
            .into_owned();
        tokio::time::advance(CODE_TTL + Duration::from_secs(1)).await;
        let body =
            json!({"code": code, "code_verifier": VERIFIER, "code_challenge_method": "S256"});
        let exchange = Request::post("/api/v1/auth/keys")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        let reply = app.oneshot(exchange).await.unwrap();
        assert_eq!(reply.status(), StatusCode::FORBIDDEN);
        let bytes = reply.into_body().collect().await.unwrap().to_bytes();
        let reply: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(reply["error"]["message"], "Authorization code expired");
        assert_eq!(reply["error"]["code"], 403);
    }
}
