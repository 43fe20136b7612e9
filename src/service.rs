//! The background service: one listener, many concurrent logins, and a local control API.
//!
//! Callbacks are routed by the shared [`PendingFlows`] registry (the same one the one-shot
//! commands use); this module adds the flow table, the `/v1` control API, its bearer token,
//! expiry, and shutdown.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::{oneshot, watch};
use url::Url;

use crate::callback::{self, PendingFlows};
use crate::error::{Error, ErrorKind, Result};
use crate::flow::{CallbackBase, Flow};
use crate::openrouter::{CodeBundle, KeyResponse, OpenRouterClient};
use crate::secret::ControlToken;

/// Largest control-API request body.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Longest a single long-poll may wait.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

/// How the service runs; validated by the CLI layer.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// OpenRouter's base URL.
    pub openrouter: Url,
    /// Where browsers come back to (the service's own port).
    pub callback: CallbackBase,
    /// How long a pending flow waits for its callback.
    pub flow_timeout: Duration,
    /// Most flows pending at once; more get 429.
    pub max_pending: usize,
    /// How long a finished flow's result stays retrievable.
    pub result_ttl: Duration,
}

impl ServiceConfig {
    /// The defaults from the issue: 10-minute flows, 64 pending, 5-minute results.
    pub fn new(openrouter: Url, callback: CallbackBase) -> Self {
        Self {
            openrouter,
            callback,
            flow_timeout: Duration::from_secs(600),
            max_pending: 64,
            result_ttl: Duration::from_secs(300),
        }
    }
}

/// A finished flow's result; secrets stay in their redacting types until serialized.
#[derive(Debug, Clone)]
enum FlowResult {
    Key(Arc<KeyResponse>),
    Bundle(Arc<CodeBundle>),
}

#[derive(Debug, Clone)]
enum FlowStatus {
    Pending,
    Succeeded(FlowResult),
    Failed(ErrorKind, String),
    Expired,
}

impl FlowStatus {
    fn is_pending(&self) -> bool {
        matches!(self, FlowStatus::Pending)
    }

    /// The status document `GET /v1/flows/{id}` returns (the only place results are exposed).
    fn to_json(&self) -> Value {
        match self {
            FlowStatus::Pending => json!({"status": "pending"}),
            FlowStatus::Succeeded(FlowResult::Key(k)) => json!({
                "status": "succeeded",
                "result": {"key": k.key.secret(), "user_id": k.user_id},
            }),
            FlowStatus::Succeeded(FlowResult::Bundle(b)) => {
                let bundle: Value = serde_json::from_str(&b.to_json()).unwrap_or(Value::Null);
                json!({"status": "succeeded", "result": bundle})
            }
            FlowStatus::Failed(kind, message) => json!({
                "status": "failed",
                "error": {"code": kind.as_str(), "message": message, "exit_code": kind.exit_code()},
            }),
            FlowStatus::Expired => json!({
                "status": "expired",
                "error": {"code": "expired", "message": "the login expired before the browser returned", "exit_code": ErrorKind::TimedOut.exit_code()},
            }),
        }
    }
}

struct FlowRecord {
    status: watch::Sender<FlowStatus>,
    finished_at: Option<Instant>,
    cancel: Option<oneshot::Sender<()>>,
}

struct Inner {
    config: ServiceConfig,
    token: ControlToken,
    callbacks: PendingFlows,
    table: Mutex<HashMap<String, FlowRecord>>,
    client: OpenRouterClient,
    stopping: watch::Sender<bool>,
}

/// The service's shared state. Cheap to clone; `Debug` shows no secrets.
#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("port", &self.inner.config.callback.port)
            .field("pending", &self.inner.callbacks.len())
            .finish_non_exhaustive()
    }
}

impl Service {
    /// A service with a fresh random control token.
    pub fn new(config: ServiceConfig) -> Result<Self> {
        Self::with_token(config, ControlToken::new(crate::pkce::new_state().secret()))
    }

