//! A value that must never be printed: sudo passwords, database passwords.

use std::fmt;
use std::sync::Mutex;

/// A secret string. `Debug` and `Display` print `***`, so a secret cannot
/// leak into logs, events or error messages by accident; the value is only
/// reachable through [`Secret::expose`], which callers use to write it to a
/// process's standard input.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        let value = value.into();
        remember(&value);
        Secret(value)
    }

    /// The secret value. Never pass it to argv, a log line or an event.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// The value of every [`Secret`] made in this process, so that whatever leaves it as an event
/// can be redacted even where a recipe put a secret's value into a command by hand.
static KNOWN: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn remember(value: &str) {
    if value.is_empty() {
        return;
    }
    let mut known = KNOWN.lock().unwrap_or_else(|e| e.into_inner());
    if !known.iter().any(|k| k == value) {
        known.push(value.to_string());
    }
}

/// The values of every [`Secret`] made so far (the sudo password among them): what events
/// and metrics redact. Never print them.
pub fn values_to_redact() -> Vec<String> {
    KNOWN.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// `text` with the value of every [`Secret`] made so far replaced by `***` (longest first, so a
/// secret that holds another is replaced whole).
pub fn redact_secrets(text: &str) -> std::borrow::Cow<'_, str> {
    let known = KNOWN.lock().unwrap_or_else(|e| e.into_inner());
    if !known.iter().any(|k| text.contains(k.as_str())) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut sorted: Vec<&String> = known.iter().collect();
    sorted.sort_by_key(|k| std::cmp::Reverse(k.len()));
    let mut out = text.to_string();
    for secret in sorted {
        out = out.replace(secret.as_str(), "***");
    }
    std::borrow::Cow::Owned(out)
}

/// The environment variable a run's sudo password may come from.
pub const SUDO_PASSWORD_ENV: &str = "OFF_SUDO_PASSWORD";

/// Takes [`SUDO_PASSWORD_ENV`] out of this process's environment and
/// returns its value, so that no command off starts on this machine
/// (`local`, the local transport, `ssh`) inherits the password.
///
/// # Safety
///
/// Changes the environment: no other thread may read or write it at the
/// same time. Call it first thing in `main`, before any thread starts.
pub unsafe fn take_sudo_password_env() -> Option<Secret> {
    let value = std::env::var_os(SUDO_PASSWORD_ENV)?;
    // SAFETY: the caller promises no other thread touches the environment.
    unsafe { std::env::remove_var(SUDO_PASSWORD_ENV) };
    Some(Secret::new(value.to_string_lossy()))
}

/// The sudo password of a run: one line of standard input when
/// `from_stdin` (`--sudo-password-stdin`), else `from_env` (what
/// [`take_sudo_password_env`] took), else none (sudo must then need no
/// password).
pub fn sudo_password(
    from_stdin: bool,
    from_env: Option<Secret>,
) -> std::io::Result<Option<Secret>> {
    if from_stdin {
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::stdin().lock(), &mut line).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("--sudo-password-stdin: cannot read standard input: {e}"),
            )
        })?;
        let password = line.trim_end_matches(['\n', '\r']);
        // An empty line is what `echo "$UNSET_VARIABLE" |` gives: a mistake,
        // and sudo would count it as a failed attempt on every host.
        if password.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "--sudo-password-stdin: standard input held no password (give it as the first line)",
            ));
        }
        return Ok(Some(Secret::new(password)));
    }
    Ok(from_env)
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_secret_made_is_known_for_redaction() {
        let s = Secret::new("correct-horse-battery");
        assert!(values_to_redact().iter().any(|v| v == s.expose()));
        Secret::new("");
        assert!(!values_to_redact().iter().any(String::is_empty));
        assert_eq!(redact_secrets("echo correct-horse-battery!"), "echo ***!");
        assert_eq!(redact_secrets("echo hi"), "echo hi");
    }

    #[test]
    fn never_formats_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "*** Secret(***)");
        assert_eq!(s.expose(), "hunter2");
    }
}
