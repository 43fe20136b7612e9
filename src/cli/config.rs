//! The configuration each command runs with, built once from clap's typed arguments. Nothing
//! after this module sees an argument struct, and everything that can be checked without the
//! network is checked here (before any browser opens).

use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use crate::cli::Ctx;
use crate::cli::args::{
    CallbackArgs, Cli, Command, CreateCodeArgs, ListenerArgs, LogFormat, ServeArgs, ServiceAction,
};
use crate::error::{Error, Result};
use crate::flow::CallbackHost;
use crate::flow::local::PortChoice;
use crate::flow::present::Presenter;
use crate::flow::scheme::CallbackScheme;
use crate::input::UsageLimitType;
use crate::keys::Profile;
use crate::openrouter::stand_in::{Consent, StandInOptions};
use crate::pkce::ChallengeMethod;
use crate::report::say;
use crate::secret::{AuthCode, CodeVerifier, KeySecret};
use crate::server::listener::Limits;
use crate::tls::CertSource;
use crate::tls::trust::TrustAction;

/// One command, ready to run.
#[derive(Debug)]
pub enum Config {
    /// `authorize` (exchange false) or `login` (exchange true).
    Login(LoginConfig),
    /// `exchange`.
    Exchange(ExchangeConfig),
    /// `create-code`.
    CreateCode(CreateCodeConfig),
    /// `serve`.
    Serve(ServeConfig),
    /// `service install|uninstall|status`.
    Service(ServiceConfig),
    /// `trust`.
    Trust {
        /// What to do.
        action: TrustAction,
        /// Leave the system store alone.
        user_only: bool,
        /// Start over with a new CA first.
        regenerate: bool,
        /// Where the CA lives.
        config_dir: PathBuf,
    },
    /// `mock-server`.
    MockServer {
        /// Port on 127.0.0.1 (0: any).
        port: u16,
        /// How it behaves.
        options: StandInOptions,
    },
    /// `key`, `status` or `logout` for a profile.
    SavedKey {
        /// Which.
        action: SavedKeyAction,
        /// The profile.
        profile: Profile,
    },
    /// `exec`.
    Exec {
        /// The saved key to hand over.
        profile: Profile,
        /// The command and its arguments.
        command: Vec<std::ffi::OsString>,
    },
    /// `profiles`.
    Profiles,
    /// `completions`.
    Completions(clap_complete::Shell),
    /// `man`: a page (the main one when `None`), or the list of pages.
    Man {
        /// The command's page.
        page: Option<String>,
        /// List the pages instead.
        list: bool,
    },
    /// `demo`.
    Demo {
        /// Callback port (0: any).
        port: u16,
        /// Where the CA lives.
        config_dir: PathBuf,
    },
}

/// The saved-key commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SavedKeyAction {
    /// Print the key.
    Key,
    /// Ask OpenRouter about it.
    Status,
    /// Forget it.
    Logout,
}

/// Where OpenRouter is for a login.
#[derive(Debug, Clone)]
pub enum OpenRouterTarget {
    /// This base URL.
    Url(Url),
    /// A built-in stand-in started for this login (`--stand-in`).
    StandIn,
}

/// The callback URL and certificate settings, shared by the one-shot commands and `serve`.
#[derive(Debug, Clone)]
pub struct ListenerConfig {
    /// The callback URL's scheme, or auto.
    pub scheme: CallbackScheme,
    /// The callback URL's host name.
    pub host: CallbackHost,
    /// The certificate for https.
    pub cert: CertSource,
}

/// `authorize` and `login`.
#[derive(Debug, Clone)]
pub struct LoginConfig {
    /// Redeem the code (`login`) or print the bundle (`authorize`).
    pub exchange: bool,
    /// OpenRouter.
    pub openrouter: OpenRouterTarget,
    /// The callback port.
    pub port: PortChoice,
    /// The callback listener.
    pub listener: ListenerConfig,
    /// The deadline for the whole command.
    pub timeout: Duration,
    /// How the URL reaches a browser.
    pub presenter: Presenter,
    /// OpenRouter's headless flow: no callback.
    pub headless: bool,
    /// `login --output`.
    pub output: Option<PathBuf>,
    /// `--limit`, sent on `/auth`.
    pub limit: Option<f64>,
    /// `--key-label` (headless).
    pub key_label: Option<String>,
    /// `--save` / `--no-save` / neither.
    pub save: Option<bool>,
    /// `--profile`, checked.
    pub profile: Option<Profile>,
    /// `--with-key`: keep a key read from stdin instead of logging in.
    pub with_key: bool,
}

