//! Turns parsed arguments into validated options and runs the command; prints stdout JSON.

use std::io::{Read, Write};
use std::time::Duration;

use time::OffsetDateTime;
use url::Url;

use crate::cli::{
    CallbackArgs, Cli, Command, CreateCodeArgs, ExchangeArgs, ListenerArgs, OpenRouterArgs,
    ServeArgs, ServiceAction,
};
use crate::config;
use crate::error::{Error, Result};
use crate::flow::{CallbackBase, CallbackScheme};
use crate::listener::{Limits, LoopbackListener};
use crate::login::{self, AuthorizeOptions, CreateCodeOptions, KeyDestination, Presenter};
use crate::openrouter::{CodeBundle, OpenRouterClient};
use crate::secret::{ApiKey, AuthCode, CodeVerifier};
use crate::service::{self, Service, ServiceConfig};
use crate::service_client::{self, ServiceClient};
use crate::standin::{self, Consent, StandInOptions};
use crate::tls::CertSource;
use crate::trust::{self, TrustAction};
use crate::{service_unit, tls};

/// Largest code bundle read from stdin.
const MAX_BUNDLE_BYTES: u64 = 64 * 1024;

/// Runs one command to completion.
pub async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Authorize(args) => {
            let (opts, stand_in) = authorize_options(&args.openrouter, &args.callback).await?;
            let bundle = match running_service(&opts, stand_in.is_some()).await {
                Some(service) => {
                    let result = service_client::run_flow(&service, &opts, false).await?;
                    service_client::bundle_from_result(&result)?
                }
                None => login::authorize(&opts).await?,
            };
            print_line(&bundle.to_json())
        }
        Command::Login(args) => {
            let destination = destination(args.output);
            let (opts, stand_in) = authorize_options(&args.openrouter, &args.callback).await?;
            let key = match running_service(&opts, stand_in.is_some()).await {
                Some(service) => {
                    let result = service_client::run_flow(&service, &opts, true).await?;
                    service_client::key_from_result(&result)?
                }
                None => {
                    // Build the HTTP client (TLS roots) while the person is in the browser, so
                    // the exchange starts the moment the callback lands.
                    let base = opts.openrouter.clone();
                    let client = tokio::task::spawn_blocking(move || OpenRouterClient::new(base));
                    let bundle = login::authorize(&opts).await?;
                    let client = client
                        .await
                        .map_err(|e| Error::internal("building the HTTP client", e))??;
                    client.exchange(&bundle).await?
                }
            };
            print_line(&login::deliver_key(&key, &destination)?)
        }
        Command::Serve(args) => serve(args).await,
        Command::Trust(args) => {
            let action = if args.uninstall {
                TrustAction::Uninstall
            } else if args.status {
                TrustAction::Status
            } else {
                TrustAction::Install
            };
            let report = trust::run(action, &crate::paths::config_dir()?, args.user_only)?;
            eprintln!("Local CA: {} ({})", report.name, report.ca);
            eprintln!("  SHA-256: {}", report.fingerprint_sha256);
            eprintln!(
                "  expires: {}",
                report.expires.as_deref().unwrap_or("unknown")
            );
            for change in &report.changed {
                eprintln!("  changed: {change}");
            }
            if report.changed.is_empty() && action != TrustAction::Status {
                eprintln!("  nothing to change");
            }
            for place in &report.trusted_in {
                eprintln!("  trusted in: {place}");
            }
            for skip in &report.skipped {
                eprintln!("  skipped: {skip}");
            }
            print_line(
                &serde_json::to_string(&report)
                    .map_err(|e| Error::internal("encoding the report", e))?,
            )
        }
        Command::Service(args) => service_action(args.action).await,
        Command::Exchange(args) => {
            let openrouter = config::parse_openrouter_url(&args.openrouter.openrouter_url)?;
            let destination = destination(args.output.clone());
            let bundle = exchange_bundle(&args)?;
            let key = login::exchange(&openrouter, &bundle).await?;
            print_line(&login::deliver_key(&key, &destination)?)
        }
        Command::CreateCode(args) => {
            let opts = create_code_options(args, OffsetDateTime::now_utc())?;
            let bundle = login::create_code(&opts).await?;
            print_line(&bundle.to_json())
        }
        Command::MockServer(args) => {
            let consent = if args.auto_approve {
                Consent::AutoApprove
            } else if args.auto_deny {
                Consent::AutoDeny
            } else {
                Consent::Ask
            };
            let options = StandInOptions {
                consent,
                fail_exchanges: args.fail_exchanges,
                fail_status: args.fail_status,
                management_key: ApiKey::new(args.management_key),
            };
            let (url, task) = standin::start(args.port, options).await?;
            print_line(&serde_json::json!({ "url": url.as_str() }).to_string())?;
            eprintln!("OpenRouter stand-in listening on {url} (Ctrl-C to stop)");
            tokio::select! {
                _ = task => Ok(()),
                _ = tokio::signal::ctrl_c() => Ok(()),
            }
        }
        Command::Demo(args) => {
            let (url, _task) = standin::start(
                0,
                StandInOptions {
                    consent: Consent::AutoApprove,
                    ..StandInOptions::default()
                },
            )
            .await?;
            eprintln!("Started the offline OpenRouter stand-in at {url}");
            let opts = AuthorizeOptions {
                openrouter: url,
                callback: CallbackBase {
                    scheme: CallbackScheme::Https,
                    host: "localhost".into(),
                    port: args.port,
                },
                cert: CertSource::Local(crate::paths::config_dir()?),
                timeout: Duration::from_secs(60),
                presenter: Presenter::BuiltInClient,
                headless: false,
            };
            let bundle = login::authorize(&opts).await?;
            let key = login::exchange(&opts.openrouter, &bundle).await?;
            eprintln!(
                "Login complete: the stand-in issued a (pretend) key through the HTTPS callback."
            );
            print_line(&key.to_json())
        }
    }
}

