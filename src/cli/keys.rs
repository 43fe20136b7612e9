//! `key`, `status` and `logout`: the saved key of a profile, as `gh auth token`, `gh auth
//! status` and `gh auth logout` do for GitHub; and saving the key `login` got.

use std::io::IsTerminal;

use serde::Serialize;
use url::Url;

use crate::cli::Ctx;
use crate::cli::config::SavedKeyAction;
use crate::cli::output::{print_json, print_json_when_piped, print_line};
use crate::error::{Error, Result};
use crate::keys::{self, Profile, Removed, Saved, Storage};
use crate::openrouter::{KeyInfo, KeyResponse, OpenRouterClient};
use crate::report::{Reporter, say};

/// Where OpenRouter's keys page is, for "delete it there".
const KEYS_PAGE: &str = "https://openrouter.ai/settings/keys";

/// Runs one saved-key command.
pub async fn run(action: SavedKeyAction, profile: Profile, ctx: &Ctx) -> Result<()> {
    let outcome = run_action(action, profile, ctx).await;
    if let Err(Error::NotLoggedIn { .. }) = &outcome {
        // Say which profiles do exist, as `gh auth status` shows every account.
        if let Ok(list) = blocking(keys::list).await {
            let names: Vec<&str> = list.iter().map(|(n, _)| n.as_str()).collect();
            if !names.is_empty() {
                say!(
                    ctx.term,
                    "Saved profiles: {} (choose one with --profile NAME)",
                    names.join(", ")
                );
            }
        }
    }
    outcome
}

async fn run_action(action: SavedKeyAction, profile: Profile, ctx: &Ctx) -> Result<()> {
    match action {
        SavedKeyAction::Key => {
            let (key, _) = blocking(move || keys::load(&profile)).await?;
            print_line(key.secret())
        }
        SavedKeyAction::Status => status(profile, ctx).await,
        SavedKeyAction::Logout => logout(profile, ctx).await,
    }
}

/// One row of `profiles` as JSON (piped).
#[derive(Serialize)]
struct ProfileDoc<'a> {
    profile: &'a str,
    user_id: Option<&'a str>,
    storage: &'a Storage,
    openrouter_url: &'a Url,
    saved_at: &'a str,
}

/// `profiles`: every saved profile, a table on a terminal and a JSON array when piped. A
/// profile whose metadata cannot be read is named on stderr with why.
pub async fn profiles(ctx: &Ctx) -> Result<()> {
    let list = blocking(keys::list).await?;
    let mut readable = Vec::new();
    for (name, read) in &list {
        match read {
            Ok(saved) => readable.push(saved),
            Err(e) => say!(
                ctx.term,
                "profile {name}: {}",
                crate::cli::hints::message(e, crate::cli::hints::Context::Other)
            ),
        }
    }
    if !std::io::stdout().is_terminal() {
        let docs: Vec<ProfileDoc<'_>> = readable
            .iter()
            .map(|s| ProfileDoc {
                profile: &s.profile,
                user_id: s.user_id.as_deref(),
                storage: &s.storage,
                openrouter_url: &s.openrouter_url,
                saved_at: &s.created_at,
            })
            .collect();
        return print_json(&docs);
    }
    if readable.is_empty() {
        return print_line("No saved profiles: `openrouter-pkce login` saves one.");
    }
    let rows: Vec<[String; 5]> = readable
        .iter()
        .map(|s| {
            [
                s.profile.clone(),
                s.user_id
                    .as_deref()
                    .map(shown)
                    .unwrap_or_else(|| "-".into()),
                s.storage.to_string(),
                shown(s.openrouter_url.as_str()),
                s.created_at.clone(),
            ]
        })
        .collect();
    let header = ["PROFILE", "USER", "STORAGE", "OPENROUTER", "SAVED"];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 5]| {
        cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut table = vec![line(header)];
    table.extend(rows.iter().map(|r| line(r.each_ref().map(String::as_str))));
    print_line(&table.join("\n"))
}

