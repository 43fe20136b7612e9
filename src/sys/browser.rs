//! Opening the authorize URL in the person's browser without blocking the runtime.

use std::process::Stdio;

/// Tries to open `url`: `$BROWSER` when set (as xdg-open and Python's webbrowser do), else the
/// platform opener. Returns whether a browser command was started successfully.
pub async fn open(url: &str) -> bool {
    match std::env::var("BROWSER") {
        Ok(spec) if !spec.trim().is_empty() => open_with_browser_var(&spec, url).await,
        _ => {
            let url = url.to_owned();
            tokio::task::spawn_blocking(move || open::that_detached(&url).is_ok())
                .await
                .unwrap_or(false)
        }
    }
}

/// Runs the first command of a `$BROWSER` list (`:`-separated; `%s` marks where the URL goes).
async fn open_with_browser_var(spec: &str, url: &str) -> bool {
    let Some(argv) = browser_command(spec, url) else {
        return false;
    };
    let spawned = tokio::process::Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    match spawned {
        Ok(mut child) => {
            // Reap it in the background; a browser that stays open must not hold up the flow.
            tokio::spawn(async move {
                let _ = child.wait().await;
            });
            true
        }
        Err(e) => {
            tracing::debug!(error = %e, "could not run $BROWSER");
            false
        }
    }
}

/// The argv for a `$BROWSER` value.
pub fn browser_command(spec: &str, url: &str) -> Option<Vec<String>> {
    let first = spec.split(':').map(str::trim).find(|s| !s.is_empty())?;
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
    use super::browser_command;

    #[test]
    fn browser_var_forms() {
        assert_eq!(browser_command("firefox", "U").unwrap(), ["firefox", "U"]);
        assert_eq!(
            browser_command("w3m -o x %s:lynx", "U").unwrap(),
            ["w3m", "-o", "x", "U"]
        );
        assert_eq!(
            browser_command("  :chromium --new-window", "U").unwrap(),
            ["chromium", "--new-window", "U"]
        );
        assert!(browser_command(" : ", "U").is_none());
    }
}