/// A service to delegate to, unless this login needs its own listener (headless, stand-in).
async fn running_service(opts: &AuthorizeOptions, stand_in: bool) -> Option<ServiceClient> {
    if opts.headless || stand_in {
        return None;
    }
    ServiceClient::probe(opts.callback.port).await
}

/// `serve`: bind, write the token file, run until SIGINT/SIGTERM, clean up.
async fn serve(args: ServeArgs) -> Result<()> {
    let port = config::parse_port(&args.port)?;
    let openrouter = config::parse_openrouter_url(&args.openrouter.openrouter_url)?;
    let (scheme, host, cert) = listener_settings(&args.listener)?;
    if !matches!(args.log_format.as_str(), "text" | "json") {
        return Err(Error::bad_input("--log-format", "text or json"));
    }
    if args.max_pending == 0 {
        return Err(Error::bad_input("--max-pending", "1 or more"));
    }
    if args.flow_timeout == 0 {
        return Err(Error::bad_input(
            "--flow-timeout",
            "a number of seconds greater than 0",
        ));
    }
    if args.header_timeout == 0 || args.max_connections == 0 {
        return Err(Error::bad_input(
            "--header-timeout/--max-connections",
            "values of 1 or more",
        ));
    }
    let limits = Limits {
        header_read_timeout: Duration::from_secs(args.header_timeout),
        max_connections: args.max_connections,
    };
    let listener = LoopbackListener::bind(port).await?.with_limits(limits);
    let tls = match scheme {
        CallbackScheme::Https => Some(tls::load(&cert)?.config),
        CallbackScheme::Http => None,
    };
    let mut config = ServiceConfig::new(openrouter, CallbackBase { scheme, host, port });
    config.flow_timeout = Duration::from_secs(args.flow_timeout);
    config.max_pending = args.max_pending;
    let service = Service::new(config)?;
    let token_path = service::token_path()?;
    service::write_token_file(&token_path, service.token())?;
    tracing::info!(port, addrs = ?listener.addrs(), "serving");
    eprintln!(
        "openrouter-pkce service listening on port {port} (token in {})",
        token_path.display()
    );
    service.run(listener, tls, shutdown_signal()).await;
    if let Err(e) = std::fs::remove_file(&token_path) {
        tracing::warn!(error = %e, "could not remove the token file");
    }
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// `service install|uninstall|status`.
async fn service_action(action: ServiceAction) -> Result<()> {
    let (kind, args) = match &action {
        ServiceAction::Install(a) => ("install", a),
        ServiceAction::Uninstall(a) => ("uninstall", a),
        ServiceAction::Status(a) => ("status", a),
    };
    let port = config::parse_port(&args.port)?;
    if let Some(url) = &args.openrouter_url {
        config::parse_openrouter_url(url)?;
    }
    let serve_args = service_unit::serve_args(port, args.openrouter_url.as_deref());
    let Some(manager) = service_unit::manager() else {
        return Err(service_unit::unsupported(&serve_args));
    };
    let path = service_unit::unit_path(manager)?;
    let exe = std::env::current_exe().map_err(|e| Error::internal("finding this executable", e))?;
    let text = service_unit::unit_text(manager, &exe, &serve_args);
    match kind {
        "install" if args.print => {
            eprintln!("Would write {}:", path.display());
            print_text(&text)
        }
        "install" => {
            service_unit::write_unit(&path, &text)?;
            eprintln!(
                "Wrote {}:\n\n{text}\nStart it with:\n  {}",
                path.display(),
                service_unit::start_hint(manager, &path)
            );
            print_line(&serde_json::json!({"installed": path.display().to_string()}).to_string())
        }
        "uninstall" if args.print => {
            eprintln!(
                "Would stop it with `{}` and remove {}",
                service_unit::stop_hint(manager, &path),
                path.display()
            );
            Ok(())
        }
        "uninstall" => {
            match std::fs::remove_file(&path) {
                Ok(()) => eprintln!(
                    "Removed {}. Stop a running one with:\n  {}",
                    path.display(),
                    service_unit::stop_hint(manager, &path)
                ),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    eprintln!("Nothing to remove: {} does not exist.", path.display())
                }
                Err(e) => return Err(Error::internal(format!("removing {}", path.display()), e)),
            }
            print_line(&serde_json::json!({"removed": path.display().to_string()}).to_string())
        }
        _ => {
            let installed = path.exists();
            let running = ServiceClient::probe(port).await.is_some();
            eprintln!(
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
            print_line(&serde_json::json!({"unit": path.display().to_string(), "installed": installed, "running": running, "port": port}).to_string())
        }
    }
}

fn print_text(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| Error::internal("writing to stdout", e))
}