/// Runs blocking keyring and file work off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::internal("reading the saved key", e))?
}

/// `status` as JSON (piped): the profile and what OpenRouter says about the key; never the key.
#[derive(Serialize)]
struct StatusDoc<'a> {
    profile: &'a str,
    user_id: Option<&'a str>,
    openrouter_url: &'a Url,
    storage: &'a Storage,
    saved_at: &'a str,
    key: &'a KeyInfo,
}

async fn status(profile: Profile, ctx: &Ctx) -> Result<()> {
    let (key, saved) = blocking(move || keys::load(&profile)).await?;
    let base = saved.openrouter_url.clone();
    let app = ctx.app.clone();
    let client = tokio::task::spawn_blocking(move || OpenRouterClient::new(base, &app))
        .await
        .map_err(|e| Error::internal("building the HTTP client", e))??;
    let info = client.current_key(&key).await.map_err(|e| match e {
        Error::Refused { status: 401, .. } => Error::Refused {
            status: 401,
            message: "the saved key was rejected (revoked, deleted or unknown): run `openrouter-pkce login` again".into(),
        },
        other => other,
    })?;
    if std::io::stdout().is_terminal() {
        print_line(&describe(&saved, &info))
    } else {
        print_json(&StatusDoc {
            profile: &saved.profile,
            user_id: saved.user_id.as_deref(),
            openrouter_url: &saved.openrouter_url,
            storage: &saved.storage,
            saved_at: &saved.created_at,
            key: &info,
        })
    }
}

/// The readable block `status` shows on a terminal. Text from the network is sanitised.
fn describe(saved: &Saved, info: &KeyInfo) -> String {
    let money = |v: Option<f64>| v.map_or("?".to_owned(), |v| format!("${v:.2}"));
    let who = saved
        .user_id
        .as_deref()
        .map(|u| format!(" as {}", shown(u)))
        .unwrap_or_default();
    let mut lines = vec![format!(
        "Logged in{who} (profile {}, key in {})",
        // The metadata is ours (read only from a private directory), but still text from a
        // file: nothing in it reaches the terminal raw.
        shown(&saved.profile),
        shown(&saved.storage.to_string())
    )];
    if let Some(label) = &info.label {
        lines.push(format!("  Key:     {}", shown(label)));
    }
    lines.push(format!(
        "  Usage:   {} in all (today {}, this week {}, this month {})",
        money(info.usage),
        money(info.usage_daily),
        money(info.usage_weekly),
        money(info.usage_monthly)
    ));
    lines.push(match info.limit {
        Some(limit) => format!(
            "  Limit:   ${limit:.2}, {} left{}",
            money(info.limit_remaining),
            info.limit_reset
                .as_deref()
                .map(|r| format!(", resets {}", shown(r)))
                .unwrap_or_default()
        ),
        None => "  Limit:   none".to_owned(),
    });
    if let Some(free) = info.is_free_tier {
        lines.push(format!("  Free tier: {}", if free { "yes" } else { "no" }));
    }
    lines.push(format!(
        "  Expires: {}",
        info.expires_at
            .as_deref()
            .map(shown)
            .unwrap_or("never".into())
    ));
    lines.push(format!(
        "  OpenRouter: {}",
        shown(saved.openrouter_url.as_str())
    ));
    lines.join("\n")
}

/// `logout` on stdout.
#[derive(Serialize)]
struct LogoutDoc<'a> {
    profile: &'a str,
    removed: bool,
}

