//! `trust`: the CA certificate (only) goes into a throwaway NSS database under a temporary HOME,
//! `--status` reports it, `--uninstall` takes it out; and that CA may vouch only for loopback names.

mod common;

#[cfg(target_os = "linux")]
use std::process::Command;

use common::*;

/// Makes the local CA the way an https login does (no certutil needed): a whole login through
/// the library against its stand-in (an http one makes no certificate).
fn make_local_ca(env: &TestEnv) {
    use openrouter_pkce::{Browser, CallbackScheme, Login, StandIn};
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let stand_in = StandIn::start().await.unwrap();
        Login::builder()
            .openrouter_url(stand_in.url())
            .port(0)
            .browser(Browser::BuiltIn)
            .callback_scheme(CallbackScheme::Https)
            .config_dir(env.config_dir())
            .build()
            .unwrap()
            .run()
            .await
            .unwrap();
    });
    assert!(env.ca_cert().exists());
}

fn trust(env: &TestEnv, args: &[&str]) -> serde_json::Value {
    let mut cmd = env.command();
    cmd.arg("trust").args(args);
    let (status, stdout, stderr) = run(cmd);
    assert!(status.success(), "{args:?}: {stderr}");
    json(&stdout)
}

#[cfg(target_os = "linux")] // NSS databases
fn nss_list(env: &TestEnv, name: &str) -> Option<String> {
    let db = format!("sql:{}", env.home().join(".pki/nssdb").display());
    let out = Command::new("certutil")
        .args(["-d", &db, "-L", "-a", "-n", name])
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(target_os = "linux")] // NSS databases; Windows: the_user_root_store_gets_the_ca_and_loses_it_again
#[test]
fn trust_installs_reports_and_uninstalls_the_ca_certificate_only() {
    if !require(
        "certutil (libnss3-tools) is not installed",
        certutil_found(),
    ) {
        return;
    }
    let env = TestEnv::new();
    // Before any `trust`: says so, and makes no CA just to report on it.
    let mut cmd = env.command();
    cmd.args(["trust", "--status"]);
    let (status, stdout, stderr) = run(cmd);
    assert!(status.success(), "{stderr}");
    let before = json(&stdout);
    assert!(before["ca"].is_null(), "{before}");
    assert_eq!(before["trusted_in"].as_array().unwrap().len(), 0);
    assert!(stderr.contains("not trusted anywhere yet"), "{stderr}");
    assert!(!env.ca_cert().exists(), "trust --status made a CA");

    let installed = trust(&env, &["--user-only"]);
    let fingerprint = installed["fingerprint_sha256"].as_str().unwrap();
    assert_eq!(fingerprint.split(':').count(), 32, "{fingerprint}");
    let year: i32 = installed["expires"].as_str().unwrap()[..4].parse().unwrap();
    assert!(year >= 2035, "{installed}");
    assert!(
        installed["changed"][0]
            .as_str()
            .unwrap()
            .contains("added the CA to NSS database"),
        "{installed}"
    );
    let name = installed["name"].as_str().unwrap().to_owned();
    let stored = nss_list(&env, &name).expect("the CA is in the NSS database");
    let ours = std::fs::read_to_string(env.ca_cert()).unwrap();
    let body = |pem: &str| {
        pem.lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<String>()
    };
    assert_eq!(
        body(&stored),
        body(&ours),
        "NSS holds a different certificate"
    );
    assert!(env.config_dir().join("trusted").exists());
    // The database holds no private key of ours.
    let db = format!("sql:{}", env.home().join(".pki/nssdb").display());
    let keys = Command::new("certutil")
        .args(["-d", &db, "-K"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&keys.stdout).contains(&name));

    let again = trust(&env, &["--user-only"]);
    assert_eq!(
        again["changed"].as_array().unwrap().len(),
        0,
        "second install changed something: {again}"
    );
    let status = trust(&env, &["--status"]);
    assert!(
        status["trusted_in"][0]
            .as_str()
            .unwrap()
            .contains(".pki/nssdb"),
        "{status}"
    );

    let removed = trust(&env, &["--uninstall", "--user-only"]);
    assert!(
        removed["changed"][0]
            .as_str()
            .unwrap()
            .contains("removed the CA"),
        "{removed}"
    );
    assert!(nss_list(&env, &name).is_none());
    assert!(!env.config_dir().join("trusted").exists());
}

