//! `service install|uninstall|status`: a systemd user unit (Linux), a launchd agent (macOS) or
//! a Task Scheduler logon task (Windows) that runs `openrouter-pkce serve`. The texts are
//! plain data, built and unit-tested on every OS.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Which service manager this platform has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Manager {
    /// systemd user units.
    Systemd,
    /// launchd user agents.
    Launchd,
    /// A Task Scheduler task that starts at the user's logon (no admin rights needed).
    TaskScheduler,
}

/// The launchd label (and plist name).
pub const LAUNCHD_LABEL: &str = "ai.openrouter.pkce";
/// The systemd unit name.
pub const SYSTEMD_UNIT: &str = "openrouter-pkce.service";
/// The Task Scheduler task's name.
pub const TASK_NAME: &str = "openrouter-pkce";

/// This platform's manager, if we support one.
pub fn manager() -> Option<Manager> {
    if cfg!(target_os = "linux") {
        Some(Manager::Systemd)
    } else if cfg!(target_os = "macos") {
        Some(Manager::Launchd)
    } else if cfg!(windows) {
        Some(Manager::TaskScheduler)
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
        // Task Scheduler keeps its own copy; ours records what was registered.
        Manager::TaskScheduler => crate::sys::paths::config_dir()?.join("logon-task.xml"),
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
    // Task Scheduler: the words of <Arguments>.
    if let Some(start) = text.find("<Arguments>") {
        let rest = &text[start + "<Arguments>".len()..];
        let arguments = &rest[..rest.find("</Arguments>")?];
        let mut words = arguments.split_whitespace().map(|w| w.trim_matches('"'));
        while let Some(word) = words.next() {
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
        Manager::TaskScheduler => {
            let escape = crate::server::pages::escape_html;
            let arguments: Vec<String> = args.iter().map(|a| windows_quote(a)).collect();
            let account = escape(&account_name());
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-16\"?>\n\
                 <Task version=\"1.2\" xmlns=\"http://schemas.microsoft.com/windows/2004/02/mit/task\">\n\
                 \x20 <RegistrationInfo>\n    <Description>openrouter-pkce login service (OAuth PKCE callbacks on localhost)</Description>\n  </RegistrationInfo>\n\
                 \x20 <Triggers>\n    <LogonTrigger>\n      <Enabled>true</Enabled>\n      <UserId>{account}</UserId>\n    </LogonTrigger>\n  </Triggers>\n\
                 \x20 <Principals>\n    <Principal id=\"Author\">\n      <UserId>{account}</UserId>\n      <LogonType>InteractiveToken</LogonType>\n      <RunLevel>LeastPrivilege</RunLevel>\n    </Principal>\n  </Principals>\n\
                 \x20 <Settings>\n    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>\n    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>\n    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>\n    <ExecutionTimeLimit>PT0S</ExecutionTimeLimit>\n    <RestartOnFailure>\n      <Interval>PT1M</Interval>\n      <Count>3</Count>\n    </RestartOnFailure>\n    <Hidden>true</Hidden>\n  </Settings>\n\
                 \x20 <Actions Context=\"Author\">\n    <Exec>\n      <Command>{}</Command>\n      <Arguments>{}</Arguments>\n    </Exec>\n  </Actions>\n</Task>\n",
                escape(&exe.display().to_string()),
                escape(&arguments.join(" "))
            )
        }
    }
}

/// The account the logon task is for (and runs as).
fn account_name() -> String {
    #[cfg(windows)]
    if let Some(name) = crate::sys::process::account_name() {
        return name;
    }
    // Off Windows the text is only built in tests; the name is a placeholder.
    "USER".to_owned()
}

/// One argument on a Windows command line, quoted as the C runtime parses it back.
fn windows_quote(arg: &str) -> String {
    if !arg.is_empty() && !arg.contains([' ', '\t', '"']) {
        return arg.to_owned();
    }
    let mut quoted = String::from('"');
    let mut backslashes = 0;
    for c in arg.chars() {
        match c {
            '\\' => backslashes += 1,
            '"' => {
                quoted.push_str(&"\\".repeat(backslashes * 2 + 1));
                quoted.push('"');
                backslashes = 0;
            }
            _ => {
                quoted.push_str(&"\\".repeat(backslashes));
                quoted.push(c);
                backslashes = 0;
            }
        }
    }
    quoted.push_str(&"\\".repeat(backslashes * 2));
    quoted.push('"');
    quoted
}

/// The bytes of a unit file: Task Scheduler reads its XML as UTF-16 (with a byte-order mark);
/// the others are UTF-8.
pub fn unit_bytes(manager: Manager, text: &str) -> Vec<u8> {
    match manager {
        Manager::TaskScheduler => [0xFF, 0xFE]
            .into_iter()
            .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
            .collect(),
        _ => text.as_bytes().to_vec(),
    }
}

/// An installed unit file's text, whichever encoding [`unit_bytes`] gave it.
pub fn read_unit(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    match bytes.strip_prefix(&[0xFF, 0xFE]) {
        Some(wide) => {
            let units: Vec<u16> = wide
                .chunks_exact(2)
                .map(|p| u16::from_le_bytes([p[0], p[1]]))
                .collect();
            Some(String::from_utf16_lossy(&units))
        }
        None => Some(String::from_utf8_lossy(&bytes).into_owned()),
    }
}

/// How to start (after install) or stop (before uninstall) the unit.
pub fn start_hint(manager: Manager, path: &Path) -> String {
    match manager {
        Manager::Systemd => format!(
            "systemctl --user daemon-reload && systemctl --user enable --now {SYSTEMD_UNIT}"
        ),
        Manager::Launchd => format!("launchctl load -w {}", path.display()),
        Manager::TaskScheduler => format!("schtasks /Run /TN {TASK_NAME}"),
    }
}

/// How to stop the unit.
pub fn stop_hint(manager: Manager, path: &Path) -> String {
    match manager {
        Manager::Systemd => format!("systemctl --user disable --now {SYSTEMD_UNIT}"),
        Manager::Launchd => format!("launchctl unload -w {}", path.display()),
        Manager::TaskScheduler => format!("schtasks /End /TN {TASK_NAME}"),
    }
}

/// The message for platforms without a supported manager.
pub fn unsupported(args: &[String]) -> Error {
    Error::bad_input(
        "service",
        format!(
            "a platform with systemd, launchd or Task Scheduler; not supported here. Run it yourself instead: openrouter-pkce {}",
            args.join(" ")
        ),
    )
}

/// Writes `bytes` to `path` atomically (not secret: 0644 would do, but 0600 costs nothing).
pub fn write_unit(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::internal(format!("creating {}", dir.display()), e))?;
    }
    crate::sys::files::write_private_atomic(path, bytes)
}