/// `exchange`.
#[derive(Debug)]
pub struct ExchangeConfig {
    /// OpenRouter.
    pub openrouter: Url,
    /// `--code` and `--code-verifier`, or `None` to read a bundle on stdin.
    pub code: Option<(AuthCode, CodeVerifier, ChallengeMethod)>,
    /// `--output`.
    pub output: Option<PathBuf>,
}

/// `create-code`: every CreateAuthKeysCodeRequest field, validated.
#[derive(Debug)]
pub struct CreateCodeConfig {
    /// OpenRouter.
    pub openrouter: Url,
    /// The management key sent as bearer.
    pub management_key: KeySecret,
    /// The callback URL bound to the code.
    pub callback_url: Url,
    /// S256 or plain.
    pub method: ChallengeMethod,
    /// Credit limit.
    pub limit: Option<f64>,
    /// RFC 3339 expiry.
    pub expires_at: Option<String>,
    /// Dashboard label.
    pub key_label: Option<String>,
    /// Limit reset period.
    pub usage_limit_type: Option<UsageLimitType>,
    /// Workspace UUID.
    pub workspace_id: Option<String>,
}

/// `serve`.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// OpenRouter.
    pub openrouter: Url,
    /// The port (fixed, so clients can find the service).
    pub port: u16,
    /// The listener (its scheme and host are the defaults for flows that name none).
    pub listener: ListenerConfig,
    /// How long a flow waits for its callback.
    pub flow_timeout: Duration,
    /// Most flows pending at once.
    pub max_pending: usize,
    /// Connection limits.
    pub limits: Limits,
}

/// `service install|uninstall|status`.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Which action.
    pub action: ServiceVerb,
    /// Only print.
    pub print: bool,
    /// The service's port (`status` without `--port`: the installed unit's).
    pub port: Option<u16>,
    /// `--openrouter-url` for the unit, if not the default.
    pub openrouter_url: Option<Url>,
}

/// The `service` actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceVerb {
    /// Write the unit.
    Install,
    /// Remove it.
    Uninstall,
    /// Report.
    Status,
}

impl Config {
    /// Builds the command's configuration from the parsed arguments.
    pub fn from_cli(cli: Cli, ctx: &Ctx) -> Result<Self> {
        Ok(match cli.command {
            Command::Authorize(a) => Config::Login(login_config(
                false,
                a.openrouter.openrouter_url,
                a.callback,
                None,
            )?),
            Command::Login(a) => Config::Login(LoginConfig {
                save: match (a.save, a.no_save) {
                    (true, _) => Some(true),
                    (_, true) => Some(false),
                    _ => None,
                },
                profile: a.profile.as_deref().map(Profile::new).transpose()?,
                with_key: a.with_key,
                ..login_config(true, a.openrouter.openrouter_url, a.callback, a.output)?
            }),
            Command::Exec(a) => Config::Exec {
                profile: Profile::new(&a.profile)?,
                command: a.command,
            },
            Command::Profiles => Config::Profiles,
            Command::Key(a) => Config::SavedKey {
                action: SavedKeyAction::Key,
                profile: Profile::new(&a.profile)?,
            },
            Command::Status(a) => Config::SavedKey {
                action: SavedKeyAction::Status,
                profile: Profile::new(&a.profile)?,
            },
            Command::Logout(a) => Config::SavedKey {
                action: SavedKeyAction::Logout,
                profile: Profile::new(&a.profile)?,
            },
            Command::Exchange(a) => Config::Exchange({
                warn_if_on_argv(
                    &["--code", "--code-verifier"],
                    "pipe the code bundle on stdin instead (`authorize | exchange`)",
                    ctx,
                );
                ExchangeConfig {
                    openrouter: a.openrouter.openrouter_url,
                    code: match (a.code, a.code_verifier) {
                        (Some(code), Some(verifier)) => {
                            Some((code, verifier, a.code_challenge_method))
                        }
                        _ => None,
                    },
                    output: a.output,
                }
            }),
            Command::CreateCode(a) => Config::CreateCode(create_code_config(a, ctx)?),
            Command::Serve(a) => Config::Serve(serve_config(a)?),
            Command::Service(a) => Config::Service(match a.action {
                ServiceAction::Install(a) => ServiceConfig {
                    action: ServiceVerb::Install,
                    print: a.print,
                    port: Some(a.port),
                    openrouter_url: a.openrouter_url,
                },
                ServiceAction::Uninstall(a) => ServiceConfig {
                    action: ServiceVerb::Uninstall,
                    print: a.print,
                    port: None,
                    openrouter_url: None,
                },
                ServiceAction::Status(a) => ServiceConfig {
                    action: ServiceVerb::Status,
                    print: false,
                    port: a.port,
                    openrouter_url: None,
                },
            }),
            Command::Trust(a) => Config::Trust {
                action: if a.uninstall {
                    TrustAction::Uninstall
                } else if a.status {
                    TrustAction::Status
                } else {
                    TrustAction::Install
                },
                user_only: a.user_only,
                regenerate: a.regenerate,
                config_dir: crate::sys::paths::config_dir()?,
            },
            Command::MockServer(a) => Config::MockServer {
                port: a.port,
                options: StandInOptions {
                    consent: if a.auto_approve {
                        Consent::AutoApprove
                    } else if a.auto_deny {
                        Consent::AutoDeny
                    } else {
                        Consent::Ask
                    },
                    fail_exchanges: a.fail_exchanges,
                    fail_create_codes: a.fail_create_codes,
                    fail_status: a.fail_status,
                    fail_create_status: a.fail_status,
                    null_user_id: a.null_user_id,
                    exchange_delay: Duration::from_millis(a.exchange_delay_ms),
                    management_key: a.management_key,
                    echo_state: a.echo_state,
                },
            },
            Command::Completions(a) => Config::Completions(a.shell),
            Command::Man(a) => Config::Man {
                page: a.command,
                list: a.list,
            },
            Command::Demo(a) => Config::Demo {
                port: a.port,
                config_dir: crate::sys::paths::config_dir()?,
            },
        })
    }
}

