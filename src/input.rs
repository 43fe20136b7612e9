//! Validation of everything the user hands us: URLs, ports, durations, create-code fields.
//!
//! Each function takes the raw string once and returns a typed value or an error naming what
//! was expected. clap calls the `value_*` parsers directly (its message names the flag); the
//! control API and the stand-in call the others. Nothing after this module sees raw input.

use std::time::Duration;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use url::{Host, Url};

use crate::error::{Error, Result};

/// Longest `key_label` OpenRouter accepts.
pub const MAX_KEY_LABEL_CHARS: usize = 100;

/// Whether `url`'s host is a loopback name or address (`localhost`, 127.0.0.0/8, `::1`).
pub fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Parses an absolute http(s) URL, naming `field` when it is not one.
fn parse_http_url(field: &'static str, raw: &str) -> Result<Url> {
    let url =
        Url::parse(raw).map_err(|e| Error::bad_input(field, format!("an absolute URL ({e})")))?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback_host(&url) => Ok(url),
        "http" => Err(Error::bad_input(
            field,
            "an https URL (plain http is allowed only for a loopback host: localhost, 127.0.0.0/8 or [::1])",
        )),
        other => Err(Error::bad_input(
            field,
            format!("an http(s) URL, not scheme {other:?}"),
        )),
    }
}

/// Validates `--openrouter-url`: https, or http on a loopback host (tests, the stand-in).
pub fn parse_openrouter_url(raw: &str) -> Result<Url> {
    let mut url = parse_http_url("--openrouter-url", raw)?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::bad_input(
            "--openrouter-url",
            "a URL without user:password@ (they would go to the browser and in a Basic header)",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::bad_input(
            "--openrouter-url",
            "a base URL without query or fragment",
        ));
    }
    // Endpoint paths are appended, so keep exactly one trailing slash.
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// Validates `--callback-url` by OpenRouter's documented rule: https URLs, and localhost or
/// 127.0.0.1 URLs on any port (not [::1], not the rest of 127.0.0.0/8: OpenRouter would refuse
/// them after the management key was spent on the request).
pub fn parse_callback_url(raw: &str) -> Result<Url> {
    let url = Url::parse(raw)
        .map_err(|e| Error::bad_input("--callback-url", format!("an absolute URL ({e})")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::bad_input(
            "--callback-url",
            "a URL without user:password@ (it is sent to OpenRouter and back to the browser)",
        ));
    }
    let local = matches!(url.host_str(), Some("localhost" | "127.0.0.1"));
    match url.scheme() {
        "https" => Ok(url),
        "http" if local => Ok(url),
        _ => Err(Error::bad_input(
            "--callback-url",
            "an https URL, or http://localhost or http://127.0.0.1 on any port (what OpenRouter accepts)",
        )),
    }
}

/// Validates `--limit`: a finite number of credits, zero or more.
pub fn parse_limit(raw: &str) -> Result<f64> {
    match raw.trim().parse::<f64>() {
        // `-0` is zero, and is sent as 0.
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v + 0.0),
        _ => Err(Error::bad_input(
            "--limit",
            "a finite number of credits, 0 or more",
        )),
    }
}

/// Validates `--expires-at`: an RFC 3339 date-time in the future; returns it normalised.
pub fn parse_expires_at(raw: &str, now: OffsetDateTime) -> Result<String> {
    let at = OffsetDateTime::parse(raw.trim(), &Rfc3339).map_err(|_| {
        Error::bad_input(
            "--expires-at",
            "an RFC 3339 date-time such as 2030-01-31T12:00:00Z",
        )
    })?;
    if at <= now {
        return Err(Error::bad_input(
            "--expires-at",
            "a date-time in the future",
        ));
    }
    at.format(&Rfc3339)
        .map_err(|e| Error::bad_input("--expires-at", format!("a representable date-time ({e})")))
}

/// Validates `--key-label`: at most 100 characters.
pub fn parse_key_label(raw: &str) -> Result<String> {
    if raw.chars().any(char::is_control) {
        return Err(Error::bad_input(
            "--key-label",
            "a label without control characters (newlines, escapes)",
        ));
    }
    let n = raw.chars().count();
    if n > MAX_KEY_LABEL_CHARS {
        return Err(Error::bad_input(
            "--key-label",
            format!("at most {MAX_KEY_LABEL_CHARS} characters (got {n})"),
        ));
    }
    Ok(raw.to_owned())
}

