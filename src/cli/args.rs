//! Command-line arguments. Doc comments are the help text. Every value is typed here: choices
//! are `ValueEnum`s (help lists them, typos get a suggestion), numbers and URLs go through the
//! bounded parsers in [`crate::input`], and secrets land in their newtypes from the first byte.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use url::Url;

use crate::defaults;
use crate::flow::CallbackHost;
use crate::flow::scheme::CallbackScheme;
use crate::input;
use crate::input::{Seconds, UsageLimitType};
use crate::pkce::ChallengeMethod;
use crate::secret::{AuthCode, CodeVerifier, KeySecret};

/// Get an OpenRouter API key through OAuth PKCE with a loopback callback on localhost.
///
/// Machine-readable results go to stdout as one JSON object; everything meant for people goes
/// to stderr. Exit codes: 0 ok, 1 internal error, 2 bad input, 3 denied by the user, 4 timed
/// out, 5 OpenRouter refused (4xx), 6 OpenRouter unreachable or failing, 7 port in use,
/// 8 service stopping, 9 service not answering or busy, 10 no saved key (run login),
/// 130 cancelled (Ctrl-C).
#[derive(Debug, Parser)]
#[command(
    name = "openrouter-pkce",
    version = VERSION,
    about,
    long_about,
    after_help = ENVIRONMENT
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// `--version`: the crate's version, and the git commit when built from a checkout.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    env!("OPENROUTER_PKCE_VERSION_SUFFIX")
);

/// Every environment variable the tool reads.
const ENVIRONMENT: &str = "\
Environment:
  OPENROUTER_PKCE_URL  OpenRouter's base URL (as --openrouter-url)
  OPENROUTER_API_KEY   the management key for create-code (as --api-key)
  OPENROUTER_PKCE_APP_NAME, OPENROUTER_PKCE_APP_URL
                       your app's name and URL for OpenRouter (as --app-name, --app-url)
  BROWSER              the browser command to open the consent page with (a list: the
                       first that starts wins, separated by : or on Windows by ;)
  NO_COLOR             no colour on stderr (CLICOLOR=0 too; CLICOLOR_FORCE=1 forces it)
  RUST_LOG             log filter, e.g. RUST_LOG=openrouter_pkce=debug
  HTTPS_PROXY          proxy for requests to OpenRouter (also ALL_PROXY, NO_PROXY)
  SSL_CERT_FILE        the CA bundle to trust (PEM), e.g. one with a TLS-inspecting proxy's CA
  HOME                 the base of the directories below
  XDG_CONFIG_HOME      where the local CA lives (~/.config/openrouter-pkce)
  XDG_DATA_HOME        where saved profiles live (~/.local/share/openrouter-pkce)
  XDG_STATE_HOME       the control socket's fallback place (~/.local/state/openrouter-pkce)
  XDG_RUNTIME_DIR      where the service's control socket and the browser's redirect page live

The places above are Linux's. On macOS they are under
~/Library/Application Support/openrouter-pkce. On Windows: the local CA in
%APPDATA%\\openrouter-pkce\\config, saved profiles in %APPDATA%\\openrouter-pkce\\data (keys
in Credential Manager), the browser's redirect page in
%LOCALAPPDATA%\\openrouter-pkce\\data, `service install`'s logon task recorded in
%APPDATA%\\openrouter-pkce\\config\\logon-task.xml, and the control API on the named pipe
\\\\.\\pipe\\openrouter-pkce-<account>-<port> (the account as Windows names it, not
%USERNAME%); an XDG_* variable that is set is honoured on every system.";

const TRUST_EXAMPLES: &str = "\
Examples:
  openrouter-pkce trust                         # once: browsers accept https://localhost
  openrouter-pkce trust --status                # where the CA is trusted, its fingerprint
  openrouter-pkce trust --uninstall             # take it out again";

const LOGIN_EXAMPLES: &str = "\
Examples:
  openrouter-pkce login                         # a person: browser, key saved in the keyring
  openrouter-pkce exec -- my-tool               # run a tool with OPENROUTER_API_KEY set
  openrouter-pkce login --with-key < key.txt    # keep a key you already have
  openrouter-pkce login --output ~/.or-key      # the key into a 0600 file instead
  openrouter-pkce login | jq -r .key            # piped: the key as JSON, nothing saved
  openrouter-pkce login --no-browser            # print the URL (SSH, another device)
  openrouter-pkce login --events                # an app: progress as JSON lines on stderr
  openrouter-pkce login --stand-in              # offline, against the built-in stand-in";