    /// A service with the given control token (tests).
    pub fn with_token(config: ServiceConfig, token: ControlToken) -> Result<Self> {
        let client = OpenRouterClient::new(config.openrouter.clone())?;
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                token,
                callbacks: PendingFlows::new(),
                table: Mutex::new(HashMap::new()),
                client,
                stopping: watch::channel(false).0,
            }),
        })
    }

    /// The control token callers must present.
    pub fn token(&self) -> &ControlToken {
        &self.inner.token
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<String, FlowRecord>> {
        self.inner.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Number of flows waiting for their callback.
    pub fn pending(&self) -> usize {
        self.table()
            .values()
            .filter(|r| r.status.borrow().is_pending())
            .count()
    }

    /// The whole Router: callbacks (shared with one-shot mode) plus the control API.
    pub fn router(&self) -> Router {
        let port = self.inner.config.callback.port;
        let control = Router::new()
            .route("/v1/flows", post(create_flow))
            .route("/v1/flows/{id}", get(get_flow).delete(delete_flow))
            .layer(axum::middleware::from_fn_with_state(
                self.clone(),
                require_token,
            ))
            .route("/healthz", get(|| async { StatusCode::OK }))
            .layer(axum::middleware::from_fn(refuse_cross_origin))
            .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
            .layer(axum::middleware::from_fn_with_state(
                port,
                crate::guard::require_local_host,
            ))
            .with_state(self.clone());
        callback::router(self.inner.callbacks.clone(), port).merge(control)
    }

    /// Stops: refuses new flows, fails pending ones with "service stopping" for their waiters.
    pub fn stop(&self) {
        self.inner.stopping.send_replace(true);
        self.inner.callbacks.fail_all(|| Error::ServiceStopping);
    }

    /// Removes finished flows older than the result TTL; returns how many were wiped.
    pub fn sweep(&self) -> usize {
        let ttl = self.inner.config.result_ttl;
        let mut table = self.table();
        let before = table.len();
        table.retain(|_, r| r.finished_at.is_none_or(|t| t.elapsed() < ttl));
        before - table.len()
    }

    fn start_flow(&self, request: CreateFlow) -> std::result::Result<Value, ApiError> {
        if *self.inner.stopping.borrow() {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "service_stopping",
                "the service is stopping",
            ));
        }
        let mut flow = Flow::new(&self.inner.config.openrouter, &self.inner.config.callback);
        // Hints for OpenRouter's consent page about the key the app wants.
        if let Some(limit) = request.limit {
            flow.authorize_url
                .query_pairs_mut()
                .append_pair("limit", &limit.to_string());
        }
        if let Some(expires) = &request.key_expires_at {
            flow.authorize_url
                .query_pairs_mut()
                .append_pair("expires_at", expires);
        }
        let id = crate::pkce::new_nonce().secret()[..22].to_owned();
        let timeout = self.inner.config.flow_timeout;
        let expires_at = OffsetDateTime::now_utc() + timeout;
        let (status, _) = watch::channel(FlowStatus::Pending);
        let (cancel, cancelled) = oneshot::channel();
        {
            let mut table = self.table();
            let pending = table
                .values()
                .filter(|r| r.status.borrow().is_pending())
                .count();
            if pending >= self.inner.config.max_pending {
                return Err(ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_flows",
                    &format!("{pending} logins are already pending; try again later"),
                ));
            }
            table.insert(
                id.clone(),
                FlowRecord {
                    status,
                    finished_at: None,
                    cancel: Some(cancel),
                },
            );
        }
        let registration = self
            .inner
            .callbacks
            .register(flow.nonce.clone(), flow.state.clone());
        let reply = json!({
            "id": id,
            "authorize_url": flow.authorize_url.as_str(),
            "expires_at": expires_at.format(&Rfc3339).unwrap_or_default(),
        });
        if request.open_browser {
            let url = flow.authorize_url.to_string();
            tokio::spawn(async move {
                if !crate::browser::open(&url).await {
                    tracing::warn!("could not open a browser for a flow");
                }
            });
        }
        tracing::info!(flow = %id, exchange = request.exchange, "flow created");
        tokio::spawn(self.clone().drive(
            id,
            flow,
            registration,
            request.exchange,
            timeout,
            cancelled,
        ));
        Ok(reply)
    }

    /// Waits for one flow's callback, exchanges if asked, and records the outcome.
    async fn drive(
        self,
        id: String,
        flow: Flow,
        mut registration: callback::Registration,
        exchange: bool,
        timeout: Duration,
        cancelled: oneshot::Receiver<()>,
    ) {
        let status = tokio::select! {
            delivered = &mut registration.outcome => match delivered {
                Ok(Ok(code)) if exchange => match self.inner.client.exchange(&flow.bundle(code)).await {
                    Ok(key) => FlowStatus::Succeeded(FlowResult::Key(Arc::new(key))),
                    Err(e) => FlowStatus::Failed(e.kind(), e.to_string()),
                },
                Ok(Ok(code)) => FlowStatus::Succeeded(FlowResult::Bundle(Arc::new(flow.bundle(code)))),
                Ok(Err(e)) => FlowStatus::Failed(e.kind(), e.to_string()),
                Err(_) => FlowStatus::Failed(ErrorKind::Internal, "the callback registry went away".into()),
            },
            () = tokio::time::sleep(timeout) => FlowStatus::Expired,
            _ = cancelled => {
                tracing::info!(flow = %id, "flow cancelled");
                return;
            }
        };
        drop(registration);
        let outcome = match &status {
            FlowStatus::Succeeded(_) => "succeeded",
            FlowStatus::Failed(kind, _) => kind.as_str(),
            FlowStatus::Expired => "expired",
            FlowStatus::Pending => "pending",
        };
        tracing::info!(flow = %id, outcome, "flow finished");
        if let Some(record) = self.table().get_mut(&id) {
            record.finished_at = Some(Instant::now());
            record.cancel = None;
            record.status.send_replace(status);
        }
    }

    /// Serves on `listener` until `shutdown` resolves, then stops within the drain bound.
    pub async fn run(
        &self,
        listener: crate::listener::LoopbackListener,
        tls: Option<Arc<rustls::ServerConfig>>,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        let (stop_listener, stop_rx) = watch::channel(false);
        let server = tokio::spawn(listener.serve(self.router(), tls, stop_rx));
        let sweeper = {
            let service = self.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(5));
                loop {
                    tick.tick().await;
                    service.sweep();
                }
            })
        };
        shutdown.await;
        tracing::info!("stopping");
        self.stop();
        // Give long-polls a moment to carry the "stopping" result out before connections close.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let _ = stop_listener.send(true);
        let _ = server.await;
        sweeper.abort();
    }
}