/// `--app-name`/`--app-url` of the commands that talk to OpenRouter's API.
pub fn app_attribution(cli: &Cli) -> Option<crate::openrouter::AppAttribution> {
    let args = match &cli.command {
        Command::Login(a) => &a.openrouter,
        Command::Authorize(a) => &a.openrouter,
        Command::Exchange(a) => &a.openrouter,
        Command::CreateCode(a) => &a.openrouter,
        Command::Serve(a) => &a.openrouter,
        _ => return None,
    };
    Some(crate::openrouter::AppAttribution {
        name: args.app_name.clone(),
        url: args.app_url.as_ref().map(Url::to_string),
    })
}

/// Whether stderr carries `--events` instead of prose.
pub fn wants_events(cli: &Cli) -> bool {
    match &cli.command {
        Command::Authorize(a) => a.callback.events,
        Command::Login(a) => a.callback.events,
        _ => false,
    }
}

/// Whether the command writes logs as JSON (`serve --log-format json`).
pub fn json_logs(cli: &Cli) -> bool {
    matches!(&cli.command, Command::Serve(a) if a.log_format == LogFormat::Json)
}

fn listener_config(listener: ListenerArgs) -> Result<ListenerConfig> {
    let cert = match (listener.tls_cert, listener.tls_key) {
        (Some(cert), Some(key)) => CertSource::Files { cert, key },
        _ => CertSource::Local(crate::sys::paths::config_dir()?),
    };
    Ok(ListenerConfig {
        scheme: listener.callback_scheme,
        host: listener.callback_host,
        cert,
    })
}

fn login_config(
    exchange: bool,
    openrouter: Url,
    args: CallbackArgs,
    output: Option<PathBuf>,
) -> Result<LoginConfig> {
    Ok(LoginConfig {
        exchange,
        openrouter: if args.stand_in {
            OpenRouterTarget::StandIn
        } else {
            OpenRouterTarget::Url(openrouter)
        },
        port: match args.port {
            None => PortChoice::Preferred(crate::defaults::PORT),
            Some(0) => PortChoice::Any,
            Some(port) => PortChoice::Exact(port),
        },
        listener: listener_config(args.listener)?,
        timeout: args.timeout.duration(),
        presenter: if args.no_browser {
            Presenter::PrintOnly
        } else {
            Presenter::Browser
        },
        headless: args.headless,
        output,
        limit: args.limit,
        key_label: args.key_label,
        save: None,
        profile: None,
        with_key: false,
    })
}