/// Validates `--callback-scheme`, `--callback-host` and the certificate flags.
fn listener_settings(listener: &ListenerArgs) -> Result<(CallbackScheme, String, CertSource)> {
    let scheme = match listener.callback_scheme.as_str() {
        "https" => CallbackScheme::Https,
        "http" => CallbackScheme::Http,
        _ => return Err(Error::bad_input("--callback-scheme", "https or http")),
    };
    let host = match listener.callback_host.as_str() {
        h @ ("localhost" | "127.0.0.1") => h.to_owned(),
        _ => {
            return Err(Error::bad_input(
                "--callback-host",
                "localhost or 127.0.0.1",
            ));
        }
    };
    let cert = match (&listener.tls_cert, &listener.tls_key) {
        (Some(cert), Some(key)) => CertSource::Files {
            cert: cert.clone(),
            key: key.clone(),
        },
        _ => CertSource::Local(crate::paths::config_dir()?),
    };
    Ok((scheme, host, cert))
}

fn destination(output: Option<std::path::PathBuf>) -> KeyDestination {
    output.map_or(KeyDestination::Stdout, KeyDestination::File)
}

/// Writes one line to stdout; a closed stdout is an error, not a panic.
fn print_line(line: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(|e| Error::internal("writing to stdout", e))
}

