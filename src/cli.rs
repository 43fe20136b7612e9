//! Command-line arguments. Doc comments are the help text; values stay raw strings here and
//! are validated once in `run`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Get an OpenRouter API key through OAuth PKCE with a loopback callback on localhost.
///
/// Machine-readable results go to stdout as one JSON object; everything meant for people goes
/// to stderr. Exit codes: 0 ok, 1 internal error, 2 bad input, 3 denied by the user, 4 timed
/// out, 5 OpenRouter refused (4xx), 6 OpenRouter unreachable or failing, 7 port in use,
/// 8 service stopping.
#[derive(Debug, Parser)]
#[command(name = "openrouter-pkce", version, about, long_about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open OpenRouter's consent page, wait for the callback, print the code bundle (no exchange).
    Authorize(AuthorizeArgs),
    /// Redeem a code bundle (JSON on stdin, or --code/--code-verifier) for a key.
    Exchange(ExchangeArgs),
    /// Authorize and exchange in one go; print {"key","user_id"}.
    Login(LoginArgs),
    /// Mint a code with a management key (no browser); print a bundle `exchange` accepts.
    CreateCode(CreateCodeArgs),
    /// Run the offline OpenRouter stand-in on loopback.
    MockServer(MockServerArgs),
    /// A whole login against the built-in stand-in, with a built-in client playing the browser.
    Demo(DemoArgs),
    /// Run as a background service: one port, many concurrent logins, a local control API.
    Serve(ServeArgs),
    /// Install, remove or inspect a user service (systemd or launchd) that runs `serve`.
    Service(ServiceArgs),
    /// Trust the local CA in the browsers' stores (only the certificate, never its key).
    Trust(TrustArgs),
}

/// `trust` flags.
#[derive(Debug, Args)]
pub struct TrustArgs {
    /// Remove the CA from the stores instead.
    #[arg(long, conflicts_with = "status")]
    pub uninstall: bool,
    /// Show the CA's path, fingerprint, expiry and where it is trusted; change nothing.
    #[arg(long)]
    pub status: bool,
    /// Leave the system store alone even when running with the rights to change it.
    #[arg(long)]
    pub user_only: bool,
}

/// `serve` flags.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    /// OpenRouter location.
    pub openrouter: OpenRouterArgs,
    /// Port for callbacks and the control API.
    #[arg(long, default_value = "3000")]
    pub port: String,
    #[command(flatten)]
    /// Callback URLs and certificate.
    pub listener: ListenerArgs,
    /// Seconds a pending login waits for its callback.
    #[arg(long, default_value_t = 600)]
    pub flow_timeout: u64,
    /// Most logins pending at once.
    #[arg(long, default_value_t = 64)]
    pub max_pending: usize,
    /// Log format on stderr: text or json.
    #[arg(long, default_value = "text")]
    pub log_format: String,
    /// Seconds a client may take to send its TLS hello or request head before it is dropped.
    #[arg(long, default_value_t = 10)]
    pub header_timeout: u64,
    /// Most connections served at once (more wait in the kernel's queue).
    #[arg(long, default_value_t = 512)]
    pub max_connections: usize,
}

/// `service` subcommands.
#[derive(Debug, Args)]
pub struct ServiceArgs {
    /// install, uninstall or status.
    #[command(subcommand)]
    pub action: ServiceAction,
}

/// What to do with the user service.
#[derive(Debug, Subcommand)]
pub enum ServiceAction {
    /// Write the unit (or agent) that runs `serve`, and say how to start it.
    Install(ServiceUnitArgs),
    /// Remove the unit (or agent).
    Uninstall(ServiceUnitArgs),
    /// Show whether the unit is installed and whether a service answers.
    Status(ServiceUnitArgs),
}

/// Flags shared by the service actions.
#[derive(Debug, Args)]
pub struct ServiceUnitArgs {
    /// Only print what would be written or removed.
    #[arg(long)]
    pub print: bool,
    /// Port the service listens on.
    #[arg(long, default_value = "3000")]
    pub port: String,
    /// OpenRouter base URL for the service (left out when default).
    #[arg(long)]
    pub openrouter_url: Option<String>,
}

/// Where OpenRouter is.
#[derive(Debug, Args, Clone)]
pub struct OpenRouterArgs {
    /// OpenRouter's base URL (https; http only for a loopback host).
    #[arg(long, env = "OPENROUTER_PKCE_URL", default_value = crate::config::DEFAULT_OPENROUTER_URL)]
    pub openrouter_url: String,
}

