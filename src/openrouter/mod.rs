//! Talking to OpenRouter: the authorize URL, the code bundle, the key exchange and create-code;
//! and [`standin`], the offline OpenRouter that tests and app developers run against.

#[cfg(feature = "stand-in")]
pub mod stand_in;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{Error, Result};
use crate::input::UsageLimitType;
use crate::pkce::ChallengeMethod;
use crate::secret::{AuthCode, CodeVerifier, KeySecret, State};

/// Attempts per request when the failure cannot have consumed the single-use code.
const MAX_ATTEMPTS: u32 = 4;
/// First backoff delay; doubles each retry.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// Longest single backoff delay.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// Longest a body from OpenRouter is quoted in an error message.
const MAX_QUOTED_BODY: usize = 300;
/// Most bytes read from any OpenRouter reply: its documented bodies are tiny.
const MAX_REPLY_BYTES: usize = 64 * 1024;

/// The URL of OpenRouter's consent page: `{base}/auth?callback_url&code_challenge&...&state`.
///
/// With no `callback_url` OpenRouter shows the code on its page instead (headless flow).
pub fn authorize_url(
    base: &Url,
    callback_url: Option<&Url>,
    code_challenge: &str,
    method: ChallengeMethod,
    state: Option<&State>,
) -> Url {
    let mut url = base
        .join("auth")
        .expect("a relative path joins any http base URL");
    {
        let mut q = url.query_pairs_mut();
        if let Some(cb) = callback_url {
            q.append_pair("callback_url", cb.as_str());
        }
        q.append_pair("code_challenge", code_challenge);
        q.append_pair("code_challenge_method", method.as_str());
        if let Some(state) = state {
            q.append_pair("state", state.secret());
        }
    }
    url
}

/// A code and what redeeming it needs: what `authorize` prints and `exchange` reads, what
/// [`Login::authorize`](crate::Login::authorize) and
/// [`OpenRouter::create_code`](crate::OpenRouter::create_code) return. Its `Debug` shows no
/// secret; [`to_json`](CodeBundle::to_json) is the one way they are written out.
#[derive(Deserialize)]
#[serde(try_from = "CodeBundleJson<'_>")]
pub struct CodeBundle {
    /// The single-use authorization code.
    pub(crate) code: AuthCode,
    /// The verifier whose challenge was sent with the authorize request; `None` for a code
    /// made without a challenge.
    pub(crate) code_verifier: Option<CodeVerifier>,
    /// How the challenge was derived; `None` (sent as no method at all, never guessed) for a
    /// code made without one.
    pub(crate) code_challenge_method: Option<ChallengeMethod>,
    /// The callback URL the code was issued for, where known.
    pub(crate) callback_url: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct CodeBundleJson<'a> {
    #[serde(borrow)]
    code: Option<std::borrow::Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    code_verifier: Option<std::borrow::Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    code_challenge_method: Option<std::borrow::Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    callback_url: Option<std::borrow::Cow<'a, str>>,
}

impl Serialize for CodeBundle {
    /// The bundle as one JSON object; this is the one place its secrets are written out.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        CodeBundleJson {
            code: Some(self.code.secret().into()),
            code_verifier: self.code_verifier.as_ref().map(|v| v.secret().into()),
            code_challenge_method: self.code_challenge_method.map(|m| m.as_str().into()),
            callback_url: self.callback_url.as_deref().map(Into::into),
        }
        .serialize(serializer)
    }
}

impl<'a> TryFrom<CodeBundleJson<'a>> for CodeBundle {
    type Error = Error;

    fn try_from(json: CodeBundleJson<'a>) -> Result<Self> {
        let code = json
            .code
            .filter(|c| !c.trim().is_empty())
            .ok_or_else(|| Error::bad_input("code", "a non-empty string in the code bundle"))?;
        let method = match json.code_challenge_method.as_deref() {
            None => None,
            Some(m) => Some(
                ChallengeMethod::parse(m)
                    .ok_or_else(|| Error::bad_input("code_challenge_method", "S256 or plain"))?,
            ),
        };
        Self::new(
            AuthCode::new(code.trim()),
            json.code_verifier.map(|v| CodeVerifier::new(v.trim())),
            method,
            json.callback_url.map(|c| c.into_owned()),
        )
    }
}

impl std::fmt::Debug for CodeBundle {
    /// Secrets redacted, and the callback URL without our login's nonce (its last segment).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let callback_url = self
            .callback_url
            .as_deref()
            .map(|u| match u.find("/callback/") {
                Some(at) => format!("{}/callback/[REDACTED]", &u[..at]),
                None => u.to_owned(),
            });
        f.debug_struct("CodeBundle")
            .field("code", &self.code)
            .field("code_verifier", &self.code_verifier)
            .field("code_challenge_method", &self.code_challenge_method)
            .field("callback_url", &callback_url)
            .finish()
    }
}

