//! `serve` and `service install|uninstall|status`.

use serde::Serialize;

use crate::cli::Ctx;
use crate::cli::config::{ServeConfig, ServiceConfig, ServiceVerb};
use crate::cli::output::{print_json_when_piped, print_text};
use crate::error::{Error, Result};
use crate::flow::engine::EngineConfig;
use crate::flow::scheme::CallbackScheme;
use crate::report::say;
use crate::server::listener::LoopbackListener;
use crate::service::client::{Probe, ServiceClient};
use crate::service::{self, Service, unit};

/// `serve`: bind the port and the control socket, run until SIGINT/SIGTERM, clean up.
pub async fn serve(config: ServeConfig, ctx: &Ctx) -> Result<()> {
    let port = config.port;
    let listener = LoopbackListener::bind(port)
        .await?
        .with_limits(config.limits);
    // Flows may ask for either scheme, so the certificate is always ready (off the runtime).
    let cert = config.listener.cert.clone();
    let tls = tokio::task::spawn_blocking(move || crate::tls::load(&cert))
        .await
        .map_err(|e| Error::internal("loading the certificate", e))?;
    // Without a certificate the service can still run http logins, unless it was told to
    // use https (a service that keeps failing to start helps nobody).
    let (tls, tls_problem) = match tls {
        Ok(tls) => (Some(tls.config), None),
        Err(e) if config.listener.scheme == CallbackScheme::Https => return Err(e),
        Err(e) => {
            tracing::warn!(error = %e, "serving http callbacks only: the certificate did not load");
            (None, Some(e.to_string()))
        }
    };
    let service = Service::new(service::ServiceConfig {
        engine: EngineConfig {
            flow_timeout: config.flow_timeout,
            max_pending: config.max_pending,
            app: ctx.app.clone(),
            ..EngineConfig::new(config.openrouter, port)
        },
        scheme: config.listener.scheme,
        host: config.listener.host,
        cert: config.listener.cert.clone(),
        tls_problem,
    });
    let socket_path = service::socket::socket_path(port)?;
    let path = socket_path.clone();
    // Directory and socket checks, and the bind: off the async threads.
    let control = tokio::task::spawn_blocking(move || service::socket::bind(&path))
        .await
        .map_err(|e| Error::internal("binding the control socket", e))??;
    tracing::info!(
        port,
        addrs = ?listener.addrs(),
        control_socket = %socket_path.display(),
        "openrouter-pkce service listening"
    );
    service
        .run(listener, tls, control, crate::sys::signal::interrupted())
        .await;
    #[cfg(unix)]
    if let Err(e) = std::fs::remove_file(&socket_path) {
        tracing::warn!(error = %e, "could not remove the control socket");
    }
    tracing::info!("stopped");
    Ok(())
}

#[derive(Serialize)]
struct Installed {
    installed: String,
}

#[derive(Serialize)]
struct Removed {
    removed: Option<String>,
}

#[derive(Serialize)]
struct Status {
    unit: String,
    installed: bool,
    running: bool,
    port: u16,
}

/// `service install|uninstall|status`.
pub async fn service_action(config: ServiceConfig, ctx: &Ctx) -> Result<()> {
    let url = config.openrouter_url.as_ref().map(|u| u.to_string());
    let install_port = config.port.unwrap_or(crate::defaults::PORT);
    let serve_args = unit::serve_args(install_port, url.as_deref());
    let Some(manager) = unit::manager() else {
        return Err(unit::unsupported(&serve_args));
    };
    let path = unit::unit_path(manager)?;
    let exe = std::env::current_exe().map_err(|e| Error::internal("finding this executable", e))?;
    let text = unit::unit_text(manager, &exe, &serve_args);
    // Unit files are small; reading one on the async thread is not worth a hop.
    let installed_text = unit::read_unit(&path);
    match (config.action, config.print) {
        (ServiceVerb::Install, true) => {
            say!(ctx.term, "Would write {}:", path.display());
            print_text(&text)
        }
        (ServiceVerb::Install, false) => {
            unit::write_unit(&path, &unit::unit_bytes(manager, &text))?;
            // Task Scheduler keeps tasks itself: the task exists once it has taken it.
            if manager == unit::Manager::TaskScheduler {
                unit::schtasks(Some(&path))?;
            }
            say!(
                ctx.term,
                "Wrote {}:\n\n{text}\nStart it with:\n  {}",
                path.display(),
                unit::start_hint(manager, &path)
            );
            print_json_when_piped(&Installed {
                installed: path.display().to_string(),
            })
        }
        (ServiceVerb::Uninstall, true) => {
            say!(
                ctx.term,
                "Would stop it with `{}` and remove {}",
                unit::stop_hint(manager, &path),
                path.display()
            );
            Ok(())
        }
        (ServiceVerb::Uninstall, false) => {
            if manager == unit::Manager::TaskScheduler && installed_text.is_some() {
                unit::schtasks(None)?;
            }
            match std::fs::remove_file(&path) {
                Ok(()) => say!(
                    ctx.term,
                    "Removed {}. Stop a running one with:\n  {}",
                    path.display(),
                    unit::stop_hint(manager, &path)
                ),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    say!(
                        ctx.term,
                        "Nothing to remove: {} does not exist.",
                        path.display()
                    );
                    return print_json_when_piped(&Removed { removed: None });
                }
                Err(e) => return Err(Error::internal(format!("removing {}", path.display()), e)),
            }
            print_json_when_piped(&Removed {
                removed: Some(path.display().to_string()),
            })
        }
        (ServiceVerb::Status, _) => {
            let installed = installed_text.is_some();
            let port = config
                .port
                .or_else(|| installed_text.as_deref().and_then(unit::port_in_unit))
                .unwrap_or(crate::defaults::PORT);
            let openrouter = config.openrouter_url.clone().unwrap_or_else(|| {
                crate::input::parse_openrouter_url(crate::defaults::OPENROUTER_URL)
                    .expect("the default URL is valid")
            });
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
            let running = matches!(
                ServiceClient::probe(port, &openrouter, deadline, ctx.term.clone()).await?,
                Probe::Ready(_)
            );
            say!(
                ctx.term,
                "unit: {} ({})\nservice on port {port}: {}",
                path.display(),
                if installed {
                    "installed"
                } else {
                    "not installed"
                },
                if running {
                    "answering"
                } else {
                    "not answering"
                }
            );
            print_json_when_piped(&Status {
                unit: path.display().to_string(),
                installed,
                running,
                port,
            })
        }
    }
}
