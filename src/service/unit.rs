//! `service install|uninstall|status`: a systemd user unit (Linux) or launchd agent (macOS)
//! that runs `openrouter-pkce serve`.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Which service manager this platform has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Manager {
    /// systemd user units.
    Systemd,
    /// launchd user agents.
    Launchd,
}

/// The launchd label (and plist name).
pub const LAUNCHD_LABEL: &str = "ai.openrouter.pkce";
/// The systemd unit name.
pub const SYSTEMD_UNIT: &str = "openrouter-pkce.service";

/// This platform's manager, if we support one.
pub fn manager() -> Option<Manager> {
    if cfg!(target_os = "linux") {
        Some(Manager::Systemd)
    } else if cfg!(target_os = "macos") {
        Some(Manager::Launchd)
    } else {
        None
    }
}

/// The arguments `serve` is started with (JSON logs: a service manager reads them).
pub fn serve_args(port: u16, openrouter_url: Option<&str>) -> Vec<String> {
    let mut args = vec![
        "serve".to_owned(),
        "--port".to_owned(),
        port.to_string(),
        "--log-format".to_owned(),
        "json".to_owned(),
    ];
    if let Some(url) = openrouter_url {
        args.push("--openrouter-url".to_owned());
        args.push(url.to_owned());
    }
    args
}

/// Where the unit file goes.
pub fn unit_path(manager: Manager) -> Result<PathBuf> {
    Ok(match manager {
        Manager::Systemd => crate::sys::paths::xdg_config_home()?
            .join("systemd/user")
            .join(SYSTEMD_UNIT),
        Manager::Launchd => crate::sys::paths::home()?
            .join("Library/LaunchAgents")
            .join(format!("{LAUNCHD_LABEL}.plist")),
    })
}

