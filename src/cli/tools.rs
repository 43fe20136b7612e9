//! `trust`, `mock-server`, and what an installation needs: `completions` and `man`.

use std::path::PathBuf;

use serde::Serialize;

use crate::cli::Ctx;
use crate::cli::output::{print_json, print_json_when_piped};
use crate::error::{Error, Result};
use crate::openrouter::stand_in::{self, StandInOptions};
use crate::report::say;
use crate::tls::trust::{self, TrustAction};

/// `trust`: runs the store tools (blocking: certutil) off the async threads.
pub async fn trust(
    action: TrustAction,
    user_only: bool,
    regenerate: bool,
    config_dir: PathBuf,
    ctx: &Ctx,
) -> Result<()> {
    if action == TrustAction::Status && !config_dir.join(crate::tls::CA_CERT_FILE).exists() {
        // Status changes nothing: no CA is made just to report on it.
        say!(
            ctx.term,
            "No local CA yet, so it is not trusted anywhere yet: `openrouter-pkce trust` makes one and trusts it."
        );
        return print_json_when_piped(&NoCa {
            ca: None,
            trusted_in: Vec::new(),
        });
    }
    let report = tokio::task::spawn_blocking(move || {
        if regenerate {
            // Checked before anything is removed: a directory that is not private is refused
            // as a whole, and its files (perhaps a CA still trusted somewhere) left as they are.
            if config_dir.exists() {
                crate::sys::files::ensure_private_dir(
                    &config_dir,
                    "the local certificate authority",
                )?;
            }
            crate::tls::remove_local_certs(&config_dir)?;
        }
        trust::run(action, &config_dir, user_only)
    })
    .await
    .map_err(|e| Error::internal("running trust", e))??;
    say!(ctx.term, "Local CA: {} ({})", report.name, report.ca);
    say!(ctx.term, "  SHA-256: {}", report.fingerprint_sha256);
    say!(
        ctx.term,
        "  expires: {}",
        report.expires.as_deref().unwrap_or("unknown")
    );
    for change in &report.changed {
        say!(ctx.term, "  changed: {change}");
    }
    if report.changed.is_empty() && action != TrustAction::Status {
        say!(ctx.term, "  nothing to change");
    }
    for place in &report.trusted_in {
        say!(ctx.term, "  trusted in: {place}");
    }
    if report.trusted_in.is_empty() {
        say!(
            ctx.term,
            "  not trusted anywhere yet: run `openrouter-pkce trust`"
        );
    }
    for earlier in &report.earlier {
        say!(
            ctx.term,
            "  also trusted, not the current CA: {earlier} (`openrouter-pkce trust --uninstall` removes it)"
        );
    }
    for skip in &report.skipped {
        say!(ctx.term, "  skipped: {skip}");
    }
    print_json_when_piped(&report)
}

/// `trust --status` before any CA exists.
#[derive(Serialize)]
struct NoCa {
    ca: Option<String>,
    trusted_in: Vec<String>,
}

#[derive(Serialize)]
struct Listening {
    url: String,
}

/// `mock-server`: the stand-in until Ctrl-C.
pub async fn mock_server(port: u16, options: StandInOptions, ctx: &Ctx) -> Result<()> {
    let (url, task) = stand_in::start(port, options).await?;
    print_json(&Listening {
        url: url.to_string(),
    })?;
    say!(
        ctx.term,
        "OpenRouter stand-in listening on {url} (Ctrl-C to stop)"
    );
    tokio::select! {
        _ = task => Ok(()),
        () = crate::sys::signal::interrupted() => Ok(()),
    }
}

/// `completions`: the shell's completion script, generated from the same clap definitions the
/// parser uses (so it cannot drift from the real flags).
pub fn completions(shell: clap_complete::Shell) -> Result<()> {
    let mut command = <crate::cli::Cli as clap::CommandFactory>::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "openrouter-pkce", &mut script);
    let mut script = String::from_utf8_lossy(&script).into_owned();
    if shell == clap_complete::Shell::Bash {
        script = fix_bash_subcommand_labels(&script);
    }
    crate::cli::output::print_text(&script)
}

/// clap_complete 4.6's bash generator, for a binary whose name has a hyphen, builds the state
/// for `openrouter-pkce login` as `openrouter__pkce__subcmd__login` while its `case` labels say
/// `openrouter__subcmd__pkce__subcmd__login` (the labels escape the hyphen in the binary's
/// name as if it separated subcommands; the builder escapes it as `__`). No label matches, so
/// nothing after the first word completes. Upstream report, as filed: "bash: subcommand
/// completion never matches for a bin name containing '-'. Expected the case label
/// `<bin>__subcmd__<sub>` to use the same escaping as the `cmd=` assignments; got
/// `openrouter__subcmd__pkce__subcmd__login` vs `openrouter__pkce__subcmd__login`." Until a
/// release fixes it, the labels are rewritten to the names the script builds.
fn fix_bash_subcommand_labels(script: &str) -> String {
    script.replace("openrouter__subcmd__pkce__", "openrouter__pkce__")
}

/// `man`: a manual page in roff, from the same clap definitions: the main page, or
/// `openrouter-pkce-COMMAND(1)` for a command (the main page's SEE ALSO names them all), or
/// with `list` the name of every page.
pub fn man(page: Option<&str>, list: bool) -> Result<()> {
    let mut command =
        <crate::cli::Cli as clap::CommandFactory>::command().disable_help_subcommand(true);
    // Built, every command knows its full name (`openrouter-pkce-service-install`), which
    // is what each page is titled and what the pages above it refer to.
    command.build();
    let mut pages = Vec::new();
    collect_pages(&command, &mut pages);
    if list {
        let names: Vec<&str> = pages.iter().filter_map(|c| page_name(c)).collect();
        return crate::cli::output::print_text(&format!("{}\n", names.join("\n")));
    }
    let chosen = match page {
        None => command,
        Some(name) => pages
            .into_iter()
            .find(|c| page_name(c) == Some(name))
            .ok_or_else(|| {
                Error::bad_input(
                    "COMMAND",
                    format!(
                        "a command with a manual page (`openrouter-pkce man --list` names them), not {}",
                        crate::cli::keys::shown(name)
                    ),
                )
            })?,
    };
    let mut out = Vec::new();
    clap_mangen::Man::new(chosen.version(crate::cli::args::VERSION))
        .render(&mut out)
        .map_err(|e| Error::internal("rendering the manual page", e))?;
    crate::cli::output::print_text(&String::from_utf8_lossy(&out))
}

/// Every visible command below `command`, depth first.
fn collect_pages(command: &clap::Command, pages: &mut Vec<clap::Command>) {
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        pages.push(sub.clone());
        collect_pages(sub, pages);
    }
}

/// `login` for the page `openrouter-pkce-login(1)`.
fn page_name(command: &clap::Command) -> Option<&str> {
    command
        .get_display_name()
        .and_then(|n| n.strip_prefix("openrouter-pkce-"))
}