impl CodeBundle {
    /// The single-use code (secret: keep it out of logs).
    pub fn code(&self) -> &str {
        self.code.secret()
    }

    /// The PKCE verifier (secret), when the code was made with a challenge.
    pub fn code_verifier(&self) -> Option<&str> {
        self.code_verifier.as_ref().map(|v| v.secret())
    }

    /// The callback URL the code was issued for, where known.
    pub fn callback_url(&self) -> Option<&str> {
        self.callback_url.as_deref()
    }

    /// The bundle as one JSON object (what `authorize` prints).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a struct of strings always serializes")
    }

    /// Parses a bundle from JSON, naming the field at fault; never echoes the input.
    ///
    /// # Errors
    /// [`Error::BadInput`] naming the field at fault.
    pub fn from_json(text: &str) -> Result<Self> {
        // A UTF-8 byte-order mark (some Windows editors and shells add one) is not an error.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let json: CodeBundleJson<'_> = serde_json::from_str(text).map_err(|e| {
            Error::bad_input(
                "code bundle",
                format!(
                    "a JSON object with code and code_verifier (line {}, column {})",
                    e.line(),
                    e.column()
                ),
            )
        })?;
        Self::try_from(json)
    }

    /// Builds a bundle, checking the verifier has RFC 7636's form. A method needs a verifier;
    /// a bundle with neither is a code made without a challenge.
    pub(crate) fn new(
        code: AuthCode,
        code_verifier: Option<CodeVerifier>,
        code_challenge_method: Option<ChallengeMethod>,
        callback_url: Option<String>,
    ) -> Result<Self> {
        if code.secret().is_empty() {
            return Err(Error::bad_input("code", "a non-empty string"));
        }
        match &code_verifier {
            None if code_challenge_method.is_some() => {
                return Err(Error::bad_input(
                    "code_verifier",
                    "a string in the code bundle (it names a code_challenge_method)",
                ));
            }
            Some(v) if !crate::pkce::is_valid_verifier(v.secret()) => {
                return Err(Error::bad_input(
                    "code_verifier",
                    "43-128 characters of A-Z a-z 0-9 - . _ ~ (RFC 7636)",
                ));
            }
            _ => {}
        }
        Ok(Self {
            code,
            code_verifier,
            code_challenge_method,
            callback_url,
        })
    }
}

/// OpenRouter's reply to a successful exchange; also what `login` prints and the service hands
/// back: `{"key","user_id"}`.
#[derive(Debug, Serialize, Deserialize)]
pub struct KeyResponse {
    /// The new API key.
    #[serde(serialize_with = "crate::secret::expose")]
    pub key: KeySecret,
    /// The OpenRouter user the key belongs to, when OpenRouter says.
    #[serde(default)]
    pub user_id: Option<String>,
}

/// `GET /api/v1/key`: what OpenRouter says about the key making the request. Every field is
/// optional: the real reply may be older or newer than this list.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct KeyInfo {
    /// The key's name on the keys page.
    pub label: Option<String>,
    /// Credit limit, `null` for none.
    pub limit: Option<f64>,
    /// Credits left under the limit.
    pub limit_remaining: Option<f64>,
    /// How often the limit resets (`daily`, `weekly`, `monthly`), `null` for never.
    pub limit_reset: Option<String>,
    /// Credits used, all time.
    pub usage: Option<f64>,
    /// Credits used today (UTC).
    pub usage_daily: Option<f64>,
    /// Credits used this week.
    pub usage_weekly: Option<f64>,
    /// Credits used this month.
    pub usage_monthly: Option<f64>,
    /// Whether the account is on the free tier.
    pub is_free_tier: Option<bool>,
    /// When the key stops working (RFC 3339), `null` for never.
    pub expires_at: Option<String>,
    /// Whether it is a management key (it can create keys) rather than an inference key.
    pub is_management_key: Option<bool>,
    /// The OpenRouter user who made the key.
    pub creator_user_id: Option<String>,
}