/// One ExecStart word: `%` (specifiers) and `$` (variable expansion) doubled so systemd takes
/// them literally, and quoted when it holds anything but plain path characters.
fn systemd_quote(arg: &str) -> String {
    let escaped = arg.replace('%', "%%").replace('$', "$$");
    if arg
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/-_.:=".contains(c))
    {
        escaped
    } else {
        format!("\"{}\"", escaped.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

/// The `--port` of the `serve` command in an installed unit's text, if it names one.
pub fn port_in_unit(text: &str) -> Option<u16> {
    // The last non-empty ExecStart= wins (an empty one resets the list, as systemd reads it).
    let exec = text
        .lines()
        .rev()
        .find(|l| l.starts_with("ExecStart=") && l.trim() != "ExecStart=");
    if let Some(exec) = exec {
        let mut words = exec.split_whitespace().map(|w| w.trim_matches('"'));
        while let Some(word) = words.next() {
            if let Some(port) = word.strip_prefix("--port=") {
                return port.parse().ok();
            }
            if word == "--port" {
                return words.next()?.parse().ok();
            }
        }
        return None;
    }
    // launchd: the <string> after <string>--port</string>.
    let mut lines = text
        .lines()
        .skip_while(|l| !l.contains("<string>--port</string>"));
    lines.next()?;
    let value = lines.next()?.trim();
    value
        .strip_prefix("<string>")?
        .strip_suffix("</string>")?
        .parse()
        .ok()
}

/// The unit text for `manager` running `exe` with `args`.
pub fn unit_text(manager: Manager, exe: &Path, args: &[String]) -> String {
    match manager {
        Manager::Systemd => {
            let mut command = systemd_quote(&exe.display().to_string());
            for a in args {
                command.push(' ');
                command.push_str(&systemd_quote(a));
            }
            format!(
                "[Unit]\nDescription=openrouter-pkce login service (OAuth PKCE callbacks on localhost)\n\n\
                 [Service]\nExecStart={command}\nEnvironment=NO_COLOR=1\nRestart=on-failure\n\n[Install]\nWantedBy=default.target\n"
            )
        }
        Manager::Launchd => {
            let mut items = format!(
                "    <string>{}</string>\n",
                crate::server::pages::escape_html(&exe.display().to_string())
            );
            for a in args {
                items.push_str(&format!(
                    "    <string>{}</string>\n",
                    crate::server::pages::escape_html(a)
                ));
            }
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
                 <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
                 <plist version=\"1.0\">\n<dict>\n  <key>Label</key>\n  <string>{LAUNCHD_LABEL}</string>\n\
                 \x20 <key>ProgramArguments</key>\n  <array>\n{items}  </array>\n  <key>RunAtLoad</key>\n  <true/>\n\
                 \x20 <key>KeepAlive</key>\n  <true/>\n</dict>\n</plist>\n"
            )
        }
    }
}

/// How to start (after install) or stop (before uninstall) the unit.
pub fn start_hint(manager: Manager, path: &Path) -> String {
    match manager {
        Manager::Systemd => format!(
            "systemctl --user daemon-reload && systemctl --user enable --now {SYSTEMD_UNIT}"
        ),
        Manager::Launchd => format!("launchctl load -w {}", path.display()),
    }
}

/// How to stop the unit.
pub fn stop_hint(manager: Manager, path: &Path) -> String {
    match manager {
        Manager::Systemd => format!("systemctl --user disable --now {SYSTEMD_UNIT}"),
        Manager::Launchd => format!("launchctl unload -w {}", path.display()),
    }
}

/// The message for platforms without a supported manager.
pub fn unsupported(args: &[String]) -> Error {
    Error::bad_input(
        "service",
        format!(
            "a platform with systemd or launchd; not supported here. Run it yourself instead: openrouter-pkce {}",
            args.join(" ")
        ),
    )
}

/// Writes `text` to `path` atomically (not secret: 0644 would do, but 0600 costs nothing).
pub fn write_unit(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::internal(format!("creating {}", dir.display()), e))?;
    }
    crate::sys::files::write_private_atomic(path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemd_unit_runs_serve_with_quoted_args() {
        let text = unit_text(
            Manager::Systemd,
            Path::new("/opt/my tools/openrouter-pkce"),
            &serve_args(3000, None),
        );
        assert!(
            text.contains(
                "ExecStart=\"/opt/my tools/openrouter-pkce\" serve --port 3000 --log-format json\n"
            ),
            "{text}"
        );
        assert!(text.contains("Environment=NO_COLOR=1\n"), "{text}");
        assert!(text.contains("WantedBy=default.target"));
        assert_eq!(port_in_unit(&text), Some(3000));
        let edited = "ExecStart=\nExecStart=/bin/openrouter-pkce serve --port=44075\n";
        assert_eq!(port_in_unit(edited), Some(44075));
    }

    /// The unit the Debian package installs is exactly what `service install` writes for a
    /// binary in /usr/bin.
    #[test]
    fn the_packaged_unit_is_the_generated_one() {
        let packaged = include_str!("../../pkg/openrouter-pkce.service");
        let generated = unit_text(
            Manager::Systemd,
            Path::new("/usr/bin/openrouter-pkce"),
            &serve_args(crate::defaults::PORT, None),
        );
        assert_eq!(packaged, generated);
    }

    #[test]
    fn systemd_specifiers_and_variables_are_taken_literally() {
        let text = unit_text(
            Manager::Systemd,
            Path::new("/home/a%h/$HOME/openrouter-pkce"),
            &serve_args(3002, Some("https://x.example/%i/$USER/")),
        );
        let exec = text.lines().find(|l| l.starts_with("ExecStart=")).unwrap();
        assert!(exec.contains("/home/a%%h/$$HOME/openrouter-pkce"), "{exec}");
        assert!(exec.contains("https://x.example/%%i/$$USER/"), "{exec}");
        assert!(!exec.replace("%%", "").contains('%'), "{exec}");
        assert_eq!(port_in_unit(&text), Some(3002));
    }

    #[test]
    fn launchd_plist_lists_each_argument() {
        let text = unit_text(
            Manager::Launchd,
            Path::new("/usr/local/bin/openrouter-pkce"),
            &serve_args(3001, Some("https://x.example")),
        );
        for part in [
            "<string>serve</string>",
            "<string>3001</string>",
            "<string>https://x.example</string>",
            LAUNCHD_LABEL,
        ] {
            assert!(text.contains(part), "{part} missing: {text}");
        }
        assert_eq!(port_in_unit(&text), Some(3001));
    }
}
