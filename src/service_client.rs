//! The CLI side of the service: find a running service on our port and run a flow through it.

use std::time::{Duration, Instant};

use serde_json::Value;
use url::Url;

use crate::error::{Error, ErrorKind, Result};
use crate::openrouter::{CodeBundle, KeyResponse};
use crate::secret::{ApiKey, ControlToken};

/// How long the probe may take before we fall back to one-shot mode. Only paid when a token
/// file exists; generous because a busy service's accept queue can hold us up for a while.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// Seconds per long-poll request.
const POLL_SECONDS: u64 = 25;

/// A running service that answered its health check.
#[derive(Debug, Clone)]
pub struct ServiceClient {
    http: reqwest::Client,
    base: Url,
    token: ControlToken,
}

/// A flow the service created for us.
#[derive(Debug)]
pub struct RemoteFlow {
    /// The flow's id.
    pub id: String,
    /// Where to send the browser (contains the state: do not log).
    pub authorize_url: Url,
}

impl ServiceClient {
    /// Returns a client when the token file exists and `/healthz` on `port` answers 200.
    ///
    /// No token file (the common case) costs one failed `open`; nothing touches the network.
    pub async fn probe(port: u16) -> Option<Self> {
        let path = crate::service::token_path().ok()?;
        let token = std::fs::read_to_string(path).ok()?;
        let token = ControlToken::new(token.trim());
        // Plain HTTP on loopback: no certificate to trust, and only local processes can see it.
        let base = Url::parse(&format!("http://127.0.0.1:{port}/")).ok()?;
        crate::tls::install_crypto_provider();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(PROBE_TIMEOUT)
            .build()
            .ok()?;
        let health = http
            .get(base.join("healthz").ok()?)
            .timeout(PROBE_TIMEOUT)
            .send()
            .await
            .ok()?;
        health
            .status()
            .is_success()
            .then_some(Self { http, base, token })
    }

    /// `POST /v1/flows`.
    pub async fn create(&self, exchange: bool) -> Result<RemoteFlow> {
        let reply = self
            .http
            .post(self.url("v1/flows")?)
            .bearer_auth(self.token.secret())
            .json(&serde_json::json!({"exchange": exchange, "open_browser": false}))
            .send()
            .await
            .map_err(|e| Error::internal("asking the service for a login", e))?;
        let status = reply.status();
        let body: Value = reply.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let message = body["error"]["message"].as_str().unwrap_or("no message");
            let kind = if status.as_u16() == 503 {
                ErrorKind::ServiceStopping
            } else {
                ErrorKind::Internal
            };
            return Err(Error::Remote {
                kind,
                message: format!("the service refused the login: HTTP {status}: {message}"),
            });
        }
        let id = body["id"]
            .as_str()
            .ok_or_else(|| Error::Internal("the service sent no flow id".into()))?;
        let url = body["authorize_url"]
            .as_str()
            .and_then(|u| Url::parse(u).ok());
        let authorize_url =
            url.ok_or_else(|| Error::Internal("the service sent no authorize_url".into()))?;
        Ok(RemoteFlow {
            id: id.to_owned(),
            authorize_url,
        })
    }

    /// Refuses an authorize URL that does not go to `openrouter` or does not come back to our
    /// loopback `port`: whatever answers on the port must not be able to send the browser
    /// elsewhere (a process that grabbed the port while a stale token file lay around).
    pub fn check_authorize_url(url: &Url, openrouter: &Url, port: u16) -> Result<()> {
        let auth_path = openrouter.join("auth").map(|u| u.path().to_owned());
        let same_origin =
            url.origin() == openrouter.origin() && auth_path.is_ok_and(|p| p == url.path());
        let callback = url
            .query_pairs()
            .find(|(k, _)| k == "callback_url")
            .and_then(|(_, v)| Url::parse(&v).ok());
        let comes_back = callback
            .is_some_and(|cb| crate::config::is_loopback_host(&cb) && cb.port() == Some(port));
        if same_origin && comes_back {
            Ok(())
        } else {
            Err(Error::Internal(format!(
                "the process on port {port} sent a login URL that is not {openrouter}auth coming back to port {port}; is it the openrouter-pkce service, and started with the same --openrouter-url?"
            )))
        }
    }

    /// Long-polls until the flow finishes or `timeout` passes (then cancels it).
    pub async fn wait(&self, flow: &RemoteFlow, timeout: Duration) -> Result<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let _ = self
                    .http
                    .delete(self.url(&format!("v1/flows/{}", flow.id))?)
                    .bearer_auth(self.token.secret())
                    .send()
                    .await;
                return Err(Error::TimedOut {
                    seconds: timeout.as_secs(),
                });
            }
            let wait = left.as_secs().clamp(1, POLL_SECONDS);
            let reply = self
                .http
                .get(self.url(&format!("v1/flows/{}?wait={wait}", flow.id))?)
                .bearer_auth(self.token.secret())
                .timeout(Duration::from_secs(wait + 10))
                .send()
                .await;
            let reply = match reply {
                Ok(r) => r,
                // The service went away mid-wait: it was stopped.
                Err(_) => return Err(Error::ServiceStopping),
            };
            let body: Value = reply.json().await.map_err(|_| Error::ServiceStopping)?;
            match body["status"].as_str() {
                Some("pending") => continue,
                Some("succeeded") => return Ok(body["result"].clone()),
                _ => {
                    let kind =
                        ErrorKind::parse(body["error"]["code"].as_str().unwrap_or("internal"));
                    let message = body["error"]["message"]
                        .as_str()
                        .unwrap_or("the login failed")
                        .to_owned();
                    return Err(match kind {
                        ErrorKind::ServiceStopping => Error::ServiceStopping,
                        kind => Error::Remote { kind, message },
                    });
                }
            }
        }
    }

    fn url(&self, path: &str) -> Result<Url> {
        self.base
            .join(path)
            .map_err(|e| Error::internal("building the service URL", e))
    }
}

