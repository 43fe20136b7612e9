//! Which scheme a login's callback URL uses. https only helps when the browser accepts the
//! certificate: on a fresh machine our local CA is not trusted yet, and an https callback would
//! land the person on a certificate warning right after they approved. So the default (`auto`)
//! picks https when the browser will accept it and http otherwise; the listener serves both on
//! the one port either way.

use std::path::Path;
use std::sync::Mutex;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::flow::CallbackScheme;
use crate::tls::CertSource;

/// `--callback-scheme` and the control API's `callback_scheme`: a scheme, or `auto`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum SchemeChoice {
    /// https when the local CA is trusted where browsers look (or --tls-cert is given), else
    /// http for this login.
    #[default]
    Auto,
    /// https, even if the browser will warn about the certificate.
    Https,
    /// Plain http on loopback.
    Http,
}

impl From<CallbackScheme> for SchemeChoice {
    fn from(scheme: CallbackScheme) -> Self {
        match scheme {
            CallbackScheme::Https => SchemeChoice::Https,
            CallbackScheme::Http => SchemeChoice::Http,
        }
    }
}

/// A resolved scheme and the one line (if any) the person should read about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolved {
    /// The scheme the callback URL gets.
    pub scheme: CallbackScheme,
    /// Why, when the person can do something about it.
    pub note: Option<&'static str>,
}

/// Said when `auto` falls back to http.
pub const HTTP_NOTE: &str = "Using an http callback for this login: your browser does not trust the local certificate yet. Run `openrouter-pkce trust` once to use https.";
/// Said when https was asked for and the browser will warn.
pub const UNTRUSTED_NOTE: &str = "Your browser will warn about the localhost certificate: run `openrouter-pkce trust` once (or use --callback-scheme auto).";

/// Resolves `choice` for a listener serving `cert`; `trusted` answers whether the local CA in
/// a config dir is trusted (only asked when it matters).
pub fn resolve(
    choice: SchemeChoice,
    cert: &CertSource,
    trusted: impl FnOnce(&Path) -> bool,
) -> Resolved {
    if choice == SchemeChoice::Http {
        return Resolved {
            scheme: CallbackScheme::Http,
            note: None,
        };
    }
    let accepted = match cert {
        CertSource::Files { .. } => true,
        CertSource::Local(dir) => trusted(dir),
    };
    match (choice, accepted) {
        (_, true) => Resolved {
            scheme: CallbackScheme::Https,
            note: None,
        },
        (SchemeChoice::Https, false) => Resolved {
            scheme: CallbackScheme::Https,
            note: Some(UNTRUSTED_NOTE),
        },
        (_, false) => Resolved {
            scheme: CallbackScheme::Http,
            note: Some(HTTP_NOTE),
        },
    }
}

/// The trust check for a long-running service: the full check (it runs the store tools) is
/// redone only when `trust` has run or been undone since, which it records in a marker file.
#[derive(Debug, Default)]
pub struct TrustCache {
    last: Mutex<Option<(Option<SystemTime>, bool)>>,
}

impl TrustCache {
    /// Whether the CA in `dir` is trusted (blocking: may run the store tools).
    pub fn trusted(&self, dir: &Path) -> bool {
        let stamp = std::fs::metadata(dir.join(crate::tls::trust::TRUSTED_MARKER))
            .and_then(|m| m.modified())
            .ok();
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((seen, answer)) = *last
            && seen == stamp
        {
            return answer;
        }
        let answer = crate::tls::trust::is_trusted(dir);
        *last = Some((stamp, answer));
        answer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> CertSource {
        CertSource::Local("/nonexistent".into())
    }

    #[test]
    fn auto_follows_trust_and_explicit_choices_are_obeyed() {
        let yes = |_: &Path| true;
        let no = |_: &Path| false;
        assert_eq!(
            resolve(SchemeChoice::Auto, &local(), yes).scheme,
            CallbackScheme::Https
        );
        assert_eq!(
            resolve(SchemeChoice::Auto, &local(), no),
            Resolved {
                scheme: CallbackScheme::Http,
                note: Some(HTTP_NOTE)
            }
        );
        assert_eq!(
            resolve(SchemeChoice::Https, &local(), no),
            Resolved {
                scheme: CallbackScheme::Https,
                note: Some(UNTRUSTED_NOTE)
            }
        );
        assert_eq!(
            resolve(SchemeChoice::Http, &local(), |_: &Path| -> bool {
                panic!("not asked")
            })
            .scheme,
            CallbackScheme::Http
        );
        let files = CertSource::Files {
            cert: "c".into(),
            key: "k".into(),
        };
        assert_eq!(
            resolve(SchemeChoice::Auto, &files, |_: &Path| -> bool {
                panic!("not asked")
            }),
            Resolved {
                scheme: CallbackScheme::Https,
                note: None
            }
        );
    }
}
