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
use crate::flow::driver::{Deadline, FlowHost};
use crate::flow::engine::{Engine, EngineConfig, StartRefused};
use crate::flow::pending::PendingFlows;
use crate::flow::present::Presenter;
use crate::flow::progress::Progress;
use crate::flow::{FlowResult, FlowSpec, Stage, StartedFlow, UrlScheme};
use crate::report::{Reporter, say};
use crate::server::listener::{LoopbackListener, TlsSlot};
use crate::tls::CertSource;

/// What the in-process host needs, already validated.
#[derive(Debug, Clone)]
pub struct LocalOptions {
    /// OpenRouter's base URL.
    pub openrouter: Url,
    /// Which port to listen on.
    pub port: PortChoice,
    /// The scheme the login will use; https loads (or makes) the certificate.
    pub scheme: UrlScheme,
    /// Where the certificate comes from.
    pub cert: CertSource,
    /// How long the login may take.
    pub timeout: Duration,
    /// Who is asking OpenRouter.
    pub app: crate::openrouter::AppAttribution,
    /// Make the certificate for an http login too, so the port also answers https (the CLI:
    /// a person may retype the address). An app's http login leaves it alone and writes no
    /// private key.
    pub always_https: bool,
}

/// Which port a one-shot login listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortChoice {
    /// No `--port`: this one (3000) when free, else any free port, said in one line. Dev
    /// servers default to 3000, and OpenRouter accepts loopback callbacks on any port.
    Preferred(u16),
    /// `--port 0`: any free port.
    Any,
    /// `--port N`: this one or exit 7.
    Exact(u16),
}

impl PortChoice {
    /// The port a running service would be found on, if this choice can use one.
    pub fn service_port(self) -> Option<u16> {
        match self {
            PortChoice::Preferred(p) | PortChoice::Exact(p) => Some(p),
            PortChoice::Any => None,
        }
    }
}

/// Binds the listener as `choice` says; a fallback from a busy preferred port is told to
/// `reporter`.
async fn bind(choice: PortChoice, reporter: &dyn Reporter) -> Result<LoopbackListener> {
    match choice {
        PortChoice::Any => LoopbackListener::bind(0).await,
        PortChoice::Exact(port) => LoopbackListener::bind(port).await,
        PortChoice::Preferred(port) => match LoopbackListener::bind(port).await {
            Err(Error::PortInUse { holder, .. }) => {
                let listener = LoopbackListener::bind(0).await?;
                let who = holder.map(|h| format!(" by {h}")).unwrap_or_default();
                say!(
                    reporter,
                    "Port {port} is used{who}; listening on localhost:{} instead.",
                    listener.port()
                );
                Ok(listener)
            }
            other => other,
        },
    }
}

/// A listener on the callback port plus a one-flow table; stop it with [`LocalHost::shutdown`].
#[derive(Debug)]
pub struct LocalHost {
    engine: Engine,
    stop: watch::Sender<bool>,
    server: Mutex<Option<JoinHandle<()>>>,
    ca_cert: Option<PathBuf>,
    /// The OpenRouter reachability check started with the listener.
    reachable: Mutex<Option<JoinHandle<Result<()>>>>,
}

