//! The logins waiting for their callback, keyed by nonce and state, and the matching of a
//! callback to its login. One-shot mode holds one; the service many.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;
use url::Url;

use crate::error::Error;
use crate::secret::{AuthCode, Nonce, State as OAuthState};
use crate::server::pages::Page;

/// What the callback hands to the waiting flow: the code, or OpenRouter's refusal.
pub type CallbackOutcome = Result<AuthCode, Error>;

/// How a login ended, for the browser tab still waiting on its callback's page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The key was created and handed over.
    KeyCreated,
    /// The code bundle was handed over (no exchange here).
    CodeHandedOver,
    /// The exchange failed: what happened and what to do (already free of secrets).
    Failed(String),
    /// The login was stopped (timed out, cancelled) while the key was being created.
    Stopped,
}

/// A callback handed to its flow, with the channel the flow answers the browser's page on.
#[derive(Debug)]
pub struct Delivery {
    /// The code or the denial.
    pub outcome: CallbackOutcome,
    /// Where to send the verdict, when a browser waits for it (not for a pasted address).
    pub reply: Option<oneshot::Sender<Verdict>>,
}

/// The parameters of one callback request, from the path and query (or a pasted URL).
#[derive(Default, Clone)]
pub struct CallbackParams {
    /// The `/callback/<nonce>` path segment.
    pub nonce: Option<String>,
    /// `state`.
    pub state: Option<String>,
    /// `code`.
    pub code: Option<String>,
    /// `error`, e.g. `access_denied`.
    pub error: Option<String>,
    /// `error_description`.
    pub error_description: Option<String>,
}

impl std::fmt::Debug for CallbackParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackParams")
            .field("nonce", &self.nonce.as_ref().map(|_| "[REDACTED]"))
            .field("state", &self.state.as_ref().map(|_| "[REDACTED]"))
            .field("code", &self.code.as_ref().map(|_| "[REDACTED]"))
            .field("error", &self.error)
            .finish()
    }
}

impl CallbackParams {
    /// Reads the parameters from a full callback URL, as a person would paste it.
    pub fn from_url(url: &Url) -> Option<Self> {
        let mut segments = url.path_segments()?;
        if segments.next()? != "callback" {
            return None;
        }
        let nonce = segments.next().filter(|s| !s.is_empty()).map(str::to_owned);
        let mut params = Self::from_query(
            url.query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned())),
        );
        params.nonce = nonce;
        Some(params)
    }

    /// Reads the parameters from a callback's query pairs (the nonce comes from the path).
    pub fn from_query(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut params = Self::default();
        for (key, value) in pairs {
            // The first occurrence wins, so an appended duplicate cannot override it.
            let slot = match key.as_str() {
                "state" => &mut params.state,
                "code" => &mut params.code,
                "error" => &mut params.error,
                "error_description" => &mut params.error_description,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(value);
            }
        }
        params
    }
}

/// Why a callback was not accepted; the flow keeps waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// No pending flow has this nonce or state.
    UnknownLogin,
    /// The nonce matched a flow but the state did not.
    WrongState,
    /// The flow matched but the request had neither `code` nor `error`.
    MissingCode,
}

impl Rejection {
    /// The page shown for this rejection.
    pub fn page(self) -> Page {
        match self {
            Rejection::UnknownLogin => Page::UnknownLogin,
            Rejection::WrongState => Page::WrongState,
            Rejection::MissingCode => Page::MissingCode,
        }
    }
}

/// What an accepted callback was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// A code, handed to the flow.
    Code,
    /// OpenRouter's `error=`, handed to the flow as a denial.
    Denied,
}

struct Pending {
    nonce: Nonce,
    state: OAuthState,
    deliver: oneshot::Sender<Delivery>,
}

/// The flows waiting for their callback. Cheap to clone; clones share the same set.
#[derive(Clone, Default)]
pub struct PendingFlows {
    inner: Arc<Mutex<HashMap<u64, Pending>>>,
    next_id: Arc<std::sync::atomic::AtomicU64>,
}

impl std::fmt::Debug for PendingFlows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingFlows")
            .field("len", &self.len())
            .finish()
    }
}

/// A registered flow's handle: receives the outcome, and unregisters the flow when dropped.
#[derive(Debug)]
pub struct Registration {
    id: u64,
    flows: PendingFlows,
    /// Resolves when a callback for this flow is accepted.
    pub outcome: oneshot::Receiver<Delivery>,
}

impl Registration {
    /// The key under which the flow is registered, for [`PendingFlows::withdraw`].
    pub fn key(&self) -> u64 {
        self.id
    }

    /// Takes the flow out of the registry; `false` when a callback already took it (its outcome
    /// is then waiting in [`Registration::outcome`]).
    pub fn withdraw(&self) -> bool {
        self.flows.withdraw(self.id)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.flows.withdraw(self.id);
    }
}

