//! PKCE values (RFC 7636): the code verifier, its challenge, and the random state and nonce.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::secret::{CodeVerifier, Nonce, State};

/// How the code challenge is derived from the verifier (RFC 7636 section 4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum ChallengeMethod {
    /// `BASE64URL(SHA256(verifier))`: what the client always uses (OpenRouter's guide shows
    /// it for every flow).
    #[cfg_attr(feature = "cli", value(name = "S256"))]
    S256,
    /// The challenge is the verifier itself; kept for clients that cannot hash.
    #[serde(rename = "plain")]
    #[cfg_attr(feature = "cli", value(name = "plain"))]
    Plain,
}

impl ChallengeMethod {
    /// The protocol spelling: `S256` or `plain`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChallengeMethod::S256 => "S256",
            ChallengeMethod::Plain => "plain",
        }
    }

    /// Parses the protocol spelling; `None` for anything else.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "S256" => Some(ChallengeMethod::S256),
            "plain" => Some(ChallengeMethod::Plain),
            _ => None,
        }
    }
}

/// Random bytes rendered as base64url without padding: only `[A-Za-z0-9-_]`.
fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::fill(&mut buf[..]);
    URL_SAFE_NO_PAD.encode(&buf)
}

/// A fresh verifier: 48 random bytes give 64 characters, inside RFC 7636's 43-128.
pub fn new_verifier() -> CodeVerifier {
    CodeVerifier::new(random_token(48))
}

/// A fresh `state` value with 256 bits of entropy.
pub fn new_state() -> State {
    State::new(random_token(32))
}

/// A fresh callback-path nonce with 256 bits of entropy.
pub fn new_nonce() -> Nonce {
    Nonce::new(random_token(32))
}

/// Whether `verifier` has RFC 7636's form: 43-128 characters of `[A-Za-z0-9-._~]`.
pub fn is_valid_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// The code challenge for `verifier` under `method` (RFC 7636 section 4.2).
pub fn challenge(verifier: &CodeVerifier, method: ChallengeMethod) -> String {
    match method {
        ChallengeMethod::S256 => {
            URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.secret().as_bytes()))
        }
        ChallengeMethod::Plain => verifier.secret().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_matches_rfc7636_appendix_b() {
        let verifier = CodeVerifier::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        assert_eq!(
            challenge(&verifier, ChallengeMethod::S256),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn plain_challenge_is_the_verifier() {
        let verifier = CodeVerifier::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        assert_eq!(
            challenge(&verifier, ChallengeMethod::Plain),
            verifier.secret()
        );
    }

    #[test]
    fn fresh_verifiers_are_valid_and_distinct() {
        let a = new_verifier();
        let b = new_verifier();
        assert!(is_valid_verifier(a.secret()), "bad verifier form");
        assert_ne!(a.secret(), b.secret());
    }

    #[test]
    fn state_and_nonce_are_long_url_safe_and_distinct() {
        let (s1, s2, n1) = (new_state(), new_state(), new_nonce());
        assert_eq!(s1.secret().len(), 43);
        assert!(
            s1.secret()
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_ne!(s1.secret(), s2.secret());
        assert_ne!(s1.secret(), n1.secret());
    }

    #[test]
    fn verifier_form_is_checked() {
        assert!(!is_valid_verifier("short"));
        assert!(!is_valid_verifier(&"a".repeat(129)));
        assert!(!is_valid_verifier(&format!("{}!", "a".repeat(43))));
        assert!(is_valid_verifier(&"a~._-".repeat(9)));
    }

    #[test]
    fn method_parses_only_protocol_spellings() {
        assert_eq!(ChallengeMethod::parse("S256"), Some(ChallengeMethod::S256));
        assert_eq!(
            ChallengeMethod::parse("plain"),
            Some(ChallengeMethod::Plain)
        );
        assert_eq!(ChallengeMethod::parse("s256"), None);
    }
}
