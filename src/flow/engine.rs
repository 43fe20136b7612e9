//! The flow table: starts logins, routes their callbacks, redeems codes, records outcomes,
//! expires and cancels. The one-shot commands run it with one flow, `serve` with many.
//!
//! A flow's callback registration and its table record change together: a flow that was
//! cancelled, expired or deleted can never take a callback afterwards, and a callback that won
//! the race against the expiry timer is not thrown away.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::{OnceCell, oneshot, watch};
use tokio::time::Instant;
use url::Url;

use crate::error::{Error, Result};
use crate::flow::pending::{Delivery, Verdict};
use crate::flow::pending::{PendingFlows, Registration};
use crate::flow::{AwaitingCode, CallbackBase, Flow, FlowResult, FlowSpec, Stage, StartedFlow};
use crate::openrouter::OpenRouterClient;

/// How long a successful reachability check is trusted.
const REACHABLE_FOR: Duration = Duration::from_secs(60);

/// How the table runs; the defaults live in [`crate::defaults`].
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// OpenRouter's base URL.
    pub openrouter: Url,
    /// The listener's port: every flow's callback comes back to it.
    pub port: u16,
    /// How long a pending flow waits for its callback.
    pub flow_timeout: Duration,
    /// Most flows pending at once.
    pub max_pending: usize,
    /// How long a finished flow's result stays retrievable.
    pub result_ttl: Duration,
    /// Who is asking OpenRouter (`X-OpenRouter-Title`, `HTTP-Referer`).
    pub app: crate::openrouter::AppAttribution,
}

impl EngineConfig {
    /// The shipped defaults for `openrouter` on `port`.
    pub fn new(openrouter: Url, port: u16) -> Self {
        Self {
            openrouter,
            port,
            flow_timeout: Duration::from_secs(crate::defaults::FLOW_TIMEOUT_SECS),
            max_pending: crate::defaults::MAX_PENDING,
            result_ttl: crate::defaults::RESULT_TTL,
            app: crate::openrouter::AppAttribution::default(),
        }
    }
}

/// Where a flow stands. Results stay in their redacting types until serialized for the caller.
#[derive(Debug, Clone)]
pub enum FlowStatus {
    /// Waiting for the browser.
    Pending,
    /// The browser came back with a code; it is being redeemed for a key.
    Exchanging,
    /// Finished with a key or a code bundle.
    Succeeded(Arc<FlowResult>),
    /// Finished with an error (shared: the service's status watchers all see it).
    Failed(Arc<Error>),
    /// No callback arrived in time.
    Expired,
}

impl FlowStatus {
    /// Whether the flow is still running (waiting for the browser or exchanging).
    pub fn is_pending(&self) -> bool {
        matches!(self, FlowStatus::Pending | FlowStatus::Exchanging)
    }

    /// The step a running flow is at; `None` once it has finished.
    pub fn stage(&self) -> Option<Stage> {
        match self {
            FlowStatus::Pending => Some(Stage::Waiting),
            FlowStatus::Exchanging => Some(Stage::Exchanging),
            _ => None,
        }
    }
}

/// Why [`Engine::start`] would not start a flow.
#[derive(Debug)]
pub enum StartRefused {
    /// The engine is stopping.
    Stopping,
    /// `max_pending` flows are already waiting (the count is given).
    TooMany(usize),
}

struct Record {
    status: watch::Sender<FlowStatus>,
    finished_at: Option<Instant>,
    /// Set while pending: the registration key and the driver's cancel switch.
    live: Option<(u64, oneshot::Sender<()>)>,
}

struct Inner {
    config: EngineConfig,
    callbacks: PendingFlows,
    table: Mutex<HashMap<String, Record>>,
    client: OnceCell<OpenRouterClient>,
    stopping: watch::Sender<bool>,
    /// Woken each time a flow finishes, for [`Engine::settle`].
    finished: tokio::sync::Notify,
    /// Until when OpenRouter counts as reachable without asking again (the service starts
    /// many flows; one check a minute is enough).
    reachable_until: Mutex<Option<Instant>>,
}

