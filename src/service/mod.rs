//! The background service: the flow table ([`Engine`]) behind one listener, many concurrent
//! logins, and the control API ([`api`]) that apps and the CLI ([`client`]) drive it through.
//!
//! The TCP port serves browsers only (callbacks, pages, an empty `/healthz`); the control API
//! is served on a Unix socket in the user's private runtime directory ([`socket`]), so only the
//! user can drive it. Callbacks are routed by the same registry and routes as the one-shot
//! commands; this module adds the `/v1` endpoints, the result sweeper and shutdown.

pub mod api;
pub mod client;
pub mod socket;
pub mod unit;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use time::OffsetDateTime;
use tokio::sync::watch;

use crate::error::ErrorKind;
use crate::flow::engine::{Engine, EngineConfig, FlowStatus, StartRefused};
use crate::flow::scheme::{CallbackScheme, TrustCache};
use crate::flow::{CallbackHost, FlowSpec, Stage, UrlScheme};
use crate::tls::CertSource;
use api::{CreateFlowRequest, CreatedFlow, ErrorDoc, ErrorReply, FlowState, FlowStatusDoc};

/// How the service runs; validated by the CLI layer.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// The flow table's settings (OpenRouter, port, timeouts, limits).
    pub engine: EngineConfig,
    /// The callback scheme of flows that do not name one (`auto`: https when the local CA is
    /// trusted, else http).
    pub scheme: CallbackScheme,
    /// The callback host of flows that do not name one.
    pub host: CallbackHost,
    /// The certificate the listener serves, for the `auto` rule.
    pub cert: CertSource,
    /// Why the certificate could not be loaded, when it could not: the service then serves
    /// http only, and refuses flows that would need https.
    pub tls_problem: Option<String>,
}

impl ServiceConfig {
    /// The shipped defaults for `openrouter` on `port`.
    #[cfg(test)]
    pub fn new(openrouter: url::Url, port: u16, cert: CertSource) -> Self {
        Self {
            engine: EngineConfig::new(openrouter, port),
            scheme: CallbackScheme::Auto,
            host: CallbackHost::Localhost,
            cert,
            tls_problem: None,
        }
    }
}

struct Inner {
    config: ServiceConfig,
    engine: Engine,
    trust: TrustCache,
}

/// The service's shared state. Cheap to clone; `Debug` shows no secrets.
#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("engine", &self.inner.engine)
            .finish_non_exhaustive()
    }
}

impl Service {
    /// A service with an empty flow table.
    pub fn new(config: ServiceConfig) -> Self {
        let engine = Engine::new(config.engine.clone());
        Self {
            inner: Arc::new(Inner {
                config,
                engine,
                trust: TrustCache::default(),
            }),
        }
    }

    /// The flow table.
    #[cfg(test)]
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// Number of flows waiting for their callback.
    #[cfg(test)]
    pub fn pending(&self) -> usize {
        self.inner.engine.pending()
    }

    /// The TCP port's Router, for browsers: callbacks (shared with one-shot mode) and an empty
    /// `/healthz`. `/v1` is not here (404).
    pub fn browser_router(&self) -> Router {
        let port = self.inner.config.engine.port;
        let health = Router::new()
            .route("/healthz", get(|| async { StatusCode::OK }))
            .layer(axum::middleware::from_fn_with_state(
                port,
                crate::server::guard::require_local_host,
            ));
        crate::flow::callback::router(self.inner.engine.callbacks().clone(), port).merge(health)
    }

    /// The control socket's Router: the `/v1` API and `/healthz`. Who may connect is decided by
    /// the socket's directory, its mode and the peer's uid; a request with `Origin` (a web page
    /// reaching it through some proxy) is still refused.
    pub fn control_router(&self) -> Router {
        Router::new()
            .route("/v1/flows", post(create_flow))
            .route("/v1/flows/{id}", get(get_flow).delete(delete_flow))
            .route("/healthz", get(|| async { StatusCode::OK }))
            .fallback(|| async { unknown_route() })
            .layer(axum::middleware::from_fn(refuse_cross_origin))
            .layer(axum::extract::DefaultBodyLimit::max(api::MAX_BODY_BYTES))
            .layer(axum::middleware::map_response(json_refusals))
            .with_state(self.clone())
    }

    /// Stops: refuses new flows, fails pending ones with "service stopping" for their waiters.
    pub fn stop(&self) {
        self.inner.engine.stop();
    }

    /// Removes finished flows older than the result TTL; returns how many were wiped.
    pub fn sweep(&self) -> usize {
        self.inner.engine.sweep()
    }