const AUTHORIZE_EXAMPLES: &str = "\
Examples:
  openrouter-pkce authorize > bundle.json       # the code bundle, for your own exchange
  openrouter-pkce authorize | openrouter-pkce exchange";

const SERVE_EXAMPLES: &str = "\
Examples:
  openrouter-pkce serve                         # port 3000; logins share it
  openrouter-pkce service install               # run it as a user service
  curl --unix-socket $XDG_RUNTIME_DIR/openrouter-pkce/control-3000.sock \\
       -d '{\"exchange\":true}' http://localhost/v1/flows";

const CREATE_CODE_EXAMPLES: &str = "\
Examples:
  OPENROUTER_API_KEY=sk-or-v1-... openrouter-pkce create-code --limit 5 --key-label ci
  openrouter-pkce create-code --api-key-file ~/.or-mgmt | openrouter-pkce exchange";

/// The subcommands: the everyday ones first, the development ones last.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Log in: authorize in the browser, exchange the code, keep the key.
    ///
    /// Where the key goes: on a terminal it is saved in the system keyring (profile
    /// `default`; `openrouter-pkce exec -- COMMAND` runs a tool with it, `key` prints it);
    /// piped, {"key","user_id"} is printed on stdout and nothing is saved. --save/--no-save
    /// and --output choose explicitly; a stand-in's pretend key is only saved with --save.
    ///
    /// The browser: `$BROWSER` when set (a command, given a private redirect page), else the
    /// system's opener; the URL is always shown too.
    ///
    /// With `serve` running for the port, the login runs through it (same output and exit
    /// codes); --tls-cert/--tls-key and another --openrouter-url are then refused.
    #[command(after_help = LOGIN_EXAMPLES)]
    Login(LoginArgs),
    /// Run a command with the saved key in its environment as OPENROUTER_API_KEY.
    ///
    /// Nothing else in the environment changes, and the key is never on a command line. The
    /// command's exit status is passed through (127 when it is not found, 126 when it cannot
    /// be run; 10 when no key is saved); signals reach it as they would without us.
    #[command(after_help = EXEC_EXAMPLES)]
    Exec(ExecArgs),
    /// Print the saved key alone on stdout (for tools that want it on stdin or in a file;
    /// `exec` hands it to a command without a shell variable).
    Key(ProfileArgs),
    /// List the saved profiles: a table on a terminal, a JSON array when piped.
    Profiles,
    /// Show the saved key's label, limit and usage (asks OpenRouter's GET /api/v1/key).
    Status(ProfileArgs),
    /// Forget the saved key (it stays valid on your account until you delete it there).
    Logout(ProfileArgs),
    /// Open OpenRouter's consent page, wait for the callback, print the code bundle (no exchange).
    ///
    /// A code bundle is the JSON {"code","code_verifier","code_challenge_method",
    /// "callback_url"} that `exchange` (or your app) redeems for a key.
    #[command(after_help = AUTHORIZE_EXAMPLES)]
    Authorize(AuthorizeArgs),
    /// Redeem a code bundle (JSON on stdin, or --code/--code-verifier) for a key.
    Exchange(ExchangeArgs),
    /// Mint a code with a management key (no browser); print a bundle `exchange` accepts.
    ///
    /// A management key is an OpenRouter admin key that can create keys (Settings ->
    /// Management keys); the inference key a login gives you is not one.
    #[command(after_help = CREATE_CODE_EXAMPLES)]
    CreateCode(CreateCodeArgs),
    /// Run as a background service: one port, many concurrent logins, a local control API.
    ///
    /// The control API is HTTP on the Unix socket
    /// $XDG_RUNTIME_DIR/openrouter-pkce/control-<port>.sock (see the README); the TCP port
    /// serves browsers only.
    #[command(after_help = SERVE_EXAMPLES)]
    Serve(ServeArgs),
    /// Install, remove or inspect a user service (systemd or launchd) that runs `serve`.
    Service(ServiceArgs),
    /// Trust the local CA in the browsers' stores (only the certificate, never its key).
    ///
    /// The CA is made by this tool on first use and may only vouch for localhost, 127.0.0.0/8
    /// and ::1. Once it is trusted, logins use https callbacks with no browser warning.
    #[command(after_help = TRUST_EXAMPLES)]
    Trust(TrustArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) on stdout.
    ///
    /// For bash: `openrouter-pkce completions bash > ~/.local/share/bash-completion/completions/openrouter-pkce`;
    /// zsh: into a directory on your $fpath as `_openrouter-pkce`; fish:
    /// `~/.config/fish/completions/openrouter-pkce.fish`.
    Completions(CompletionsArgs),
    /// Print a manual page (roff) on stdout: the main one, or `openrouter-pkce-COMMAND(1)`,
    /// e.g. `openrouter-pkce man login | man -l -`.
    Man(ManArgs),
    /// Development: run the offline OpenRouter stand-in on loopback.
    ///
    /// The stand-in is a small fake of OpenRouter's auth endpoints (consent page, code
    /// exchange, create-code) for testing without an account or network.
    MockServer(MockServerArgs),
    /// Development: a whole login against the built-in stand-in, a built-in client playing the
    /// browser.
    Demo(DemoArgs),
}