impl KeyInfo {
    /// Reads `data` field by field: a field that is absent or of the wrong type is left out
    /// (the real reply may be older or newer), and text is made safe and short for a terminal.
    pub fn from_data(data: &serde_json::Value) -> Self {
        let text = |name: &str, max: usize| {
            data.get(name).and_then(|v| v.as_str()).map(|t| {
                let clean = crate::error::sanitize(t, &[]);
                clean.chars().take(max).collect::<String>()
            })
        };
        let number = |name: &str| data.get(name).and_then(serde_json::Value::as_f64);
        Self {
            label: text("label", 100),
            limit: number("limit"),
            limit_remaining: number("limit_remaining"),
            limit_reset: text("limit_reset", 20),
            usage: number("usage"),
            usage_daily: number("usage_daily"),
            usage_weekly: number("usage_weekly"),
            usage_monthly: number("usage_monthly"),
            is_free_tier: data
                .get("is_free_tier")
                .and_then(serde_json::Value::as_bool),
            expires_at: text("expires_at", 40),
            is_management_key: data
                .get("is_management_key")
                .and_then(serde_json::Value::as_bool),
            creator_user_id: text("creator_user_id", 100),
        }
    }
}

/// The body of `POST /api/v1/auth/keys/code` (OpenRouter's CreateAuthKeysCodeRequest).
#[derive(Debug, Clone, Serialize)]
pub struct CreateAuthKeysCodeRequest {
    /// Where OpenRouter will send the browser; also bound to the code.
    pub callback_url: String,
    /// The PKCE challenge derived from a fresh verifier.
    pub code_challenge: String,
    /// How the challenge was derived.
    pub code_challenge_method: ChallengeMethod,
    /// Credit limit for the key the code will mint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<f64>,
    /// When the key stops working (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// A name for the key in the OpenRouter dashboard.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_label: Option<String>,
    /// How often the limit resets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage_limit_type: Option<UsageLimitType>,
    /// The workspace the key belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<String>,
}

/// `data` of OpenRouter's create-code reply.
#[derive(Debug, Deserialize)]
pub struct CreatedCode {
    /// The authorization code (secret from the first byte).
    pub id: AuthCode,
}

#[derive(Deserialize)]
struct CreatedCodeReply {
    data: CreatedCode,
}

#[derive(Deserialize)]
struct ErrorReply {
    error: ErrorBody,
}

#[derive(Deserialize)]
struct ErrorBody {
    message: String,
    /// More detail OpenRouter may add (a provider's error, the field at fault).
    #[serde(default)]
    metadata: Option<serde_json::Value>,
}

/// Which failures a POST may retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// Only failures that cannot have reached OpenRouter's handler (connect errors) and
    /// gateway errors (502/503/504): the exchange redeems a single-use code.
    Narrow,
    /// Also every 5xx, 408, 409 ("try again later") and 429: create-code redeems nothing,
    /// so asking again is safe.
    Idempotent,
}

impl Retry {
    fn allows(self, status: u16) -> bool {
        match self {
            Retry::Narrow => matches!(status, 502..=504),
            Retry::Idempotent => matches!(status, 408 | 409 | 429 | 500..=599),
        }
    }
}

/// Who is asking, for OpenRouter's app attribution (`X-OpenRouter-Title`, `HTTP-Referer`).
#[derive(Debug, Clone, Default)]
pub struct AppAttribution {
    /// The app's name.
    pub name: Option<String>,
    /// The app's URL.
    pub url: Option<String>,
}

impl AppAttribution {
    /// An app's name and URL, checked as the CLI's `--app-name`/`--app-url` are.
    pub fn checked(name: Option<&str>, url: Option<&str>) -> Result<Self> {
        Ok(Self {
            name: name
                .map(crate::input::parse_app_name)
                .transpose()
                .map_err(|e| e.named("app_name"))?,
            url: url
                .map(crate::input::parse_app_url)
                .transpose()
                .map_err(|e| e.named("app_url"))?
                .map(String::from),
        })
    }
}

/// The attribution headers for `app`.
fn attribution_headers(app: &AppAttribution) -> reqwest::header::HeaderMap {
    let mut headers = reqwest::header::HeaderMap::new();
    // The values were checked when parsed (printable, bounded), so they are header values.
    if let Some(name) = app.name.as_deref().and_then(|n| n.parse().ok()) {
        headers.insert("X-OpenRouter-Title", name);
    }
    if let Some(url) = app.url.as_deref().and_then(|u| u.parse().ok()) {
        // OpenRouter's name for it (its SDK and API reference), not the standard Referer.
        headers.insert("HTTP-Referer", url);
    }
    headers
}

/// An HTTP client for one OpenRouter base URL: rustls, no redirects, bounded retries.
#[derive(Debug, Clone)]
pub struct OpenRouterClient {
    http: reqwest::Client,
    base: Url,
}