impl PendingFlows {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Pending>> {
        // A panic elsewhere while holding the lock leaves the map itself consistent.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Number of flows waiting.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no flow is waiting.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Registers a flow's nonce and state; the callback that matches them resolves `outcome`.
    pub fn register(&self, nonce: Nonce, state: OAuthState) -> Registration {
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (deliver, outcome) = oneshot::channel();
        self.lock().insert(
            id,
            Pending {
                nonce,
                state,
                deliver,
            },
        );
        Registration {
            id,
            flows: self.clone(),
            outcome,
        }
    }

    /// Takes the flow registered under `key` out, so no later callback can reach it; `false` when
    /// it was no longer there (delivered, failed or withdrawn before).
    pub fn withdraw(&self, key: u64) -> bool {
        self.lock().remove(&key).is_some()
    }

    /// Matches `params` to a flow and, if accepted, hands it the code or denial (one use).
    ///
    /// The nonce (the callback path's secret segment) must match, and the state too where it
    /// comes back; both are compared in constant time against every pending flow.
    pub fn deliver(&self, params: &CallbackParams) -> Result<Accepted, Rejection> {
        self.deliver_with(params, None)
    }

    /// Like [`PendingFlows::deliver`], and the flow answers on the returned channel once it
    /// knows how the login ended (for a code: after the exchange), so the browser's page can
    /// tell the truth.
    pub fn deliver_awaiting(
        &self,
        params: &CallbackParams,
    ) -> Result<(Accepted, oneshot::Receiver<Verdict>), Rejection> {
        let (reply, verdict) = oneshot::channel();
        self.deliver_with(params, Some(reply))
            .map(|accepted| (accepted, verdict))
    }

    fn deliver_with(
        &self,
        params: &CallbackParams,
        reply: Option<oneshot::Sender<Verdict>>,
    ) -> Result<Accepted, Rejection> {
        let mut flows = self.lock();
        let mut matched = None;
        let mut wrong_state = false;
        for (id, flow) in flows.iter() {
            let nonce_ok = params.nonce.as_deref().map(|n| flow.nonce.ct_eq(n));
            let state_ok = params.state.as_deref().map(|s| flow.state.ct_eq(s));
            match (nonce_ok, state_ok) {
                // The nonce is required: it is the only value that never appears in the
                // authorize URL's query, which other local users may see. The state must match
                // where it comes back (OpenRouter does not document echoing it).
                (Some(true), Some(true)) | (Some(true), None) => matched = Some(*id),
                (Some(true), Some(false)) => wrong_state = true,
                _ => {}
            }
        }
        let Some(id) = matched else {
            return Err(if wrong_state {
                Rejection::WrongState
            } else {
                Rejection::UnknownLogin
            });
        };
        let (outcome, accepted) = if let Some(error) = &params.error {
            // Whoever sent the browser here chose these words: cleaned like any network text
            // (no terminal sequences, line breaks or bidi tricks reach a person), then bounded.
            let clean = |text: &str, max: usize| -> String {
                crate::error::sanitize(text, &[])
                    .chars()
                    .take(max)
                    .collect()
            };
            let denied = Error::Denied {
                error: clean(error, 200),
                description: params
                    .error_description
                    .as_deref()
                    .map(|d| clean(d, 500))
                    .filter(|d| !d.trim().is_empty()),
            };
            (Err(denied), Accepted::Denied)
        } else if let Some(code) = params.code.as_deref().filter(|c| !c.is_empty()) {
            (Ok(AuthCode::new(code)), Accepted::Code)
        } else {
            return Err(Rejection::MissingCode);
        };
        let flow = flows.remove(&id).expect("matched id is in the map");
        drop(flows);
        // The waiter may have gone (cancelled, timed out); the code is then simply dropped.
        let _ = flow.deliver.send(Delivery { outcome, reply });
        Ok(accepted)
    }