/// `exec` flags.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Which saved key.
    #[arg(long, value_name = "NAME", default_value = crate::keys::DEFAULT_PROFILE)]
    pub profile: String,
    /// The command and its arguments, after `--`.
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub command: Vec<std::ffi::OsString>,
}

const EXEC_EXAMPLES: &str = "\
Examples:
  openrouter-pkce exec -- aider --model openrouter/anthropic/claude-sonnet-4
  openrouter-pkce exec --profile work -- python app.py";

/// `--profile` for the saved-key commands.
#[derive(Debug, Args)]
pub struct ProfileArgs {
    /// Which saved key (profiles let one person keep several).
    #[arg(long, value_name = "NAME", default_value = crate::keys::DEFAULT_PROFILE)]
    pub profile: String,
}

/// `man` flags.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// The command whose page to print (`login`; nested ones joined by `-`:
    /// `service-install`); none for the main page.
    #[arg(value_name = "COMMAND", conflicts_with = "list")]
    pub command: Option<String>,
    /// List every page's command name, one per line (what packagers install).
    #[arg(long)]
    pub list: bool,
}

/// `completions` flags.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to write the script for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
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
    /// Make a new local CA (and localhost certificate) first, then trust it; remove the old
    /// one from the stores with `trust --uninstall` before, if it was trusted.
    #[arg(long, conflicts_with_all = ["uninstall", "status"])]
    pub regenerate: bool,
}

/// `serve` flags.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    /// OpenRouter location.
    pub openrouter: OpenRouterArgs,
    /// Port for callbacks and the control API.
    #[arg(long, default_value_t = defaults::PORT, value_parser = clap::value_parser!(u16).range(1..))]
    pub port: u16,
    #[command(flatten)]
    /// Callback URLs and certificate.
    pub listener: ListenerArgs,
    /// Seconds a pending login waits for its callback (1 to 86400).
    #[arg(long, value_name = "SECONDS", default_value_t = Seconds(defaults::FLOW_TIMEOUT_SECS), value_parser = input::value_timeout)]
    pub flow_timeout: Seconds,
    /// Most logins pending at once (1 to 100000).
    #[arg(long, default_value_t = defaults::MAX_PENDING, value_parser = input::value_max_pending)]
    pub max_pending: usize,
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Seconds a client may take to send its TLS hello or request head (1 to 600).
    #[arg(long, value_name = "SECONDS", default_value_t = Seconds(defaults::HEADER_TIMEOUT_SECS), value_parser = input::value_header_timeout)]
    pub header_timeout: Seconds,
    /// Most connections at once (1 to 65536); at the cap the oldest idle one makes way.
    #[arg(long, default_value_t = defaults::MAX_CONNECTIONS, value_parser = input::value_max_connections)]
    pub max_connections: usize,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for service managers.
    Json,
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
    Install(ServiceInstallArgs),
    /// Remove the unit (or agent).
    Uninstall(ServiceUninstallArgs),
    /// Show whether the unit is installed and whether a service answers.
    Status(ServiceStatusArgs),
}

