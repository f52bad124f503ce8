//! What a recipe's `#[recipe(check(...))]` says about a host, in one model
//! for every stage that reads it: the macro's attribute parser builds it
//! (owned strings), the generated binary holds it as a `static` (borrowed
//! strings, the same type), `cargo off gen-config` writes it into
//! `off.yaml`, and off-check turns it into check-spec items for the
//! recipe's `--check`. Strings may hold `{param}` placeholders, filled with
//! the kwargs' values when checking.
//!
//! ```
//! use off_input::annotations::{CheckAnnotations, VersionAnnotation};
//! static CHECKS: CheckAnnotations = CheckAnnotations {
//!     version: Some(VersionAnnotation::new("psql --version", None, Some("{version}"))),
//!     ..CheckAnnotations::NONE
//! };
//! assert_eq!(CHECKS.version.as_ref().unwrap().cmd, "psql --version");
//! ```

use std::borrow::Cow;
use std::time::Duration;

pub use crate::ServiceState;

/// A string written in the recipe: borrowed in a `static`, owned when parsed.
pub type Text = Cow<'static, str>;
/// A list of annotations, likewise.
pub type List<T> = Cow<'static, [T]>;

/// `check(version(..), alive(..), os = [..], service(..), port = .., package = ..)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckAnnotations {
    /// `version(cmd = "...", regex = "...", expected = "...")`.
    pub version: Option<VersionAnnotation>,
    /// `alive(...)`, repeatable.
    pub alive: List<AliveAnnotation>,
    /// `os = ["Debian 12", ...]`.
    pub os: List<Text>,
    /// `service(name = "...", state = "running")`, repeatable.
    pub services: List<ServiceAnnotation>,
    /// `port = N` or `port = [N, M]`, repeatable.
    pub ports: List<u16>,
    /// `package = "..."` or `package = ["a", "b"]`, repeatable.
    pub packages: List<Text>,
}

/// `version(cmd = "psql --version", regex = r"(\d+)", expected = "{version}")`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionAnnotation {
    /// Command whose output holds the version.
    pub cmd: Text,
    /// Regex whose first capture group is the version; `None` lets the check
    /// engine pick its default.
    pub regex: Option<Text>,
    /// An exact version or a constraint (`">=15, <16"`, `"{version}"`);
    /// `None` only reports the version found.
    pub expected: Option<Text>,
}

/// `alive(shell = "/bin/sh", cmd = "pg_isready", exit_code = 0, timeout = "5s")`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliveAnnotation {
    /// Defaults to `/bin/sh`.
    pub shell: Text,
    pub cmd: Text,
    /// Defaults to 0.
    pub exit_code: u8,
    /// `None`: the check engine's default.
    pub timeout: Option<Duration>,
}

/// `service(name = "postgresql", state = "running")`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAnnotation {
    pub name: Text,
    /// Defaults to [`ServiceState::Running`].
    pub state: ServiceState,
}

impl CheckAnnotations {
    /// No annotations.
    pub const NONE: CheckAnnotations = CheckAnnotations {
        version: None,
        alive: Cow::Borrowed(&[]),
        os: Cow::Borrowed(&[]),
        services: Cow::Borrowed(&[]),
        ports: Cow::Borrowed(&[]),
        packages: Cow::Borrowed(&[]),
    };

    /// True when `check(...)` was absent or empty.
    pub fn is_empty(&self) -> bool {
        self.version.is_none()
            && self.alive.is_empty()
            && self.os.is_empty()
            && self.services.is_empty()
            && self.ports.is_empty()
            && self.packages.is_empty()
    }
}

impl Default for CheckAnnotations {
    fn default() -> Self {
        CheckAnnotations::NONE
    }
}

impl VersionAnnotation {
    pub const fn new(
        cmd: &'static str,
        regex: Option<&'static str>,
        expected: Option<&'static str>,
    ) -> VersionAnnotation {
        VersionAnnotation {
            cmd: Cow::Borrowed(cmd),
            regex: match regex {
                Some(r) => Some(Cow::Borrowed(r)),
                None => None,
            },
            expected: match expected {
                Some(e) => Some(Cow::Borrowed(e)),
                None => None,
            },
        }
    }
}

impl AliveAnnotation {
    pub const fn new(
        shell: &'static str,
        cmd: &'static str,
        exit_code: u8,
        timeout: Option<Duration>,
    ) -> AliveAnnotation {
        AliveAnnotation {
            shell: Cow::Borrowed(shell),
            cmd: Cow::Borrowed(cmd),
            exit_code,
            timeout,
        }
    }
}

impl ServiceAnnotation {
    pub const fn new(name: &'static str, state: ServiceState) -> ServiceAnnotation {
        ServiceAnnotation {
            name: Cow::Borrowed(name),
            state,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The form a binary holds and the form the parser builds are one type:
    /// equal when they say the same.
    #[test]
    fn static_and_parsed_annotations_are_one_type() {
        static WRITTEN: CheckAnnotations = CheckAnnotations {
            alive: Cow::Borrowed(&[AliveAnnotation::new(
                "/bin/sh",
                "pg_isready",
                0,
                Some(Duration::from_secs(5)),
            )]),
            services: Cow::Borrowed(&[ServiceAnnotation::new("postgresql", ServiceState::Running)]),
            ..CheckAnnotations::NONE
        };
        let parsed = CheckAnnotations {
            alive: vec![AliveAnnotation {
                shell: "/bin/sh".to_owned().into(),
                cmd: "pg_isready".to_owned().into(),
                exit_code: 0,
                timeout: Some(Duration::from_millis(5000)),
            }]
            .into(),
            services: vec![ServiceAnnotation {
                name: "postgresql".to_owned().into(),
                state: ServiceState::Running,
            }]
            .into(),
            ..CheckAnnotations::default()
        };
        assert_eq!(WRITTEN, parsed);
        assert!(!parsed.is_empty());
        assert!(CheckAnnotations::NONE.is_empty());
    }
}
