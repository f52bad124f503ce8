//! A YAML file's values as the user wrote them.
//!
//! YAML reads `0750` as the number 750, `1.10` as 1.1 and `yes` as true, so
//! a kwarg that takes text (a `String`, a mode, a version) would see `750.0`,
//! `1.1` and `true`. Beside the parsed values, the driver keeps the same
//! tree with every non-string scalar replaced by its source text, taken from
//! the span serde-saphyr reports for it.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use serde_saphyr::Spanned;

/// The top-level map of the YAML document `text` with each number and
/// boolean as its source text (`0750`, `1.10`, `yes`); `None` when the text
/// is not such a map (the typed parse reports why).
pub(crate) fn top_level(text: &str) -> Option<Map<String, Value>> {
    let map: BTreeMap<String, Spanned<Node>> = serde_saphyr::from_str(text).ok()?;
    Some(as_written_map(text, &map))
}

/// The `vars` of every host of an inventory, as [`top_level`] gives them.
pub(crate) fn inventory_vars(text: &str) -> Option<Vec<Map<String, Value>>> {
    #[derive(Deserialize)]
    struct Inventory {
        hosts: Vec<Host>,
    }
    #[derive(Deserialize)]
    struct Host {
        #[serde(default)]
        vars: BTreeMap<String, Spanned<Node>>,
    }
    let inventory: Inventory = serde_saphyr::from_str(text).ok()?;
    Some(
        inventory
            .hosts
            .iter()
            .map(|host| as_written_map(text, &host.vars))
            .collect(),
    )
}

fn as_written_map(text: &str, map: &BTreeMap<String, Spanned<Node>>) -> Map<String, Value> {
    map.iter()
        .map(|(key, node)| (key.clone(), as_written(text, node)))
        .collect()
}

fn as_written(text: &str, node: &Spanned<Node>) -> Value {
    match &node.value {
        Node::Scalar(value @ (Value::Number(_) | Value::Bool(_))) => {
            // Where the value is defined: an alias (`*a`) stands for its anchor's text.
            let span = node.defined.span();
            let source = span
                .byte_offset()
                .zip(span.byte_len())
                .and_then(|(start, len)| text.get(start as usize..(start + len) as usize));
            match source {
                Some(source) => Value::String(source.trim().to_string()),
                None => value.clone(),
            }
        }
        Node::Scalar(other) => other.clone(),
        Node::Seq(items) => Value::Array(items.iter().map(|i| as_written(text, i)).collect()),
        Node::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.clone(), as_written(text, v)))
                .collect(),
        ),
    }
}

/// Any YAML value, its children with their spans.
enum Node {
    Scalar(Value),
    Seq(Vec<Spanned<Node>>),
    Map(Vec<(String, Spanned<Node>)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Scalar(v.into()))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Scalar(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Scalar(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Scalar(v.into()))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Scalar(v.into()))
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Scalar(Value::Null))
    }
    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Scalar(Value::Null))
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        Node::deserialize(deserializer)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry::<String, _>()? {
            entries.push(entry);
        }
        Ok(Node::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_booleans_keep_their_source_text() {
        let text = "a: &x 0o17\nmode: 0750  # octal?\nv: 1.10\nq: \"0750\"\non: yes\n\
                    list: [0750, 1e3, *x, 'y']\nm: {k: 07}\nn: ~\n";
        let written = Value::Object(top_level(text).unwrap());
        assert_eq!(
            written,
            serde_json::json!({
                "a": "0o17", "mode": "0750", "v": "1.10", "q": "0750", "on": "yes",
                "list": ["0750", "1e3", "0o17", "y"], "m": {"k": "07"}, "n": null,
            })
        );
    }

    #[test]
    fn inventory_vars_per_host() {
        let text = "hosts:\n- host: a\n  vars: {mode: 0750}\n- host: b\n";
        let vars = inventory_vars(text).unwrap();
        assert_eq!(vars.len(), 2);
        assert_eq!(vars[0]["mode"], "0750");
        assert!(vars[1].is_empty());
    }
}
