//! The library as an app embeds it: a whole login with its events, cancelling by dropping the
//! future, the errors and their exit codes, the code-only login and the exchange on their own,
//! and settings refused before anything is bound or sent.

mod common;

use std::time::Duration;

use openrouter_pkce::{
    ApiKey, Browser, CallbackScheme, CodeRequest, Consent, Error, ErrorKind, Event, Events, Login,
    LoginBuilder, OpenRouter, StandIn,
};

use common::*;

/// A builder for a login against `stand_in` that opens no browser, on a free port, with the
/// CA in the test's own config dir.
fn login_at(stand_in: &StandIn, env: &TestEnv) -> LoginBuilder {
    Login::builder()
        .openrouter_url(stand_in.url())
        .port(0)
        .open_browser(false)
        .config_dir(env.config_dir())
}

/// Every event until the stream ends, approving the login when its URL comes.
async fn approve_and_collect(stand_in: &StandIn, events: &mut Events) -> Vec<Event> {
    let mut seen = Vec::new();
    while let Some(event) = events.recv().await {
        if let Event::AuthorizeUrl { url, .. } = &event {
            stand_in.approve(url).await.unwrap();
        }
        seen.push(event);
    }
    seen
}

/// A whole login as `builder` sets it up, approved at `stand_in` when its URL comes: its
/// outcome and events.
async fn run_approving(
    stand_in: &StandIn,
    builder: LoginBuilder,
) -> (openrouter_pkce::Result<ApiKey>, Vec<Event>) {
    let mut login = builder.build().unwrap();
    let mut events = login.events();
    let running = tokio::spawn(login.run());
    let seen = approve_and_collect(stand_in, &mut events).await;
    (running.await.unwrap(), seen)
}