    /// Starts a flow for a control-API request: the same checks a one-shot login makes before
    /// any browser opens (OpenRouter answers; the callback scheme the browser will accept).
    pub async fn start_flow(
        &self,
        request: &CreateFlowRequest,
    ) -> std::result::Result<CreatedFlow, ApiError> {
        if let Err(e) = self.inner.engine.check_reachable().await {
            return Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                e.kind(),
                e.to_string(),
            ));
        }
        let choice = request.callback_scheme.unwrap_or(self.inner.config.scheme);
        let service = self.clone();
        let resolved = tokio::task::spawn_blocking(move || {
            let config = &service.inner.config;
            crate::flow::scheme::resolve(choice, &config.cert, |dir| {
                service.inner.trust.trusted(dir)
            })
        })
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorKind::Internal,
                e.to_string(),
            )
        })?;
        let config = &self.inner.config;
        if let (UrlScheme::Https, Some(problem)) = (resolved.scheme, &config.tls_problem) {
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorKind::Internal,
                format!(
                    "this service serves http only (its certificate did not load: {problem}); ask for callback_scheme http, or fix that and restart it"
                ),
            ));
        }
        if let Some(wanted) = &request.openrouter_url
            && wanted != &config.engine.openrouter
        {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                ErrorKind::Conflict,
                format!(
                    "this service uses --openrouter-url {}, not {wanted}",
                    config.engine.openrouter
                ),
            ));
        }
        let spec = FlowSpec {
            exchange: request.exchange,
            scheme: resolved.scheme,
            host: request.callback_host.unwrap_or(config.host),
            limit: request.limit,
        };
        let started = self
            .inner
            .engine
            .start(spec)
            .map_err(|refused| match refused {
                StartRefused::Stopping => ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorKind::ServiceStopping,
                    "the service is stopping",
                ),
                StartRefused::TooMany(n) => ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    ErrorKind::TooManyFlows,
                    format!("{n} logins are already pending; try again later"),
                ),
            })?;
        if request.open_browser {
            let url = started.authorize_url.to_string();
            let status = self.inner.engine.watch(&started.id);
            tokio::spawn(async move {
                let (opened, page) = crate::sys::browser::open_private(&url).await;
                if let Err(reason) = opened {
                    tracing::warn!(reason, "could not open a browser for a flow");
                }
                // The redirect page goes when the flow ends (or is deleted).
                if let (Some(page), Some(mut status)) = (page, status) {
                    let _ = status.wait_for(|s| !s.is_pending()).await;
                    drop(page);
                }
            });
        }
        Ok(CreatedFlow {
            id: started.id,
            authorize_url: started.authorize_url,
            expires_at: started.expires_at,
        })
    }

    /// Serves browsers on `listener` and the control API on `control` until `shutdown`
    /// resolves. Then: no new flows; flows still waiting for a callback fail with
    /// `service_stopping`; flows already exchanging finish (within [`SHUTDOWN_EXCHANGE`]) and
    /// hand their result to their waiters; open requests drain before the sockets close.
    pub async fn run(
        &self,
        listener: crate::server::listener::LoopbackListener,
        tls: Option<Arc<rustls::ServerConfig>>,
        control: socket::ControlListener,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        let (stop_listeners, stop_rx) = watch::channel(false);
        let server = tokio::spawn(listener.serve(self.browser_router(), tls, stop_rx.clone()));
        let control = tokio::spawn(socket::serve(control, self.control_router(), stop_rx));
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
        let until = tokio::time::Instant::now() + SHUTDOWN_EXCHANGE;
        if !self.inner.engine.settle(until).await {
            tracing::warn!("stopping with exchanges still under way");
            self.inner.engine.abandon_pending();
        }
        // Long-polls see the final status at once; the drain lets them write it out.
        let _ = stop_listeners.send(true);
        let _ = server.await;
        let _ = control.await;
        sweeper.abort();
    }
}

/// How long a stopping service lets exchanges already under way finish.
pub const SHUTDOWN_EXCHANGE: Duration = Duration::from_secs(5);

/// The status document for a flow (the only place results are exposed).
fn status_doc(status: &FlowStatus) -> FlowStatusDoc {
    match status {
        FlowStatus::Pending | FlowStatus::Exchanging => FlowStatusDoc {
            status: FlowState::Pending,
            stage: status.stage(),
            result: None,
            error: None,
        },
        FlowStatus::Succeeded(result) => FlowStatusDoc {
            status: FlowState::Succeeded,
            stage: None,
            result: Some(result.clone()),
            error: None,
        },
        FlowStatus::Failed(e) => FlowStatusDoc {
            status: FlowState::Failed,
            stage: None,
            result: None,
            error: Some(ErrorDoc::new(e.kind(), e.to_string())),
        },
        FlowStatus::Expired => FlowStatusDoc {
            status: FlowState::Expired,
            stage: None,
            result: None,
            error: Some(ErrorDoc::new(
                ErrorKind::Expired,
                "the login expired before the browser returned",
            )),
        },
    }
}

