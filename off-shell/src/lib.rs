//! Shell quoting and the construction of the command line an operation runs.
//!
//! Every value interpolated into a command goes through [`quote`]; the
//! `sh!` macro of `off-runtime` does that for each `{value}` of its format
//! string. A crate of its own, without dependencies, because the manifest's
//! placeholders, the transports and the operations all quote the same way.

use std::borrow::Cow;
use std::fmt::Display;

/// Quotes `value` as one word for a POSIX shell.
///
/// Words made only of characters that no shell treats specially are returned
/// as they are (so commands stay readable in logs); anything else is wrapped
/// in single quotes, with embedded single quotes written as `'\''`.
pub fn quote(value: &str) -> Cow<'_, str> {
    let plain = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./:=@%+,".contains(&b));
    if plain {
        Cow::Borrowed(value)
    } else {
        let mut quoted = String::with_capacity(value.len() + 2);
        quoted.push('\'');
        for c in value.chars() {
            if c == '\'' {
                quoted.push_str("'\\''");
            } else {
                quoted.push(c);
            }
        }
        quoted.push('\'');
        Cow::Owned(quoted)
    }
}

/// Used by `sh!`: formats a value with `Display` and quotes the result.
#[doc(hidden)]
pub fn quote_display(value: impl Display) -> String {
    quote(&value.to_string()).into_owned()
}

/// Whether `name` can be exported as an environment variable by a POSIX shell.
pub fn is_env_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The command as it runs on the target: the user's command with the current
/// directory and environment applied, run by `/bin/sh -c`. `cd` failing stops
/// the command, as Fabric's `cd` does.
pub fn script(command: &str, cwd: Option<&str>, env: &[(String, String)]) -> String {
    let mut script = String::new();
    if let Some(dir) = cwd {
        script.push_str("cd ");
        script.push_str(&quote(dir));
        script.push_str(" && ");
    }
    for (name, value) in env {
        script.push_str("export ");
        script.push_str(name);
        script.push('=');
        script.push_str(&quote(value));
        script.push_str(" && ");
    }
    script.push_str(command);
    script
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn echo_through_sh(value: &str) -> String {
        let out = Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("printf %s {}", quote(value)))
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn plain_words_stay_readable() {
        assert_eq!(quote("postgresql-15"), "postgresql-15");
        assert_eq!(quote("/etc/a.conf"), "/etc/a.conf");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
    }

    #[test]
    fn hostile_values_are_data() {
        for value in [
            "'; touch /tmp/pwned #",
            "$(id)",
            "a\nb",
            "`id`",
            "it's",
            "\\",
            "\"$HOME\"",
            "*",
            "-n",
        ] {
            assert_eq!(echo_through_sh(value), value);
        }
    }

    #[test]
    fn script_applies_directory_and_environment() {
        let s = script("echo $X", Some("/tmp/a dir"), &[("X".into(), "v w".into())]);
        assert_eq!(s, "cd '/tmp/a dir' && export X='v w' && echo $X");
    }

    #[test]
    fn env_names() {
        assert!(is_env_name("PGDATA"));
        assert!(is_env_name("_x1"));
        assert!(!is_env_name("1X"));
        assert!(!is_env_name("A-B"));
        assert!(!is_env_name(""));
        assert!(!is_env_name("A;rm"));
    }
}
