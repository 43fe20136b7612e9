//! The callback routes: match OpenRouter's redirect to its login through the shared
//! [`PendingFlows`] registry and answer the browser with a page.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;

use crate::flow::pending::{Accepted, CallbackParams, PendingFlows, Verdict};
use crate::server::pages::Page;

/// State of the callback routes: the pending flows and the port for the Host check.
#[derive(Clone, Debug)]
pub struct CallbackState {
    /// The flows to route callbacks to.
    pub flows: PendingFlows,
}

/// The callback routes: `/callback/{nonce}`, `/callback`, and quiet answers to browser noise.
/// Every route is behind the Host check for `port`.
pub fn router(flows: PendingFlows, port: u16) -> Router {
    Router::new()
        // GET only. axum runs a GET handler for HEAD unless HEAD has its own, and a HEAD (a
        // link checker, a prefetch) must not deliver a code.
        .route("/callback", get(callback_without_nonce).head(head_refused))
        .route(
            "/callback/{nonce}",
            get(callback_with_nonce).head(head_refused),
        )
        .route(
            "/favicon.ico",
            get(|| async { axum::http::StatusCode::NO_CONTENT }),
        )
        .fallback(|| async { Page::NotFound.render(None) })
        .with_state(CallbackState { flows })
        .layer(axum::middleware::from_fn_with_state(
            port,
            crate::server::guard::require_local_host,
        ))
}

async fn callback_with_nonce(
    State(state): State<CallbackState>,
    Path(nonce): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let mut params = CallbackParams::from_query(query);
    params.nonce = Some(nonce);
    handle(&state.flows, &params).await
}

async fn callback_without_nonce(
    State(state): State<CallbackState>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let params = CallbackParams::from_query(query);
    if params.state.is_none() && params.code.is_none() && params.error.is_none() {
        // The page's own address after clear-url.js ran: a reload must not look like a failure.
        return Page::NotFound.render(None);
    }
    handle(&state.flows, &params).await
}

async fn head_refused() -> axum::http::StatusCode {
    axum::http::StatusCode::METHOD_NOT_ALLOWED
}

async fn handle(flows: &PendingFlows, params: &CallbackParams) -> Response {
    match flows.deliver_awaiting(params) {
        Ok((Accepted::Code, verdict)) => {
            tracing::info!("callback accepted");
            // The page waits for the exchange (bounded), so it never says "logged in" while
            // the terminal says the login failed.
            match tokio::time::timeout(crate::defaults::CALLBACK_PAGE_WAIT, verdict).await {
                Ok(Ok(Verdict::KeyCreated)) => Page::KeyCreated.render(None),
                Ok(Ok(Verdict::CodeHandedOver)) => Page::CodeHandedOver.render(None),
                Ok(Ok(Verdict::Failed(message))) => Page::ExchangeFailed.render(Some(&message)),
                Ok(Ok(Verdict::Stopped) | Err(_)) => Page::Cancelled.render(None),
                Err(_) => Page::StillWorking.render(None),
            }
        }
        Ok((Accepted::Denied, _)) => {
            tracing::info!("callback carried a denial");
            let detail = params
                .error_description
                .as_deref()
                .or(params.error.as_deref());
            Page::Denied.render(detail)
        }
        Err(rejection) => {
            tracing::info!(?rejection, "callback refused");
            rejection.page().render(None)
        }
    }
}