impl OpenRouterClient {
    /// A client for `base`, which must already be validated by `config::parse_openrouter_url`.
    pub fn new(base: Url, app: &AppAttribution) -> Result<Self> {
        // Blocking (reads the TLS roots): callers build it off the async threads. Plain http
        // is only ever allowed to a loopback host (a stand-in), which needs no roots: reading
        // and parsing the system's whole bundle would only delay a stand-in login.
        let builder = if base.scheme() == "http" {
            crate::sys::http::loopback_client_builder(&[])?
        } else {
            crate::sys::http::client_builder(&[])?
        };
        let http = builder
            .timeout(Duration::from_secs(30))
            .default_headers(attribution_headers(app))
            .build()
            .map_err(|e| Error::internal("building the HTTP client", e))?;
        Ok(Self { http, base })
    }

    /// Whether OpenRouter answers at all (any HTTP status will do), within `timeout`: checked
    /// before the person is sent to a consent page that would not load, or approves a login
    /// whose code could not be redeemed.
    pub async fn check_reachable(&self, timeout: Duration) -> Result<()> {
        let sent = self
            .http
            .head(self.base.clone())
            .timeout(timeout)
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            Err(e) => Err(Error::Unreachable {
                context: network_context(
                    format!(
                        "{} did not answer{}",
                        self.base.host_str().unwrap_or("OpenRouter"),
                        if e.is_timeout() {
                            format!(" within {} s", timeout.as_secs())
                        } else {
                            String::new()
                        }
                    ),
                    &self.base,
                    &e,
                ),
                source: e.into(),
            }),
        }
    }

    /// `GET /api/v1/key` with `key` as bearer: the key's label, limit and usage. A 401 (a
    /// revoked or unknown key) says so.
    pub async fn current_key(&self, key: &KeySecret) -> Result<KeyInfo> {
        let url = self
            .base
            .join("api/v1/key")
            .map_err(|e| Error::internal("building the request URL", e))?;
        let secrets = [key.secret()];
        let response = self
            .http
            .get(url.clone())
            .bearer_auth(key.secret())
            .send()
            .await
            .map_err(|e| Error::Unreachable {
                context: network_context(
                    format!(
                        "could not ask {} about the key",
                        url.host_str().unwrap_or("?")
                    ),
                    &url,
                    &e,
                ),
                source: e.into(),
            })?;
        let status = response.status().as_u16();
        let text = read_reply(response, &url).await?;
        if status == 401 {
            return Err(Error::Refused {
                status,
                message: "the key was rejected (revoked, deleted or unknown)".into(),
            });
        }
        if !(200..300).contains(&status) {
            return Err(status_error(status, &text, &secrets));
        }
        let reply: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| bad_reply("the key's status", status, &text, &secrets, e))?;
        Ok(KeyInfo::from_data(&reply["data"]))
    }

    /// `POST /api/v1/auth/keys`: redeems the code for an API key.
    pub async fn exchange(&self, bundle: &CodeBundle) -> Result<KeyResponse> {
        // Only what the bundle has: no method is sent as no method, never as a guess.
        let mut body = serde_json::json!({ "code": bundle.code.secret() });
        if let Some(verifier) = &bundle.code_verifier {
            body["code_verifier"] = verifier.secret().into();
        }
        if let Some(method) = bundle.code_challenge_method {
            body["code_challenge_method"] = method.as_str().into();
        }
        let verifier = bundle
            .code_verifier
            .as_ref()
            .map(|v| v.secret())
            .unwrap_or_default();
        let secrets = [bundle.code.secret(), verifier];
        let (status, text) = self
            .post("api/v1/auth/keys", &body, None, &secrets, Retry::Narrow)
            .await
            .map_err(|e| match e {
                Error::Refused { status, message }
                    if message.contains("Invalid code or code_verifier")
                        || message.contains("expired") =>
                {
                    Error::Refused {
                        status,
                        message: format!(
                            "{message} (an authorization code works once and expires within minutes: start the login again)"
                        ),
                    }
                }
                other => other,
            })?;
        // The key exists on the account from here on: read it whatever else is odd about the
        // reply (a user_id of another type is dropped), and never quote it in an error.
        let reply: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            let mut hidden = secrets.to_vec();
            hidden.extend(key_like(&text));
            bad_reply("the key exchange", status, &text, &hidden, e)
        })?;
        let key = reply
            .get("key")
            .and_then(serde_json::Value::as_str)
            .map(str::trim)
            .filter(|k| !k.is_empty());
        let Some(key) = key else {
            let mut hidden = secrets.to_vec();
            hidden.extend(key_like(&text));
            return Err(Error::NoKey {
                status,
                excerpt: excerpt(&text, &hidden),
            });
        };
        // Saved, printed and sent as a header later: it must look like a key, or it is a
        // reply we could not read (quoted cleaned, with the would-be key hidden).
        if let Err(why) = check_key_form(key) {
            let shown = crate::error::sanitize(key, &[]);
            let mut hidden = secrets.to_vec();
            hidden.extend(key_like(&text));
            hidden.push(key);
            hidden.push(&shown);
            return Err(Error::BadReply {
                what: "the key exchange",
                status,
                excerpt: excerpt(&text, &hidden),
                source: why.into(),
            });
        }
        Ok(KeyResponse {
            key: KeySecret::new(key),
            // Printed on stdout and saved: network text, cleaned like any other.
            user_id: reply
                .get("user_id")
                .and_then(serde_json::Value::as_str)
                .map(|u| crate::error::sanitize(u, &[]).chars().take(200).collect()),
        })
    }

    /// `POST /api/v1/auth/keys/code` with a management key as bearer.
    pub async fn create_code(
        &self,
        request: &CreateAuthKeysCodeRequest,
        management_key: &KeySecret,
    ) -> Result<CreatedCode> {
        let body = serde_json::to_value(request)
            .map_err(|e| Error::internal("encoding the create-code request", e))?;
        let secrets = [management_key.secret()];
        let (status, text) = self
            .post(
                "api/v1/auth/keys/code",
                &body,
                Some(management_key),
                &secrets,
                Retry::Idempotent,
            )
            .await
            .map_err(|e| match e {
                Error::Refused { status, message } if status == 401 || status == 403 => {
                    Error::Refused {
                        status,
                        message: format!(
                            "{message} (create-code needs a management key; the inference key a login gives you is not one: create one at https://openrouter.ai/settings/management-keys)"
                        ),
                    }
                }
                other => other,
            })?;
        let reply: CreatedCodeReply = serde_json::from_str(&text)
            .map_err(|e| bad_reply("create-code", status, &text, &secrets, e))?;
        if reply.data.id.secret().trim().is_empty() {
            return Err(Error::BadReply {
                what: "create-code",
                status,
                excerpt: excerpt(&text, &secrets),
                source: "data.id is empty".into(),
            });
        }
        Ok(reply.data)
    }

    /// POSTs JSON, retrying only failures that cannot have reached OpenRouter's handler.
    async fn post(
        &self,
        path: &str,
        body: &serde_json::Value,
        bearer: Option<&KeySecret>,
        secrets: &[&str],
        retry: Retry,
    ) -> Result<(u16, String)> {
        let url = self
            .base
            .join(path)
            .map_err(|e| Error::internal("building the request URL", e))?;
        let mut delay = FIRST_BACKOFF;
        let mut attempt = 1;
        loop {
            let mut request = self.http.post(url.clone()).json(body);
            if let Some(key) = bearer {
                request = request.bearer_auth(key.secret());
            }
            let failure = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let text = read_reply(response, &url).await?;
                    if status.is_success() {
                        return Ok((status.as_u16(), text));
                    }
                    let retryable = retry.allows(status.as_u16());
                    let error = status_error(status.as_u16(), &text, secrets);
                    if !retryable {
                        return Err(error);
                    }
                    error
                }
                // Only a failed connect is certain not to have delivered the code; a
                // certificate that does not verify will not verify on the next attempt either.
                Err(e) if e.is_connect() => {
                    let unreachable = Error::Unreachable {
                        context: network_context(
                            format!("could not connect to {}", url.host_str().unwrap_or("?")),
                            &url,
                            &e,
                        ),
                        source: e.into(),
                    };
                    if is_certificate_failure(&unreachable) {
                        return Err(unreachable);
                    }
                    unreachable
                }
                Err(e) => {
                    return Err(Error::Unreachable {
                        context: network_context(
                            format!("the request to {} failed", url.path()),
                            &url,
                            &e,
                        ),
                        source: e.into(),
                    });
                }
            };
            if attempt >= MAX_ATTEMPTS {
                return Err(failure);
            }
            tracing::debug!(attempt, path = url.path(), error = %failure, "retrying");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(MAX_BACKOFF);
            attempt += 1;
        }
    }
}

