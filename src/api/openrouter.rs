//! OpenRouter's two PKCE calls on their own: redeeming a code, and creating one for a
//! limited key.

use tokio::sync::OnceCell;
use url::Url;

use crate::api::{ApiKey, CodeBundle, UsageLimitType};
use crate::error::{Error, Result};
use crate::openrouter::{AppAttribution, CreateAuthKeysCodeRequest, OpenRouterClient};
use crate::pkce::ChallengeMethod;

/// OpenRouter's API at one base URL: `https://openrouter.ai`, or a [`StandIn`](crate::StandIn).
#[derive(Debug)]
pub struct OpenRouter {
    base: Url,
    app: AppAttribution,
    client: OnceCell<OpenRouterClient>,
}

impl Default for OpenRouter {
    fn default() -> Self {
        Self::with_url(Url::parse(crate::defaults::OPENROUTER_URL).expect("the default URL parses"))
    }
}

impl OpenRouter {
    /// OpenRouter at `url`: https, or http on a loopback host.
    ///
    /// # Errors
    /// [`Error::BadInput`] for any other URL (nothing is sent).
    pub fn new(url: &str) -> Result<Self> {
        let base =
            crate::input::parse_openrouter_url(url).map_err(|e| e.named("openrouter_url"))?;
        Ok(Self::with_url(base))
    }

    fn with_url(base: Url) -> Self {
        Self {
            base,
            app: AppAttribution::default(),
            client: OnceCell::new(),
        }
    }

    /// Sends the app's name as `X-OpenRouter-Title` (OpenRouter's app attribution, as the
    /// CLI's `--app-name`) with every call.
    ///
    /// # Errors
    /// [`Error::BadInput`] unless 1 to 100 printable ASCII characters.
    pub fn app_name(mut self, name: &str) -> Result<Self> {
        self.app.name = AppAttribution::checked(Some(name), None)?.name;
        Ok(self)
    }

    /// Sends the app's URL as `HTTP-Referer` (as the CLI's `--app-url`) with every call.
    ///
    /// # Errors
    /// [`Error::BadInput`] unless an absolute http(s) URL without credentials.
    pub fn app_url(mut self, url: &str) -> Result<Self> {
        self.app.url = AppAttribution::checked(None, Some(url))?.url;
        Ok(self)
    }

    /// The HTTP client, built once off the async threads (it reads the system's TLS roots).
    async fn client(&self) -> Result<&OpenRouterClient> {
        self.client
            .get_or_try_init(|| async {
                let base = self.base.clone();
                let app = self.app.clone();
                tokio::task::spawn_blocking(move || OpenRouterClient::new(base, &app))
                    .await
                    .map_err(|e| Error::internal("building the HTTP client", e))?
            })
            .await
    }

    /// Redeems a code for a key (`POST /api/v1/auth/keys`). Codes work once: a failed
    /// exchange is retried only where OpenRouter cannot have used the code.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> openrouter_pkce::Result<()> {
    /// use openrouter_pkce::{ApiKey, CodeRequest, OpenRouter, StandIn};
    ///
    /// let stand_in = StandIn::start().await?;
    /// let openrouter = OpenRouter::new(stand_in.url())?;
    /// let management = ApiKey::new(StandIn::MANAGEMENT_KEY);
    /// let bundle = openrouter
    ///     .create_code(&management, &CodeRequest::new("http://localhost:3000/callback")?)
    ///     .await?;
    /// let key = openrouter.exchange(&bundle).await?;
    /// assert!(key.expose_secret().starts_with("sk-or-v1-"));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`Error::Refused`] (a used, expired or unknown code; a verifier that does not match),
    /// [`Error::Unreachable`], [`Error::ServerFailed`], [`Error::BadReply`], [`Error::NoKey`].
    pub async fn exchange(&self, bundle: &CodeBundle) -> Result<ApiKey> {
        let reply = self.client().await?.exchange(bundle).await?;
        Ok(ApiKey::from_response(reply))
    }

    /// Creates a code for a limited key with a management key
    /// (`POST /api/v1/auth/keys/code`); the bundle holds the verifier made for it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> openrouter_pkce::Result<()> {
    /// use openrouter_pkce::{ApiKey, CodeRequest, OpenRouter, StandIn, UsageLimitType};
    ///
    /// let stand_in = StandIn::start().await?;
    /// let request = CodeRequest::new("https://ci.example/callback")?
    ///     .limit(10.0)?
    ///     .key_label("nightly CI")?
    ///     .usage_limit_type(UsageLimitType::Monthly);
    /// let bundle = OpenRouter::new(stand_in.url())?
    ///     .create_code(&ApiKey::new(StandIn::MANAGEMENT_KEY), &request)
    ///     .await?;
    /// assert_eq!(bundle.callback_url(), Some("https://ci.example/callback"));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`Error::Refused`] (401/403: `management_key` is not a management key),
    /// [`Error::Unreachable`], [`Error::ServerFailed`], [`Error::BadReply`].
    pub async fn create_code(
        &self,
        management_key: &ApiKey,
        request: &CodeRequest,
    ) -> Result<CodeBundle> {
        let verifier = crate::pkce::new_verifier();
        let method = ChallengeMethod::S256;
        let body = CreateAuthKeysCodeRequest {
            callback_url: request.callback_url.to_string(),
            code_challenge: crate::pkce::challenge(&verifier, method),
            code_challenge_method: method,
            limit: request.limit,
            expires_at: request.expires_at.clone(),
            key_label: request.key_label.clone(),
            usage_limit_type: request.usage_limit_type,
            workspace_id: request.workspace_id.clone(),
        };
        let created = self
            .client()
            .await?
            .create_code(&body, management_key.secret())
            .await?;
        CodeBundle::new(
            created.id,
            Some(verifier),
            Some(method),
            Some(body.callback_url),
        )
    }
}