/// How callback URLs look and which certificate serves them (one-shot and service alike).
#[derive(Debug, Args, Clone)]
pub struct ListenerArgs {
    /// Scheme of the callback URL: https (local certificate) or http.
    #[arg(long, default_value = "https")]
    pub callback_scheme: String,
    /// Host name in the callback URL: localhost or 127.0.0.1.
    #[arg(long, default_value = "localhost")]
    pub callback_host: String,
    /// PEM certificate chain to serve instead of the local CA's (e.g. from mkcert).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

/// The callback listener and browser flags shared by authorize and login.
#[derive(Debug, Args, Clone)]
pub struct CallbackArgs {
    /// Port of the loopback callback listener.
    #[arg(long, default_value = "3000")]
    pub port: String,
    /// Seconds to wait for the callback.
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
    /// Print the URL instead of opening a browser.
    #[arg(long)]
    pub no_browser: bool,
    #[command(flatten)]
    /// Callback URL and certificate.
    pub listener: ListenerArgs,
    /// No callback: print the URL and read the code OpenRouter shows from the terminal.
    #[arg(long)]
    pub headless: bool,
    /// Run against a built-in OpenRouter stand-in on a free loopback port (no account needed).
    #[arg(long)]
    pub stand_in: bool,
}

/// `authorize` flags.
#[derive(Debug, Args)]
pub struct AuthorizeArgs {
    #[command(flatten)]
    /// OpenRouter location.
    pub openrouter: OpenRouterArgs,
    #[command(flatten)]
    /// Callback listener.
    pub callback: CallbackArgs,
}

/// `login` flags.
#[derive(Debug, Args)]
pub struct LoginArgs {
    #[command(flatten)]
    /// OpenRouter location.
    pub openrouter: OpenRouterArgs,
    #[command(flatten)]
    /// Callback listener.
    pub callback: CallbackArgs,
    /// Write the key to FILE (mode 0600, atomic) and print only the non-secret fields.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// `exchange` flags.
#[derive(Debug, Args)]
pub struct ExchangeArgs {
    #[command(flatten)]
    /// OpenRouter location.
    pub openrouter: OpenRouterArgs,
    /// The authorization code (instead of a bundle on stdin).
    #[arg(long, requires = "code_verifier")]
    pub code: Option<String>,
    /// The PKCE verifier for --code.
    #[arg(long, requires = "code")]
    pub code_verifier: Option<String>,
    /// The challenge method the code was issued for (with --code).
    #[arg(long, default_value = "S256")]
    pub code_challenge_method: String,
    /// Write the key to FILE (mode 0600, atomic) and print only the non-secret fields.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// `create-code` flags: one per CreateAuthKeysCodeRequest field.
#[derive(Debug, Args)]
pub struct CreateCodeArgs {
    #[command(flatten)]
    /// OpenRouter location.
    pub openrouter: OpenRouterArgs,
    /// Management key sent as the bearer token.
    #[arg(long, env = "OPENROUTER_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Port for the default callback URL.
    #[arg(long, default_value = "3000")]
    pub port: String,
    /// Callback URL bound to the code (default https://localhost:<port>/callback).
    #[arg(long)]
    pub callback_url: Option<String>,
    /// S256 or plain; the challenge always comes from a fresh verifier.
    #[arg(long, default_value = "S256")]
    pub code_challenge_method: String,
    /// Credit limit for the key (finite, 0 or more).
    #[arg(long, allow_hyphen_values = true)]
    pub limit: Option<String>,
    /// When the key expires (RFC 3339, in the future).
    #[arg(long)]
    pub expires_at: Option<String>,
    /// Label for the key (at most 100 characters).
    #[arg(long)]
    pub key_label: Option<String>,
    /// daily, weekly or monthly.
    #[arg(long)]
    pub usage_limit_type: Option<String>,
    /// Workspace UUID.
    #[arg(long)]
    pub workspace_id: Option<String>,
}

/// `mock-server` flags.
#[derive(Debug, Args)]
pub struct MockServerArgs {
    /// Port on 127.0.0.1 (0 picks a free one); the URL is printed as JSON on stdout.
    #[arg(long, default_value = "8787")]
    pub port: u16,
    /// Redirect /auth straight back with a code instead of showing the consent page.
    #[arg(long, conflicts_with = "auto_deny")]
    pub auto_approve: bool,
    /// Redirect /auth straight back with error=access_denied.
    #[arg(long)]
    pub auto_deny: bool,
    /// Answer the first N exchange requests with --fail-status (to exercise client retries).
    #[arg(long, default_value_t = 0)]
    pub fail_exchanges: u32,
    /// The HTTP status for --fail-exchanges (500-599).
    #[arg(long, default_value_t = 503, value_parser = clap::value_parser!(u16).range(500..=599))]
    pub fail_status: u16,
    /// The management key create-code accepts.
    #[arg(long, default_value = crate::standin::DEFAULT_MANAGEMENT_KEY)]
    pub management_key: String,
}

/// `demo` flags.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Port of the callback listener (0 picks a free one).
    #[arg(long, default_value = "0")]
    pub port: u16,
}