/// A control-API refusal, answered as [`ErrorReply`].
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    doc: ErrorDoc,
}

impl ApiError {
    fn new(status: StatusCode, kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            status,
            doc: ErrorDoc::new(kind, message),
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorKind::BadRequest, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            [(header::CACHE_CONTROL, "no-store")],
            Json(ErrorReply { error: self.doc }),
        )
            .into_response()
    }
}

async fn create_flow(State(service): State<Service>, body: axum::body::Bytes) -> Response {
    let request = match CreateFlowRequest::parse(&body, OffsetDateTime::now_utc()) {
        Ok(r) => r,
        Err(message) => return ApiError::bad_request(message).into_response(),
    };
    match service.start_flow(&request).await {
        Ok(created) => (
            StatusCode::CREATED,
            [(header::CACHE_CONTROL, "no-store")],
            Json(created),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(serde::Deserialize)]
struct WaitQuery {
    wait: Option<f64>,
    /// With `wait`: also answer as soon as the flow leaves this step (progress for the CLI).
    stage: Option<Stage>,
}

/// `?wait=` as a bounded duration: huge or odd values are clamped or refused, never a panic.
fn wait_duration(query: Option<WaitQuery>) -> std::result::Result<Duration, ApiError> {
    let refuse = || ApiError::bad_request("wait: expected seconds, 0 or more");
    match query.map(|q| q.wait) {
        Some(None) => Ok(Duration::ZERO),
        Some(Some(w)) if w.is_finite() && w >= 0.0 => {
            Ok(Duration::from_secs_f64(w.min(api::MAX_WAIT_SECS as f64)))
        }
        _ => Err(refuse()),
    }
}

async fn get_flow(
    State(service): State<Service>,
    Path(id): Path<String>,
    query: std::result::Result<Query<WaitQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let query = match query {
        Ok(Query(q)) => Some(q),
        Err(_) => None,
    };
    let seen = query.as_ref().and_then(|q| q.stage);
    let wait = match wait_duration(query) {
        Ok(w) => w,
        Err(e) => return e.into_response(),
    };
    let Some(mut status) = service.inner.engine.watch(&id) else {
        return unknown_flow();
    };
    if !wait.is_zero() {
        // Stopping the service fails pending flows, which ends this wait too.
        let _ = tokio::time::timeout(
            wait,
            status
                .wait_for(|s| !s.is_pending() || seen.is_some_and(|seen| s.stage() != Some(seen))),
        )
        .await;
    }
    let document = status_doc(&status.borrow());
    ([(header::CACHE_CONTROL, "no-store")], Json(document)).into_response()
}

async fn delete_flow(State(service): State<Service>, Path(id): Path<String>) -> Response {
    if service.inner.engine.cancel(&id) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        unknown_flow()
    }
}

fn unknown_route() -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        ErrorKind::NotFound,
        "no such endpoint (POST /v1/flows, GET or DELETE /v1/flows/{id}, GET /healthz)",
    )
    .into_response()
}

/// Every control-API refusal is an [`ErrorReply`], also those axum makes itself (405 for a
/// wrong method, 413 for a body over the limit).
async fn json_refusals(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let message = match status {
        StatusCode::METHOD_NOT_ALLOWED => "method not allowed on this endpoint".to_owned(),
        StatusCode::PAYLOAD_TOO_LARGE => {
            format!("body: larger than {} bytes", api::MAX_BODY_BYTES)
        }
        other => format!("request refused (HTTP {})", other.as_u16()),
    };
    ApiError::new(status, ErrorKind::BadRequest, message).into_response()
}

fn unknown_flow() -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        ErrorKind::NotFound,
        "no such flow (finished results are kept 5 minutes)",
    )
    .into_response()
}

/// Middleware: browsers add `Origin` to cross-site requests; no web page may use this API.
async fn refuse_cross_origin(request: Request, next: Next) -> Response {
    if request.headers().contains_key(header::ORIGIN) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorKind::Forbidden,
            "requests from web pages are refused",
        )
        .into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_is_bounded_and_never_panics() {
        let q = |w: Option<f64>| {
            Some(WaitQuery {
                wait: w,
                stage: None,
            })
        };
        assert_eq!(wait_duration(q(None)).unwrap(), Duration::ZERO);
        assert_eq!(
            wait_duration(q(Some(2.5))).unwrap(),
            Duration::from_millis(2500)
        );
        assert_eq!(
            wait_duration(q(Some(1e300))).unwrap(),
            Duration::from_secs(api::MAX_WAIT_SECS)
        );
        for bad in [-1.0, f64::NAN, f64::INFINITY] {
            assert!(wait_duration(q(Some(bad))).is_err(), "{bad}");
        }
        assert!(wait_duration(None).is_err());
    }
}