/// A control-API refusal, as `{"error":{"code","message"}}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: &str) -> Self {
        Self {
            status,
            code,
            message: message.to_owned(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        (
            self.status,
            [(header::CACHE_CONTROL, "no-store")],
            Json(body),
        )
            .into_response()
    }
}

/// `POST /v1/flows` body, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateFlow {
    /// Exchange the code in the service and keep the key for the caller.
    pub exchange: bool,
    /// Have the service open the browser.
    pub open_browser: bool,
    /// Credit limit hint for the key.
    pub limit: Option<f64>,
    /// Key expiry hint (RFC 3339, future).
    pub key_expires_at: Option<String>,
}

impl CreateFlow {
    /// Parses and validates the JSON body, naming the field at fault.
    pub fn parse(body: &[u8], now: OffsetDateTime) -> std::result::Result<Self, String> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| format!("body: expected a JSON object ({e})"))?;
        let object = value.as_object().ok_or("body: expected a JSON object")?;
        for key in object.keys() {
            if !matches!(
                key.as_str(),
                "exchange" | "open_browser" | "limit" | "expires_at"
            ) {
                return Err(format!(
                    "body: unknown field {key:?} (expected exchange, open_browser, limit, expires_at)"
                ));
            }
        }
        let flag = |name: &str| -> std::result::Result<bool, String> {
            match object.get(name) {
                None => Ok(false),
                Some(v) => v.as_bool().ok_or(format!("{name}: expected true or false")),
            }
        };
        let limit = match object.get("limit") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_f64()
                    .filter(|l| l.is_finite() && *l >= 0.0)
                    .ok_or("limit: expected a finite number of credits, 0 or more")?,
            ),
        };
        let key_expires_at = match object.get("expires_at") {
            None | Some(Value::Null) => None,
            Some(v) => {
                let raw = v
                    .as_str()
                    .ok_or("expires_at: expected an RFC 3339 string")?;
                Some(
                    crate::config::parse_expires_at(raw, now).map_err(|e| match e {
                        Error::BadInput { expected, .. } => {
                            format!("expires_at: expected {expected}")
                        }
                        other => other.to_string(),
                    })?,
                )
            }
        };
        Ok(Self {
            exchange: flag("exchange")?,
            open_browser: flag("open_browser")?,
            limit,
            key_expires_at,
        })
    }
}

