//! The placeholder grammar of format strings, shared by `sh!` and by the
//! counting pass's reading of `format!` templates: `{arg}` or `{arg:spec}`
//! (`arg` empty, an index or a name), `{{` and `}}` for literal braces; an
//! unclosed `{` or a lone `}` is an error.

use std::fmt;

/// A piece of a format string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
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
pub(crate) fn pieces(format: &str) -> Result<Vec<Piece>, String> {
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
}
