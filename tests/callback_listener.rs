//! The callback listener seen from outside: forged and stray requests, the Host check, TLS and
//! plain HTTP on one port, page headers, and a port held by someone else.

mod common;

use common::*;
use reqwest::StatusCode;
use reqwest::header;

struct Waiting {
    env: TestEnv,
    stand_in: StandIn,
    login: Running,
    port: u16,
    authorize: url::Url,
    callback: url::Url,
    state: String,
}

fn start_waiting_login() -> Waiting {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &["--auto-approve"]);
    let port = free_port();
    let cmd = env.login_no_browser(&stand_in.url, port, &["--timeout", "20"]);
    let login = Running::spawn(cmd);
    let authorize = login.wait_authorize_url();
    // An http login shows its URL while the certificate still loads in the background.
    poll("the local CA", std::time::Duration::from_secs(20), || {
        env.ca_cert().exists().then_some(())
    });
    let q: std::collections::HashMap<_, _> = authorize.query_pairs().into_owned().collect();
    let callback = url::Url::parse(&q["callback_url"]).unwrap();
    let state = q["state"].clone();
    Waiting {
        env,
        stand_in,
        login,
        port,
        authorize,
        callback,
        state,
    }
}

#[tokio::test]
async fn forged_and_stray_requests_are_refused_and_the_real_login_still_completes() {
    let w = start_waiting_login();
    let client = client_trusting(&w.env.ca_cert());
    let base = format!("https://localhost:{}", w.port);

    // Wrong nonce, right state: unknown login.
    let r = client
        .get(format!(
            "{base}/callback/forged-nonce?code=evil&state={}",
            w.state
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // Right nonce, wrong state: refused as a state mismatch.
    let mut forged = w.callback.clone();
    forged
        .query_pairs_mut()
        .append_pair("code", "evil")
        .append_pair("state", "wrong");
    let r = client.get(forged.as_str()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let headers = r.headers().clone();
    let body = r.text().await.unwrap();
    assert!(body.contains("could not be verified"), "{body}");
    assert!(!body.contains("evil"), "the page echoes the forged code");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(headers[header::REFERRER_POLICY], "no-referrer");
    assert!(
        headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
    // A forged denial must not end the login either.
    let r = client
        .get(format!("{base}/callback/forged-nonce?error=access_denied"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // DNS rebinding: a foreign Host is refused even with the right nonce and state.
    let mut rebound = w.callback.clone();
    rebound
        .query_pairs_mut()
        .append_pair("code", "evil")
        .append_pair("state", &w.state);
    let r = client
        .get(rebound.as_str())
        .header(header::HOST, format!("evil.example:{}", w.port))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::MISDIRECTED_REQUEST);
    // Noise.
    let r = client
        .get(format!("{base}/favicon.ico"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    // The same port answers plain HTTP too, with the same refusal.
    let plain = reqwest::Client::new();
    let r = plain
        .get(format!(
            "http://127.0.0.1:{}/callback/forged?code=evil",
            w.port
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // And over [::1]: a host without IPv6 loopback skips this part, visibly (fails under CI).
    if require(
        "the [::1] request: this host has no IPv6 loopback",
        std::net::TcpListener::bind("[::1]:0").is_ok(),
    ) {
        let r = client
            .get(format!(
                "https://[::1]:{}/callback/forged?code=evil",
                w.port
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }

    // Still waiting: now the real browser round trip.
    let browser = browser_trusting(&w.env.ca_cert());
    let page = browser.get(w.authorize.as_str()).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("Logged in to OpenRouter")
    );
    let Waiting {
        login, stand_in, ..
    } = w;
    let (status, stdout, stderr) = tokio::task::spawn_blocking(move || login.finish())
        .await
        .unwrap();
    assert!(status.success(), "{stderr}");
    assert!(json(&stdout)["key"].is_string());
    assert_eq!(stand_in.stats()["exchanges_ok"], 1);
}

#[tokio::test]
async fn the_listener_closes_once_the_callback_is_accepted() {
    let w = start_waiting_login();
    let client = client_trusting(&w.env.ca_cert());
    // Play the browser by hand so the callback URL is known, then replay it.
    let redirect = client.get(w.authorize.as_str()).send().await.unwrap();
    let location = redirect.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    let first = client.get(&location).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let Waiting { login, .. } = w;
    let (status, _, stderr) = tokio::task::spawn_blocking(move || login.finish())
        .await
        .unwrap();
    assert!(status.success(), "{stderr}");
    // The listener is gone with the process: a replay has nothing to reach.
    assert!(client.get(&location).send().await.is_err());
}

#[test]
fn a_port_held_on_ipv4_is_reported_with_its_holder() {
    let env = TestEnv::new();
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let cmd = env.login_no_browser("http://127.0.0.1:9", port, &[]);
    let (status, _, stderr) = run(cmd);
    assert_eq!(status.code(), Some(7), "{stderr}");
    assert!(stderr.contains(&format!("127.0.0.1:{port}")), "{stderr}");
    if wine_cannot("Wine's TCP table names no owning process, so the holder cannot be named") {
        return;
    }
    assert!(
        stderr.contains(&format!("pid {}", std::process::id())),
        "holder not named: {stderr}"
    );
}

#[test]
fn a_port_held_only_on_ipv6_is_also_in_use() {
    let first = std::net::TcpListener::bind("[::1]:0");
    if !require("this host has no IPv6 loopback", first.is_ok()) {
        return;
    }
    // Hold a port on ::1 whose 127.0.0.1 side is free (another process may hold that side).
    let mut holder = first.unwrap();
    let mut tries = 0;
    let port = loop {
        let port = holder.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            break port;
        }
        tries += 1;
        assert!(tries < 100, "no ::1 port with a free 127.0.0.1 side");
        holder = std::net::TcpListener::bind("[::1]:0").unwrap();
    };
    let env = TestEnv::new();
    let cmd = env.login_no_browser("http://127.0.0.1:9", port, &[]);
    let (status, _, stderr) = run(cmd);
    assert_eq!(status.code(), Some(7), "{stderr}");
    assert!(stderr.contains(&format!("[::1]:{port}")), "{stderr}");
}