/// Longest key accepted from an exchange (OpenRouter's are 73 characters).
const MAX_KEY_LEN: usize = 512;

/// Whether `key` can be a key: printable ASCII, no spaces or control characters, bounded.
pub(crate) fn check_key_form(key: &str) -> std::result::Result<(), String> {
    if key.len() > MAX_KEY_LEN {
        return Err(format!("the key is longer than {MAX_KEY_LEN} characters"));
    }
    if !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("the key holds spaces, control or non-ASCII characters".into());
    }
    Ok(())
}

/// A client that follows redirects like a browser and trusts exactly the local CA at
/// `ca_cert` (for `demo` and a stand-in's tests, where it stands in for the person's browser
/// and only ever talks to loopback: it needs no system roots).
pub fn browser_like_client(ca_cert: Option<&std::path::Path>) -> Result<reqwest::Client> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let extra = match ca_cert {
        Some(path) => CertificateDer::pem_file_iter(path)
            .and_then(Iterator::collect::<std::result::Result<Vec<_>, _>>)
            .map_err(|e| Error::internal(format!("reading {}", path.display()), e))?,
        None => Vec::new(),
    };
    crate::sys::http::loopback_client_builder(&extra)?
        .redirect(reqwest::redirect::Policy::limited(5))
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| Error::internal("building the HTTP client", e))
}

