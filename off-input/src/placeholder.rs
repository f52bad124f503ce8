//! The `{name}` placeholder grammar, one module for every template of off:
//!
//! - [`pieces`]: format strings, as `sh!` and the counting pass's reading of
//!   `format!` templates take them: `{arg}` or `{arg:spec}` (`arg` empty, an
//!   index or a name), `{{` and `}}` for literal braces; an unclosed `{` or
//!   a lone `}` is an error.
//! - [`named_pieces`]: the strings of `off.yaml` and check specs, which are
//!   not all format strings (a shell command's `awk '{ print }'`): only an
//!   identifier between braces is a placeholder, everything else is text as
//!   written; `{{` and `}}` are single braces when asked.

use std::fmt;

/// A piece of a format string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Literal text, with `{{` and `}}` already read as single braces.
    Text(String),
    /// `{arg:spec}`: `arg` empty (next positional), an index, or a name.
    Hole { arg: String, spec: String },
}

/// The piece as written in a format string.
impl fmt::Display for Piece {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Piece::Text(text) => f.write_str(&text.replace('{', "{{").replace('}', "}}")),
            Piece::Hole { arg, spec } if spec.is_empty() => write!(f, "{{{arg}}}"),
            Piece::Hole { arg, spec } => write!(f, "{{{arg}:{spec}}}"),
        }
    }
}

/// Splits `format` into text and placeholders: text first, then alternating
/// placeholders and text (which may be empty).
pub fn pieces(format: &str) -> Result<Vec<Piece>, String> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                text.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                text.push('}');
            }
            '{' => {
                let mut hole = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(c) => hole.push(c),
                        None => return Err("unclosed `{` in the format string".into()),
                    }
                }
                let (arg, spec) = match hole.split_once(':') {
                    Some((a, s)) => (a.trim().to_string(), s.to_string()),
                    None => (hole.trim().to_string(), String::new()),
                };
                out.push(Piece::Text(std::mem::take(&mut text)));
                out.push(Piece::Hole { arg, spec });
            }
            '}' => {
                return Err(
                    "unmatched `}` in the format string (write `}}` for a literal one)".into(),
                );
            }
            c => text.push(c),
        }
    }
    out.push(Piece::Text(text));
    Ok(out)
}

/// Splits `text` into text and `{name}` placeholders (`name` an
/// identifier), like [`pieces`]; with `escapes`, `{{` and `}}` are read as
/// single braces. Anything else, a lone brace or `{ x }` included, is text.
pub fn named_pieces(text: &str, escapes: bool) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut literal = String::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        let name = rest
            .strip_prefix('{')
            .and_then(|t| t.split_once('}'))
            .map(|(name, _)| name)
            .filter(|name| is_identifier(name));
        if escapes && (rest.starts_with("{{") || rest.starts_with("}}")) {
            literal.push(c);
            rest = &rest[2..];
        } else if let Some(name) = name {
            out.push(Piece::Text(std::mem::take(&mut literal)));
            out.push(Piece::Hole {
                arg: name.to_owned(),
                spec: String::new(),
            });
            rest = &rest[name.len() + 2..];
        } else {
            literal.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out.push(Piece::Text(literal));
    out
}

/// A placeholder's name: a letter or `_`, then letters, digits and `_`.
pub fn is_identifier(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_format_strings() {
        assert_eq!(
            pieces("a {x} {{lit}} {:?} {0:>3}").unwrap(),
            vec![
                Piece::Text("a ".into()),
                Piece::Hole {
                    arg: "x".into(),
                    spec: "".into()
                },
                Piece::Text(" {lit} ".into()),
                Piece::Hole {
                    arg: "".into(),
                    spec: "?".into()
                },
                Piece::Text(" ".into()),
                Piece::Hole {
                    arg: "0".into(),
                    spec: ">3".into()
                },
                Piece::Text("".into()),
            ]
        );
        let written = "a {x} {{lit}} {:?} {0:>3}";
        let again: String = pieces(written)
            .unwrap()
            .iter()
            .map(Piece::to_string)
            .collect();
        assert_eq!(again, written);
        assert!(pieces("a {x").is_err());
        assert!(pieces("a }").is_err());
    }

    #[test]
    fn named_placeholders_leave_other_braces_as_written() {
        let hole = |name: &str| Piece::Hole {
            arg: name.into(),
            spec: String::new(),
        };
        let text = |t: &str| Piece::Text(t.into());
        assert_eq!(
            named_pieces("/{a}/{{b}}/{ c }/}", true),
            vec![text("/"), hole("a"), text("/{b}/{ c }/}")]
        );
        assert_eq!(
            named_pieces("{{{a}}} {0} awk '{print}'", false),
            vec![
                text("{{"),
                hole("a"),
                text("}} {0} awk '"),
                hole("print"),
                text("'")
            ]
        );
        assert_eq!(named_pieces("", true), vec![text("")]);
        assert!(is_identifier("_x1") && is_identifier("version"));
        assert!(!is_identifier("") && !is_identifier("1x") && !is_identifier(" c "));
    }
}