/// Redeems a code at `https://openrouter.ai` (see [`OpenRouter::exchange`]).
///
/// ```no_run
/// # async fn example(saved: &str) -> openrouter_pkce::Result<()> {
/// let bundle = openrouter_pkce::CodeBundle::from_json(saved)?;
/// let key = openrouter_pkce::exchange(&bundle).await?;
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// As [`OpenRouter::exchange`].
pub async fn exchange(bundle: &CodeBundle) -> Result<ApiKey> {
    OpenRouter::default().exchange(bundle).await
}

/// Creates a code at `https://openrouter.ai` (see [`OpenRouter::create_code`]).
///
/// ```no_run
/// # async fn example() -> openrouter_pkce::Result<()> {
/// use openrouter_pkce::{ApiKey, CodeRequest};
///
/// let management = ApiKey::new(std::env::var("OPENROUTER_MANAGEMENT_KEY").unwrap_or_default());
/// let request = CodeRequest::new("https://myapp.example/callback")?.limit(5.0)?;
/// let bundle = openrouter_pkce::create_code(&management, &request).await?;
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// As [`OpenRouter::create_code`].
pub async fn create_code(management_key: &ApiKey, request: &CodeRequest) -> Result<CodeBundle> {
    OpenRouter::default()
        .create_code(management_key, request)
        .await
}

/// What a created code's key may do: OpenRouter's CreateAuthKeysCodeRequest without the
/// challenge (made for each call). Each setter checks its value as the CLI's flag does, and
/// names the setting it refuses.
///
/// ```
/// use openrouter_pkce::{CodeRequest, Error};
///
/// let refused = CodeRequest::new("http://myapp.example/callback").unwrap_err();
/// assert!(matches!(refused, Error::BadInput { field: "callback_url", .. }));
/// assert_eq!(refused.exit_code(), 2);
/// ```
#[derive(Debug, Clone)]
pub struct CodeRequest {
    callback_url: Url,
    limit: Option<f64>,
    expires_at: Option<String>,
    key_label: Option<String>,
    usage_limit_type: Option<UsageLimitType>,
    workspace_id: Option<String>,
}

impl CodeRequest {
    /// A request for a code redeemed by the app at `callback_url`: https, or
    /// `http://localhost`/`http://127.0.0.1` on any port (what OpenRouter accepts).
    ///
    /// # Errors
    /// [`Error::BadInput`] for any other URL.
    pub fn new(callback_url: &str) -> Result<Self> {
        Ok(Self {
            callback_url: crate::input::parse_callback_url(callback_url)
                .map_err(|e| e.named("callback_url"))?,
            limit: None,
            expires_at: None,
            key_label: None,
            usage_limit_type: None,
            workspace_id: None,
        })
    }

    /// A credit limit, 0 or more.
    ///
    /// # Errors
    /// [`Error::BadInput`] for a negative or non-finite number.
    pub fn limit(mut self, credits: f64) -> Result<Self> {
        self.limit =
            Some(crate::input::parse_limit(&credits.to_string()).map_err(|e| e.named("limit"))?);
        Ok(self)
    }

    /// When the key stops working: an RFC 3339 date-time in the future.
    ///
    /// # Errors
    /// [`Error::BadInput`] for anything else.
    pub fn expires_at(mut self, at: &str) -> Result<Self> {
        let now = time::OffsetDateTime::now_utc();
        self.expires_at =
            Some(crate::input::parse_expires_at(at, now).map_err(|e| e.named("expires_at"))?);
        Ok(self)
    }

    /// The key's name on OpenRouter's keys page.
    ///
    /// # Errors
    /// [`Error::BadInput`] for an overlong or control-character label.
    pub fn key_label(mut self, label: &str) -> Result<Self> {
        self.key_label =
            Some(crate::input::parse_key_label(label).map_err(|e| e.named("key_label"))?);
        Ok(self)
    }

    /// When the limit resets.
    pub fn usage_limit_type(mut self, period: UsageLimitType) -> Self {
        self.usage_limit_type = Some(period);
        self
    }

    /// The workspace the key belongs to.
    ///
    /// # Errors
    /// [`Error::BadInput`] for an empty or malformed id.
    pub fn workspace_id(mut self, id: &str) -> Result<Self> {
        self.workspace_id =
            Some(crate::input::parse_workspace_id(id).map_err(|e| e.named("workspace_id"))?);
        Ok(self)
    }
}