/// Registers (`register`) or deletes the logon task with Task Scheduler (`schtasks`), whose
/// answer is the one that counts: a task it did not take is an error, with its words.
pub fn schtasks(register: Option<&Path>) -> Result<()> {
    let mut cmd = std::process::Command::new("schtasks");
    match register {
        Some(xml) => cmd
            .args(["/Create", "/TN", TASK_NAME, "/XML"])
            .arg(xml)
            .arg("/F"),
        None => cmd.args(["/Delete", "/TN", TASK_NAME, "/F"]),
    };
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| Error::internal("running schtasks", e))?;
    if out.status.success() {
        return Ok(());
    }
    // Its words, bounded and stripped of control characters before a person sees them.
    let text = String::from_utf8_lossy(&out.stderr);
    let said = crate::error::sanitize(&text.chars().take(300).collect::<String>(), &[]);
    Err(Error::internal(
        "Task Scheduler",
        format!("schtasks failed ({}): {said}", out.status),
    ))
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

    /// The logon task's XML (built here, on any OS): the program, each argument quoted the way
    /// Windows parses a command line, escaped for XML, and the port read back.
    #[test]
    fn the_logon_task_runs_serve_at_logon() {
        let text = unit_text(
            Manager::TaskScheduler,
            Path::new(r"C:\Program Files\openrouter-pkce\openrouter-pkce.exe"),
            &serve_args(3004, Some("https://x.example/?a=1&b=\"2\"")),
        );
        for part in [
            "<LogonTrigger>",
            "<Command>C:\\Program Files\\openrouter-pkce\\openrouter-pkce.exe</Command>",
            "<Arguments>serve --port 3004 --log-format json --openrouter-url &quot;https://x.example/?a=1&amp;b=\\&quot;2\\&quot;&quot;</Arguments>",
            "<RunLevel>LeastPrivilege</RunLevel>",
        ] {
            assert!(text.contains(part), "{part} missing: {text}");
        }
        assert_eq!(port_in_unit(&text), Some(3004));
        assert_eq!(windows_quote(r"a\b c\"), r#""a\b c\\""#);
        assert_eq!(windows_quote(""), r#""""#);
        // Written as UTF-16 with a byte-order mark, and read back the same.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("task.xml");
        std::fs::write(&path, unit_bytes(Manager::TaskScheduler, &text)).unwrap();
        assert_eq!(std::fs::read(&path).unwrap()[..2], [0xFF, 0xFE]);
        assert_eq!(read_unit(&path).unwrap(), text);
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
