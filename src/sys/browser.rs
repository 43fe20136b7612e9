//! Opening the authorize URL in the person's browser without blocking the runtime, and
//! without putting it on any command line.
//!
//! Every local user can read `/proc/<pid>/cmdline`, and the authorize URL carries the login's
//! callback nonce and state. So the browser is given a private redirect page instead: a 0600
//! file in the user's private runtime directory that forwards to the URL (meta refresh plus a
//! link, no script), removed when the login ends. Jupyter opens its tokenised URL the same way.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

/// A redirect page on disk; removed when dropped.
#[derive(Debug)]
pub struct RedirectFile {
    path: PathBuf,
    /// A directory made just for the page (removed with it), when the runtime dir was unfit.
    own_dir: Option<PathBuf>,
}

impl RedirectFile {
    /// Writes a page forwarding to `url` (blocking: file I/O). `None` when no private place
    /// for it exists (then the caller must decide whether to pass the URL itself).
    pub fn create(url: &str) -> Option<Self> {
        let (dir, own_dir) = private_place()?;
        if own_dir.is_none() {
            remove_stale_pages(&dir);
        }
        // The pid in the name lets a later run tell a page whose login was killed (and so
        // never removed it) from one a running login still needs.
        let name = format!(
            "login-{}-{}.html",
            std::process::id(),
            &crate::pkce::new_nonce().secret()[..16]
        );
        let path = dir.join(name);
        let href = crate::sys::text::escape_html(url);
        let page = format!(
            "<!doctype html>\n<meta charset=\"utf-8\">\n<meta name=\"referrer\" content=\"no-referrer\">\n\
             <meta http-equiv=\"refresh\" content=\"0;url={href}\">\n<title>Opening OpenRouter</title>\n\
             <p>Opening OpenRouter to sign in. If nothing happens, <a href=\"{href}\">continue here</a>.</p>\n"
        );
        crate::sys::files::write_private_atomic(&path, page.as_bytes()).ok()?;
        Some(Self { path, own_dir })
    }

    /// The `file://` URL of the page.
    pub fn file_url(&self) -> String {
        url::Url::from_file_path(&self.path)
            .map(|u| u.to_string())
            .unwrap_or_else(|()| self.path.display().to_string())
    }
}