/// A bounded, printable excerpt of a body for an error message.
/// Network text made fit for a terminal: no escape sequences, control or bidi characters, no
/// fragment of a secret we sent, at most [`MAX_QUOTED_BODY`] characters.
fn excerpt(body: &str, secrets: &[&str]) -> String {
    if let Some(summary) = html_summary(body, secrets) {
        return summary;
    }
    let clean = crate::error::sanitize(body, secrets);
    let quoted: String = clean.chars().take(MAX_QUOTED_BODY).collect();
    if quoted.trim().is_empty() {
        "(empty body)".to_owned()
    } else {
        quoted
    }
}

/// Words in a reply that look like API keys (`sk-…`), to hide when a reply is quoted.
fn key_like(text: &str) -> Vec<&str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .filter(|w| w.starts_with("sk-") && w.len() >= 20)
        .collect()
}

/// One line for an HTML body (a proxy's or an outage page): its title, not its markup.
fn html_summary(body: &str, secrets: &[&str]) -> Option<String> {
    let head: String = body.trim_start().chars().take(2048).collect();
    let lower = head.to_ascii_lowercase();
    if !(lower.starts_with("<!doctype html")
        || lower.starts_with("<html")
        || lower.contains("<html"))
    {
        return None;
    }
    let title = lower.find("<title").and_then(|start| {
        let open_end = start + lower[start..].find('>')? + 1;
        let close = open_end + lower[open_end..].find("</title")?;
        // ASCII lower-casing keeps byte offsets, so they index the original text too.
        let text = crate::error::sanitize(&head[open_end..close], secrets);
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        (!text.is_empty()).then(|| text.chars().take(120).collect::<String>())
    });
    Some(match title {
        Some(title) => format!(
            "an HTML page titled \"{title}\" (not OpenRouter's API: a proxy, a captive portal or an outage page?)"
        ),
        None => "an HTML page (not OpenRouter's API: a proxy, a captive portal or an outage page?)"
            .to_owned(),
    })
}

/// At most [`MAX_REPLY_BYTES`] of a reply from `url`; a body that breaks off is OpenRouter
/// being unreachable, said with what is known about the route (proxy, certificate).
async fn read_reply(response: reqwest::Response, url: &Url) -> Result<String> {
    crate::sys::http::read_bounded(response, MAX_REPLY_BYTES)
        .await
        .map_err(|e| Error::Unreachable {
            context: network_context(format!("reading the reply from {}", url.path()), url, &e),
            source: e.into(),
        })
}

/// Whether a connection failed because the server's certificate did not verify (rustls
/// refused it), rather than the network.
fn is_certificate_failure(error: &Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return matches!(
                tls,
                rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
            );
        }
        // An io::Error's source() skips the error it wraps (where rustls puts its own).
        cause = match e
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    false
}

/// What failed on the way to `url`, with what to do where we can tell: a proxy that does
/// not answer is named (without its credentials), and a certificate from an unknown issuer
/// (a TLS-inspecting proxy) points at SSL_CERT_FILE.
fn network_context(action: String, url: &Url, e: &reqwest::Error) -> String {
    let mut context = action;
    if let Some(proxy) = proxy_for(url) {
        context.push_str(&format!(" through the proxy {proxy}"));
    }
    let cause = crate::error::root_cause(e);
    if cause.contains("UnknownIssuer") || cause.contains("unknown issuer") {
        context.push_str(
            " (its certificate comes from an unknown issuer: behind a TLS-inspecting proxy, set SSL_CERT_FILE to a PEM bundle that includes that proxy's CA certificate)",
        );
    }
    context
}

