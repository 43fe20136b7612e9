//! Turns parsed arguments into validated options and runs the command; prints stdout JSON.

use std::io::{Read, Write};
use std::time::Duration;

use time::OffsetDateTime;
use url::Url;

use crate::cli::{CallbackArgs, Cli, Command, CreateCodeArgs, ExchangeArgs, OpenRouterArgs};
use crate::config;
use crate::error::{Error, Result};
use crate::flow::{CallbackBase, CallbackScheme};
use crate::login::{self, AuthorizeOptions, CreateCodeOptions, KeyDestination, Presenter};
use crate::openrouter::CodeBundle;
use crate::secret::{ApiKey, AuthCode, CodeVerifier};
use crate::standin::{self, Consent, StandInOptions};
use crate::tls::CertSource;

/// Largest code bundle read from stdin.
const MAX_BUNDLE_BYTES: u64 = 64 * 1024;

/// Runs one command to completion.
pub async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Authorize(args) => {
            let (opts, _stand_in) = authorize_options(&args.openrouter, &args.callback).await?;
            let bundle = login::authorize(&opts).await?;
            print_line(&bundle.to_json())
        }
        Command::Login(args) => {
            let destination = destination(args.output);
            let (opts, _stand_in) = authorize_options(&args.openrouter, &args.callback).await?;
            let bundle = login::authorize(&opts).await?;
            let key = login::exchange(&opts.openrouter, &bundle).await?;
            print_line(&login::deliver_key(&key, &destination)?)
        }
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
    let scheme = match args.callback_scheme.as_str() {
        "https" => CallbackScheme::Https,
        "http" => CallbackScheme::Http,
        _ => return Err(Error::bad_input("--callback-scheme", "https or http")),
    };
    let host = match args.callback_host.as_str() {
        h @ ("localhost" | "127.0.0.1") => h.to_owned(),
        _ => {
            return Err(Error::bad_input(
                "--callback-host",
                "localhost or 127.0.0.1",
            ));
        }
    };
    if args.timeout == 0 {
        return Err(Error::bad_input(
            "--timeout",
            "a number of seconds greater than 0",
        ));
    }
    let cert = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => CertSource::Files {
            cert: cert.clone(),
            key: key.clone(),
        },
        _ => CertSource::Local(crate::paths::config_dir()?),
    };
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
