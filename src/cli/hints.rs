//! The command line's own remedies, added where it prints: the library's errors and notes say
//! what happened in an app's terms ("port 3000 is in use by pid 4242 (node)"); a person at a
//! terminal also gets the flag or command that fixes it.

use crate::error::Error;
use crate::report::SchemeNote;

/// Which command failed, for the hints that depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// `login`/`authorize`: a taken port can be shared through `serve`.
    Login,
    /// Any other command.
    Other,
}

/// The scheme note as the CLI says it, with its remedy.
pub fn scheme_note(note: SchemeNote) -> &'static str {
    match note {
        SchemeNote::HttpUntrusted => {
            "Using an http callback for this login: your browser does not trust the local certificate yet. Run `openrouter-pkce trust` once to use https."
        }
        SchemeNote::HttpsUntrusted => {
            "Your browser will warn about the localhost certificate: run `openrouter-pkce trust` once (or use --callback-scheme auto)."
        }
    }
}

/// `error`'s message with the CLI's remedy, if it has one.
pub fn message(error: &Error, context: Context) -> String {
    let hint = match error {
        Error::PortInUse { .. } if context == Context::Login => {
            "use another --port (0 picks any free one), or run `openrouter-pkce serve` so logins can share one port".to_owned()
        }
        Error::PortInUse { .. } => "stop that process or choose another --port".to_owned(),
        Error::NotLoggedIn { profile } if profile == crate::keys::DEFAULT_PROFILE => {
            "run `openrouter-pkce login`".to_owned()
        }
        Error::NotLoggedIn { profile } => {
            format!("run `openrouter-pkce login --save --profile {profile}`")
        }
        // The browser page says it too: it is OpenRouter's side, so try again later.
        Error::Unreachable { .. } | Error::ServerFailed { .. } => {
            "try again in a minute; OpenRouter's status is at https://status.openrouter.ai".to_owned()
        }
        Error::LocalCa { .. } => {
            "run `openrouter-pkce trust --regenerate`, or delete that directory".to_owned()
        }
        _ => return error.to_string(),
    };
    format!("{error}; {hint}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cli_adds_its_remedies_to_the_library_words() {
        let e = Error::PortInUse {
            addr: "127.0.0.1:3000".parse().unwrap(),
            holder: Some("pid 4242 (node)".into()),
        };
        assert_eq!(
            e.to_string(),
            "could not bind 127.0.0.1:3000: in use by pid 4242 (node)"
        );
        assert!(message(&e, Context::Login).ends_with("so logins can share one port"));
        assert!(message(&e, Context::Other).ends_with("choose another --port"));
        let e = Error::NotLoggedIn {
            profile: "work".into(),
        };
        assert_eq!(
            message(&e, Context::Other),
            "no key is saved for profile work; run `openrouter-pkce login --save --profile work`"
        );
    }
}