/// The proxy reqwest uses for `url` from the environment, as `host:port (VARIABLE)`; `None`
/// when none applies. Credentials in the variable are never shown.
fn proxy_for(url: &Url) -> Option<String> {
    let vars: &[&str] = if url.scheme() == "https" {
        &["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
    } else {
        &["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
    };
    let host = url.host_str().unwrap_or_default();
    let no_proxy = std::env::var("NO_PROXY")
        .or_else(|_| std::env::var("no_proxy"))
        .unwrap_or_default();
    let bypassed = no_proxy.split(',').map(str::trim).any(|entry| {
        entry == "*"
            || (!entry.is_empty()
                && (host == entry.trim_start_matches('.')
                    || host.ends_with(&format!(".{}", entry.trim_start_matches('.')))))
    });
    if bypassed {
        return None;
    }
    vars.iter().find_map(|var| {
        let value = std::env::var(var).ok().filter(|v| !v.trim().is_empty())?;
        let parsed = Url::parse(&value)
            .or_else(|_| Url::parse(&format!("http://{value}")))
            .ok()?;
        let port = parsed.port_or_known_default().unwrap_or(80);
        Some(format!("{}:{port} ({var})", parsed.host_str()?))
    })
}

/// A 2xx whose body we could not read.
fn bad_reply(
    what: &'static str,
    status: u16,
    body: &str,
    secrets: &[&str],
    e: serde_json::Error,
) -> Error {
    Error::BadReply {
        what,
        status,
        excerpt: excerpt(body, secrets),
        source: e.into(),
    }
}

/// The error for a non-success status, keeping OpenRouter's message or a quote of the body.
fn status_error(status: u16, body: &str, secrets: &[&str]) -> Error {
    let message = match serde_json::from_str::<ErrorReply>(body) {
        Ok(reply) => {
            // The metadata carries the detail (which field, the provider's own message).
            let detail = reply
                .error
                .metadata
                .filter(|m| !m.is_null() && m.as_object().is_none_or(|o| !o.is_empty()))
                .map(|m| format!(" ({m})"))
                .unwrap_or_default();
            excerpt(&format!("{}{detail}", reply.error.message), secrets)
        }
        Err(_) => excerpt(body, secrets),
    };
    match status {
        400..=499 => Error::Refused { status, message },
        // Following it could hand the code to another host; say so instead of "failing".
        300..=399 => Error::ServerFailed {
            status,
            message:
                "a redirect, which is not followed (is the OpenRouter URL the API's base URL?)"
                    .to_owned(),
        },
        _ => Error::ServerFailed { status, message },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verifier() -> CodeVerifier {
        CodeVerifier::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
    }

    #[test]
    fn authorize_url_carries_every_parameter_encoded() {
        let base = Url::parse("https://openrouter.ai/").unwrap();
        let cb = Url::parse("https://localhost:3000/callback/abc").unwrap();
        let state = State::new("st-1");
        let url = authorize_url(
            &base,
            Some(&cb),
            "E9Mel",
            ChallengeMethod::S256,
            Some(&state),
        );
        assert_eq!(
            url.as_str(),
            "https://openrouter.ai/auth?callback_url=https%3A%2F%2Flocalhost%3A3000%2Fcallback%2Fabc\
             &code_challenge=E9Mel&code_challenge_method=S256&state=st-1"
        );
    }

    #[test]
    fn headless_authorize_url_has_no_callback() {
        let base = Url::parse("https://openrouter.ai/").unwrap();
        let url = authorize_url(&base, None, "c", ChallengeMethod::S256, None);
        assert_eq!(
            url.as_str(),
            "https://openrouter.ai/auth?code_challenge=c&code_challenge_method=S256"
        );
    }

    #[test]
    fn code_bundle_round_trips() {
        let bundle = CodeBundle::new(
            AuthCode::new("code-1"),
            Some(verifier()),
            Some(ChallengeMethod::Plain),
            Some("https://localhost:3000/callback".into()),
        )
        .unwrap();
        let json: serde_json::Value = serde_json::from_str(&bundle.to_json()).unwrap();
        assert_eq!(json["code"], "code-1");
        assert_eq!(json["code_verifier"], verifier().secret());
        assert_eq!(json["code_challenge_method"], "plain");
        assert_eq!(json["callback_url"], "https://localhost:3000/callback");
        let back = CodeBundle::from_json(&bundle.to_json()).unwrap();
        assert_eq!(back.code.secret(), "code-1");
        assert_eq!(back.code_challenge_method, Some(ChallengeMethod::Plain));
    }

    fn bad_field(text: &str) -> &'static str {
        match CodeBundle::from_json(text) {
            Err(Error::BadInput { field, .. }) => field,
            other => panic!("expected BadInput for {text}, got {other:?}"),
        }
    }

    #[test]
    fn malformed_code_bundles_name_the_field() {
        assert_eq!(bad_field("not json"), "code bundle");
        assert_eq!(bad_field("[1,2]"), "code bundle");
        assert_eq!(bad_field(r#"{"code_verifier":"x"}"#), "code");
        assert_eq!(bad_field(r#"{"code":"","code_verifier":"x"}"#), "code");
        assert_eq!(
            bad_field(r#"{"code":"c","code_challenge_method":"S256"}"#),
            "code_verifier",
            "a method needs its verifier"
        );
        // A code made without a challenge: neither, and no method is guessed for it.
        let bare = CodeBundle::from_json(r#"{"code":"c"}"#).unwrap();
        assert!(bare.code_verifier.is_none() && bare.code_challenge_method.is_none());
        let v = verifier();
        let no_method = CodeBundle::from_json(&format!(
            r#"{{"code":"c","code_verifier":"{}"}}"#,
            v.secret()
        ))
        .unwrap();
        assert_eq!(no_method.code_challenge_method, None, "not S256 by default");
        assert_eq!(
            bad_field(r#"{"code":"c","code_verifier":"short"}"#),
            "code_verifier"
        );
        let v = verifier();
        let with_method = format!(
            r#"{{"code":"c","code_verifier":"{}","code_challenge_method":"MD5"}}"#,
            v.secret()
        );
        assert_eq!(bad_field(&with_method), "code_challenge_method");
    }

    #[test]
    fn bundle_errors_do_not_echo_secrets() {
        let text = r#"{"code":"sekrit-code","code_verifier":"short-sekrit"}"#;
        let e = CodeBundle::from_json(text).unwrap_err().to_string();
        assert!(!e.contains("sekrit"), "{e}");
    }

    #[test]
    fn create_code_request_is_snake_case_and_omits_unset_fields() {
        let minimal = CreateAuthKeysCodeRequest {
            callback_url: "https://localhost:3000/callback".into(),
            code_challenge: "abc".into(),
            code_challenge_method: ChallengeMethod::S256,
            limit: None,
            expires_at: None,
            key_label: None,
            usage_limit_type: None,
            workspace_id: None,
        };
        assert_eq!(
            serde_json::to_value(&minimal).unwrap(),
            serde_json::json!({
                "callback_url": "https://localhost:3000/callback",
                "code_challenge": "abc",
                "code_challenge_method": "S256",
            })
        );
        let full = CreateAuthKeysCodeRequest {
            code_challenge_method: ChallengeMethod::Plain,
            limit: Some(100.0),
            expires_at: Some("2030-01-01T00:00:00Z".into()),
            key_label: Some("ci".into()),
            usage_limit_type: Some(UsageLimitType::Monthly),
            workspace_id: Some("123e4567-e89b-12d3-a456-426614174000".into()),
            ..minimal
        };
        assert_eq!(
            serde_json::to_value(&full).unwrap(),
            serde_json::json!({
                "callback_url": "https://localhost:3000/callback",
                "code_challenge": "abc",
                "code_challenge_method": "plain",
                "limit": 100.0,
                "expires_at": "2030-01-01T00:00:00Z",
                "key_label": "ci",
                "usage_limit_type": "monthly",
                "workspace_id": "123e4567-e89b-12d3-a456-426614174000",
            })
        );
    }

    #[test]
    fn status_errors_keep_openrouter_message_and_classify() {
        match status_error(
            403,
            r#"{"error":{"code":403,"message":"Invalid code"}}"#,
            &[],
        ) {
            Error::Refused { status, message } => {
                assert_eq!(status, 403);
                assert_eq!(message, "Invalid code");
            }
            other => panic!("{other:?}"),
        }
        match status_error(500, "<html>boom</html>", &[]) {
            Error::ServerFailed { status, message } => {
                assert_eq!(status, 500);
                assert!(
                    message.starts_with("an HTML page (not OpenRouter's API"),
                    "{message}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn key_response_json_has_key_and_user_id() {
        let r = KeyResponse {
            key: KeySecret::new("sk-1"),
            user_id: Some("u1".into()),
        };
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            serde_json::json!({"key": "sk-1", "user_id": "u1"})
        );
        assert!(!format!("{r:?}").contains("sk-1"));
    }
}