/// The flow table. Cheap to clone; `Debug` shows no secrets.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("port", &self.inner.config.port)
            .field("pending", &self.inner.callbacks.len())
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An empty table. Builds nothing yet: the HTTP client is made on first need (or by
    /// [`Engine::warm_up`] while the person is in the browser).
    pub fn new(config: EngineConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                callbacks: PendingFlows::new(),
                table: Mutex::new(HashMap::new()),
                client: OnceCell::new(),
                stopping: watch::channel(false).0,
                finished: tokio::sync::Notify::new(),
                reachable_until: Mutex::new(None),
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// The registry the callback routes deliver into.
    pub fn callbacks(&self) -> &PendingFlows {
        &self.inner.callbacks
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<String, Record>> {
        // A panic elsewhere while holding the lock leaves the map itself consistent.
        self.inner.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Builds the OpenRouter client (TLS roots: blocking work) off the async threads, once.
    async fn client(&self) -> Result<&OpenRouterClient> {
        let base = self.inner.config.openrouter.clone();
        let app = self.inner.config.app.clone();
        self.inner
            .client
            .get_or_try_init(|| async move {
                tokio::task::spawn_blocking(move || OpenRouterClient::new(base, &app))
                    .await
                    .map_err(|e| Error::internal("building the HTTP client", e))?
            })
            .await
    }

    /// Checks that OpenRouter answers before a flow is started, so a closed port or an offline
    /// laptop is reported at once (exit 6), not as a timeout after the browser showed an
    /// error page. A success is remembered for a minute.
    pub async fn check_reachable(&self) -> Result<()> {
        let fresh = |until: &Option<Instant>| until.is_some_and(|t| Instant::now() < t);
        if fresh(
            &self
                .inner
                .reachable_until
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        ) {
            return Ok(());
        }
        self.client()
            .await?
            .check_reachable(crate::defaults::REACHABILITY_TIMEOUT)
            .await?;
        *self
            .inner
            .reachable_until
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(Instant::now() + REACHABLE_FOR);
        Ok(())
    }

    /// Starts building the HTTP client in the background, so the exchange starts the moment
    /// the callback lands.
    pub fn warm_up(&self) {
        let engine = self.clone();
        tokio::spawn(async move {
            let _ = engine.client().await;
        });
    }

    /// Number of flows waiting for their callback.
    pub fn pending(&self) -> usize {
        self.table()
            .values()
            .filter(|r| r.status.borrow().is_pending())
            .count()
    }

    /// Starts a flow: registers its callback, records it, and spawns the task that awaits the
    /// callback and exchanges the code.
    pub fn start(&self, spec: FlowSpec) -> std::result::Result<StartedFlow, StartRefused> {
        if *self.inner.stopping.borrow() {
            return Err(StartRefused::Stopping);
        }
        let base = CallbackBase {
            scheme: spec.scheme,
            host: spec.host,
            port: self.inner.config.port,
        };
        let mut flow = Flow::new(&self.inner.config.openrouter, &base);
        if let Some(limit) = spec.limit {
            flow.authorize_url
                .query_pairs_mut()
                .append_pair("limit", &limit.to_string());
        }
        let authorize_url = flow.authorize_url.clone();
        let (nonce, state, awaiting) = flow.into_parts();
        let id = crate::pkce::new_nonce().secret()[..22].to_owned();
        let timeout = self.inner.config.flow_timeout;
        let expires_at = OffsetDateTime::now_utc() + timeout;
        let (cancel, cancelled) = oneshot::channel();
        let registration;
        {
            let mut table = self.table();
            let pending = table
                .values()
                .filter(|r| r.status.borrow().is_pending())
                .count();
            if pending >= self.inner.config.max_pending {
                return Err(StartRefused::TooMany(pending));
            }
            registration = self.inner.callbacks.register(nonce, state);
            table.insert(
                id.clone(),
                Record {
                    status: watch::channel(FlowStatus::Pending).0,
                    finished_at: None,
                    live: Some((registration.key(), cancel)),
                },
            );
        }
        let started = StartedFlow {
            id: id.clone(),
            callback: base,
            authorize_url,
            expires_at,
        };
        tracing::info!(flow = %id, exchange = spec.exchange, "flow created");
        tokio::spawn(self.clone().drive(
            id,
            awaiting,
            registration,
            spec.exchange,
            timeout,
            cancelled,
        ));
        Ok(started)
    }

    /// Waits for one flow's callback, exchanges if asked, and records the outcome.
    async fn drive(
        self,
        id: String,
        flow: AwaitingCode,
        mut registration: Registration,
        exchange: bool,
        timeout: Duration,
        mut cancelled: oneshot::Receiver<()>,
    ) {
        let delivered = tokio::select! {
            // A withdrawn registration drops its sender: that is a cancel, like the switch.
            delivered = &mut registration.outcome => match delivered {
                Ok(outcome) => Some(outcome),
                Err(_) => {
                    tracing::info!(flow = %id, "flow cancelled");
                    return;
                }
            },
            () = tokio::time::sleep(timeout) => {
                // A callback that landed just before the timer fired wins; otherwise no callback
                // can reach this flow from here on.
                if registration.withdraw() {
                    None
                } else {
                    registration.outcome.try_recv().ok()
                }
            }
            _ = &mut cancelled => {
                tracing::info!(flow = %id, "flow cancelled");
                return;
            }
        };
        drop(registration);
        let (status, reply) = match delivered {
            None => (FlowStatus::Expired, None),
            Some(Delivery {
                outcome: Ok(code),
                reply,
            }) => {
                let bundle = flow.into_bundle(code);
                let status = if exchange {
                    self.set_status(&id, FlowStatus::Exchanging);
                    let exchanging = async {
                        match self.client().await {
                            Ok(client) => client.exchange(&bundle).await,
                            Err(e) => Err(e),
                        }
                    };
                    // Cancelled mid-exchange (the command timed out, Ctrl-C, DELETE): the
                    // browser's page is told at once rather than left hanging.
                    let exchanged = tokio::select! {
                        exchanged = exchanging => exchanged,
                        _ = &mut cancelled => {
                            tracing::info!(flow = %id, "flow cancelled during the exchange");
                            if let Some(reply) = reply {
                                let _ = reply.send(Verdict::Stopped);
                            }
                            return;
                        }
                    };
                    match exchanged {
                        Ok(key) => FlowStatus::Succeeded(Arc::new(FlowResult::Key(key))),
                        Err(e) => FlowStatus::Failed(Arc::new(e)),
                    }
                } else {
                    FlowStatus::Succeeded(Arc::new(FlowResult::Bundle(bundle)))
                };
                (status, reply)
            }
            Some(Delivery {
                outcome: Err(e),
                reply,
            }) => (FlowStatus::Failed(Arc::new(e)), reply),
        };
        if let Some(reply) = reply {
            let _ = reply.send(match &status {
                FlowStatus::Succeeded(result) => match **result {
                    FlowResult::Key(_) => Verdict::KeyCreated,
                    FlowResult::Bundle(_) => Verdict::CodeHandedOver,
                },
                FlowStatus::Failed(e) => Verdict::Failed(e.to_string()),
                _ => Verdict::Failed("the login ended without a result".into()),
            });
        }
        let outcome = match &status {
            FlowStatus::Succeeded(_) => "succeeded",
            FlowStatus::Failed(e) => e.kind().as_str(),
            FlowStatus::Expired => "expired",
            FlowStatus::Pending | FlowStatus::Exchanging => "pending",
        };
        tracing::info!(flow = %id, outcome, "flow finished");
        if let Some(record) = self.table().get_mut(&id) {
            record.finished_at = Some(Instant::now());
            record.live = None;
            record.status.send_replace(status);
        }
        self.inner.finished.notify_waiters();
    }

    /// Moves a running flow to `status` (a step, not an outcome: waiters see it change).
    fn set_status(&self, id: &str, status: FlowStatus) {
        if let Some(record) = self.table().get_mut(id) {
            record.status.send_replace(status);
        }
    }

    /// A receiver that sees the flow's status change; `None` for an unknown id.
    pub fn watch(&self, id: &str) -> Option<watch::Receiver<FlowStatus>> {
        self.table().get(id).map(|r| r.status.subscribe())
    }

    /// Removes a finished flow and hands back its outcome whole (the one-shot host, which is
    /// the only reader): the key or bundle, or the original error.
    pub fn take(&self, id: &str) -> Option<Result<FlowResult>> {
        let record = self.table().remove(id)?;
        let status = record.status.send_replace(FlowStatus::Pending);
        drop(record);
        match status {
            FlowStatus::Pending | FlowStatus::Exchanging => None,
            FlowStatus::Expired => Some(Err(Error::TimedOut {
                seconds: self.inner.config.flow_timeout.as_secs(),
            })),
            FlowStatus::Succeeded(result) => Some(
                Arc::try_unwrap(result)
                    .map_err(|_| Error::internal("reading the login's result", "still shared")),
            ),
            FlowStatus::Failed(error) => {
                Some(Err(Arc::try_unwrap(error).unwrap_or_else(|shared| {
                    Error::Remote {
                        kind: shared.kind(),
                        message: shared.to_string(),
                    }
                })))
            }
        }
    }

    /// Removes a flow. Its callback registration goes with it, before this returns, so a
    /// callback sent afterwards finds no login. `false` for an unknown id.
    pub fn cancel(&self, id: &str) -> bool {
        let Some(record) = self.table().remove(id) else {
            return false;
        };
        if let Some((key, cancel)) = record.live {
            self.inner.callbacks.withdraw(key);
            let _ = cancel.send(());
        }
        true
    }

    /// Stops: refuses new flows and fails those still waiting for their callback with "service
    /// stopping". Flows whose code already arrived go on to finish their exchange.
    pub fn stop(&self) {
        self.inner.stopping.send_replace(true);
        self.inner.callbacks.fail_all(|| Error::ServiceStopping);
    }

    /// Waits until no flow is pending (after [`Engine::stop`]: until the exchanges already under
    /// way have finished), or until `until`; returns whether all settled.
    pub async fn settle(&self, until: Instant) -> bool {
        loop {
            // Created before the check, so a flow finishing in between still wakes us.
            let finished = self.inner.finished.notified();
            if self.pending() == 0 {
                return true;
            }
            if tokio::time::timeout_at(until, finished).await.is_err() {
                return self.pending() == 0;
            }
        }
    }

    /// Ends every flow still pending (exchanges that outlived the shutdown bound) with
    /// `service_stopping`, saying a key may exist, so each waiter gets an answer.
    pub fn abandon_pending(&self) {
        for record in self.table().values_mut() {
            if record.status.borrow().is_pending() {
                record.finished_at = Some(Instant::now());
                record.status.send_replace(FlowStatus::Failed(Arc::new(Error::Remote {
                    kind: crate::error::ErrorKind::ServiceStopping,
                    message: "the service stopped while the code was being exchanged; a key may have been created: check your OpenRouter keys".into(),
                })));
            }
        }
    }

    /// Removes finished flows older than the result TTL; returns how many were wiped.
    pub fn sweep(&self) -> usize {
        let ttl = self.inner.config.result_ttl;
        let mut table = self.table();
        let before = table.len();
        table.retain(|_, r| r.finished_at.is_none_or(|t| t.elapsed() < ttl));
        before - table.len()
    }
}
