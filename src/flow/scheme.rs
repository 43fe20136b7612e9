//! Which scheme a login's callback URL uses. https only helps when the browser accepts the
//! certificate: on a fresh machine our local CA is not trusted yet, and an https callback would
//! land the person on a certificate warning right after they approved. So the default (`auto`)
//! picks https when the browser will accept it and http otherwise; the listener serves both on
//! the one port either way.

use std::path::Path;
use std::sync::Mutex;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::flow::UrlScheme;
pub use crate::report::SchemeNote;
use crate::tls::CertSource;

/// `--callback-scheme` and the control API's `callback_scheme`: a scheme, or `auto`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum CallbackScheme {
    /// https when the local CA is trusted where browsers look (or --tls-cert is given), else
    /// http for this login.
    #[default]
    Auto,
    /// https, even if the browser will warn about the certificate.
    Https,
    /// Plain http on loopback.
    Http,
}

impl From<UrlScheme> for CallbackScheme {
    fn from(scheme: UrlScheme) -> Self {
        match scheme {
            UrlScheme::Https => CallbackScheme::Https,
            UrlScheme::Http => CallbackScheme::Http,
        }
    }
}

/// A resolved scheme and the one line (if any) the person should read about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolved {
    /// The scheme the callback URL gets.
    pub scheme: UrlScheme,
    /// Why, when the person can do something about it.
    pub note: Option<SchemeNote>,
}

/// Resolves `choice` for a listener serving `cert`; `trusted` answers whether the local CA in
/// a config dir is trusted (only asked when it matters).
pub fn resolve(
    choice: CallbackScheme,
    cert: &CertSource,
    trusted: impl FnOnce(&Path) -> bool,
) -> Resolved {
    if choice == CallbackScheme::Http {
        return Resolved {
            scheme: UrlScheme::Http,
            note: None,
        };
    }
    let accepted = match cert {
        CertSource::Files { .. } => true,
        CertSource::Local(dir) => trusted(dir),
    };
    match (choice, accepted) {
        (_, true) => Resolved {
            scheme: UrlScheme::Https,
            note: None,
        },
        (CallbackScheme::Https, false) => Resolved {
            scheme: UrlScheme::Https,
            note: Some(SchemeNote::HttpsUntrusted),
        },
        (_, false) => Resolved {
            scheme: UrlScheme::Http,
            note: Some(SchemeNote::HttpUntrusted),
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
            resolve(CallbackScheme::Auto, &local(), yes).scheme,
            UrlScheme::Https
        );
        assert_eq!(
            resolve(CallbackScheme::Auto, &local(), no),
            Resolved {
                scheme: UrlScheme::Http,
                note: Some(SchemeNote::HttpUntrusted)
            }
        );
        assert_eq!(
            resolve(CallbackScheme::Https, &local(), no),
            Resolved {
                scheme: UrlScheme::Https,
                note: Some(SchemeNote::HttpsUntrusted)
            }
        );
        assert_eq!(
            resolve(CallbackScheme::Http, &local(), |_: &Path| -> bool {
                panic!("not asked")
            })
            .scheme,
            UrlScheme::Http
        );
        let files = CertSource::Files {
            cert: "c".into(),
            key: "k".into(),
        };
        assert_eq!(
            resolve(CallbackScheme::Auto, &files, |_: &Path| -> bool {
                panic!("not asked")
            }),
            Resolved {
                scheme: UrlScheme::Https,
                note: None
            }
        );
    }
}
