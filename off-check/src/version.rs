//! Version constraints: `15.18` (an exact value) or `>=15, <16`.
//!
//! Versions are compared the way package managers and semver do it, without
//! insisting on three components: a version is split into runs of digits
//! (compared as numbers) and runs of letters (compared as text); `.`, `-`,
//! `+`, `_` and `~` only separate runs. A missing component counts as 0, so
//! `15` < `15.1` and `15.0` = `15`; a letter run sorts before a number or
//! the end, so `1.0rc1` < `1.0`.
//!
//! An exact value (`15.18`, or `=15.18`) matches every version that starts
//! with those components, as semver's `=15` matches `15.x.y`: `15` matches
//! `15.18`, `15.18` matches `15.18-0+deb12u1`, but `15.1` does not match
//! `15.18`. A Debian epoch (`1:`) is ignored unless the constraint names one.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// A comma-separated list of clauses, all of which must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionConstraint {
    text: String,
    clauses: Vec<(Op, Vec<Part>)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// `=` or no operator: the version starts with these components.
    Prefix,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Num(u64),
    Text(String),
}

/// Splits a version into number and letter runs; `None` when it does not
/// start with a digit (after an optional `v`).
fn parts(version: &str) -> Option<Vec<Part>> {
    let version = version.trim();
    let version = version.strip_prefix(['v', 'V']).unwrap_or(version);
    if !version.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let mut parts = Vec::new();
    let mut rest = version;
    while let Some(c) = rest.chars().next() {
        if c.is_ascii_digit() {
            let end = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            // Very long digit runs (a hash) compare as text rather than overflow.
            parts.push(match rest[..end].parse() {
                Ok(n) => Part::Num(n),
                Err(_) => Part::Text(rest[..end].to_string()),
            });
            rest = &rest[end..];
        } else if c.is_alphabetic() {
            let end = rest
                .find(|c: char| !c.is_alphabetic())
                .unwrap_or(rest.len());
            parts.push(Part::Text(rest[..end].to_string()));
            rest = &rest[end..];
        } else {
            rest = &rest[c.len_utf8()..];
        }
    }
    Some(parts)
}

fn compare(a: &[Part], b: &[Part]) -> Ordering {
    for i in 0..a.len().max(b.len()) {
        let order = match (a.get(i), b.get(i)) {
            (Some(Part::Num(x)), Some(Part::Num(y))) => x.cmp(y),
            (Some(Part::Text(x)), Some(Part::Text(y))) => x.cmp(y),
            (Some(Part::Num(_)), Some(Part::Text(_))) => Ordering::Greater,
            (Some(Part::Text(_)), Some(Part::Num(_))) => Ordering::Less,
            (Some(Part::Num(x)), None) => x.cmp(&0),
            (None, Some(Part::Num(y))) => 0.cmp(y),
            (Some(Part::Text(_)), None) => Ordering::Less,
            (None, Some(Part::Text(_))) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    Ordering::Equal
}

/// Why a constraint does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid version constraint `{text}`: {reason}")]
pub struct ConstraintError {
    pub text: String,
    pub reason: String,
}

impl FromStr for VersionConstraint {
    type Err = ConstraintError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = |reason: String| ConstraintError {
            text: text.to_string(),
            reason,
        };
        let mut clauses = Vec::new();
        for clause in text.split(',') {
            let clause = clause.trim();
            if clause.is_empty() {
                return Err(err("empty clause (write e.g. `>=15, <16`)".into()));
            }
            let (op, version) = [
                (">=", Op::Ge),
                ("<=", Op::Le),
                ("!=", Op::Ne),
                ("==", Op::Prefix),
                (">", Op::Gt),
                ("<", Op::Lt),
                ("=", Op::Prefix),
            ]
            .into_iter()
            .find_map(|(token, op)| clause.strip_prefix(token).map(|v| (op, v)))
            .unwrap_or((Op::Prefix, clause));
            let version = version.trim();
            // An epoch is kept as the leading component when the constraint has one.
            let parsed = parts(version).filter(|p| !p.is_empty()).ok_or_else(|| {
                err(format!(
                    "`{version}` is not a version (versions start with a digit); operators are =, !=, <, <=, >, >="
                ))
            })?;
            clauses.push((op, parsed));
        }
        Ok(VersionConstraint {
            text: text.trim().to_string(),
            clauses,
        })
    }
}

impl VersionConstraint {
    /// Whether `version` (as a tool printed it) satisfies every clause.
    /// A text that is not a version satisfies nothing.
    pub fn matches(&self, version: &str) -> bool {
        let has_epoch = self.text.contains(':');
        let version = match version.split_once(':') {
            Some((epoch, rest))
                if !has_epoch && !epoch.is_empty() && epoch.bytes().all(|b| b.is_ascii_digit()) =>
            {
                rest
            }
            _ => version,
        };
        let Some(actual) = parts(version) else {
            return false;
        };
        self.clauses.iter().all(|(op, wanted)| match op {
            Op::Prefix => actual.len() >= wanted.len() && actual[..wanted.len()] == wanted[..],
            Op::Ne => !(actual.len() >= wanted.len() && actual[..wanted.len()] == wanted[..]),
            Op::Lt => compare(&actual, wanted) == Ordering::Less,
            Op::Le => compare(&actual, wanted) != Ordering::Greater,
            Op::Gt => compare(&actual, wanted) == Ordering::Greater,
            Op::Ge => compare(&actual, wanted) != Ordering::Less,
        })
    }

    /// The constraint as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for VersionConstraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(text: &str) -> VersionConstraint {
        text.parse().unwrap()
    }

    #[test]
    fn exact_values_match_by_leading_components() {
        assert!(c("15").matches("15.18"));
        assert!(c("15.18").matches("15.18"));
        assert!(c("15.18").matches("15.18-0+deb12u1"));
        assert!(c("=15.18").matches("15.18"));
        assert!(!c("15.1").matches("15.18"));
        assert!(!c("15.18").matches("15"));
        assert!(!c("16").matches("15.18"));
        assert!(c("15.18").matches("1:15.18-1"), "epochs are ignored");
        assert!(!c("2:15").matches("1:15.18"));
        assert!(!c("15").matches("not a version"));
    }

    #[test]
    fn ranges_compare_numerically() {
        let r = c(">=15, <16");
        assert!(r.matches("15"));
        assert!(r.matches("15.18"));
        assert!(r.matches("15.9.1"));
        assert!(!r.matches("16.0"));
        assert!(!r.matches("14.99"));
        assert!(c(">9").matches("10"), "numbers, not text");
        assert!(c("<1.0").matches("1.0rc1"));
        assert!(c("!=15.2").matches("15.20"));
        assert!(!c("!=15").matches("15.2"));
        assert!(c("<=15").matches("15.0"));
        assert!(c("v1.2").matches("1.2.3"));
    }

    #[test]
    fn bad_constraints_say_why() {
        for bad in ["", ">=", ">=15,", "latest", ">= x", "~>1"] {
            let e = bad.parse::<VersionConstraint>().unwrap_err();
            assert!(e.to_string().contains("invalid version constraint"), "{e}");
        }
    }
}
