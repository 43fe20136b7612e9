//! The login family: `authorize`, `login`, `demo` (all through the one driver, on the
//! in-process host or a running service), and `exchange`/`create-code` (no browser).

use std::io::{IsTerminal, Read};
use std::path::PathBuf;

use url::Url;

use crate::cli::Ctx;
use crate::cli::config::{CreateCodeConfig, ExchangeConfig, LoginConfig, OpenRouterTarget};
use crate::cli::output::{deliver_key, print_json};
use crate::error::{Error, Result};
use crate::flow::driver::{self, Deadline};
use crate::flow::local::{LocalOptions, PortChoice};
use crate::flow::present::Presenter;
use crate::flow::progress::Progress;
use crate::flow::{CallbackHost, FlowResult, FlowSpec, UrlScheme};
use crate::openrouter::stand_in::{self, Consent, StandInOptions};
use crate::openrouter::{CodeBundle, CreateAuthKeysCodeRequest, OpenRouterClient};
use crate::report::Event;
use crate::report::{Reporter, say};
use crate::service::client::{Probe, ServiceClient};
use crate::tls::CertSource;

/// Largest code bundle read from stdin.
const MAX_BUNDLE_BYTES: u64 = 64 * 1024;

/// `authorize` and `login`.
pub async fn login(config: LoginConfig, ctx: &Ctx) -> Result<()> {
    if config.with_key {
        return with_key(config, ctx).await;
    }
    let deadline = Deadline::after(config.timeout);
    // Before anything is sent or any browser opens: a key must have somewhere to go.
    crate::cli::output::check_output_flag(&config.output).await?;
    // Kept alive until the login ends.
    let mut _stand_in = None;
    let (openrouter, own_stand_in) = match &config.openrouter {
        OpenRouterTarget::Url(url) => (url.clone(), false),
        OpenRouterTarget::StandIn => {
            let (url, task) = stand_in::start(0, StandInOptions::default()).await?;
            say!(ctx.term, "Using the offline OpenRouter stand-in at {url}");
            _stand_in = Some(task);
            (url, true)
        }
    };
    let save_to = save_plan(&config, &openrouter, own_stand_in, ctx).await?;
    let progress = Progress::new(config.exchange, ctx.term.clone());
    let result = if config.headless {
        headless(&config, &openrouter, ctx).await?
    } else {
        // A stand-in of our own lives only in this process: no service can reach it.
        let probe = match config.port.service_port() {
            Some(port) if !own_stand_in => {
                ServiceClient::probe(port, &openrouter, deadline.at, ctx.term.clone()).await?
            }
            _ => Probe::Absent,
        };
        match probe {
            Probe::Ready(service) => {
                refuse_unhonoured_flags(&config, service.port())?;
                // The service serves its own certificate, so it resolves `auto` itself.
                let service = service.with_scheme(config.listener.scheme);
                let spec = FlowSpec {
                    exchange: config.exchange,
                    scheme: UrlScheme::Https,
                    host: config.listener.host,
                    limit: config.limit,
                };
                driver::run(&service, spec, config.presenter, deadline, &progress).await?
            }
            Probe::NotAnswering => {
                return Err(crate::service::client::not_answering(
                    config.port.service_port().unwrap_or_default(),
                ));
            }
            Probe::Absent | Probe::Stale => {
                let (scheme, note) = crate::cli::scheme::choose(&config, deadline, ctx).await?;
                progress.note_after_start(note);
                let spec = FlowSpec {
                    exchange: config.exchange,
                    scheme,
                    host: config.listener.host,
                    limit: config.limit,
                };
                let options = LocalOptions {
                    openrouter: openrouter.clone(),
                    // A login against our own stand-in is a try-out that needs no well-known
                    // port: without --port it takes any free one, so a dev server or the
                    // service (which serves another OpenRouter) on 3000 is not its business.
                    port: match config.port {
                        PortChoice::Preferred(_) if own_stand_in => PortChoice::Any,
                        chosen => chosen,
                    },
                    scheme: spec.scheme,
                    cert: config.listener.cert.clone(),
                    timeout: config.timeout,
                    app: ctx.app.clone(),
                    always_https: true,
                };
                crate::flow::local::run(&options, spec, config.presenter, deadline, &progress)
                    .await?
            }
        }
    };
    match (result, save_to) {
        (FlowResult::Key(key), Some(profile)) => {
            crate::cli::keys::save_login(key, profile, openrouter, ctx).await
        }
        (result, _) => {
            let stand_in = own_stand_in || crate::input::is_loopback_host(&openrouter);
            report(result, config.output, stand_in, ctx).await
        }
    }
}