async fn create_flow(State(service): State<Service>, body: axum::body::Bytes) -> Response {
    let request = match CreateFlow::parse(&body, OffsetDateTime::now_utc()) {
        Ok(r) => r,
        Err(message) => {
            return ApiError::new(StatusCode::BAD_REQUEST, "bad_request", &message).into_response();
        }
    };
    match service.start_flow(request) {
        Ok(reply) => (
            StatusCode::CREATED,
            [(header::CACHE_CONTROL, "no-store")],
            Json(reply),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(serde::Deserialize)]
struct WaitQuery {
    wait: Option<f64>,
}

async fn get_flow(
    State(service): State<Service>,
    Path(id): Path<String>,
    query: std::result::Result<Query<WaitQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let wait = match query {
        Ok(Query(q)) => match q.wait {
            None => Duration::ZERO,
            Some(w) if w.is_finite() && w >= 0.0 => Duration::from_secs_f64(w).min(MAX_WAIT),
            Some(_) => {
                return ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    "wait: expected seconds, 0 or more",
                )
                .into_response();
            }
        },
        Err(_) => {
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "wait: expected seconds, 0 or more",
            )
            .into_response();
        }
    };
    let Some(mut status) = service.table().get(&id).map(|r| r.status.subscribe()) else {
        return unknown_flow();
    };
    if !wait.is_zero() {
        // Stopping the service fails pending flows, which ends this wait too.
        let _ = tokio::time::timeout(wait, status.wait_for(|s| !s.is_pending())).await;
    }
    let document = status.borrow().to_json();
    ([(header::CACHE_CONTROL, "no-store")], Json(document)).into_response()
}

async fn delete_flow(State(service): State<Service>, Path(id): Path<String>) -> Response {
    let Some(record) = service.table().remove(&id) else {
        return unknown_flow();
    };
    if let Some(cancel) = record.cancel {
        let _ = cancel.send(());
    }
    StatusCode::NO_CONTENT.into_response()
}

fn unknown_flow() -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such flow (finished results are kept 5 minutes)",
    )
    .into_response()
}

/// Middleware: every `/v1` request must carry `Authorization: Bearer <token>`.
async fn require_token(State(service): State<Service>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "));
    match presented {
        Some(token) if service.inner.token.ct_eq(token.trim()) => next.run(request).await,
        _ => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong bearer token",
        )
        .into_response(),
    }
}

/// Middleware: browsers add `Origin` to cross-site requests; no web page may use this API.
async fn refuse_cross_origin(request: Request, next: Next) -> Response {
    if has_origin(request.headers()) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "requests from web pages are refused",
        )
        .into_response();
    }
    next.run(request).await
}

fn has_origin(headers: &HeaderMap) -> bool {
    headers.contains_key(header::ORIGIN)
}

/// The token file's path: `$XDG_RUNTIME_DIR/openrouter-pkce/token` (or the state dir).
pub fn token_path() -> Result<PathBuf> {
    Ok(crate::paths::runtime_dir()?.join("token"))
}

/// Writes the control token (dir 0700, file 0600, atomic).
pub fn write_token_file(path: &std::path::Path, token: &ControlToken) -> Result<()> {
    if let Some(dir) = path.parent() {
        crate::files::create_private_dir(dir)?;
    }
    crate::files::write_private_atomic(path, token.secret().as_bytes())
}