/// `service install` flags.
#[derive(Debug, Args)]
pub struct ServiceInstallArgs {
    /// Only print the unit that would be written.
    #[arg(long)]
    pub print: bool,
    /// Port the service listens on.
    #[arg(long, default_value_t = defaults::PORT, value_parser = clap::value_parser!(u16).range(1..))]
    pub port: u16,
    /// OpenRouter base URL for the service (left out when default).
    #[arg(long, value_parser = input::Unechoed(input::value_openrouter_url))]
    pub openrouter_url: Option<Url>,
}

/// `service uninstall` flags.
#[derive(Debug, Args)]
pub struct ServiceUninstallArgs {
    /// Only print what would be removed.
    #[arg(long)]
    pub print: bool,
}

/// `service status` flags.
#[derive(Debug, Args)]
pub struct ServiceStatusArgs {
    /// Port to check (default: the installed unit's, else 3000).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,
}

/// Where OpenRouter is, and who is asking.
#[derive(Debug, Args, Clone)]
pub struct OpenRouterArgs {
    /// OpenRouter's base URL (https; http only for a loopback host).
    #[arg(long, env = "OPENROUTER_PKCE_URL", hide_env_values = true, default_value = defaults::OPENROUTER_URL, value_parser = input::Unechoed(input::value_openrouter_url))]
    pub openrouter_url: Url,
    /// Your app's name, sent to OpenRouter as X-OpenRouter-Title (app attribution).
    #[arg(long, env = "OPENROUTER_PKCE_APP_NAME", value_name = "NAME", value_parser = input::value_app_name)]
    pub app_name: Option<String>,
    /// Your app's URL, sent to OpenRouter as HTTP-Referer (app attribution).
    #[arg(long, env = "OPENROUTER_PKCE_APP_URL", hide_env_values = true, value_name = "URL", value_parser = input::Unechoed(input::value_app_url))]
    pub app_url: Option<Url>,
}

