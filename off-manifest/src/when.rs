//! `when:`, the condition of a check item: the item is checked only when
//! every keyword argument it names has one of the values given.
//!
//! ```yaml
//! config:
//! - path: /etc/apt/sources.list.d/pgdg.list
//!   when: {apt_source: pgdg}                # equal to
//! package:
//! - {name: repmgr, when: {role: [primary, replica]}}   # one of
//! - {name: pgbouncer, when: {role: {not: replica}}}    # none of
//! ```
//!
//! Values compare as text, the way a placeholder's value is written
//! (`true`, `15`, `pgdg`); a kwarg with neither a value nor a default makes
//! the condition false.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

use crate::scalar_text;

/// A parsed `when:` map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct When {
    /// By kwarg name.
    pub tests: Vec<(String, Expect)>,
}

/// What one kwarg must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// One of these values (`pgdg`, `[primary, replica]`).
    OneOf(Vec<String>),
    /// None of these (`{not: replica}`).
    NoneOf(Vec<String>),
}

impl When {
    /// Reads a `when:` value; the message says what is wrong with it.
    pub fn from_value(value: &Value) -> Result<When, String> {
        let Value::Object(entries) = value else {
            return Err(
                "`when` must be a map of kwargs to values, like `when: {apt_source: pgdg}`".into(),
            );
        };
        if entries.is_empty() {
            return Err("`when` is empty: name a kwarg and its value".into());
        }
        let tests = entries
            .iter()
            .map(|(name, expected)| {
                let expect = match expected {
                    Value::Object(not) => match (not.len(), not.get("not")) {
                        (1, Some(values)) => Expect::NoneOf(values_of(name, values)?),
                        _ => {
                            return Err(format!(
                                "`when.{name}`: a map here must be `{{not: VALUE}}`"
                            ));
                        }
                    },
                    values => Expect::OneOf(values_of(name, values)?),
                };
                Ok((name.clone(), expect))
            })
            .collect::<Result<_, String>>()?;
        Ok(When { tests })
    }

    /// Whether the condition holds with the kwargs' values from `lookup`.
    pub fn holds(&self, lookup: &dyn Fn(&str) -> Option<String>) -> bool {
        self.tests.iter().all(|(name, expect)| match lookup(name) {
            None => false,
            Some(value) => match expect {
                Expect::OneOf(values) => values.contains(&value),
                Expect::NoneOf(values) => !values.contains(&value),
            },
        })
    }

    /// The kwargs it names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tests.iter().map(|(name, _)| name.as_str())
    }
}

fn values_of(name: &str, value: &Value) -> Result<Vec<String>, String> {
    let scalar = |value: &Value| match value {
        Value::String(_) | Value::Bool(_) | Value::Number(_) => Ok(scalar_text(value)),
        _ => Err(format!(
            "`when.{name}`: expected a value, a list of values or {{not: ..}}"
        )),
    };
    match value {
        Value::Array(items) if !items.is_empty() => items.iter().map(scalar).collect(),
        Value::Array(_) => Err(format!("`when.{name}`: an empty list matches nothing")),
        other => Ok(vec![scalar(other)?]),
    }
}

impl fmt::Display for When {
    /// The YAML flow form: `{apt_source: pgdg, role: {not: [a, b]}}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |values: &[String]| match values {
            [one] => one.clone(),
            many => format!("[{}]", many.join(", ")),
        };
        f.write_str("{")?;
        for (i, (name, expect)) in self.tests.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            match expect {
                Expect::OneOf(values) => write!(f, "{sep}{name}: {}", list(values))?,
                Expect::NoneOf(values) => write!(f, "{sep}{name}: {{not: {}}}", list(values))?,
            }
        }
        f.write_str("}")
    }
}

impl Serialize for When {
    /// As written, values as text.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let list = |values: &[String]| match values {
            [one] => Value::String(one.clone()),
            many => Value::Array(many.iter().cloned().map(Value::String).collect()),
        };
        let mut m = s.serialize_map(Some(self.tests.len()))?;
        for (name, expect) in &self.tests {
            match expect {
                Expect::OneOf(values) => m.serialize_entry(name, &list(values))?,
                Expect::NoneOf(values) => {
                    m.serialize_entry(name, &serde_json::json!({ "not": list(values) }))?;
                }
            }
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for When {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<When, D::Error> {
        let value = Value::deserialize(d)?;
        When::from_value(&value).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn when(value: Value) -> When {
        When::from_value(&value).unwrap()
    }

    #[test]
    fn holds_for_values_lists_and_not() {
        let lookup = |name: &str| match name {
            "apt_source" => Some("pgdg".to_owned()),
            "with_index" => Some("false".to_owned()),
            "port" => Some("5432".to_owned()),
            _ => None,
        };
        assert!(when(json!({"apt_source": "pgdg"})).holds(&lookup));
        assert!(!when(json!({"apt_source": "distribution"})).holds(&lookup));
        assert!(when(json!({"apt_source": ["a", "pgdg"]})).holds(&lookup));
        assert!(when(json!({"with_index": false, "port": 5432})).holds(&lookup));
        assert!(!when(json!({"with_index": true, "port": 5432})).holds(&lookup));
        assert!(when(json!({"apt_source": {"not": "distribution"}})).holds(&lookup));
        assert!(!when(json!({"apt_source": {"not": ["pgdg"]}})).holds(&lookup));
        // No value: the branch on it is not taken.
        assert!(!when(json!({"role": {"not": "replica"}})).holds(&lookup));
    }

    #[test]
    fn bad_shapes_are_refused() {
        for (value, wanted) in [
            (json!("pgdg"), "must be a map"),
            (json!({}), "is empty"),
            (json!({"a": []}), "empty list"),
            (json!({"a": {"no": 1}}), "{not: VALUE}"),
            (json!({"a": [[1]]}), "expected a value"),
            (json!({"a": null}), "expected a value"),
        ] {
            let error = When::from_value(&value).unwrap_err();
            assert!(error.contains(wanted), "{value}: {error}");
        }
    }

    #[test]
    fn shown_as_written() {
        let written = json!({"apt_source": "pgdg", "role": {"not": ["a", "b"]}});
        let w = when(written.clone());
        assert_eq!(w.to_string(), "{apt_source: pgdg, role: {not: [a, b]}}");
        assert_eq!(serde_json::to_value(&w).unwrap(), written);
    }
}