/// Validates `--workspace-id`: a UUID in the 8-4-4-4-12 hex form; returns it lower-cased.
pub fn parse_workspace_id(raw: &str) -> Result<String> {
    let groups: Vec<&str> = raw.split('-').collect();
    let lens = [8, 4, 4, 4, 12];
    let ok = groups.len() == lens.len()
        && groups
            .iter()
            .zip(lens)
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()));
    if !ok {
        return Err(Error::bad_input(
            "--workspace-id",
            "a UUID such as 123e4567-e89b-12d3-a456-426614174000",
        ));
    }
    Ok(raw.to_ascii_lowercase())
}

/// `--usage-limit-type`: the period after which the key's limit resets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum UsageLimitType {
    /// Resets every day.
    Daily,
    /// Resets every week.
    Weekly,
    /// Resets every month.
    Monthly,
}

/// A whole number of seconds from a flag; shows as the number in `--help`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seconds(pub u64);

impl Seconds {
    /// As a duration.
    pub fn duration(self) -> Duration {
        Duration::from_secs(self.0)
    }
}

impl std::fmt::Display for Seconds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// clap parser for `--openrouter-url`.
pub fn value_openrouter_url(raw: &str) -> std::result::Result<Url, String> {
    parse_openrouter_url(raw).map_err(expected_only)
}

/// clap parser for `--callback-url`.
pub fn value_callback_url(raw: &str) -> std::result::Result<Url, String> {
    parse_callback_url(raw).map_err(expected_only)
}

/// Validates `--app-name`: printable text of at most 100 characters (it becomes a header).
pub fn parse_app_name(raw: &str) -> Result<String> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(|c| c.is_control()) {
        return Err(Error::bad_input(
            "--app-name",
            "1 to 100 printable characters (no newlines)",
        ));
    }
    if !name.is_ascii() {
        return Err(Error::bad_input(
            "--app-name",
            "ASCII text (it is sent as an HTTP header)",
        ));
    }
    Ok(name.to_owned())
}

/// clap parser for `--app-name`.
pub fn value_app_name(raw: &str) -> std::result::Result<String, String> {
    parse_app_name(raw).map_err(expected_only)
}

/// Validates `--app-url`: an absolute http(s) URL without credentials (sent as HTTP-Referer).
pub fn parse_app_url(raw: &str) -> Result<Url> {
    match Url::parse(raw.trim()) {
        Ok(url)
            if matches!(url.scheme(), "http" | "https")
                && url.password().is_none()
                && url.username().is_empty() =>
        {
            Ok(url)
        }
        _ => Err(Error::bad_input(
            "--app-url",
            "an absolute http(s) URL without credentials, e.g. https://myapp.example",
        )),
    }
}

/// clap parser for `--app-url`.
pub fn value_app_url(raw: &str) -> std::result::Result<Url, String> {
    parse_app_url(raw).map_err(expected_only)
}

/// clap parser for `--limit`.
pub fn value_limit(raw: &str) -> std::result::Result<f64, String> {
    parse_limit(raw).map_err(expected_only)
}

/// clap parser for `--key-label`.
pub fn value_key_label(raw: &str) -> std::result::Result<String, String> {
    parse_key_label(raw).map_err(expected_only)
}

/// clap parser for `--workspace-id`.
pub fn value_workspace_id(raw: &str) -> std::result::Result<String, String> {
    parse_workspace_id(raw).map_err(expected_only)
}

/// clap parser for `--expires-at` (checked against the clock when parsed).
pub fn value_expires_at(raw: &str) -> std::result::Result<String, String> {
    parse_expires_at(raw, OffsetDateTime::now_utc()).map_err(expected_only)
}

/// clap parser for `--timeout` and `--flow-timeout`: whole seconds, 1 to a day.
pub fn value_timeout(raw: &str) -> std::result::Result<Seconds, String> {
    bounded(raw, 1, crate::defaults::MAX_TIMEOUT_SECS, "seconds").map(Seconds)
}