    /// Fails every pending flow with `error()` (service shutdown).
    pub fn fail_all(&self, error: impl Fn() -> Error) {
        for (_, flow) in self.lock().drain() {
            let _ = flow.deliver.send(Delivery {
                outcome: Err(error()),
                reply: None,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(nonce: Option<&str>, state: Option<&str>, code: Option<&str>) -> CallbackParams {
        CallbackParams {
            nonce: nonce.map(Into::into),
            state: state.map(Into::into),
            code: code.map(Into::into),
            ..Default::default()
        }
    }

    /// A denial's words come from whoever sent the browser back: they reach a person cleaned.
    #[test]
    fn denial_text_is_cleaned_before_anyone_reads_it() {
        let flows = PendingFlows::new();
        let mut reg = flows.register(Nonce::new("n1"), OAuthState::new("s1"));
        let mut p = params(Some("n1"), None, None);
        p.error = Some("access_denied\r\u{1b}[2Jfake\u{2028}line".into());
        p.error_description = Some("no\u{202e}evil\u{85}\u{2029}more\u{7}".into());
        assert_eq!(flows.deliver(&p), Ok(Accepted::Denied));
        match reg.outcome.try_recv().unwrap().outcome {
            Err(Error::Denied { error, description }) => {
                assert_eq!(error, "access_deniedfakeline");
                assert_eq!(description.as_deref(), Some("noevilmore"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn forged_callbacks_are_refused_and_the_real_one_still_lands() {
        let flows = PendingFlows::new();
        let mut reg = flows.register(Nonce::new("n1"), OAuthState::new("s1"));
        assert_eq!(
            flows.deliver(&params(Some("n2"), Some("s1"), Some("c"))),
            Err(Rejection::UnknownLogin)
        );
        assert_eq!(
            flows.deliver(&params(Some("n1"), Some("s2"), Some("c"))),
            Err(Rejection::WrongState)
        );
        assert_eq!(
            flows.deliver(&params(None, None, Some("c"))),
            Err(Rejection::UnknownLogin)
        );
        assert_eq!(
            flows.deliver(&params(Some("n1"), Some("s1"), None)),
            Err(Rejection::MissingCode)
        );
        assert!(reg.outcome.try_recv().is_err(), "nothing delivered yet");
        assert_eq!(
            flows.deliver(&params(Some("n1"), Some("s1"), Some("real"))),
            Ok(Accepted::Code)
        );
        assert_eq!(
            reg.outcome.try_recv().unwrap().outcome.unwrap().secret(),
            "real"
        );
        // One use: the same callback again finds no flow.
        assert_eq!(
            flows.deliver(&params(Some("n1"), Some("s1"), Some("real"))),
            Err(Rejection::UnknownLogin)
        );
    }

    #[test]
    fn the_nonce_is_required_and_identifies_the_flow() {
        let flows = PendingFlows::new();
        let mut a = flows.register(Nonce::new("na"), OAuthState::new("sa"));
        let mut b = flows.register(Nonce::new("nb"), OAuthState::new("sb"));
        // The state alone (it rides in the authorize URL's query) completes nothing.
        assert_eq!(
            flows.deliver(&params(None, Some("sa"), Some("ca"))),
            Err(Rejection::UnknownLogin)
        );
        assert_eq!(
            flows.deliver(&params(Some("nb"), None, Some("cb"))),
            Ok(Accepted::Code)
        );
        assert_eq!(
            flows.deliver(&params(Some("na"), Some("sa"), Some("ca"))),
            Ok(Accepted::Code)
        );
        assert_eq!(
            a.outcome.try_recv().unwrap().outcome.unwrap().secret(),
            "ca"
        );
        assert_eq!(
            b.outcome.try_recv().unwrap().outcome.unwrap().secret(),
            "cb"
        );
    }

    #[test]
    fn error_param_denies_the_matching_flow() {
        let flows = PendingFlows::new();
        let mut reg = flows.register(Nonce::new("n1"), OAuthState::new("s1"));
        let mut p = params(Some("n1"), None, None);
        p.error = Some("access_denied".into());
        p.error_description = Some("User declined".into());
        assert_eq!(flows.deliver(&p), Ok(Accepted::Denied));
        match reg.outcome.try_recv().unwrap().outcome {
            Err(Error::Denied { error, description }) => {
                assert_eq!(error, "access_denied");
                assert_eq!(description.as_deref(), Some("User declined"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_error_for_an_unknown_flow_changes_nothing() {
        let flows = PendingFlows::new();
        let mut reg = flows.register(Nonce::new("n1"), OAuthState::new("s1"));
        let mut p = params(Some("other"), None, None);
        p.error = Some("access_denied".into());
        assert_eq!(flows.deliver(&p), Err(Rejection::UnknownLogin));
        assert!(reg.outcome.try_recv().is_err());
        assert_eq!(flows.len(), 1);
    }

    #[test]
    fn dropping_the_registration_unregisters_the_flow() {
        let flows = PendingFlows::new();
        let reg = flows.register(Nonce::new("n1"), OAuthState::new("s1"));
        assert_eq!(flows.len(), 1);
        drop(reg);
        assert!(flows.is_empty());
    }

    #[test]
    fn pasted_urls_parse_nonce_and_query() {
        let url =
            Url::parse("https://localhost:3000/callback/abc?code=c%2B1&state=s&code=evil").unwrap();
        let p = CallbackParams::from_url(&url).unwrap();
        assert_eq!(p.nonce.as_deref(), Some("abc"));
        assert_eq!(p.code.as_deref(), Some("c+1"));
        assert_eq!(p.state.as_deref(), Some("s"));
        assert!(
            CallbackParams::from_url(&Url::parse("https://localhost:3000/other?code=x").unwrap())
                .is_none()
        );
        assert!(!format!("{p:?}").contains("c+1"));
    }
}
