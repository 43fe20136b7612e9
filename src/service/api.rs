//! The control API's wire format, in one place: the service serializes these types and the CLI
//! client deserializes the same ones, so the two sides cannot drift.
//!
//! | request | reply |
//! |---|---|
//! | `POST /v1/flows` [`CreateFlowRequest`] | 201 [`CreatedFlow`] |
//! | `GET /v1/flows/{id}?wait=SECONDS[&stage=STEP]` | 200 [`FlowStatusDoc`] |
//! | `DELETE /v1/flows/{id}` | 204 |
//! | any refusal | 4xx/5xx [`ErrorReply`] |

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use url::Url;

use crate::error::ErrorKind;
use crate::flow::scheme::CallbackScheme;
use crate::flow::{CallbackHost, FlowResult, Stage};

/// Largest control-API request body.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Longest a single long-poll may wait, in seconds.
pub const MAX_WAIT_SECS: u64 = 60;

/// `POST /v1/flows`: what the caller wants of the login. Unknown fields are refused.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateFlowRequest {
    /// Redeem the code in the service and keep the key for the caller.
    #[serde(default)]
    pub exchange: bool,
    /// Have the service open the browser.
    #[serde(default)]
    pub open_browser: bool,
    /// Credit limit hint for the key (finite, 0 or more), shown on OpenRouter's page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<f64>,
    /// Refused: OpenRouter's `/auth` takes no expiry (only create-code's request has one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// The callback URL's scheme, or `auto` (default: the service's `--callback-scheme`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_scheme: Option<CallbackScheme>,
    /// The callback URL's host name (default: the service's `--callback-host`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_host: Option<CallbackHost>,
    /// The OpenRouter the caller expects; a service configured for another one refuses
    /// (409 `conflict`) rather than silently using its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openrouter_url: Option<Url>,
}

impl CreateFlowRequest {
    /// Parses and validates a body, naming the field at fault.
    pub fn parse(body: &[u8], now: OffsetDateTime) -> Result<Self, String> {
        // Read as a map first: serde would otherwise take a JSON array for the struct.
        let object: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(body)
            .map_err(|e| format!("body: expected a JSON object ({e})"))?;
        let request: Self = serde_json::from_value(serde_json::Value::Object(object))
            .map_err(|e| format!("body: {e}"))?;
        if let Some(limit) = request.limit
            && !(limit.is_finite() && limit >= 0.0)
        {
            return Err("limit: expected a finite number of credits, 0 or more".into());
        }
        if request.expires_at.is_some() {
            // OpenRouter's /auth has no such parameter: a person would believe their key
            // expires when it never does.
            return Err("expires_at: honoured only by create-code (OpenRouter's /auth takes no expiry); leave it out".into());
        }
        let _ = now;
        Ok(request)
    }
}

/// 201 reply to `POST /v1/flows`.
#[derive(Clone, Serialize, Deserialize)]
pub struct CreatedFlow {
    /// The flow's id, for `GET`/`DELETE /v1/flows/{id}`.
    pub id: String,
    /// OpenRouter's consent page for this login (carries the state).
    pub authorize_url: Url,
    /// When the service gives up on the callback (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

impl std::fmt::Debug for CreatedFlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedFlow")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A flow's state on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowState {
    /// Waiting for the browser or the exchange.
    Pending,
    /// `result` holds the key or the bundle.
    Succeeded,
    /// `error` says why.
    Failed,
    /// No callback arrived in time; `error` says so.
    Expired,
}

/// 200 reply to `GET /v1/flows/{id}`.
#[derive(Debug, Serialize, Deserialize)]
pub struct FlowStatusDoc {
    /// Where the flow stands.
    pub status: FlowState,
    /// While pending: `waiting` (for the browser) or `exchanging` (the code arrived).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<Stage>,
    /// The key (`exchange: true`) or the code bundle, once succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Arc<FlowResult>>,
    /// Why it failed or expired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDoc>,
}

/// An error on the wire: its code, a message for people, and the CLI's exit code for it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorDoc {
    /// The kind of failure.
    pub code: ErrorKind,
    /// What happened, for people.
    pub message: String,
    /// The exit code the CLI uses for it.
    pub exit_code: u8,
}

impl ErrorDoc {
    /// The document for `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            code: kind,
            message: message.into(),
            exit_code: kind.exit_code(),
        }
    }
}

/// The body of every control-API refusal: `{"error": {...}}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorReply {
    /// The refusal.
    pub error: ErrorDoc,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    #[test]
    fn create_request_names_the_field_at_fault() {
        assert_eq!(
            CreateFlowRequest::parse(b"{}", now()).unwrap(),
            CreateFlowRequest::default()
        );
        let cases: [(&[u8], &str); 5] = [
            (br#"{"exchange": 1}"#, "body"),
            (br#"{"nope": true}"#, "unknown field"),
            (br#"{"limit": -1}"#, "limit"),
            (br#"{"expires_at": "2000-01-01T00:00:00Z"}"#, "expires_at"),
            (br#"{"callback_scheme": "ftp"}"#, "body"),
        ];
        for (body, names) in cases {
            let e = CreateFlowRequest::parse(body, now()).unwrap_err();
            assert!(e.contains(names), "{e}");
        }
        let r = CreateFlowRequest::parse(
            br#"{"exchange":true,"callback_scheme":"http","callback_host":"127.0.0.1"}"#,
            now(),
        )
        .unwrap();
        assert_eq!(r.callback_scheme, Some(CallbackScheme::Http));
        assert_eq!(r.callback_host, Some(CallbackHost::Ipv4Loopback));
    }

    #[test]
    fn error_docs_carry_the_exit_code_of_their_kind() {
        let doc = ErrorDoc::new(ErrorKind::TooManyFlows, "busy");
        let json = serde_json::to_value(ErrorReply { error: doc }).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"error": {"code": "too_many_flows", "message": "busy", "exit_code": 9}})
        );
    }
}