/// Runs a whole flow through the service: create, send the browser, wait for the result.
pub async fn run_flow(
    client: &ServiceClient,
    opts: &crate::login::AuthorizeOptions,
    exchange: bool,
) -> Result<Value> {
    let flow = client.create(exchange).await?;
    ServiceClient::check_authorize_url(&flow.authorize_url, &opts.openrouter, opts.callback.port)?;
    eprintln!(
        "Using the openrouter-pkce service on port {}.",
        opts.callback.port
    );
    let ca = match &opts.cert {
        crate::tls::CertSource::Local(dir) => Some(dir.join(crate::tls::CA_CERT_FILE)),
        crate::tls::CertSource::Files { .. } => None,
    };
    crate::login::print_trust_hint(opts);
    crate::login::present_authorize_url(&flow.authorize_url, opts.presenter, ca)?;
    client.wait(&flow, opts.timeout).await
}

/// A service result for `exchange: true`.
pub fn key_from_result(result: &Value) -> Result<KeyResponse> {
    let key = result["key"]
        .as_str()
        .ok_or_else(|| Error::Internal("the service's result had no key".into()))?;
    Ok(KeyResponse {
        key: ApiKey::new(key),
        user_id: result["user_id"].as_str().map(str::to_owned),
    })
}

/// A service result for `exchange: false`.
pub fn bundle_from_result(result: &Value) -> Result<CodeBundle> {
    CodeBundle::from_json(&result.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorize_urls_must_go_to_openrouter_and_come_back_to_our_port() {
        let openrouter = Url::parse("https://openrouter.ai/").unwrap();
        let ok = Url::parse("https://openrouter.ai/auth?callback_url=https%3A%2F%2Flocalhost%3A3000%2Fcallback%2Fn&state=s").unwrap();
        assert!(ServiceClient::check_authorize_url(&ok, &openrouter, 3000).is_ok());
        for bad in [
            "https://evil.example/auth?callback_url=https%3A%2F%2Flocalhost%3A3000%2Fcallback%2Fn",
            "https://openrouter.ai/phish?callback_url=https%3A%2F%2Flocalhost%3A3000%2Fcallback%2Fn",
            "https://openrouter.ai/auth?callback_url=https%3A%2F%2Fevil.example%3A3000%2Fcallback%2Fn",
            "https://openrouter.ai/auth?callback_url=https%3A%2F%2Flocalhost%3A3001%2Fcallback%2Fn",
            "https://openrouter.ai/auth",
        ] {
            let url = Url::parse(bad).unwrap();
            assert!(
                ServiceClient::check_authorize_url(&url, &openrouter, 3000).is_err(),
                "{bad}"
            );
        }
    }
}