#[cfg(target_os = "linux")] // NSS databases
#[test]
fn trust_also_covers_firefox_profiles_it_finds() {
    if !require(
        "certutil (libnss3-tools) is not installed",
        certutil_found(),
    ) {
        return;
    }
    let env = TestEnv::new();
    let profile = env.home().join(".mozilla/firefox/abcd1234.default-release");
    std::fs::create_dir_all(&profile).unwrap();
    let db = format!("sql:{}", profile.display());
    assert!(
        Command::new("certutil")
            .args(["-d", &db, "-N", "--empty-password"])
            .status()
            .unwrap()
            .success()
    );
    let installed = trust(&env, &["--user-only"]);
    let places: Vec<&str> = installed["trusted_in"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        places
            .iter()
            .any(|p| p.contains("Firefox profile") && p.contains("abcd1234")),
        "{installed}"
    );
    let name = installed["name"].as_str().unwrap();
    let listed = Command::new("certutil")
        .args(["-d", &db, "-L", "-n", name])
        .status()
        .unwrap();
    assert!(listed.success(), "the CA is not in the Firefox profile");
    trust(&env, &["--uninstall", "--user-only"]);
    let listed = Command::new("certutil")
        .args(["-d", &db, "-L", "-n", name])
        .status()
        .unwrap();
    assert!(!listed.success(), "the CA is still in the Firefox profile");
}

/// A subtree as "DNS name" or "IP address/mask" in hex, to compare whole lists at once.
fn subtree(name: &x509_parser::extensions::GeneralName) -> String {
    use x509_parser::extensions::GeneralName;
    match name {
        GeneralName::DNSName(dns) => format!("DNS {dns}"),
        GeneralName::IPAddress(bytes) => {
            let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
            let (address, mask) = bytes.split_at(bytes.len() / 2);
            format!("IP {}/{}", hex(address), hex(mask))
        }
        other => format!("{other:?}"),
    }
}

#[test]
fn the_ca_it_would_install_may_vouch_only_for_loopback_names() {
    let env = TestEnv::new();
    // The local CA as a login makes it; `--status` reports on it without installing.
    make_local_ca(&env);
    let status = trust(&env, &["--status"]);
    assert_eq!(
        status["ca"],
        env.ca_cert().display().to_string(),
        "{status}"
    );
    let pem = std::fs::read(env.ca_cert()).unwrap();
    let (_, pem) = x509_parser::pem::parse_x509_pem(&pem).expect("ca.pem is PEM");
    let ca = pem.parse_x509().expect("ca.pem is an X.509 certificate");

    let basic = ca
        .basic_constraints()
        .unwrap()
        .expect("no BasicConstraints");
    assert!(basic.critical, "BasicConstraints is not critical");
    assert!(basic.value.ca, "not a CA: {:?}", basic.value);
    // It signs the localhost leaf directly and no intermediate CA.
    assert_eq!(
        basic.value.path_len_constraint,
        Some(0),
        "{:?}",
        basic.value
    );

    let constraints = ca
        .name_constraints()
        .unwrap()
        .expect("no NameConstraints: trusting this CA would let it vouch for any site");
    assert!(
        constraints.critical,
        "NameConstraints is not critical, so a verifier may ignore it"
    );
    let mut permitted: Vec<String> = constraints
        .value
        .permitted_subtrees
        .as_ref()
        .expect("no permitted subtrees")
        .iter()
        .map(|s| subtree(&s.base))
        .collect();
    permitted.sort();
    let mut expected = vec![
        "DNS localhost".to_owned(),
        "IP 7f000000/ff000000".to_owned(),
        format!("IP {}1/{}", "0".repeat(31), "f".repeat(32)),
    ];
    expected.sort();
    assert_eq!(permitted, expected);
    assert!(
        constraints.value.excluded_subtrees.is_none(),
        "unexpected excluded subtrees: {:?}",
        constraints.value.excluded_subtrees
    );
}

/// `trust` installs only the CA this tool made for its own key: a root swapped into `ca.pem`
/// (or a corrupt file) is refused with a way out, and `--regenerate` starts over.
#[test]
fn trust_refuses_a_ca_that_is_not_ours_and_regenerate_starts_over() {
    let env = TestEnv::new();
    let status = |args: &[&str]| {
        let mut cmd = env.command();
        cmd.arg("trust").args(args);
        run(cmd)
    };
    make_local_ca(&env);
    let ca = env.ca_cert();
    // An unconstrained root in its place.
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    std::fs::write(&ca, params.self_signed(&key).unwrap().pem()).unwrap();
    let (s, _, stderr) = status(&["--user-only"]);
    assert_eq!(s.code(), Some(1), "{stderr}");
    assert!(stderr.contains("trust --regenerate"), "{stderr}");
    assert!(!stderr.contains("added the CA"), "{stderr}");
    // A truncated file: the same way out, not "bad input" with bytes in it.
    let pem = std::fs::read_to_string(&ca).unwrap();
    std::fs::write(&ca, &pem[..pem.len() / 2]).unwrap();
    let (s, _, stderr) = status(&["--user-only"]);
    assert_eq!(s.code(), Some(1), "{stderr}");
    assert!(stderr.contains("trust --regenerate"), "{stderr}");
    // Installing the regenerated CA: into NSS here (on Windows the store is the account's, and
    // the_user_root_store_gets_the_ca_and_loses_it_again alone changes it).
    if cfg!(unix)
        && require(
            "certutil (libnss3-tools), to install the regenerated CA",
            certutil_found(),
        )
    {
        let (s, _, stderr) = status(&["--regenerate", "--user-only"]);
        assert!(s.success(), "{stderr}");
        assert!(stderr.contains("added the CA"), "{stderr}");
    }
}

