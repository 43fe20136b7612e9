//! The callback scheme of a one-shot login, and the one question a first login on a terminal
//! may ask: whether to trust the local CA, so the browser accepts https://localhost.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use crate::cli::Ctx;
use crate::cli::config::LoginConfig;
use crate::cli::terminal::Terminal;
use crate::error::{Error, Result};
use crate::flow::UrlScheme;
use crate::flow::driver::Deadline;
use crate::flow::present::Presenter;
use crate::flow::scheme::{self, SchemeNote};
use crate::report::{Reporter, say};
use crate::tls::CertSource;
use crate::tls::trust::{self, TrustAction};

/// The scheme for this login and the line (if any) to say about it once the login has started.
///
/// On a terminal (stdin and stderr), when `auto` would fall back to http because the local CA
/// is not trusted yet and the person has not declined before, they are asked once. The
/// question counts against `--timeout`, and Ctrl-C cancels it.
pub async fn choose(
    config: &LoginConfig,
    deadline: Deadline,
    ctx: &Ctx,
) -> Result<(UrlScheme, Option<SchemeNote>)> {
    let choice = config.listener.scheme;
    let cert = config.listener.cert.clone();
    let resolved =
        tokio::task::spawn_blocking(move || scheme::resolve(choice, &cert, trust::is_trusted))
            .await
            .map_err(|e| Error::internal("choosing the callback scheme", e))?;
    let ask_in = match &config.listener.cert {
        CertSource::Local(dir)
            if resolved.note == Some(SchemeNote::HttpUntrusted)
                && may_ask(config, ctx)
                && !dir.join(trust::DECLINED_MARKER).exists() =>
        {
            dir.clone()
        }
        _ => return Ok((resolved.scheme, resolved.note)),
    };
    // A thread of its own, not the runtime's blocking pool: a read of the terminal cannot be
    // cancelled, and the runtime waits for its pool when the process ends.
    let (tx, rx) = tokio::sync::oneshot::channel();
    let term = ctx.term.clone();
    std::thread::spawn(move || {
        let _ = tx.send(read_answer(&term));
    });
    let answer = tokio::select! {
        answer = rx => answer.unwrap_or(Answer::Undecided),
        () = crate::sys::signal::interrupted() => return Err(Error::Interrupted),
        () = tokio::time::sleep_until(deadline.at) => {
            return Err(Error::TimedOut { seconds: deadline.total.as_secs() });
        }
    };
    match answer {
        Answer::Yes => Ok(trust_now(ask_in, ctx).await),
        Answer::No => {
            remember_no(&ask_in);
            say!(
                ctx.term,
                "Using http for the callback; you will not be asked again. Run `openrouter-pkce trust` any time to switch to https."
            );
            Ok((UrlScheme::Http, None))
        }
        Answer::Undecided => Ok((UrlScheme::Http, Some(SchemeNote::HttpUntrusted))),
    }
}

/// Whether a person is there to answer: a terminal on stdin and stderr, prose mode, and a
/// real browser to come (not `demo`'s built-in client).
fn may_ask(config: &LoginConfig, ctx: &Ctx) -> bool {
    // A stand-in login is a try-out: it changes nothing on the machine, trust stores included.
    config.presenter != Presenter::BuiltInClient
        && !matches!(
            config.openrouter,
            crate::cli::config::OpenRouterTarget::StandIn
        )
        && !ctx.term.events()
        && std::io::stdin().is_terminal()
        && std::io::stderr().is_terminal()
}

/// The person's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// Enter, y or yes.
    Yes,
    /// n or no (remembered).
    No,
    /// End of input, or no answer we understood after a few tries (nothing remembered).
    Undecided,
}

/// Asks on stderr and reads stdin until an answer we understand (blocking).
fn read_answer(term: &Terminal) -> Answer {
    use std::io::Write as _;
    for _ in 0..3 {
        {
            let mut err = std::io::stderr().lock();
            let _ = write!(
                err,
                "Trust the local certificate so your browser accepts https://localhost? [Y/n] "
            );
            let _ = err.flush();
        }
        let mut line = String::new();
        match std::io::stdin().read_line(&mut line) {
            // End of input (Ctrl-D) is no answer, and never a yes.
            Ok(0) | Err(_) => {
                say!(term, "");
                return Answer::Undecided;
            }
            Ok(_) => {}
        }
        match parse_answer(&line) {
            Some(answer) => return answer,
            None => say!(term, "Please answer y or n."),
        }
    }
    Answer::Undecided
}

/// `Some` for an answer we understand.
fn parse_answer(line: &str) -> Option<Answer> {
    match line.trim().to_ascii_lowercase().as_str() {
        "" | "y" | "yes" => Some(Answer::Yes),
        "n" | "no" => Some(Answer::No),
        _ => None,
    }
}

/// Trusts the CA in the user's own stores (answering a question must not change the whole
/// system's) and uses https when that worked.
async fn trust_now(dir: PathBuf, ctx: &Ctx) -> (UrlScheme, Option<SchemeNote>) {
    let report = tokio::task::spawn_blocking(move || trust::run(TrustAction::Install, &dir, true))
        .await
        .map_err(|e| Error::internal("running trust", e))
        .and_then(|r| r);
    match report {
        Ok(report) if !report.trusted_in.is_empty() => {
            ctx.term.done(&format!(
                "Trusted the local certificate in {}",
                report.trusted_in.join(", ")
            ));
            (UrlScheme::Https, None)
        }
        Ok(report) => {
            say!(
                ctx.term,
                "Could not trust the local certificate ({}); using http for this login.",
                report.skipped.join("; ")
            );
            (UrlScheme::Http, None)
        }
        Err(e) => {
            say!(
                ctx.term,
                "Could not trust the local certificate ({e}); using http for this login."
            );
            (UrlScheme::Http, None)
        }
    }
}

/// Records a no, so the question is not asked again (the config dir may not exist yet).
fn remember_no(dir: &Path) {
    let remembered = crate::sys::files::create_private_dir(dir).and_then(|()| {
        crate::sys::files::write_private_atomic(
            &dir.join(trust::DECLINED_MARKER),
            b"declined when asked by login\n",
        )
    });
    if let Err(e) = remembered {
        tracing::warn!(error = %e, "could not remember the answer");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_clear_answers_count() {
        for yes in ["\n", "y\n", "YES\n", " yes \n"] {
            assert_eq!(parse_answer(yes), Some(Answer::Yes), "{yes:?}");
        }
        for no in ["n\n", "No\n"] {
            assert_eq!(parse_answer(no), Some(Answer::No), "{no:?}");
        }
        for unclear in ["sure\n", "ja\n", "yep\n", "\u{4}\n"] {
            assert_eq!(parse_answer(unclear), None, "{unclear:?}");
        }
    }
}
