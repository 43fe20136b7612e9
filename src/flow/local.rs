//! The in-process host of the one-shot commands: its own loopback listener and a flow table
//! holding the one login, driven by the same [`driver`](crate::flow::driver) as the service.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use url::Url;

use crate::error::{Error, Result};
use crate::flow::driver::FlowHost;
use crate::flow::engine::{Engine, EngineConfig, StartRefused};
use crate::flow::pending::PendingFlows;
use crate::flow::{CallbackScheme, FlowResult, FlowSpec, StartedFlow};
use crate::server::listener::LoopbackListener;
use crate::tls::CertSource;

/// What the in-process host needs, already validated.
#[derive(Debug, Clone)]
pub struct LocalOptions {
    /// OpenRouter's base URL.
    pub openrouter: Url,
    /// The port to listen on (0: any free one).
    pub port: u16,
    /// The scheme the login will use; https loads (or makes) the certificate.
    pub scheme: CallbackScheme,
    /// Where the certificate comes from.
    pub cert: CertSource,
    /// How long the login may take.
    pub timeout: Duration,
}

/// A listener on the callback port plus a one-flow table; stop it with [`LocalHost::shutdown`].
#[derive(Debug)]
pub struct LocalHost {
    engine: Engine,
    stop: watch::Sender<bool>,
    server: Mutex<Option<JoinHandle<()>>>,
    ca_cert: Option<PathBuf>,
}

impl LocalHost {
    /// Binds the port first (a port held by someone else is reported before any other work),
    /// then loads the certificate off the async threads and starts serving callbacks.
    pub async fn start(opts: &LocalOptions) -> Result<Self> {
        let listener = LoopbackListener::bind(opts.port).await?;
        let tls = match opts.scheme {
            CallbackScheme::Https => {
                let cert = opts.cert.clone();
                Some(
                    tokio::task::spawn_blocking(move || crate::tls::load(&cert))
                        .await
                        .map_err(|e| Error::internal("loading the certificate", e))??,
                )
            }
            CallbackScheme::Http => None,
        };
        let port = listener.port();
        let mut config = EngineConfig::new(opts.openrouter.clone(), port);
        config.flow_timeout = opts.timeout;
        config.max_pending = 1;
        let engine = Engine::new(config);
        let (stop, stop_rx) = watch::channel(false);
        let router = crate::server::callback::router(engine.callbacks().clone(), port);
        let ca_cert = tls.as_ref().and_then(|t| t.ca_cert_path.clone());
        let server = tokio::spawn(listener.serve(router, tls.map(|t| t.config), stop_rx));
        tracing::debug!(port, "callback listener accepting");
        Ok(Self {
            engine,
            stop,
            server: Mutex::new(Some(server)),
            ca_cert,
        })
    }

    /// The port the listener is bound to.
    pub fn port(&self) -> u16 {
        self.engine.config().port
    }

    /// Stops the listener after letting open connections finish (bounded).
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let server = self.server.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(server) = server {
            let _ = server.await;
        }
    }
}

impl FlowHost for LocalHost {
    async fn start(&self, spec: FlowSpec, _deadline: Instant) -> Result<StartedFlow> {
        let started = self
            .engine
            .start(spec, &[])
            .map_err(|refused| match refused {
                StartRefused::Stopping => Error::ServiceStopping,
                StartRefused::TooMany(n) => {
                    Error::internal("starting the login", format!("{n} already pending"))
                }
            })?;
        if spec.exchange {
            self.engine.warm_up();
        }
        Ok(started)
    }

    async fn wait(&self, flow: &StartedFlow, deadline: Instant) -> Result<FlowResult> {
        let mut status = self
            .engine
            .watch(&flow.id)
            .ok_or_else(|| Error::internal("waiting for the login", "the flow is gone"))?;
        let timeout = self.engine.config().flow_timeout;
        let finished = tokio::time::timeout_at(deadline, status.wait_for(|s| !s.is_pending()))
            .await
            .map(|r| r.is_ok());
        drop(status);
        match finished {
            Ok(true) => self
                .engine
                .take(&flow.id)
                .unwrap_or_else(|| Err(Error::internal("reading the login", "no outcome"))),
            Ok(false) => Err(Error::internal("waiting for the login", "the flow is gone")),
            Err(_) => Err(Error::TimedOut {
                seconds: timeout.as_secs(),
            }),
        }
    }

    async fn cancel(&self, flow: &StartedFlow) {
        self.engine.cancel(&flow.id);
    }

    fn paste_target(&self) -> Option<PendingFlows> {
        Some(self.engine.callbacks().clone())
    }

    fn ca_cert(&self) -> Option<PathBuf> {
        self.ca_cert.clone()
    }
}