impl Drop for RedirectFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        if let Some(dir) = &self.own_dir {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// Removes the redirect pages of logins that are gone (killed before they could remove their
/// own): each holds a login's state and nonce, which nothing should find later.
fn remove_stale_pages(dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("login-"))
            .and_then(|n| n.strip_suffix(".html"))
            .and_then(|n| n.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !crate::sys::process::alive(pid) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The private runtime directory, or (when it is not private) a fresh 0700 directory of our
/// own in the temp dir: a new random name, so nothing planted there can be followed.
fn private_place() -> Option<(PathBuf, Option<PathBuf>)> {
    if let Ok(dir) = crate::sys::paths::runtime_dir()
        && crate::sys::files::ensure_private_dir(&dir, "the browser's page").is_ok()
    {
        return Some((dir, None));
    }
    let dir = std::env::temp_dir().join(format!(
        "openrouter-pkce-{}",
        &crate::pkce::new_nonce().secret()[..16]
    ));
    let mut builder = std::fs::DirBuilder::new();
    // Not recursive: the new name must not exist yet (nothing planted there is followed).
    builder.recursive(false);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(&dir).ok()?;
    Some((dir.clone(), Some(dir)))
}

/// How long a browser command may take to fail before it counts as started: openers such as
/// xdg-open exit at once (non-zero when no browser is found), browsers keep running.
const OPENER_GRACE: Duration = Duration::from_secs(1);

/// Opens `url` through a private redirect page, so the URL appears on no command line. The
/// page lives as long as the returned guard; `Err` says why no browser started. Without a
/// private place for the page, nothing is opened (the URL is printed instead).
pub async fn open_private(url: &str) -> (Result<(), String>, Option<RedirectFile>) {
    let owned = url.to_owned();
    let page = tokio::task::spawn_blocking(move || RedirectFile::create(&owned))
        .await
        .ok()
        .flatten();
    match page {
        Some(page) => (open(&page.file_url()).await, Some(page)),
        None => (
            Err("no private directory for the redirect page".into()),
            None,
        ),
    }
}

/// Tries to open `url`: `$BROWSER` when set (as xdg-open and Python's webbrowser do), else the
/// platform opener. `Ok` when a command started and did not fail within a second.
pub async fn open(url: &str) -> Result<(), String> {
    match std::env::var("BROWSER") {
        Ok(spec) if !spec.trim().is_empty() => open_with_browser_var(&spec, url).await,
        _ => {
            let url = url.to_owned();
            tokio::task::spawn_blocking(move || {
                open::that_detached_with_timeout(&url, OPENER_GRACE).map_err(|e| {
                    tracing::debug!(error = %e, "the platform opener failed");
                    match e.kind() {
                        std::io::ErrorKind::NotFound => {
                            "no browser opener is installed (xdg-open, gio…); set BROWSER".to_owned()
                        }
                        _ => "the system's browser opener reported a failure; set BROWSER to choose a browser".to_owned(),
                    }
                })
            })
            .await
            .unwrap_or_else(|e| Err(e.to_string()))
        }
    }
}

/// What separates the commands of a `$BROWSER` list: the platform's PATH separator, as in
/// Python's webbrowser (`:` would cut `C:\…` in two on Windows).
const LIST_SEPARATOR: char = if cfg!(windows) { ';' } else { ':' };

/// Runs the commands of a `$BROWSER` list ([`LIST_SEPARATOR`]-separated; `%s` marks where the
/// URL goes) in turn until one starts, as xdg-open and Python's webbrowser do.
async fn open_with_browser_var(spec: &str, url: &str) -> Result<(), String> {
    let mut failures = Vec::new();
    for entry in spec.split(LIST_SEPARATOR).filter(|e| !e.trim().is_empty()) {
        let Some(argv) = browser_command(entry, url) else {
            continue;
        };
        match run_browser(argv).await {
            Ok(()) => return Ok(()),
            Err(e) => failures.push(e),
        }
    }
    Err(if failures.is_empty() {
        "$BROWSER names no command".into()
    } else {
        failures.join("; ")
    })
}

/// Starts one browser command; `Ok` when it did not fail within [`OPENER_GRACE`].
async fn run_browser(argv: Vec<String>) -> Result<(), String> {
    let program = argv[0].clone();
    let spawned = tokio::process::Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let mut child = spawned.map_err(|e| format!("$BROWSER ({program}) did not start: {e}"))?;
    match tokio::time::timeout(OPENER_GRACE, child.wait()).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(format!("$BROWSER ({program}) failed: {status}")),
        Ok(Err(e)) => Err(format!("$BROWSER ({program}): {e}")),
        Err(_) => {
            // Still running: a browser that stays open. Reap it in the background.
            tokio::spawn(async move {
                let _ = child.wait().await;
            });
            Ok(())
        }
    }
}

/// The argv for a `$BROWSER` value.
pub fn browser_command(spec: &str, url: &str) -> Option<Vec<String>> {
    let first = spec
        .split(LIST_SEPARATOR)
        .map(str::trim)
        .find(|s| !s.is_empty())?;
    let mut argv: Vec<String> = first.split_whitespace().map(str::to_owned).collect();
    if argv.iter().any(|a| a.contains("%s")) {
        for a in &mut argv {
            *a = a.replace("%s", url);
        }
    } else {
        argv.push(url.to_owned());
    }
    Some(argv)
}

#[cfg(test)]
mod tests {
    use super::{LIST_SEPARATOR, browser_command};

    #[test]
    fn browser_var_forms() {
        let sep = LIST_SEPARATOR;
        assert_eq!(browser_command("firefox", "U").unwrap(), ["firefox", "U"]);
        assert_eq!(
            browser_command(&format!("w3m -o x %s{sep}lynx"), "U").unwrap(),
            ["w3m", "-o", "x", "U"]
        );
        assert_eq!(
            browser_command(&format!("  {sep}chromium --new-window"), "U").unwrap(),
            ["chromium", "--new-window", "U"]
        );
        assert!(browser_command(&format!(" {sep} "), "U").is_none());
    }

    /// A Windows path keeps its drive letter: the list splits on `;` there.
    #[cfg(windows)]
    #[test]
    fn a_windows_browser_path_is_one_command() {
        assert_eq!(
            browser_command(r"C:\tools\browser.exe --new;D:\other.exe", "U").unwrap(),
            [r"C:\tools\browser.exe", "--new", "U"]
        );
    }
}
