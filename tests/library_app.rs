//! What an app embedding the library gets that the command line does not need: its own
//! attribution on every OpenRouter call, no private key written for an http login, words in
//! its own terms (no `openrouter-pkce <command>`, no `--flag`), the consent URL for every
//! browser choice, and `Events` as a `Stream`.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use axum::routing::{any, post};
use openrouter_pkce::{Browser, CallbackScheme, Error, Event, Events, Login, OpenRouter, StandIn};

use common::*;

/// A fake OpenRouter on loopback that records the headers of every request and answers the
/// exchange with a key.
struct Recording {
    url: String,
    headers: Arc<Mutex<Vec<HeaderMap>>>,
}

impl Recording {
    async fn start() -> Self {
        let headers: Arc<Mutex<Vec<HeaderMap>>> = Arc::default();
        let seen = headers.clone();
        let seen_exchange = headers.clone();
        let app = axum::Router::new()
            .route(
                "/api/v1/auth/keys",
                post(move |h: HeaderMap| async move {
                    seen_exchange.lock().unwrap().push(h);
                    (
                        StatusCode::OK,
                        axum::Json(serde_json::json!({
                            "key": "sk-or-v1-0123456789abcdef0123456789abcdef",
                            "user_id": "user_app",
                        })),
                    )
                }),
            )
            .fallback(any(move |h: HeaderMap| async move {
                seen.lock().unwrap().push(h);
                StatusCode::OK
            }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, headers }
    }
}

/// Plays the browser coming back from an approval: the callback with a code and the state.
async fn come_back_approved(authorize: &str) {
    install_crypto_provider();
    let authorize = url::Url::parse(authorize).unwrap();
    let q: HashMap<_, _> = authorize.query_pairs().into_owned().collect();
    let mut callback = url::Url::parse(&q["callback_url"]).unwrap();
    callback
        .query_pairs_mut()
        .append_pair("code", "the-code")
        .append_pair("state", &q["state"]);
    let status = reqwest::get(callback).await.unwrap().status();
    assert_eq!(status, StatusCode::OK);
}

/// Every event until the stream ends, coming back approved when the URL comes.
async fn approve_and_collect(events: &mut Events) -> Vec<Event> {
    let mut seen = Vec::new();
    while let Some(event) = events.recv().await {
        if let Event::AuthorizeUrl { url, .. } = &event {
            come_back_approved(url).await;
        }
        seen.push(event);
    }
    seen
}

/// Whether `text` speaks the command line's language to an app's user.
fn speaks_cli(text: &str) -> bool {
    text.contains("openrouter-pkce ") || text.contains("--")
}

fn files_under(dir: &std::path::Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[tokio::test]
async fn an_http_login_sends_the_apps_attribution_writes_no_key_and_speaks_to_the_app() {
    let env = TestEnv::new();
    let fake = Recording::start().await;
    let mut login = Login::builder()
        .openrouter_url(&fake.url)
        .port(0)
        .open_browser(false)
        .config_dir(env.config_dir())
        .app_name("My Desktop App")
        .app_url("https://myapp.example/")
        .build()
        .unwrap();
    let mut events = login.events();
    let running = tokio::spawn(login.run());
    let seen = approve_and_collect(&mut events).await;
    let key = running.await.unwrap().unwrap();
    assert_eq!(key.user_id(), Some("user_app"));

    // Every request (the reachability check and the exchange) carries the attribution.
    let requests = fake.headers.lock().unwrap().clone();
    assert!(requests.len() >= 2, "{requests:?}");
    for headers in &requests {
        assert_eq!(headers["x-openrouter-title"], "My Desktop App");
        assert_eq!(headers["http-referer"], "https://myapp.example/");
    }
    // An untrusted CA means an http callback (auto), and an http login makes no certificate:
    // no private key (nor anything else) in the config dir.
    assert!(
        files_under(&env.config_dir()).is_empty(),
        "{:?}",
        files_under(&env.config_dir())
    );
    // The note about the scheme is in the app's words.
    let json = serde_json::to_string(&seen).unwrap();
    assert!(json.contains("not trusted by browsers yet"), "{json}");
    assert!(!speaks_cli(&json), "{json}");
}

#[tokio::test]
async fn errors_name_what_happened_without_the_clis_flags_or_commands() {
    let env = TestEnv::new();
    let stand_in = StandIn::start().await.unwrap();
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    let mut login = Login::builder()
        .openrouter_url(stand_in.url())
        .port(port)
        .open_browser(false)
        .config_dir(env.config_dir())
        .build()
        .unwrap();
    let mut events = login.events();
    let e = login.run().await.unwrap_err();
    assert!(matches!(e, Error::PortInUse { .. }), "{e:?}");
    assert!(e.to_string().contains("in use"), "{e}");
    assert!(!speaks_cli(&e.to_string()), "{e}");
    let mut last = None;
    while let Some(event) = events.recv().await {
        last = Some(event);
    }
    let Some(Event::Error { message, .. }) = last else {
        panic!("{last:?}")
    };
    assert!(!speaks_cli(&message), "{message}");
    // Bad settings are named as the app wrote them, not as a flag.
    for e in [
        Login::builder().app_name("").build().unwrap_err(),
        Login::builder().app_url("ftp://x").build().unwrap_err(),
        OpenRouter::new(stand_in.url())
            .unwrap()
            .app_name("line\nbreak")
            .unwrap_err(),
    ] {
        assert!(matches!(e, Error::BadInput { .. }), "{e:?}");
        assert!(!speaks_cli(&e.to_string()), "{e}");
    }
}

#[tokio::test]
async fn events_are_a_stream_and_the_built_in_browser_also_sends_the_url() {
    use futures_core::Stream;
    let env = TestEnv::new();
    let stand_in = StandIn::start().await.unwrap();
    let mut login = Login::builder()
        .openrouter_url(stand_in.url())
        .port(0)
        .browser(Browser::BuiltIn)
        .callback_scheme(CallbackScheme::Https)
        .config_dir(env.config_dir())
        .build()
        .unwrap();
    let mut events = login.events();
    let running = tokio::spawn(login.run());
    // Read through the Stream trait alone, as a framework taking any Stream would.
    let mut seen = Vec::new();
    while let Some(event) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut events).poll_next(cx)).await
    {
        seen.push(event);
    }
    running.await.unwrap().unwrap();
    assert!(
        seen.iter().any(
            |e| matches!(e, Event::AuthorizeUrl { url, .. } if url.starts_with(stand_in.url()))
        ),
        "{seen:?}"
    );
    assert!(
        matches!(seen.last(), Some(Event::Succeeded { .. })),
        "{seen:?}"
    );
}