/// clap parser for `--header-timeout`: whole seconds, 1 to 600.
pub fn value_header_timeout(raw: &str) -> std::result::Result<Seconds, String> {
    bounded(raw, 1, crate::defaults::MAX_HEADER_TIMEOUT_SECS, "seconds").map(Seconds)
}

/// clap parser for `--max-connections`.
pub fn value_max_connections(raw: &str) -> std::result::Result<usize, String> {
    let max = crate::defaults::MAX_MAX_CONNECTIONS as u64;
    bounded(raw, 1, max, "connections").map(|n| n as usize)
}

/// clap parser for `--max-pending`.
pub fn value_max_pending(raw: &str) -> std::result::Result<usize, String> {
    let max = crate::defaults::MAX_MAX_PENDING as u64;
    bounded(raw, 1, max, "logins").map(|n| n as usize)
}

/// A whole number in `lo..=hi`, or a message saying so.
fn bounded(raw: &str, lo: u64, hi: u64, unit: &str) -> std::result::Result<u64, String> {
    match raw.trim().parse::<u64>() {
        Ok(n) if (lo..=hi).contains(&n) => Ok(n),
        _ => Err(format!(
            "expected a whole number of {unit} from {lo} to {hi}"
        )),
    }
}

/// Whether `flag` itself is on the command line (not only its environment variable).
pub fn on_command_line(flag: &str) -> bool {
    std::env::args_os().any(|a| {
        let a = a.to_string_lossy();
        a == flag || a.starts_with(&format!("{flag}="))
    })
}

/// A clap value parser whose refusal names the flag and what was expected but never repeats
/// the value: clap's own message quotes it, and a URL may carry a password
/// (`https://user:pass@host`) that must not end up on a screen, in a log or in a bug report.
#[cfg(feature = "cli")]
#[derive(Clone, Copy)]
pub struct Unechoed<T>(pub fn(&str) -> std::result::Result<T, String>);

#[cfg(feature = "cli")]
impl<T: Clone + Send + Sync + 'static> clap::builder::TypedValueParser for Unechoed<T> {
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> std::result::Result<T, clap::Error> {
        use clap::error::ErrorKind;
        let long = arg.and_then(clap::Arg::get_long);
        let mut flag = long
            .map(|long| format!("--{long}"))
            .unwrap_or_else(|| "value".to_owned());
        // Not on the command line: the value came from the flag's environment variable, which
        // is what the person has to fix.
        if let (Some(_), Some(var)) = (long, arg.and_then(clap::Arg::get_env))
            && !on_command_line(&flag)
        {
            flag = format!(
                "{} (the environment variable for {flag})",
                var.to_string_lossy()
            );
        }
        let refuse = |kind, message: String| clap::Error::raw(kind, message).with_cmd(cmd);
        let text = value.to_str().ok_or_else(|| {
            refuse(
                ErrorKind::InvalidUtf8,
                format!("invalid {flag}: expected UTF-8 text\n"),
            )
        })?;
        (self.0)(text).map_err(|expected| {
            refuse(
                ErrorKind::ValueValidation,
                format!("invalid {flag}: {expected}\n"),
            )
        })
    }
}