/// `login --with-key`: a key the person already has, read from stdin (never a flag: other
/// users can read command lines), checked with OpenRouter's GET /api/v1/key, then saved under
/// `--profile`. A key OpenRouter rejects is exit 5 and nothing is saved.
async fn with_key(config: LoginConfig, ctx: &Ctx) -> Result<()> {
    let OpenRouterTarget::Url(openrouter) = &config.openrouter else {
        return Err(Error::bad_input(
            "--with-key",
            "a real OpenRouter (not --stand-in), whose key it is",
        ));
    };
    let term = ctx.term.clone();
    let text = tokio::task::spawn_blocking(move || {
        if std::io::stdin().is_terminal() {
            say!(term, "Paste your OpenRouter API key, then press Enter:");
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).map(|_| line)
        } else {
            let mut text = String::new();
            std::io::stdin()
                .take(MAX_BUNDLE_BYTES)
                .read_to_string(&mut text)
                .map(|_| text)
        }
    })
    .await
    .map_err(|e| Error::internal("reading stdin", e))?
    .map_err(|e| Error::bad_input("--with-key", format!("a key as UTF-8 text on stdin ({e})")))?;
    let key = text.trim();
    if key.is_empty() || key.len() > 512 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::bad_input(
            "--with-key",
            "one API key on stdin (sk-or-…: printable, no spaces), e.g. `openrouter-pkce login --with-key < key.txt`",
        ));
    }
    let key = crate::secret::KeySecret::new(key);
    let profile = match &config.profile {
        Some(profile) => profile.clone(),
        None => crate::keys::Profile::new(crate::keys::DEFAULT_PROFILE)?,
    };
    tokio::task::spawn_blocking(crate::keys::check_writable)
        .await
        .map_err(|e| Error::internal("checking where keys are saved", e))??;
    let client = build_client(openrouter.clone(), ctx).await?;
    let info = client.current_key(&key).await?;
    if info.is_management_key == Some(true) {
        say!(
            ctx.term,
            "Note: this is a management key (it can create keys), not an inference key."
        );
    }
    crate::cli::keys::save_login(
        crate::openrouter::KeyResponse {
            key,
            user_id: info.creator_user_id.clone(),
        },
        profile,
        openrouter.clone(),
        ctx,
    )
    .await
}

/// Whether (and under which profile) `login` saves the key: `--save`/`--no-save` decide;
/// otherwise a person at a terminal gets it saved, and an app reading stdout gets the JSON.
/// A stand-in's pretend key is saved only when asked, and then under `stand-in` unless a
/// profile is named. The profiles directory is checked now, before any browser opens.
async fn save_plan(
    config: &LoginConfig,
    openrouter: &Url,
    own_stand_in: bool,
    ctx: &Ctx,
) -> Result<Option<crate::keys::Profile>> {
    if !config.exchange {
        return Ok(None);
    }
    let stand_in = own_stand_in || crate::input::is_loopback_host(openrouter);
    let save = config
        .save
        .unwrap_or_else(|| std::io::stdout().is_terminal() && !stand_in && config.output.is_none());
    if !save {
        if config.profile.is_some() {
            say!(
                ctx.term,
                "--profile applies only when the key is saved: add --save to save it."
            );
        }
        return Ok(None);
    }
    let profile = match &config.profile {
        Some(profile) => profile.clone(),
        None if stand_in => crate::keys::Profile::new(crate::keys::STAND_IN_PROFILE)?,
        None => crate::keys::Profile::new(crate::keys::DEFAULT_PROFILE)?,
    };
    tokio::task::spawn_blocking(crate::keys::check_writable)
        .await
        .map_err(|e| Error::internal("checking where keys are saved", e))??;
    Ok(Some(profile))
}