async fn logout(profile: Profile, ctx: &Ctx) -> Result<()> {
    let name = profile.name().to_owned();
    let removed = blocking(move || keys::remove(&profile)).await?;
    match &removed {
        Removed::Profile(saved) => {
            let reminder = if crate::input::is_loopback_host(&saved.openrouter_url) {
                " (a stand-in's key: nothing exists on a real account)".to_owned()
            } else {
                format!(
                    ". It still works on your OpenRouter account until you delete it at {KEYS_PAGE}."
                )
            };
            ctx.term.done(&format!(
                "Logged out of profile {name}: the key was removed from {}{reminder}",
                saved.storage
            ));
        }
        Removed::Unreadable => ctx.term.done(&format!(
            "Logged out of profile {name}: its unreadable metadata and any saved key were removed."
        )),
        Removed::Nothing => say!(
            ctx.term,
            "Nothing is saved for profile {name}; nothing to do."
        ),
    }
    print_json_when_piped(&LogoutDoc {
        profile: &name,
        removed: !matches!(removed, Removed::Nothing),
    })
}

/// Text from the network (a user id) made safe and short for a terminal line.
pub fn shown(text: &str) -> String {
    let clean = crate::error::sanitize(text, &[]);
    if clean.chars().count() > 100 {
        format!("{}…", clean.chars().take(100).collect::<String>())
    } else {
        clean
    }
}

/// `login`'s answer when the key was saved and stdout is not a terminal: no key.
#[derive(Serialize)]
struct SavedDoc<'a> {
    user_id: Option<&'a str>,
    profile: &'a str,
    storage: &'a Storage,
}

/// Saves a key `login` got under `profile`. If saving fails, the key is not lost: it is printed
/// as usual and the failure ends the command non-zero.
pub async fn save_login(
    key: KeyResponse,
    profile: Profile,
    openrouter: Url,
    ctx: &Ctx,
) -> Result<()> {
    // A keyring may take a while (an unlock prompt on a desktop): say what is happening.
    ctx.term.busy("Saving the key in the system keyring…");
    let key = std::sync::Arc::new(key);
    let saving = {
        let key = key.clone();
        tokio::task::spawn_blocking(move || {
            keys::save(&profile, &key.key, key.user_id.clone(), &openrouter)
        })
    };
    let saved = tokio::select! {
        saved = saving => saved.map_err(|e| Error::internal("saving the key", e)).and_then(|r| r),
        // Ctrl-C while saving: the key was minted, so it is printed before we stop.
        () = crate::sys::signal::interrupted() => {
            ctx.term.stop_spinner();
            print_json(&*key)?;
            return Err(Error::Interrupted);
        }
    };
    ctx.term.stop_spinner();
    let report = match saved {
        Ok(report) => report,
        Err(e) => {
            print_json(&*key)?;
            return Err(Error::internal(
                "the key could not be saved, so it is on stdout instead",
                e,
            ));
        }
    };
    let user_id = key.user_id.as_deref().map(shown);
    if let Some(reason) = &report.keyring_unavailable {
        say!(
            ctx.term,
            "Not in the system keyring ({reason}), so the key is stored in {}, readable only by you.",
            report.saved.storage
        );
    }
    if report.saved.keyring_copy {
        say!(
            ctx.term,
            "An older key of this profile may remain in the system keyring; `logout` removes it once the keyring answers."
        );
    }
    if !std::io::stdout().is_terminal() {
        print_json(&SavedDoc {
            user_id: key.user_id.as_deref(),
            profile: &report.saved.profile,
            storage: &report.saved.storage,
        })?;
    }
    ctx.term.emit(&crate::report::Event::Succeeded {
        user_id: key.user_id.clone(),
    });
    let who = user_id.map(|u| format!(" as {u}")).unwrap_or_default();
    ctx.term.done(&format!(
        "Logged in{who}; key saved in {} (profile {}). Run a tool with it: openrouter-pkce exec{} -- COMMAND",
        report.saved.storage,
        report.saved.profile,
        if report.saved.profile == keys::DEFAULT_PROFILE {
            String::new()
        } else {
            format!(" --profile {}", report.saved.profile)
        }
    ));
    Ok(())
}