/// The "expected ..." part of a bad-input error, for clap (which names the flag itself).
fn expected_only(e: Error) -> String {
    match e {
        Error::BadInput { expected, .. } => format!("expected {expected}"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(e: Error) -> &'static str {
        match e {
            Error::BadInput { field, .. } => field,
            other => panic!("expected BadInput, got {other:?}"),
        }
    }

    #[test]
    fn openrouter_url_allows_https_and_loopback_http_only() {
        assert_eq!(
            parse_openrouter_url("https://openrouter.ai")
                .unwrap()
                .as_str(),
            "https://openrouter.ai/"
        );
        assert!(parse_openrouter_url("http://127.0.0.1:9/").is_ok());
        assert!(parse_openrouter_url("http://localhost:9").is_ok());
        assert!(parse_openrouter_url("http://[::1]:9").is_ok());
        let e = parse_openrouter_url("http://openrouter.ai").unwrap_err();
        assert!(e.to_string().contains("https"), "{e}");
        assert_eq!(field_of(e), "--openrouter-url");
        assert_eq!(
            field_of(parse_openrouter_url("ftp://x").unwrap_err()),
            "--openrouter-url"
        );
        assert_eq!(
            field_of(parse_openrouter_url("not a url").unwrap_err()),
            "--openrouter-url"
        );
        for with_userinfo in ["https://user:pass@openrouter.ai", "http://u@127.0.0.1:9/"] {
            let e = parse_openrouter_url(with_userinfo).unwrap_err();
            assert!(e.to_string().contains("user:password@"), "{e}");
        }
        // A host that merely starts with "localhost" is not loopback.
        assert!(parse_openrouter_url("http://localhost.evil.example").is_err());
    }

    #[test]
    fn openrouter_url_keeps_a_path_prefix() {
        let u = parse_openrouter_url("http://127.0.0.1:9/proxy").unwrap();
        assert_eq!(
            u.join("api/v1/auth/keys").unwrap().path(),
            "/proxy/api/v1/auth/keys"
        );
    }

    #[test]
    fn callback_url_rules() {
        assert!(parse_callback_url("https://example.com/cb").is_ok());
        assert!(parse_callback_url("http://localhost:3000/callback").is_ok());
        assert_eq!(
            field_of(parse_callback_url("http://example.com/cb").unwrap_err()),
            "--callback-url"
        );
        assert_eq!(
            field_of(parse_callback_url("callback").unwrap_err()),
            "--callback-url"
        );
    }

    #[test]
    fn limit_must_be_finite_and_non_negative() {
        assert_eq!(parse_limit("100").unwrap(), 100.0);
        assert_eq!(parse_limit("0").unwrap(), 0.0);
        assert_eq!(parse_limit("2.5").unwrap(), 2.5);
        assert!(
            parse_limit("-0").unwrap().is_sign_positive(),
            "-0 is sent as 0"
        );
        for bad in ["-1", "NaN", "inf", "-inf", "infinity", "ten"] {
            assert_eq!(field_of(parse_limit(bad).unwrap_err()), "--limit", "{bad}");
        }
    }

    #[test]
    fn expires_at_must_be_rfc3339_and_future() {
        let now = OffsetDateTime::parse("2026-01-01T00:00:00Z", &Rfc3339).unwrap();
        assert_eq!(
            parse_expires_at("2027-01-01T00:00:00+00:00", now).unwrap(),
            "2027-01-01T00:00:00Z"
        );
        let e = parse_expires_at("2025-01-01T00:00:00Z", now).unwrap_err();
        assert!(e.to_string().contains("future"), "{e}");
        for bad in ["tomorrow", "2027-01-01", "2027-01-01 00:00"] {
            assert_eq!(
                field_of(parse_expires_at(bad, now).unwrap_err()),
                "--expires-at",
                "{bad}"
            );
        }
    }

    #[test]
    fn key_label_is_capped_at_100_chars() {
        assert!(parse_key_label(&"é".repeat(100)).is_ok());
        for bad in ["a\nb", "\u{1b}[2J", "tab\there"] {
            assert_eq!(field_of(parse_key_label(bad).unwrap_err()), "--key-label");
        }
        assert_eq!(
            field_of(parse_key_label(&"a".repeat(101)).unwrap_err()),
            "--key-label"
        );
    }

    #[test]
    fn workspace_id_must_be_a_uuid() {
        assert_eq!(
            parse_workspace_id("123E4567-e89b-12d3-a456-426614174000").unwrap(),
            "123e4567-e89b-12d3-a456-426614174000"
        );
        for bad in [
            "123",
            "123e4567e89b12d3a456426614174000",
            "123e4567-e89b-12d3-a456-42661417400g",
        ] {
            assert_eq!(
                field_of(parse_workspace_id(bad).unwrap_err()),
                "--workspace-id",
                "{bad}"
            );
        }
    }

    #[test]
    fn bounded_values_refuse_what_would_overflow() {
        assert_eq!(
            value_timeout("300").unwrap().duration(),
            Duration::from_secs(300)
        );
        for bad in [
            "0",
            "86401",
            "999999999999",
            "18446744073709551615",
            "-1",
            "1.5",
            "",
        ] {
            assert!(value_timeout(bad).is_err(), "{bad}");
        }
        assert!(value_max_connections("18446744073709551615").is_err());
        assert_eq!(value_max_connections("512").unwrap(), 512);
        assert!(value_max_pending("0").is_err());
        assert!(value_header_timeout("601").is_err());
    }
}
