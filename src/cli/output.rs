//! What the commands write: one JSON line on stdout, and the key to `--output`.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::openrouter::KeyResponse;

/// Writes one line to stdout; a closed stdout is an error, not a panic.
pub fn print_line(line: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(|e| Error::internal("writing to stdout", e))
}

/// Writes `value` as one JSON line on stdout.
pub fn print_json(value: &impl Serialize) -> Result<()> {
    let line =
        serde_json::to_string(value).map_err(|e| Error::internal("encoding the output", e))?;
    // serde_json leaves U+2028, U+2029 and U+0085 raw; a reader splitting lines on them would
    // cut the one JSON object in two. Escaped, every JSON reader decodes the same text.
    let line = line
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
        .replace('\u{85}', "\\u0085");
    print_line(&line)
}

/// Writes `text` as it is to stdout.
/// The JSON of a command that also told a person the same in words on stderr: on a terminal
/// the words are enough (two renderings of one answer read as noise); piped, the JSON is the
/// answer.
pub fn print_json_when_piped(value: &impl Serialize) -> Result<()> {
    use std::io::IsTerminal;
    if std::io::stdout().is_terminal() {
        return Ok(());
    }
    print_json(value)
}

pub fn print_text(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| Error::internal("writing to stdout", e))
}

/// What `login --output FILE` prints instead of the key.
#[derive(Serialize)]
struct KeyFileReport<'a> {
    user_id: Option<&'a str>,
    key_file: String,
}

/// Prints the key as `{"key","user_id"}`, or writes it to `output` (0600, atomic, off the
/// async threads) and prints `{"user_id","key_file"}`. A key that cannot be written is not
/// lost: it goes to stdout as usual, and the write error ends the command non-zero.
/// On success, says where the key went, for the person.
pub async fn deliver_key(key: KeyResponse, output: Option<PathBuf>) -> Result<String> {
    let Some(path) = output else {
        print_json(&key)?;
        return Ok("the key is on stdout".into());
    };
    let (key, path, written) = tokio::task::spawn_blocking(move || {
        let written = write_key(&key, &path);
        (key, path, written)
    })
    .await
    .map_err(|e| Error::internal("writing the key", e))?;
    match written {
        Ok(()) => {
            print_json(&KeyFileReport {
                user_id: key.user_id.as_deref(),
                key_file: path.display().to_string(),
            })?;
            Ok(format!("the key was written to {}", path.display()))
        }
        Err(e) => {
            print_json(&key)?;
            Err(Error::internal(
                format!(
                    "the key could not be written to {}, so it is on stdout instead",
                    path.display()
                ),
                e,
            ))
        }
    }
}

/// Checks `--output FILE` before anything is sent: its directory exists and takes new files,
/// and FILE is absent or a regular file (not a device, FIFO, directory, socket or symlink),
/// so a minted key is never thrown away (or written over a device node).
pub fn check_output(path: &Path) -> Result<()> {
    let expected = |what: String| Error::bad_input("--output", what);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(expected(format!(
                "a file in a directory ({} is not one)",
                dir.display()
            )));
        }
        Err(e) => {
            return Err(expected(format!(
                "a file in an existing directory ({}: {e})",
                dir.display()
            )));
        }
    }
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(expected(format!("a path we can inspect ({e})"))),
        Ok(m) if m.is_file() => {}
        Ok(m) => {
            let kind = if m.is_dir() {
                "a directory"
            } else if m.file_type().is_symlink() {
                "a symbolic link"
            } else {
                "a device, FIFO or socket"
            };
            return Err(expected(format!(
                "a regular file or a new name ({} is {kind})",
                path.display()
            )));
        }
    }
    // The key is renamed into place from a file beside it: the directory must take new files.
    let probe = dir.join(format!(".openrouter-pkce-check.{}", std::process::id()));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => Err(expected(format!(
            "a file in a directory you can write to ({}: {e})",
            dir.display()
        ))),
    }
}

/// [`check_output`] off the async threads, for an optional `--output`.
pub async fn check_output_flag(output: &Option<PathBuf>) -> Result<()> {
    let Some(path) = output.clone() else {
        return Ok(());
    };
    tokio::task::spawn_blocking(move || check_output(&path))
        .await
        .map_err(|e| Error::internal("checking --output", e))?
}

fn write_key(key: &KeyResponse, path: &Path) -> Result<()> {
    let mut contents = key.key.secret().as_bytes().to_vec();
    contents.push(b'\n');
    crate::sys::files::write_private_atomic(path, &contents)
}