impl LocalHost {
    /// Binds the port first (a port held by someone else is reported before any other work),
    /// then loads the certificate off the async threads and starts serving callbacks.
    pub async fn start(opts: &LocalOptions, reporter: &dyn Reporter) -> Result<Self> {
        let listener = bind(opts.port, reporter).await?;
        // Both schemes are served on the one port whatever this login's callback uses (a
        // person may retype the address with the other one). An https login (or one that
        // asks for both) makes the certificate and its private keys when missing; otherwise
        // https is served only with a certificate that is already there, and no key written.
        let cert = opts.cert.clone();
        let make = opts.scheme == UrlScheme::Https || opts.always_https;
        let load = move || {
            if make {
                crate::tls::load(&cert).map(Some)
            } else {
                crate::tls::load_existing(&cert)
            }
        };
        let (tls, ca_cert) = match opts.scheme {
            // The callback is https: the certificate must be there before the URL is shown.
            UrlScheme::Https => {
                let loaded = tokio::task::spawn_blocking(load)
                    .await
                    .map_err(|e| Error::internal("loading the certificate", e))??;
                let ca = loaded.as_ref().and_then(|t| t.ca_cert_path.clone());
                (TlsSlot::ready(loaded.map(|t| t.config)), ca)
            }
            // The callback is http: the URL (and the browser) need not wait for the
            // certificate; https on the port follows once it is loaded.
            UrlScheme::Http => {
                let (slot, filler) = TlsSlot::pending();
                tokio::task::spawn_blocking(move || match load() {
                    Ok(tls) => filler.fill(tls.map(|t| t.config)),
                    Err(e) => {
                        tracing::warn!(error = %e, "serving http only: the certificate did not load");
                        filler.fill(None);
                    }
                });
                (slot, None)
            }
        };
        let port = listener.port();
        let mut config = EngineConfig::new(opts.openrouter.clone(), port);
        config.flow_timeout = opts.timeout;
        config.app = opts.app.clone();
        config.max_pending = 1;
        let engine = Engine::new(config);
        // Checked while the person is not waiting on anything yet; the flow starts only
        // once OpenRouter answered.
        let reachable = tokio::spawn({
            let engine = engine.clone();
            async move { engine.check_reachable().await }
        });
        let (stop, stop_rx) = watch::channel(false);
        let router = crate::flow::callback::router(engine.callbacks().clone(), port);
        let server = tokio::spawn(listener.serve_with(router, tls, stop_rx));
        tracing::debug!(port, "callback listener accepting");
        Ok(Self {
            engine,
            stop,
            server: Mutex::new(Some(server)),
            ca_cert,
            reachable: Mutex::new(Some(reachable)),
        })
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

/// Runs one whole login on a fresh in-process host and stops its listener afterwards: the
/// one-shot commands and the library's [`Login`](crate::Login) both come here.
pub async fn run(
    options: &LocalOptions,
    spec: FlowSpec,
    presenter: Presenter,
    deadline: Deadline,
    progress: &Progress,
) -> Result<FlowResult> {
    let host = LocalHost::start(options, progress.reporter().as_ref()).await?;
    let result = crate::flow::driver::run(&host, spec, presenter, deadline, progress).await;
    host.shutdown().await;
    result
}

impl Drop for LocalHost {
    /// A login dropped mid-way (an app cancelling by dropping the future): stop listening at
    /// once, so a late callback finds no one and the port is free again.
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        let check = self
            .reachable
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(check) = check {
            check.abort();
        }
    }
}

impl FlowHost for LocalHost {
    async fn start(&self, spec: FlowSpec, _deadline: Instant) -> Result<StartedFlow> {
        // The browser comes first: the flow starts as soon as the port listens, and the
        // check that OpenRouter answers (started with the listener, its connection kept for
        // the exchange) runs alongside; `wait` ends the login the moment it fails.
        let started = self.engine.start(spec).map_err(|refused| match refused {
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

    async fn wait(
        &self,
        flow: &StartedFlow,
        deadline: Instant,
        progress: &Progress,
    ) -> Result<FlowResult> {
        let mut status = self
            .engine
            .watch(&flow.id)
            .ok_or_else(|| Error::internal("waiting for the login", "the flow is gone"))?;
        let timeout = self.engine.config().flow_timeout;
        let mut stage = Stage::Waiting;
        let mut check = self
            .reachable
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let finished = tokio::time::timeout_at(deadline, async {
            loop {
                // Until OpenRouter has answered once, a failed check ends the login (exit 6)
                // instead of leaving the person on a page that will not load.
                if let Some(pending) = check.as_mut() {
                    tokio::select! {
                        biased;
                        answered = pending => {
                            check = None;
                            match answered {
                                Ok(Ok(())) => {}
                                Ok(Err(e)) => return Err(e),
                                Err(e) => return Err(Error::internal("checking OpenRouter", e)),
                            }
                        }
                        changed = status.changed() => {
                            if changed.is_err() {
                                return Ok(false);
                            }
                        }
                    }
                }
                let now = status.borrow_and_update().stage();
                match now {
                    None => return Ok(true),
                    Some(now) if now != stage => {
                        stage = now;
                        progress.stage(now);
                    }
                    Some(_) => {}
                }
                if check.is_none() && status.changed().await.is_err() {
                    return Ok(false);
                }
            }
        })
        .await;
        drop(status);
        match finished {
            Ok(Err(unreachable)) => {
                self.engine.cancel(&flow.id);
                Err(unreachable)
            }
            Ok(Ok(true)) => self
                .engine
                .take(&flow.id)
                .unwrap_or_else(|| Err(Error::internal("reading the login", "no outcome"))),
            Ok(Ok(false)) => Err(Error::internal("waiting for the login", "the flow is gone")),
            Err(_) if stage == Stage::Exchanging => Err(Error::ExchangeTimedOut {
                seconds: timeout.as_secs(),
            }),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Without --port, the preferred port (3000) is used when free, else any free port; an
    /// explicit --port is that port or exit 7. Tests never touch port 3000, so the preferred
    /// port here is one the test holds.
    #[tokio::test]
    async fn a_busy_preferred_port_falls_back_to_a_free_one() {
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let busy = held.local_addr().unwrap().port();
        let listener = bind(PortChoice::Preferred(busy), &crate::report::Silent)
            .await
            .unwrap();
        assert_ne!(listener.port(), busy);
        drop(listener);
        // Free: the preferred port itself.
        drop(held);
        let listener = bind(PortChoice::Preferred(busy), &crate::report::Silent)
            .await
            .unwrap();
        assert_eq!(listener.port(), busy);
        drop(listener);
        // Exact: no fallback.
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let busy = held.local_addr().unwrap().port();
        let e = bind(PortChoice::Exact(busy), &crate::report::Silent)
            .await
            .unwrap_err();
        assert_eq!(e.exit_code(), 7, "{e}");
        // An app's user is told what happened, not a flag of a program they do not have.
        assert!(!e.to_string().contains("--port"), "{e}");
    }
}