fn names(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            serde_json::to_value(e).unwrap()["event"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn a_login_reports_each_step_and_returns_the_key() {
    let env = TestEnv::new();
    // A slow exchange, so its step is seen (a fast one may go from callback to done at once).
    let stand_in = StandIn::builder()
        .exchange_delay(Duration::from_millis(500))
        .start()
        .await
        .unwrap();
    let (outcome, seen) = run_approving(&stand_in, login_at(&stand_in, &env)).await;
    let key = outcome.unwrap();
    assert!(key.expose_secret().starts_with("sk-or-v1-"), "{key:?}");
    assert_eq!(key.user_id(), Some("user_standin"));
    // The steps in order (a notice about the http callback may come first).
    let steps: Vec<String> = names(&seen).into_iter().filter(|n| n != "notice").collect();
    assert_eq!(
        steps,
        [
            "listening",
            "authorize_url",
            "callback_received",
            "exchanging",
            "succeeded"
        ],
        "{seen:?}"
    );
    assert_eq!(
        seen.last(),
        Some(&Event::Succeeded {
            user_id: Some("user_standin".into())
        })
    );
    // The key is the app's alone: in no event, and not in its Debug.
    let text = format!("{seen:?}");
    assert!(!text.contains(key.expose_secret()), "{text}");
    assert!(!format!("{key:?}").contains(key.expose_secret()));
}

#[tokio::test]
async fn dropping_the_login_closes_its_port_and_a_late_approval_finds_nothing() {
    let env = TestEnv::new();
    let stand_in = StandIn::start().await.unwrap();
    let mut login = login_at(&stand_in, &env).build().unwrap();
    let mut events = login.events();
    let running = tokio::spawn(login.run());
    let url = loop {
        let event = events.recv().await.expect("the login ended before its URL");
        if let Event::AuthorizeUrl { url, .. } = event {
            break url;
        }
    };
    let callback = callback_port(&url);
    assert!(std::net::TcpStream::connect(("127.0.0.1", callback)).is_ok());
    running.abort();
    assert!(running.await.unwrap_err().is_cancelled());
    // The listener goes with the login: nothing answers on its port any more.
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        while tokio::net::TcpStream::connect(("127.0.0.1", callback))
            .await
            .is_ok()
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(closed.is_ok(), "the callback port is still open");
    assert!(stand_in.approve(&url).await.is_err());
    // The stream says so, then ends rather than hanging.
    let mut last = None;
    while let Some(event) = events.recv().await {
        last = Some(event);
    }
    match last {
        Some(Event::Error {
            code, exit_code, ..
        }) => {
            assert_eq!(code, ErrorKind::Interrupted);
            assert_eq!(exit_code, 130);
        }
        other => panic!("the stream ended with {other:?}"),
    }
}

/// The port of the callback URL inside an authorize URL.
fn callback_port(authorize: &str) -> u16 {
    let url = url::Url::parse(authorize).unwrap();
    let callback = url
        .query_pairs()
        .find(|(k, _)| k == "callback_url")
        .map(|(_, v)| url::Url::parse(&v).unwrap())
        .unwrap();
    callback.port().unwrap()
}

#[tokio::test]
async fn a_denial_is_an_error_with_the_clis_exit_code_and_an_error_event() {
    let env = TestEnv::new();
    let stand_in = StandIn::builder()
        .consent(Consent::AutoDeny)
        .start()
        .await
        .unwrap();
    let (outcome, seen) = run_approving(&stand_in, login_at(&stand_in, &env)).await;
    let e = outcome.unwrap_err();
    assert!(matches!(e, Error::Denied { .. }), "{e:?}");
    assert_eq!(e.exit_code(), 3);
    assert_eq!(e.kind(), ErrorKind::Denied);
    match seen.last() {
        Some(Event::Error {
            code, exit_code, ..
        }) => {
            assert_eq!(*code, ErrorKind::Denied);
            assert_eq!(*exit_code, 3);
        }
        other => panic!("the stream ended with {other:?}"),
    }
}

#[tokio::test]
async fn a_taken_port_is_exit_7() {
    let env = TestEnv::new();
    let stand_in = StandIn::start().await.unwrap();
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    let e = login_at(&stand_in, &env)
        .port(port)
        .build()
        .unwrap()
        .run()
        .await
        .unwrap_err();
    assert!(matches!(e, Error::PortInUse { .. }), "{e:?}");
    assert_eq!(e.exit_code(), 7);
}

#[tokio::test]
async fn authorize_hands_over_a_code_that_works_once() {
    let env = TestEnv::new();
    let stand_in = StandIn::start().await.unwrap();
    let bundle = login_at(&stand_in, &env)
        .browser(Browser::BuiltIn)
        .callback_scheme(CallbackScheme::Https)
        .build()
        .unwrap()
        .authorize()
        .await
        .unwrap();
    assert!(bundle.code_verifier().is_some());
    assert!(
        bundle
            .callback_url()
            .is_some_and(|u| u.starts_with("https://localhost:")),
        "{:?}",
        bundle.callback_url()
    );
    // The bundle's JSON is the `authorize` command's; its Debug shows no secret.
    let json: serde_json::Value = serde_json::from_str(&bundle.to_json()).unwrap();
    assert_eq!(json["code"], bundle.code());
    let shown = format!("{bundle:?}");
    assert!(!shown.contains(bundle.code()), "{shown}");
    // Nor the login's nonce, the callback URL's last segment.
    let nonce = bundle.callback_url().unwrap().rsplit('/').next().unwrap();
    assert!(!shown.contains(nonce), "{shown}");
    let openrouter = OpenRouter::new(stand_in.url()).unwrap();
    let key = openrouter.exchange(&bundle).await.unwrap();
    assert!(key.expose_secret().starts_with("sk-or-v1-"));
    let again = openrouter.exchange(&bundle).await.unwrap_err();
    assert!(matches!(again, Error::Refused { .. }), "{again:?}");
    assert_eq!(again.exit_code(), 5);
}

#[tokio::test]
async fn create_code_needs_a_management_key_and_its_code_exchanges() {
    let stand_in = StandIn::start().await.unwrap();
    let openrouter = OpenRouter::new(stand_in.url()).unwrap();
    let request = CodeRequest::new("https://app.example/callback")
        .unwrap()
        .limit(5.0)
        .unwrap()
        .key_label("ci")
        .unwrap();
    let refused = openrouter
        .create_code(&ApiKey::new("sk-or-v1-not-a-management-key"), &request)
        .await
        .unwrap_err();
    assert_eq!(refused.exit_code(), 5, "{refused}");
    assert!(refused.to_string().contains("management key"), "{refused}");
    let bundle = openrouter
        .create_code(&ApiKey::new(StandIn::MANAGEMENT_KEY), &request)
        .await
        .unwrap();
    assert_eq!(bundle.callback_url(), Some("https://app.example/callback"));
    openrouter.exchange(&bundle).await.unwrap();
}

#[test]
fn bad_settings_are_refused_naming_the_setting() {
    let bad = |e: Error, field: &str| match e {
        Error::BadInput { field: f, .. } => assert_eq!(f, field),
        other => panic!("{field}: {other:?}"),
    };
    bad(
        Login::builder()
            .openrouter_url("ftp://openrouter.ai")
            .build()
            .unwrap_err(),
        "openrouter_url",
    );
    // Plain http only on loopback: a key must not cross the network in clear.
    bad(
        Login::builder()
            .openrouter_url("http://openrouter.ai")
            .build()
            .unwrap_err(),
        "openrouter_url",
    );
    bad(Login::builder().limit(-1.0).build().unwrap_err(), "limit");
    bad(
        Login::builder().limit(f64::NAN).build().unwrap_err(),
        "limit",
    );
    bad(
        Login::builder()
            .timeout(Duration::ZERO)
            .build()
            .unwrap_err(),
        "timeout",
    );
    bad(
        OpenRouter::new("https://user:pass@openrouter.ai").unwrap_err(),
        "openrouter_url",
    );
    bad(
        Login::builder()
            .timeout(Duration::from_millis(999))
            .build()
            .unwrap_err(),
        "timeout",
    );
    bad(
        CodeRequest::new("http://app.example/cb").unwrap_err(),
        "callback_url",
    );
    bad(
        CodeRequest::new("https://alice:hunter2@app.example/cb").unwrap_err(),
        "callback_url",
    );
    bad(
        CodeRequest::new("https://app.example/cb")
            .unwrap()
            .expires_at("yesterday")
            .unwrap_err(),
        "expires_at",
    );
    bad(
        StandIn::builder().fail_exchanges(1, 200).unwrap_err(),
        "fail_exchanges status",
    );
    // The message never echoes credentials it refused.
    let e = OpenRouter::new("https://user:hunter2@openrouter.ai").unwrap_err();
    assert!(!e.to_string().contains("hunter2"), "{e}");
}

#[tokio::test]
async fn a_failing_openrouter_is_reported_with_its_code() {
    let env = TestEnv::new();
    let stand_in = StandIn::builder()
        .fail_exchanges(100, 500)
        .unwrap()
        .start()
        .await
        .unwrap();
    let e = login_at(&stand_in, &env)
        .browser(Browser::BuiltIn)
        .build()
        .unwrap()
        .run()
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::ServerFailed { status: 500, .. }),
        "{e:?}"
    );
    assert_eq!(e.exit_code(), 6);
}

