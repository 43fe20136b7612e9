//! The one-shot commands: authorize (listener + browser + wait), exchange, login, create-code.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use url::Url;

use crate::callback::{self, CallbackParams, PendingFlows, Rejection};
use crate::error::{Error, Result};
use crate::flow::{CallbackBase, CallbackScheme, Flow};
use crate::listener::LoopbackListener;
use crate::openrouter::{
    CodeBundle, CreateAuthKeysCodeRequest, KeyResponse, OpenRouterClient, authorize_url,
};
use crate::pkce::{self, ChallengeMethod};
use crate::secret::{ApiKey, AuthCode};
use crate::tls::{self, CertSource};

/// Everything `authorize` (and `login`) needs, already validated.
#[derive(Debug, Clone)]
pub struct AuthorizeOptions {
    /// OpenRouter's base URL.
    pub openrouter: Url,
    /// Where the browser comes back to.
    pub callback: CallbackBase,
    /// The certificate for an https callback.
    pub cert: CertSource,
    /// How long to wait for the callback (or the pasted code).
    pub timeout: Duration,
    /// How the authorize URL reaches a browser.
    pub presenter: Presenter,
    /// OpenRouter's headless flow: no callback, the person pastes the code.
    pub headless: bool,
}

/// How the authorize URL gets to a browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presenter {
    /// `$BROWSER` or the platform opener; the URL is printed if neither starts.
    Browser,
    /// Print the URL only (`--no-browser`).
    PrintOnly,
    /// A built-in HTTP client follows the URL as a browser would, trusting the local CA
    /// (the `demo` command, against an auto-approving stand-in).
    BuiltInClient,
}

/// Runs the authorize half of a login in this process and returns the code bundle.
pub async fn authorize(opts: &AuthorizeOptions) -> Result<CodeBundle> {
    if opts.headless {
        return authorize_headless(opts).await;
    }
    // Bind first: a port held by someone else is reported before any other work.
    let listener = LoopbackListener::bind(opts.callback.port).await?;
    let tls = match opts.callback.scheme {
        CallbackScheme::Https => Some(tls::load(&opts.cert)?),
        CallbackScheme::Http => None,
    };
    let flows = PendingFlows::new();
    let callback = CallbackBase {
        port: listener.port(),
        ..opts.callback.clone()
    };
    let flow = Flow::new(&opts.openrouter, &callback);
    let mut registration = flows.register(flow.nonce.clone(), flow.state.clone());
    let (stop, stop_rx) = watch::channel(false);
    let router = callback::router(flows.clone(), listener.port());
    let ca_cert = tls.as_ref().and_then(|t| t.ca_cert_path.clone());
    let server = tokio::spawn(listener.serve(router, tls.map(|t| t.config), stop_rx));
    tracing::debug!(port = callback.port, "callback listener accepting");

    print_trust_hint(opts);
    present_authorize_url(&flow.authorize_url, opts.presenter, ca_cert)?;
    if std::io::stdin().is_terminal() {
        eprintln!("If your browser is on another machine, paste the address it ends up on here.");
        spawn_paste_reader(flows.clone());
    }

    let outcome = tokio::select! {
        delivered = &mut registration.outcome => delivered
            .unwrap_or_else(|_| Err(Error::Internal("the callback listener stopped".into()))),
        () = tokio::time::sleep(opts.timeout) => Err(Error::TimedOut { seconds: opts.timeout.as_secs() }),
    };
    let _ = stop.send(true);
    let _ = server.await;
    outcome.map(|code| flow.bundle(code))
}

/// One line about `trust` when the browser will meet our own CA and `trust` never ran.
pub fn print_trust_hint(opts: &AuthorizeOptions) {
    let CertSource::Local(dir) = &opts.cert else {
        return;
    };
    let https = opts.callback.scheme == CallbackScheme::Https;
    if https && opts.presenter != Presenter::BuiltInClient && !crate::trust::marked_trusted(dir) {
        eprintln!(
            "Hint: your browser may warn about the localhost certificate; run `openrouter-pkce trust` once (or use --callback-scheme http)."
        );
    }
}

/// Sends `url` to a browser, or prints it when asked to or when no browser starts.
pub fn present_authorize_url(
    url: &Url,
    presenter: Presenter,
    ca_cert: Option<PathBuf>,
) -> Result<()> {
    match presenter {
        Presenter::Browser => {
            eprintln!("Opening OpenRouter in your browser to authorize...");
            let url = url.clone();
            // Opening may block (xdg-open) or fail; the wait for the callback starts regardless.
            tokio::spawn(async move {
                if !crate::browser::open(url.as_str()).await {
                    eprintln!("Could not open a browser. Open this URL to authorize:\n\n  {url}\n");
                }
            });
        }
        Presenter::PrintOnly => {
            eprintln!("Open this URL in your browser to authorize:\n\n  {url}\n");
        }
        Presenter::BuiltInClient => {
            let client = crate::openrouter::browser_like_client(ca_cert.as_deref())?;
            let url = url.clone();
            eprintln!("The built-in client is playing the browser: following the consent page...");
            tokio::spawn(async move {
                if let Err(e) = client.get(url).send().await {
                    eprintln!("The built-in client could not follow the login: {e}");
                }
            });
        }
    }
    Ok(())
}