/// Flags the service cannot honour are refused before any flow or browser.
fn refuse_unhonoured_flags(config: &LoginConfig, port: u16) -> Result<()> {
    if let CertSource::Files { .. } = config.listener.cert {
        return Err(Error::bad_input(
            "--tls-cert",
            format!(
                "no --tls-cert/--tls-key while the openrouter-pkce service runs on port {port} (it serves its own certificate): stop the service or drop --tls-cert/--tls-key"
            ),
        ));
    }
    Ok(())
}

/// OpenRouter's headless flow, then the exchange for `login`.
async fn headless(config: &LoginConfig, openrouter: &Url, ctx: &Ctx) -> Result<FlowResult> {
    let client = config
        .exchange
        .then(|| build_client(openrouter.clone(), ctx));
    let bundle = crate::flow::headless::authorize(
        ctx.term.as_ref(),
        openrouter,
        config.timeout,
        config.limit,
        config.key_label.as_deref(),
    )
    .await?;
    match client {
        Some(client) => Ok(FlowResult::Key(client.await?.exchange(&bundle).await?)),
        None => Ok(FlowResult::Bundle(bundle)),
    }
}

/// Prints a finished login: the key (or where it went), or the code bundle; then says so.
/// `stand_in`: the key is a stand-in's pretend one, printed and not saved unless asked.
async fn report(
    result: FlowResult,
    output: Option<PathBuf>,
    stand_in: bool,
    ctx: &Ctx,
) -> Result<()> {
    match result {
        FlowResult::Key(key) => {
            let user_id = key.user_id.clone();
            let place = deliver_key(key, output).await?;
            ctx.term.emit(&Event::Succeeded {
                user_id: user_id.clone(),
            });
            let who = user_id
                .as_deref()
                .map(|u| format!(" as {}", crate::cli::keys::shown(u)))
                .unwrap_or_default();
            // Where the key went, and (for a stand-in's, which is never saved by default) how
            // to keep it: the same story the README and --help tell.
            ctx.term.done(&format!("Logged in{who}; {place}."));
            if stand_in && ctx.term.prose() {
                say!(
                    ctx.term,
                    "A stand-in's key is not saved: add --save to keep it under the profile stand-in (then `openrouter-pkce key --profile stand-in`)."
                );
            }
            Ok(())
        }
        FlowResult::Bundle(bundle) => {
            print_json(&bundle)?;
            ctx.term.emit(&Event::Succeeded { user_id: None });
            Ok(())
        }
    }
}

/// Builds an OpenRouter client off the async threads (it reads the TLS roots).
async fn build_client(openrouter: Url, ctx: &Ctx) -> Result<OpenRouterClient> {
    let app = ctx.app.clone();
    tokio::task::spawn_blocking(move || OpenRouterClient::new(openrouter, &app))
        .await
        .map_err(|e| Error::internal("building the HTTP client", e))?
}

/// `exchange`.
pub async fn exchange(config: ExchangeConfig, ctx: &Ctx) -> Result<()> {
    crate::cli::output::check_output_flag(&config.output).await?;
    let client = build_client(config.openrouter.clone(), ctx);
    let bundle = match config.code {
        Some((code, verifier, method)) => {
            let code = crate::secret::AuthCode::new(code.secret().trim());
            let verifier = crate::secret::CodeVerifier::new(verifier.secret().trim());
            CodeBundle::new(code, Some(verifier), Some(method), None).map_err(|e| match e {
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
            })?
        }
        None => read_bundle(ctx).await?,
    };
    let key = client.await?.exchange(&bundle).await?;
    deliver_key(key, config.output).await.map(drop)
}