/// The CA key is never written where others can read or replace it: a group- or
/// world-accessible config_dir is refused for an https login and left untouched by an http
/// one; a relative one is refused when the login is built.
#[cfg(unix)] // modes; Windows' per-user profile directories are private by their ACLs
#[tokio::test]
async fn the_local_ca_goes_only_into_a_private_directory() {
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::new();
    let stand_in = StandIn::start().await.unwrap();
    let shared = env.home().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
    let e = login_at(&stand_in, &env)
        .config_dir(&shared)
        .callback_scheme(CallbackScheme::Https)
        .build()
        .unwrap()
        .run()
        .await
        .unwrap_err();
    assert!(e.to_string().contains("world-accessible"), "{e}");
    let (outcome, _) =
        run_approving(&stand_in, login_at(&stand_in, &env).config_dir(&shared)).await;
    outcome.unwrap();
    assert_eq!(
        std::fs::read_dir(&shared).unwrap().count(),
        0,
        "wrote into it"
    );
    let e = Login::builder().config_dir("ca").build().unwrap_err();
    assert!(
        matches!(
            e,
            Error::BadInput {
                field: "config_dir",
                ..
            }
        ),
        "{e:?}"
    );
}

/// A login dropped before it ever ran (aborted before its first poll, or built and dropped)
/// still ends its events stream with `interrupted`, as the stream's docs promise.
#[tokio::test]
async fn a_login_that_never_ran_ends_its_stream_with_interrupted() {
    let env = TestEnv::new();
    let stand_in = StandIn::start().await.unwrap();
    let last = |mut events: Events| async move {
        let mut last = None;
        while let Some(event) = events.recv().await {
            last = Some(event);
        }
        last
    };
    let mut login = login_at(&stand_in, &env).build().unwrap();
    let events = login.events();
    drop(login);
    let interrupted = Some(Event::error(&Error::Interrupted));
    assert_eq!(last(events).await, interrupted);
    let mut login = login_at(&stand_in, &env).build().unwrap();
    let events = login.events();
    let task = tokio::spawn(login.run());
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    assert_eq!(last(events).await, interrupted);
}
