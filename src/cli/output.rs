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
    print_line(&line)
}

/// Writes `text` as it is to stdout.
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
/// async threads) and prints `{"user_id","key_file"}`.
pub async fn deliver_key(key: KeyResponse, output: Option<PathBuf>) -> Result<()> {
    let Some(path) = output else {
        return print_json(&key);
    };
    let key = tokio::task::spawn_blocking(move || write_key(&key, &path).map(|()| (key, path)))
        .await
        .map_err(|e| Error::internal("writing the key", e))??;
    print_json(&KeyFileReport {
        user_id: key.0.user_id.as_deref(),
        key_file: key.1.display().to_string(),
    })
}

fn write_key(key: &KeyResponse, path: &Path) -> Result<()> {
    let mut contents = key.key.secret().as_bytes().to_vec();
    contents.push(b'\n');
    crate::sys::files::write_private_atomic(path, &contents)
}
