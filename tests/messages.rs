//! What people read: the help (order, examples, environment, the terms explained) and the
//! messages for the mistakes and network trouble a new user meets.

mod common;

use common::*;

fn help(args: &[&str]) -> String {
    let env = TestEnv::new();
    let mut cmd = env.command();
    cmd.args(args).arg("--help");
    let (status, stdout, stderr) = run(cmd);
    assert!(status.success(), "{stderr}");
    stdout
}

#[test]
fn help_puts_login_first_and_development_last_and_names_the_environment() {
    let top = help(&[]);
    let commands: Vec<&str> = top
        .split("Commands:")
        .nth(1)
        .unwrap()
        .lines()
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(commands.first(), Some(&"login"), "{top}");
    let last_two: Vec<&str> = commands
        .iter()
        .copied()
        .filter(|c| *c != "help")
        .rev()
        .take(2)
        .collect();
    assert_eq!(last_two, ["demo", "mock-server"], "{top}");
    for var in [
        "OPENROUTER_PKCE_URL",
        "OPENROUTER_API_KEY",
        "BROWSER",
        "NO_COLOR",
        "RUST_LOG",
        "HTTPS_PROXY",
        "SSL_CERT_FILE",
    ] {
        assert!(top.contains(var), "{var} not named: {top}");
    }
    assert!(top.contains("130 cancelled"), "{top}");
    for command in ["login", "authorize", "serve", "create-code"] {
        let text = help(&[command]);
        let examples = text
            .rfind("Examples:")
            .unwrap_or_else(|| panic!("{command}: no examples: {text}"));
        assert!(
            text[examples..].contains(&format!("openrouter-pkce {command}")),
            "{command}: {text}"
        );
    }
    assert!(help(&["authorize"]).contains("A code bundle is"));
    assert!(help(&["create-code"]).contains("A management key is"));
    assert!(help(&["mock-server"]).contains("The stand-in is"));
}

#[test]
fn create_code_says_a_missing_key_is_missing_and_an_inference_key_is_not_a_management_key() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &["--auto-approve"]);
    let mut cmd = env.command();
    cmd.args(["create-code", "--openrouter-url", &stand_in.url]);
    let (status, _, stderr) = run(cmd);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("missing --api-key"), "{stderr}");
    assert!(
        stderr.contains("https://openrouter.ai/settings/management-keys"),
        "{stderr}"
    );
    // The key a login hands out is an inference key.
    let login = Running::spawn(env.login_no_browser(&stand_in.url, 0, &[]));
    follow(&login.wait_authorize_url());
    let (_, stdout, _) = login.finish();
    let inference_key = assert_standin_key(&stdout);
    let mut cmd = env.command();
    cmd.args(["create-code", "--openrouter-url", &stand_in.url])
        .env("OPENROUTER_API_KEY", &inference_key);
    let (status, _, stderr) = run(cmd);
    assert_eq!(status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains("the inference key a login gives you is not one"),
        "{stderr}"
    );
    assert!(!stderr.contains(&inference_key), "the key is echoed");
}

#[test]
fn exchange_after_a_failed_command_says_stdin_was_empty_and_a_used_code_works_once() {
    let env = TestEnv::new();
    let stand_in = StandIn::start(&env, &["--auto-approve"]);
    // `create-code | exchange` where create-code failed: exchange gets nothing.
    let (status, _, stderr) = run_with_stdin(
        {
            let mut cmd = env.command();
            cmd.args(["exchange", "--openrouter-url", &stand_in.url]);
            cmd
        },
        "",
    );
    assert_eq!(status.code(), Some(2));
    assert!(stderr.contains("missing code bundle"), "{stderr}");
    assert!(stderr.contains("error above"), "{stderr}");
    assert!(!stderr.contains("invalid code bundle"), "{stderr}");
    // A bundle redeemed twice.
    let (_, bundle, _) = {
        let login = Running::spawn(stand_in.authorize_cmd(&env, 0));
        follow(&login.wait_authorize_url());
        login.finish()
    };
    assert_standin_key(&stand_in.exchange(&env, &bundle).1);
    let (status, _, stderr) = stand_in.exchange(&env, &bundle);
    assert_eq!(status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("works once"), "{stderr}");
}