/// Reads a code bundle from stdin, off the async threads.
async fn read_bundle(ctx: &Ctx) -> Result<CodeBundle> {
    let term = ctx.term.clone();
    let text = tokio::task::spawn_blocking(move || {
        if std::io::stdin().is_terminal() {
            say!(
                term,
                "Paste a code bundle (the JSON `authorize` prints), then press Ctrl-D:"
            );
        }
        let mut text = String::new();
        std::io::stdin()
            .take(MAX_BUNDLE_BYTES)
            .read_to_string(&mut text)
            .map(|_| text)
    })
    .await
    .map_err(|e| Error::internal("reading stdin", e))?
    .map_err(|e| Error::bad_input("code bundle", format!("UTF-8 JSON on stdin ({e})")))?;
    if text.trim().is_empty() {
        // Most often `authorize | exchange` or `create-code | exchange` whose first command
        // failed and said why: do not bury that under a complaint about the bundle.
        return Err(Error::Missing {
            field: "code bundle",
            advice: "stdin was empty; if a command before the pipe failed, its error above says why (else pipe `authorize`'s output in, or pass --code and --code-verifier)",
        });
    }
    CodeBundle::from_json(&text)
}

/// `create-code`: mints a code with a management key and prints a bundle `exchange` accepts.
pub async fn create_code(config: CreateCodeConfig, ctx: &Ctx) -> Result<()> {
    let client = build_client(config.openrouter.clone(), ctx);
    let verifier = crate::pkce::new_verifier();
    let request = CreateAuthKeysCodeRequest {
        callback_url: config.callback_url.to_string(),
        code_challenge: crate::pkce::challenge(&verifier, config.method),
        code_challenge_method: config.method,
        limit: config.limit,
        expires_at: config.expires_at,
        key_label: config.key_label,
        usage_limit_type: config.usage_limit_type,
        workspace_id: config.workspace_id,
    };
    let created = client
        .await?
        .create_code(&request, &config.management_key)
        .await?;
    let bundle = CodeBundle::new(
        created.id,
        Some(verifier),
        Some(config.method),
        Some(request.callback_url),
    )?;
    print_json(&bundle)
}

/// `demo`: the stand-in plus a whole HTTPS login, with a built-in client playing the browser.
pub async fn demo(port: u16, config_dir: PathBuf, ctx: &Ctx) -> Result<()> {
    let (url, _task) = stand_in::start(
        0,
        StandInOptions {
            consent: Consent::AutoApprove,
            ..StandInOptions::default()
        },
    )
    .await?;
    say!(ctx.term, "Started the offline OpenRouter stand-in at {url}");
    let options = LocalOptions {
        openrouter: url,
        port: if port == 0 {
            PortChoice::Any
        } else {
            PortChoice::Exact(port)
        },
        scheme: UrlScheme::Https,
        cert: CertSource::Local(config_dir),
        timeout: crate::defaults::DEMO_TIMEOUT,
        app: ctx.app.clone(),
        always_https: true,
    };
    let spec = FlowSpec {
        exchange: true,
        scheme: UrlScheme::Https,
        host: CallbackHost::Localhost,
        limit: None,
    };
    let deadline = Deadline::after(options.timeout);
    let progress = Progress::new(true, ctx.term.clone());
    let result = crate::flow::local::run(
        &options,
        spec,
        Presenter::BuiltInClient,
        deadline,
        &progress,
    )
    .await?;
    say!(
        ctx.term,
        "Login complete: the stand-in issued a (pretend) key through the HTTPS callback."
    );
    report(result, None, true, ctx).await
}