/// A localhost certificate that cannot be read is replaced, and the login goes on.
#[test]
fn an_unreadable_leaf_is_regenerated() {
    let env = TestEnv::new();
    let mut first = env.command();
    first.arg("demo");
    let (s, _, stderr) = run(first);
    assert!(s.success(), "{stderr}");
    let leaf = env.config_dir().join("localhost.pem");
    std::fs::write(&leaf, "-----BEGIN CERTIFICATE-----\nnot base64 at all\n").unwrap();
    let mut again = env.command();
    again.arg("demo");
    let (s, stdout, stderr) = run(again);
    assert!(s.success(), "{stderr}");
    assert_standin_key(&stdout);
    assert!(
        std::fs::read_to_string(&leaf)
            .unwrap()
            .contains("BEGIN CERTIFICATE")
    );
    assert!(
        !std::fs::read_to_string(&leaf)
            .unwrap()
            .contains("not base64")
    );
}

/// `trust --regenerate` in a config directory others can reach changes nothing: the check
/// comes before any file is removed (a CA still trusted somewhere keeps its files, so
/// `trust --uninstall` can find it once the directory is fixed).
#[cfg(unix)]
#[test]
fn regenerate_refuses_a_shared_directory_before_removing_anything() {
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::new();
    make_local_ca(&env);
    let before = std::fs::read(env.ca_cert()).unwrap();
    std::fs::set_permissions(env.config_dir(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut cmd = env.command();
    cmd.args(["trust", "--regenerate", "--user-only"]);
    let (status, _, stderr) = run(cmd);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("chmod 700"), "{stderr}");
    assert_eq!(std::fs::read(env.ca_cert()).unwrap(), before);
    assert!(env.config_dir().join("ca-key.pem").exists());
}

/// After the CA files are replaced by hand (a backup restored, the directory deleted), the
/// CA trusted earlier is still in the stores: `--status` names it beside the current one, and
/// `--uninstall` removes it too.
#[cfg(target_os = "linux")] // NSS databases
#[test]
fn status_and_uninstall_know_every_ca_of_ours_not_only_the_current_one() {
    if !require(
        "certutil (libnss3-tools) is not installed",
        certutil_found(),
    ) {
        return;
    }
    let env = TestEnv::new();
    let first = trust(&env, &["--user-only"]);
    let first_name = first["name"].as_str().unwrap().to_owned();
    // Replaced behind trust's back: a new CA, never trusted.
    std::fs::remove_dir_all(env.config_dir()).unwrap();
    make_local_ca(&env);
    let status = trust(&env, &["--status", "--user-only"]);
    assert_ne!(status["name"], first_name.as_str(), "{status}");
    assert_eq!(
        status["trusted_in"].as_array().unwrap().len(),
        0,
        "{status}"
    );
    let earlier = status["earlier"].as_array().unwrap();
    assert!(
        earlier
            .iter()
            .any(|e| e.as_str().unwrap().starts_with(&first_name)),
        "{status}"
    );
    trust(&env, &["--uninstall", "--user-only"]);
    assert!(
        nss_list(&env, &first_name).is_none(),
        "the earlier CA is still trusted"
    );
    let after = trust(&env, &["--status", "--user-only"]);
    assert_eq!(after["earlier"].as_array().unwrap().len(), 0, "{after}");
}

/// Windows: `trust` adds exactly our CA to the user's Root store, `--status` (another process)
/// reads it back from there, and `--uninstall` takes it out. Under Wine only: on Windows
/// itself adding a root asks the person, which no test can answer.
#[cfg(windows)]
#[test]
fn the_user_root_store_gets_the_ca_and_loses_it_again() {
    if !under_wine() {
        eprintln!("skipped: adding a root to the user store prompts on Windows");
        return;
    }
    let env = TestEnv::new();
    make_local_ca(&env);
    let store = "user root store";
    assert_eq!(
        trust(&env, &["--status"])["trusted_in"],
        serde_json::json!([])
    );
    let added = trust(&env, &[]);
    assert_eq!(added["trusted_in"], serde_json::json!([store]), "{added}");
    assert!(
        added["changed"][0]
            .as_str()
            .unwrap()
            .contains("added the CA"),
        "{added}"
    );
    assert_eq!(
        trust(&env, &["--status"])["trusted_in"],
        serde_json::json!([store])
    );
    let removed = trust(&env, &["--uninstall"]);
    assert!(
        removed["changed"].to_string().contains("removed the CA"),
        "{removed}"
    );
    assert_eq!(
        trust(&env, &["--status"])["trusted_in"],
        serde_json::json!([])
    );
}