/// An HTML error page (a proxy, a captive portal) is one line naming its title, not markup.
#[test]
fn an_html_error_page_is_summarised_in_one_line() {
    let html = "<!DOCTYPE html>\n<html><head><title>502 Bad   Gateway</title><style>body{}</style></head>\n<body><h1>Bad Gateway</h1><p>nginx</p></body></html>";
    let app = axum::Router::new().fallback(move || async move {
        (
            axum::http::StatusCode::BAD_GATEWAY,
            [(axum::http::header::CONTENT_TYPE, "text/html")],
            html,
        )
    });
    let (addr, _rt) = serve_in_background(app);
    let env = TestEnv::new();
    let mut cmd = env.command();
    cmd.args(["create-code", "--openrouter-url", &format!("http://{addr}")])
        .env("OPENROUTER_API_KEY", "sk-or-v1-management");
    let (status, _, stderr) = run(cmd);
    assert_eq!(status.code(), Some(6), "{stderr}");
    assert!(
        stderr.contains("an HTML page titled \"502 Bad Gateway\""),
        "{stderr}"
    );
    assert!(!stderr.contains('<'), "markup shown: {stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

/// A failing proxy is named (never its password), and a certificate from an unknown issuer
/// (what a TLS-inspecting proxy presents) points at SSL_CERT_FILE, which then works.
#[test]
fn proxy_and_certificate_trouble_say_what_to_do() {
    let env = TestEnv::new();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy_port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut cmd = env.command();
    cmd.args([
        "create-code",
        "--openrouter-url",
        "https://openrouter.invalid",
    ])
    .env("OPENROUTER_API_KEY", "sk-or-v1-management")
    .env(
        "HTTPS_PROXY",
        format!("http://user:hunter2@127.0.0.1:{proxy_port}"),
    );
    let (status, _, stderr) = run(cmd);
    assert_eq!(status.code(), Some(6), "{stderr}");
    assert!(
        stderr.contains(&format!("proxy 127.0.0.1:{proxy_port} (HTTPS_PROXY)")),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");

    // An https "OpenRouter" whose certificate comes from a CA nobody trusts.
    if wine_cannot(
        "the system's certificate verifier: Wine's CertCreateCertificateChainEngine refuses rustls-platform-verifier's config (E_INVALIDARG)",
    ) {
        return;
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let ca_pem = env.home().join("other-ca.pem");
    let (port, handshakes) = runtime.block_on(serve_https_not_found(&ca_pem));
    let create = |ssl_cert_file: Option<&std::path::Path>| {
        let mut cmd = env.command();
        cmd.args([
            "create-code",
            "--openrouter-url",
            &format!("https://localhost:{port}"),
        ])
        .env("OPENROUTER_API_KEY", "sk-or-v1-management");
        if let Some(file) = ssl_cert_file {
            cmd.env("SSL_CERT_FILE", file);
        }
        run(cmd)
    };
    let (status, _, stderr) = create(None);
    assert_eq!(status.code(), Some(6), "{stderr}");
    assert!(stderr.contains("SSL_CERT_FILE"), "{stderr}");
    // A certificate that does not verify is not retried as if the network had failed.
    assert_eq!(handshakes.load(std::sync::atomic::Ordering::SeqCst), 1);
    // With the CA in SSL_CERT_FILE the request gets through (the fake answers 404: exit 5).
    let (status, _, stderr) = create(Some(&ca_pem));
    assert_eq!(status.code(), Some(5), "{stderr}");
}

/// An https server on localhost answering every request with OpenRouter's JSON 404, its
/// certificate issued by a fresh CA (written to `ca_pem`) that nothing trusts; with the count
/// of connections it accepted.
async fn serve_https_not_found(
    ca_pem: &std::path::Path,
) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    install_crypto_provider();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    std::fs::write(ca_pem, ca.pem()).unwrap();
    let issuer = Issuer::new(ca_params, &ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    let key = rustls::pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der()).unwrap();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone()], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new().fallback(|| async {
        (
            axum::http::StatusCode::NOT_FOUND,
            r#"{"error":{"code":404,"message":"Not Found"}}"#,
        )
    });
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let (acceptor, app) = (acceptor.clone(), app.clone());
            tokio::spawn(async move {
                // A client that refuses the certificate ends the handshake: nothing to serve.
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper_util::service::TowerToHyperService::new(app);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (port, accepted)
}