/// Validates the authorize/login flags; with `--stand-in`, starts the stand-in and points at it.
async fn authorize_options(
    openrouter: &OpenRouterArgs,
    args: &CallbackArgs,
) -> Result<(AuthorizeOptions, Option<tokio::task::JoinHandle<()>>)> {
    let port = config::parse_port(&args.port)?;
    let (scheme, host, cert) = listener_settings(&args.listener)?;
    if args.timeout == 0 {
        return Err(Error::bad_input(
            "--timeout",
            "a number of seconds greater than 0",
        ));
    }
    let presenter = if args.no_browser {
        Presenter::PrintOnly
    } else {
        Presenter::Browser
    };
    let (openrouter, stand_in) = if args.stand_in {
        let (url, task) = standin::start(0, StandInOptions::default()).await?;
        eprintln!("Using the offline OpenRouter stand-in at {url}");
        (url, Some(task))
    } else {
        (
            config::parse_openrouter_url(&openrouter.openrouter_url)?,
            None,
        )
    };
    let opts = AuthorizeOptions {
        openrouter,
        callback: CallbackBase { scheme, host, port },
        cert,
        timeout: Duration::from_secs(args.timeout),
        presenter,
        headless: args.headless,
    };
    Ok((opts, stand_in))
}

/// The bundle from --code/--code-verifier, or from JSON on stdin.
fn exchange_bundle(args: &ExchangeArgs) -> Result<CodeBundle> {
    let method = config::parse_challenge_method(&args.code_challenge_method)?;
    if let (Some(code), Some(verifier)) = (&args.code, &args.code_verifier) {
        return CodeBundle::new(
            AuthCode::new(code.trim()),
            CodeVerifier::new(verifier.trim()),
            method,
            None,
        )
        .map_err(|e| match e {
            Error::BadInput {
                field: "code",
                expected,
            } => Error::BadInput {
                field: "--code",
                expected,
            },
            Error::BadInput {
                field: "code_verifier",
                expected,
            } => Error::BadInput {
                field: "--code-verifier",
                expected,
            },
            other => other,
        });
    }
    let mut text = String::new();
    std::io::stdin()
        .take(MAX_BUNDLE_BYTES)
        .read_to_string(&mut text)
        .map_err(|e| Error::bad_input("code bundle", format!("UTF-8 JSON on stdin ({e})")))?;
    if text.trim().is_empty() {
        return Err(Error::bad_input(
            "code bundle",
            "a JSON object on stdin, or --code and --code-verifier",
        ));
    }
    CodeBundle::from_json(&text)
}

/// Validates every create-code flag; nothing is sent unless all pass.
fn create_code_options(args: CreateCodeArgs, now: OffsetDateTime) -> Result<CreateCodeOptions> {
    let openrouter = config::parse_openrouter_url(&args.openrouter.openrouter_url)?;
    let management_key = args
        .api_key
        .filter(|k| !k.trim().is_empty())
        .map(|k| ApiKey::new(k.trim()))
        .ok_or_else(|| {
            Error::bad_input("--api-key", "a management key (or set OPENROUTER_API_KEY)")
        })?;
    let port = config::parse_port(&args.port)?;
    let callback_url = match &args.callback_url {
        Some(raw) => config::parse_callback_url(raw)?,
        None => Url::parse(&format!("https://localhost:{port}/callback")).expect("a valid URL"),
    };
    Ok(CreateCodeOptions {
        openrouter,
        management_key,
        callback_url,
        method: config::parse_challenge_method(&args.code_challenge_method)?,
        limit: args.limit.as_deref().map(config::parse_limit).transpose()?,
        expires_at: args
            .expires_at
            .as_deref()
            .map(|raw| config::parse_expires_at(raw, now))
            .transpose()?,
        key_label: args
            .key_label
            .as_deref()
            .map(config::parse_key_label)
            .transpose()?,
        usage_limit_type: args
            .usage_limit_type
            .as_deref()
            .map(config::parse_usage_limit_type)
            .transpose()?,
        workspace_id: args
            .workspace_id
            .as_deref()
            .map(config::parse_workspace_id)
            .transpose()?,
    })
}