/// How callback URLs look and which certificate serves them (one-shot and service alike).
#[derive(Debug, Args, Clone)]
pub struct ListenerArgs {
    /// Scheme of the callback URL: auto uses https when the local CA is trusted (see `trust`)
    /// or --tls-cert is given, and http otherwise; the port serves both either way.
    #[arg(long, value_enum, default_value_t = CallbackScheme::Auto)]
    pub callback_scheme: CallbackScheme,
    /// Host name in the callback URL.
    #[arg(long, value_enum, default_value_t = CallbackHost::Localhost)]
    pub callback_host: CallbackHost,
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
    /// Port of the loopback callback listener [default: 3000 when free, else any free port;
    /// 0: any free port].
    #[arg(long, value_parser = clap::value_parser!(u16))]
    pub port: Option<u16>,
    /// Seconds the whole command may take, browser included (1 to 86400).
    #[arg(long, value_name = "SECONDS", default_value_t = Seconds(defaults::TIMEOUT_SECS), value_parser = input::value_timeout)]
    pub timeout: Seconds,
    /// Print the URL instead of opening a browser.
    #[arg(long)]
    pub no_browser: bool,
    #[command(flatten)]
    /// Callback URL and certificate.
    pub listener: ListenerArgs,
    /// No callback: print the URL and read the code OpenRouter shows from the terminal.
    #[arg(long)]
    pub headless: bool,
    /// Run against a built-in OpenRouter stand-in (a local fake of OpenRouter's auth endpoints)
    /// on a free loopback port: no account or network needed.
    #[arg(long)]
    pub stand_in: bool,
    /// Write progress to stderr as JSON lines (events) instead of prose, for apps that draw
    /// their own UI; see the README for the events.
    #[arg(long)]
    pub events: bool,
    /// Credit limit for the key, shown on OpenRouter's consent page (finite, 0 or more).
    #[arg(long, allow_hyphen_values = true, value_parser = input::value_limit)]
    pub limit: Option<f64>,
    /// With --headless: a label for the key (at most 100 characters).
    #[arg(long, requires = "headless", value_parser = input::value_key_label)]
    pub key_label: Option<String>,
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
    /// Save the key in the system keyring (or a private file where none answers) instead of
    /// printing it [default: when stdout is a terminal, and the key is not a stand-in's].
    #[arg(long, conflicts_with_all = ["no_save", "output"])]
    pub save: bool,
    /// Print the key as JSON and save nothing, even on a terminal.
    #[arg(long)]
    pub no_save: bool,
    /// The profile to save the key under [default: default; stand-in keys: stand-in].
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Keep a key you already have: read it from stdin, check it with OpenRouter (GET
    /// /api/v1/key) and save it under --profile; no browser.
    #[arg(long, conflicts_with_all = ["no_save", "output", "headless", "stand_in"])]
    pub with_key: bool,
}

/// `exchange` flags.
#[derive(Debug, Args)]
pub struct ExchangeArgs {
    #[command(flatten)]
    /// OpenRouter location.
    pub openrouter: OpenRouterArgs,
    /// The authorization code (visible to other users on the command line: prefer a bundle on
    /// stdin).
    #[arg(long, requires = "code_verifier")]
    pub code: Option<AuthCode>,
    /// The PKCE verifier for --code.
    #[arg(long, requires = "code")]
    pub code_verifier: Option<CodeVerifier>,
    /// The challenge method the code was issued for (with --code).
    #[arg(long, value_enum, default_value_t = ChallengeMethod::S256)]
    pub code_challenge_method: ChallengeMethod,
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
    /// Management key sent as the bearer token (visible to other users on the command line:
    /// prefer OPENROUTER_API_KEY or --api-key-file).
    #[arg(long, env = "OPENROUTER_API_KEY", hide_env_values = true)]
    pub api_key: Option<KeySecret>,
    /// Read the management key from FILE (its first line); wins over OPENROUTER_API_KEY.
    #[arg(long, value_name = "FILE")]
    pub api_key_file: Option<PathBuf>,
    /// Port for the default callback URL.
    #[arg(long, default_value_t = defaults::PORT, value_parser = clap::value_parser!(u16).range(1..))]
    pub port: u16,
    /// Callback URL bound to the code (default https://localhost:<port>/callback).
    #[arg(long, value_parser = input::Unechoed(input::value_callback_url))]
    pub callback_url: Option<Url>,
    /// How the challenge is derived; it always comes from a fresh verifier.
    #[arg(long, value_enum, default_value_t = ChallengeMethod::S256)]
    pub code_challenge_method: ChallengeMethod,
    /// Credit limit for the key (finite, 0 or more).
    #[arg(long, allow_hyphen_values = true, value_parser = input::value_limit)]
    pub limit: Option<f64>,
    /// When the key expires (RFC 3339, in the future).
    #[arg(long, value_parser = input::value_expires_at)]
    pub expires_at: Option<String>,
    /// Label for the key (at most 100 characters).
    #[arg(long, value_parser = input::value_key_label)]
    pub key_label: Option<String>,
    /// How often the key's limit resets.
    #[arg(long, value_enum)]
    pub usage_limit_type: Option<UsageLimitType>,
    /// Workspace UUID.
    #[arg(long, value_parser = input::value_workspace_id)]
    pub workspace_id: Option<String>,
}

/// `mock-server` flags.
#[derive(Debug, Args)]
pub struct MockServerArgs {
    /// Port on 127.0.0.1 (0 picks a free one); the URL is printed as JSON on stdout.
    #[arg(long, default_value_t = defaults::STAND_IN_PORT)]
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
    /// Answer the first N valid create-code requests with --fail-status (a 409 or a 500, then
    /// success: what an app's retry meets).
    #[arg(long, default_value_t = 0)]
    pub fail_create_codes: u32,
    /// The HTTP status for --fail-exchanges and --fail-create-codes (400-599).
    #[arg(long, default_value_t = 503, value_parser = clap::value_parser!(u16).range(400..=599))]
    pub fail_status: u16,
    /// Send the exchange's user_id as null (required but nullable in OpenRouter's schema).
    #[arg(long)]
    pub null_user_id: bool,
    /// Milliseconds each exchange takes before it answers (a slow OpenRouter; at most 60000).
    #[arg(long, value_name = "MS", default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub exchange_delay_ms: u64,
    /// The management key create-code accepts.
    #[arg(long, default_value = crate::openrouter::stand_in::DEFAULT_MANAGEMENT_KEY, hide_default_value = true)]
    pub management_key: KeySecret,
    /// Send `state` back on the redirect. OpenRouter does not document it, so it is off by
    /// default: an app must not come to depend on it.
    #[arg(long)]
    pub echo_state: bool,
}

/// `demo` flags.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Port of the callback listener (0 picks a free one).
    #[arg(long, default_value = "0")]
    pub port: u16,
}