/// Warns on stderr when any of `flags` carried a secret on the command line, which every local
/// user can read in the process list while we run.
fn warn_if_on_argv(flags: &[&str], advice: &str, ctx: &Ctx) {
    let on_argv: Vec<&str> = flags
        .iter()
        .copied()
        .filter(|f| crate::input::on_command_line(f))
        .collect();
    if !on_argv.is_empty() {
        say!(
            ctx.term,
            "warning: {} on the command line can be read by every user of this machine while it runs; {advice}.",
            on_argv.join(" and ")
        );
    }
}

/// The start of a key file: enough for any key's first line, and bounded, so a wrong path
/// (`/dev/zero`, a huge log) cannot exhaust memory.
fn read_key_file(path: &std::path::Path) -> std::io::Result<String> {
    use std::io::Read;
    const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;
    let mut start = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_KEY_FILE_BYTES)
        .read_to_end(&mut start)?;
    match String::from_utf8(start) {
        Ok(text) => Ok(text),
        // Only cut mid-character at the bound: the first line is what counts.
        Err(e) if e.utf8_error().error_len().is_none() => {
            let valid = e.utf8_error().valid_up_to();
            let mut bytes = e.into_bytes();
            bytes.truncate(valid);
            Ok(String::from_utf8(bytes).unwrap_or_default())
        }
        Err(_) => Err(std::io::Error::other("not UTF-8 text")),
    }
}

fn create_code_config(a: CreateCodeArgs, ctx: &Ctx) -> Result<CreateCodeConfig> {
    warn_if_on_argv(
        &["--api-key"],
        "use OPENROUTER_API_KEY or --api-key-file instead",
        ctx,
    );
    // Each complaint names where the key came from: an empty or odd file is not a missing flag.
    // The file wins over OPENROUTER_API_KEY (often set for other tools, and often an inference
    // key), but two keys on one command line is a mistake to point out.
    if a.api_key_file.is_some() && crate::input::on_command_line("--api-key") {
        return Err(Error::bad_input(
            "--api-key-file",
            "either --api-key-file or --api-key, not both",
        ));
    }
    let (management_key, source) = match &a.api_key_file {
        Some(path) => {
            let text = read_key_file(path).map_err(|e| {
                Error::bad_input(
                    "--api-key-file",
                    format!("a readable file holding the key ({}: {e})", path.display()),
                )
            })?;
            // A byte-order mark (Notepad adds one) is not part of the key.
            let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
            let key = text.lines().next().unwrap_or_default().trim();
            if key.is_empty() {
                return Err(Error::bad_input(
                    "--api-key-file",
                    format!(
                        "a file whose first line is the management key ({} has none)",
                        path.display()
                    ),
                ));
            }
            (KeySecret::new(key), "--api-key-file")
        }
        None => {
            let key = a
                .api_key
                .filter(|k| !k.secret().trim().is_empty())
                .ok_or(Error::Missing {
                    field: "--api-key",
                    advice: "create-code needs a management key (an admin key for minting keys, not the inference key a login gives you): set OPENROUTER_API_KEY or pass --api-key-file FILE; create one at https://openrouter.ai/settings/management-keys",
                })?;
            (KeySecret::new(key.secret().trim()), "--api-key")
        }
    };
    // It becomes an HTTP header: control characters would fail there, after the checks.
    if management_key.secret().chars().any(char::is_control) {
        return Err(Error::bad_input(
            source,
            "a key without control characters (a stray newline?)",
        ));
    }
    let callback_url = match a.callback_url {
        Some(url) => url,
        None => Url::parse(&format!("https://localhost:{}/callback", a.port))
            .map_err(|e| Error::internal("building the default callback URL", e))?,
    };
    Ok(CreateCodeConfig {
        openrouter: a.openrouter.openrouter_url,
        management_key,
        callback_url,
        method: a.code_challenge_method,
        limit: a.limit,
        expires_at: a.expires_at,
        key_label: a.key_label,
        usage_limit_type: a.usage_limit_type,
        workspace_id: a.workspace_id,
    })
}

fn serve_config(a: ServeArgs) -> Result<ServeConfig> {
    Ok(ServeConfig {
        openrouter: a.openrouter.openrouter_url,
        port: a.port,
        listener: listener_config(a.listener)?,
        flow_timeout: a.flow_timeout.duration(),
        max_pending: a.max_pending,
        limits: Limits {
            header_read_timeout: a.header_timeout.duration(),
            max_connections: a.max_connections,
        },
    })
}