/// Reads pasted redirect URLs from the terminal and delivers them like a browser request.
fn spawn_paste_reader(flows: PendingFlows) {
    // A blocking read cannot be cancelled; the thread ends with the process.
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { return };
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let params = Url::parse(line)
                .ok()
                .and_then(|u| CallbackParams::from_url(&u));
            let Some(params) = params else {
                eprintln!(
                    "That is not a callback URL (it should contain /callback/). Paste the whole address."
                );
                continue;
            };
            match flows.deliver(&params) {
                Ok(_) => return,
                Err(Rejection::MissingCode) => eprintln!("That URL has no code in it."),
                Err(_) => eprintln!("That URL does not belong to this login."),
            }
        }
    });
}

/// OpenRouter's headless flow: print the URL, read the code the page shows from stdin.
async fn authorize_headless(opts: &AuthorizeOptions) -> Result<CodeBundle> {
    let verifier = pkce::new_verifier();
    let challenge = pkce::challenge(&verifier, ChallengeMethod::S256);
    let url = authorize_url(
        &opts.openrouter,
        None,
        &challenge,
        ChallengeMethod::S256,
        None,
    );
    eprintln!("Open this URL in a browser on any machine and approve:\n\n  {url}\n");
    eprintln!("Then paste the code OpenRouter shows here and press Enter:");
    let (tx, mut rx) = mpsc::channel::<String>(1);
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { return };
            if !line.trim().is_empty() {
                let _ = tx.blocking_send(line.trim().to_owned());
                return;
            }
        }
    });
    let code = tokio::select! {
        line = rx.recv() => line.ok_or_else(|| Error::bad_input("code", "a code pasted on stdin (stdin was closed)"))?,
        () = tokio::time::sleep(opts.timeout) => return Err(Error::TimedOut { seconds: opts.timeout.as_secs() }),
    };
    CodeBundle::new(AuthCode::new(code), verifier, ChallengeMethod::S256, None)
}

/// Redeems a code bundle at OpenRouter.
pub async fn exchange(openrouter: &Url, bundle: &CodeBundle) -> Result<KeyResponse> {
    OpenRouterClient::new(openrouter.clone())?
        .exchange(bundle)
        .await
}

/// Where `login` puts the key.
#[derive(Debug, Clone)]
pub enum KeyDestination {
    /// Printed in the JSON on stdout.
    Stdout,
    /// Written to this file (0600, atomic); stdout gets only the non-secret fields.
    File(PathBuf),
}

/// Writes the key where asked and returns the JSON line for stdout.
pub fn deliver_key(key: &KeyResponse, destination: &KeyDestination) -> Result<String> {
    match destination {
        KeyDestination::Stdout => Ok(key.to_json()),
        KeyDestination::File(path) => {
            let mut contents = key.key.secret().as_bytes().to_vec();
            contents.push(b'\n');
            crate::files::write_private_atomic(path, &contents)?;
            Ok(serde_json::json!({
                "user_id": key.user_id,
                "key_file": path.display().to_string(),
            })
            .to_string())
        }
    }
}

/// The create-code command's inputs, already validated.
#[derive(Debug, Clone)]
pub struct CreateCodeOptions {
    /// OpenRouter's base URL.
    pub openrouter: Url,
    /// The management key sent as bearer.
    pub management_key: ApiKey,
    /// The request, minus the challenge (which comes from a fresh verifier).
    pub callback_url: Url,
    /// S256 or plain.
    pub method: ChallengeMethod,
    /// Optional fields copied into the request.
    pub limit: Option<f64>,
    /// RFC 3339 expiry.
    pub expires_at: Option<String>,
    /// Dashboard label.
    pub key_label: Option<String>,
    /// Limit reset period.
    pub usage_limit_type: Option<crate::config::UsageLimitType>,
    /// Workspace UUID.
    pub workspace_id: Option<String>,
}

/// Mints a code with a management key and returns it as a bundle `exchange` accepts.
pub async fn create_code(opts: &CreateCodeOptions) -> Result<CodeBundle> {
    let verifier = pkce::new_verifier();
    let request = CreateAuthKeysCodeRequest {
        callback_url: opts.callback_url.to_string(),
        code_challenge: pkce::challenge(&verifier, opts.method),
        code_challenge_method: opts.method,
        limit: opts.limit,
        expires_at: opts.expires_at.clone(),
        key_label: opts.key_label.clone(),
        usage_limit_type: opts.usage_limit_type,
        workspace_id: opts.workspace_id.clone(),
    };
    let client = OpenRouterClient::new(opts.openrouter.clone())?;
    let created = client.create_code(&request, &opts.management_key).await?;
    CodeBundle::new(
        AuthCode::new(created.id),
        verifier,
        opts.method,
        Some(request.callback_url),
    )
}
