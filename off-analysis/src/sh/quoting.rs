//! Where each placeholder of an `sh!` template sits in the shell's syntax.
//!
//! sh! single-quotes every value, which keeps it one word of data only where
//! the shell reads those quotes as quotes: in command text, at the top of the
//! template or inside `$(…)` and `(…)`. Everywhere else (inside the template's
//! own quotes, backquotes, arithmetic, a comment, a here-document, right after
//! `$` or `\`) a crafted value runs as shell code, so the template is refused.
//! The scan follows POSIX `sh` and the bash extensions that change quoting
//! (`$'…'`, `((…))`), since `/bin/sh` is bash on some hosts.

use off_input::placeholder::Piece;

/// A place in the shell syntax where sh!'s quoting of a value does not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UnsafeSpot {
    SingleQuotes,
    DoubleQuotes,
    Backquotes,
    Arithmetic,
    Comment,
    HereDocument,
    HereDocumentDelimiter,
    AfterDollar,
    AfterBackslash,
}

impl UnsafeSpot {
    /// Where the placeholder is, why that is unsafe, and what to write instead.
    fn explain(self, placeholder: &str) -> (&'static str, &'static str, String) {
        match self {
            UnsafeSpot::SingleQuotes => (
                "inside single quotes",
                "where the quotes sh! puts around the value end them instead, leaving the value unquoted",
                "sh! quotes every value itself, so end the quotes before the placeholder and reopen them after it".into(),
            ),
            UnsafeSpot::DoubleQuotes => (
                "inside double quotes",
                "where the shell still runs a `$(…)` or a backquote in the value",
                "sh! quotes every value itself, so end the quotes before the placeholder and reopen them after it".into(),
            ),
            UnsafeSpot::Backquotes => (
                "inside backquotes",
                "where a backquote in the value ends the command substitution early",
                "write the command substitution as `$(…)`, where sh!'s quoting holds".into(),
            ),
            UnsafeSpot::Arithmetic => (
                "inside shell arithmetic (`$((…))` or `((…))`)",
                "where the shell evaluates the value as an expression, quoted or not, and runs any `$(…)` in it",
                format!("do the arithmetic in Rust, or pass the value to a command: `\"expr {placeholder} + 1\"`"),
            ),
            UnsafeSpot::Comment => (
                "inside a shell comment",
                "where a newline in the value ends the comment and the rest runs as shell code",
                "move the placeholder out of the comment".into(),
            ),
            UnsafeSpot::HereDocument => (
                "inside a here-document",
                "where the shell ignores the value's quotes and a line of the value can end the document early",
                "give the text as the command's standard input instead (`run_with_input`, `sudo_with_input`)".into(),
            ),
            UnsafeSpot::HereDocumentDelimiter => (
                "in a here-document delimiter",
                "which the shell must read as written to find the end of the document",
                "write the delimiter as literal text".into(),
            ),
            UnsafeSpot::AfterDollar => (
                "right after a `$`",
                "which makes the value part of a shell expansion (`$name`, or bash's `$'…'`)",
                format!("write `\"${{{{name}}}}\"` for a shell variable, or `\"'$'{placeholder}\"` for a literal dollar sign"),
            ),
            UnsafeSpot::AfterBackslash => (
                "right after a `\\`",
                "which escapes the quote sh! puts before the value, leaving the value unquoted",
                format!("remove the backslash, or quote it: `\"'\\\\'{placeholder}\"`"),
            ),
        }
    }
}

/// Refuses a template with a placeholder where sh!'s quoting does not hold,
/// with a message that names the placeholder and says what to write instead.
pub(crate) fn check(pieces: &[Piece]) -> Result<(), String> {
    let tokens = tokens(pieces);
    let Some(found) = scan(&tokens).unsafe_hole else {
        return Ok(());
    };
    let holes: Vec<&Piece> = pieces
        .iter()
        .filter(|p| matches!(p, Piece::Hole { .. }))
        .collect();
    let placeholder = holes[found.hole].to_string();
    let (place, why, mut fix) = found.spot.explain(&placeholder);
    if let Some(fixed) = unquoted(&tokens) {
        let template: String = to_pieces(&fixed, &holes)
            .iter()
            .map(Piece::to_string)
            .collect();
        fix = format!(
            "sh! quotes every value itself, so write placeholders outside the template's quotes: `{template:?}`"
        );
    }
    Err(format!(
        "`{placeholder}` is {place} in the sh! template, {why}; {fix}"
    ))
}

/// The template as the shell reads it: characters, and the placeholders
/// (numbered in order) where sh! puts a quoted word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Char(char),
    Hole(usize),
}

fn tokens(pieces: &[Piece]) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut holes = 0;
    for piece in pieces {
        match piece {
            Piece::Text(text) => tokens.extend(text.chars().map(Token::Char)),
            Piece::Hole { .. } => {
                tokens.push(Token::Hole(holes));
                holes += 1;
            }
        }
    }
    tokens
}

fn to_pieces(tokens: &[Token], holes: &[&Piece]) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    for token in tokens {
        match *token {
            Token::Char(c) => text.push(c),
            Token::Hole(n) => {
                pieces.push(Piece::Text(std::mem::take(&mut text)));
                pieces.push(holes[n].clone());
            }
        }
    }
    pieces.push(Piece::Text(text));
    pieces
}

/// The template with every placeholder that sits inside quotes moved out of
/// them (the quotes end before it and reopen after it, and a pair left empty
/// goes), if that leaves a template that is safe and whose quotes all close.
fn unquoted(tokens: &[Token]) -> Option<Vec<Token>> {
    let mut tokens = tokens.to_vec();
    // Each round moves one placeholder out of its quotes.
    for _ in 0..=tokens.len() {
        let scan = scan(&tokens);
        let Some(found) = scan.unsafe_hole else {
            return scan.closed.then_some(tokens);
        };
        let (open, quote) = found.quote_opened_at?;
        let at = found.token;
        // Ending double quotes right after a `\` would escape the new quote.
        if quote == '"' && tokens[at - 1] == Token::Char('\\') {
            return None;
        }
        if tokens.get(at + 1) == Some(&Token::Char(quote)) {
            tokens.remove(at + 1);
        } else {
            tokens.insert(at + 1, Token::Char(quote));
        }
        if open + 1 == at {
            tokens.remove(open);
        } else {
            tokens.insert(at, Token::Char(quote));
        }
    }
    None
}

#[derive(Debug, PartialEq, Eq)]
struct UnsafeHole {
    /// The placeholder's number, counting from 0 in the template.
    hole: usize,
    /// Its index in the tokens.
    token: usize,
    spot: UnsafeSpot,
    /// For a placeholder inside plain `'…'` or `"…"`: where they open, and
    /// the quote character.
    quote_opened_at: Option<(usize, char)>,
}

struct Scan {
    /// The first placeholder where quoting does not hold.
    unsafe_hole: Option<UnsafeHole>,
    /// Whether every quote, substitution and here-document that the template
    /// opens is closed again (only known when no placeholder is unsafe).
    closed: bool,
}

/// A here-document whose body starts at the next line.
#[derive(Debug, Clone)]
struct HereDoc {
    delimiter: String,
    /// `<<-`: leading tabs of the body's lines do not count.
    strip_tabs: bool,
}

impl HereDoc {
    /// Whether `line` of the body is the delimiter line that ends it.
    fn ends_at(&self, line: &str) -> bool {
        let line = if self.strip_tabs {
            line.trim_start_matches('\t')
        } else {
            line
        };
        line == self.delimiter
    }
}

/// A syntactic context the scan is inside, innermost last.
enum Frame {
    /// Command text: the template itself, `$(…)` or `(…)`. Here-documents
    /// started on the current line wait in `here_docs`.
    Command {
        here_docs: Vec<HereDoc>,
    },
    /// `'…'`, or bash's `$'…'` (`ansi_c`), in which `\` escapes.
    SingleQuotes {
        opened_at: usize,
        ansi_c: bool,
    },
    DoubleQuotes {
        opened_at: usize,
    },
    Backquotes,
    /// `$((…))` or `((…))`, with the count of parentheses open inside it.
    Arithmetic {
        open_parens: u32,
    },
    Comment,
    HereDocBody {
        doc: HereDoc,
        line: String,
    },
}

impl Frame {
    fn command() -> Frame {
        Frame::Command {
            here_docs: Vec::new(),
        }
    }

    /// Where a placeholder in this context is unsafe, if it is.
    fn unsafe_spot(&self) -> Option<(UnsafeSpot, Option<(usize, char)>)> {
        match *self {
            Frame::Command { .. } => None,
            Frame::SingleQuotes { opened_at, ansi_c } => Some((
                UnsafeSpot::SingleQuotes,
                (!ansi_c).then_some((opened_at, '\'')),
            )),
            Frame::DoubleQuotes { opened_at } => {
                Some((UnsafeSpot::DoubleQuotes, Some((opened_at, '"'))))
            }
            Frame::Backquotes => Some((UnsafeSpot::Backquotes, None)),
            Frame::Arithmetic { .. } => Some((UnsafeSpot::Arithmetic, None)),
            Frame::Comment => Some((UnsafeSpot::Comment, None)),
            Frame::HereDocBody { .. } => Some((UnsafeSpot::HereDocument, None)),
        }
    }
}

/// Characters after which a `#` starts a comment.
const WORD_BREAKS: &str = " \t\n;&|()<>";

fn scan(tokens: &[Token]) -> Scan {
    let char_at = |i: usize| match tokens.get(i) {
        Some(Token::Char(c)) => Some(*c),
        _ => None,
    };
    let is_hole = |i: usize| matches!(tokens.get(i), Some(Token::Hole(_)));
    let found = |token: usize, spot: UnsafeSpot, quote_opened_at| {
        let Token::Hole(hole) = tokens[token] else {
            unreachable!("only placeholders are unsafe")
        };
        Scan {
            unsafe_hole: Some(UnsafeHole {
                hole,
                token,
                spot,
                quote_opened_at,
            }),
            closed: false,
        }
    };
    // An expansion that `$` or a backquote at `i` opens, in any context
    // that expands them, and how many tokens open it.
    let expansion_at = |i: usize| match (char_at(i), char_at(i + 1), char_at(i + 2)) {
        (Some('$'), Some('('), Some('(')) => Some((Frame::Arithmetic { open_parens: 0 }, 3)),
        (Some('$'), Some('('), _) => Some((Frame::command(), 2)),
        (Some('`'), _, _) => Some((Frame::Backquotes, 1)),
        _ => None,
    };

    let mut stack = vec![Frame::command()];
    let mut i = 0;
    while i < tokens.len() {
        let depth = stack.len();
        let top = stack.last_mut().expect("the template's own frame stays");
        let c = match tokens[i] {
            Token::Hole(_) => {
                if let Some((spot, quote)) = top.unsafe_spot() {
                    return found(i, spot, quote);
                }
                i += 1;
                continue;
            }
            Token::Char(c) => c,
        };
        match top {
            Frame::Command { here_docs } => match c {
                '\\' if is_hole(i + 1) => return found(i + 1, UnsafeSpot::AfterBackslash, None),
                // The escaped character is plain text (an escaped newline
                // joins two lines).
                '\\' => i += 1,
                '$' if is_hole(i + 1) => return found(i + 1, UnsafeSpot::AfterDollar, None),
                '$' if char_at(i + 1) == Some('\'') => {
                    stack.push(Frame::SingleQuotes {
                        opened_at: i + 1,
                        ansi_c: true,
                    });
                    i += 1;
                }
                '$' | '`' => {
                    if let Some((frame, len)) = expansion_at(i) {
                        stack.push(frame);
                        i += len - 1;
                    }
                }
                '\'' => stack.push(Frame::SingleQuotes {
                    opened_at: i,
                    ansi_c: false,
                }),
                '"' => stack.push(Frame::DoubleQuotes { opened_at: i }),
                '(' if char_at(i + 1) == Some('(') => {
                    stack.push(Frame::Arithmetic { open_parens: 0 });
                    i += 1;
                }
                '(' => stack.push(Frame::command()),
                ')' if depth > 1 => {
                    stack.pop();
                }
                '#' if i == 0 || matches!(char_at(i - 1), Some(b) if WORD_BREAKS.contains(b)) => {
                    stack.push(Frame::Comment)
                }
                // `<<<` is bash's here-string: a plain word follows.
                '<' if char_at(i + 1) == Some('<') && char_at(i + 2) == Some('<') => i += 2,
                '<' if char_at(i + 1) == Some('<') => match here_doc_at(tokens, i + 2) {
                    Ok((doc, end)) => {
                        here_docs.extend(doc);
                        i = end - 1;
                    }
                    Err(hole) => return found(hole, UnsafeSpot::HereDocumentDelimiter, None),
                },
                '\n' if !here_docs.is_empty() => {
                    let docs = std::mem::take(here_docs);
                    stack.extend(docs.into_iter().rev().map(|doc| Frame::HereDocBody {
                        doc,
                        line: String::new(),
                    }));
                }
                _ => {}
            },
            Frame::SingleQuotes { ansi_c, .. } => match c {
                '\'' => {
                    stack.pop();
                }
                '\\' if *ansi_c && !is_hole(i + 1) => i += 1,
                _ => {}
            },
            Frame::DoubleQuotes { .. } => match c {
                '"' => {
                    stack.pop();
                }
                '\\' if matches!(char_at(i + 1), Some('$' | '`' | '"' | '\\' | '\n')) => i += 1,
                '$' | '`' => {
                    if let Some((frame, len)) = expansion_at(i) {
                        stack.push(frame);
                        i += len - 1;
                    }
                }
                _ => {}
            },
            Frame::Backquotes => match c {
                '`' => {
                    stack.pop();
                }
                '\\' if !is_hole(i + 1) => i += 1,
                _ => {}
            },
            Frame::Arithmetic { open_parens } => match c {
                '(' => *open_parens += 1,
                ')' if *open_parens > 0 => *open_parens -= 1,
                ')' => {
                    stack.pop();
                    if char_at(i + 1) == Some(')') {
                        i += 1;
                    }
                }
                '$' | '`' => {
                    if let Some((frame, len)) = expansion_at(i) {
                        stack.push(frame);
                        i += len - 1;
                    }
                }
                _ => {}
            },
            Frame::Comment => {
                if c == '\n' {
                    // The newline also ends the command line: read it again
                    // in the enclosing command text.
                    stack.pop();
                    continue;
                }
            }
            Frame::HereDocBody { doc, line } => {
                if c == '\n' {
                    if doc.ends_at(line) {
                        stack.pop();
                    } else {
                        line.clear();
                    }
                } else {
                    line.push(c);
                }
            }
        }
        i += 1;
    }
    // A here-document may end with the template, without a final newline.
    if matches!(stack.last(), Some(Frame::HereDocBody { doc, line }) if doc.ends_at(line)) {
        stack.pop();
    }
    if matches!(stack.last(), Some(Frame::Comment)) {
        stack.pop();
    }
    let closed = matches!(stack.as_slice(), [Frame::Command { here_docs }] if here_docs.is_empty());
    Scan {
        unsafe_hole: None,
        closed,
    }
}

/// The here-document whose `<<` ends before `start`, and the index after
/// its delimiter word: `Err` with the placeholder's index when a placeholder
/// is part of the delimiter, no document when the word is missing.
fn here_doc_at(tokens: &[Token], start: usize) -> Result<(Option<HereDoc>, usize), usize> {
    let mut i = start;
    let strip_tabs = tokens.get(i) == Some(&Token::Char('-'));
    if strip_tabs {
        i += 1;
    }
    while matches!(tokens.get(i), Some(Token::Char(' ' | '\t'))) {
        i += 1;
    }
    // The delimiter is the word with its quotes removed.
    let mut delimiter = String::new();
    let mut quote = None;
    while let Some(token) = tokens.get(i) {
        let c = match *token {
            Token::Hole(_) => return Err(i),
            Token::Char(c) => c,
        };
        match (quote, c) {
            (None, c) if WORD_BREAKS.contains(c) => break,
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '\\') | (Some('"'), '\\') => {
                i += 1;
                match tokens.get(i) {
                    Some(Token::Char(escaped)) => delimiter.push(*escaped),
                    Some(Token::Hole(_)) => return Err(i),
                    None => {}
                }
            }
            (_, c) => delimiter.push(c),
        }
        i += 1;
    }
    let doc = (!delimiter.is_empty()).then_some(HereDoc {
        delimiter,
        strip_tabs,
    });
    Ok((doc, i))
}

#[cfg(test)]
mod tests {
    use super::*;
    use off_input::placeholder::pieces;

    /// Where the first unsafe placeholder of `template` is: its number and spot.
    fn unsafe_hole(template: &str) -> Option<(usize, UnsafeSpot)> {
        let tokens = tokens(&pieces(template).unwrap());
        scan(&tokens).unsafe_hole.map(|h| (h.hole, h.spot))
    }

    fn suggestion(template: &str) -> Option<String> {
        let pieces = pieces(template).unwrap();
        let holes: Vec<&Piece> = pieces
            .iter()
            .filter(|p| matches!(p, Piece::Hole { .. }))
            .collect();
        let fixed = unquoted(&tokens(&pieces))?;
        Some(
            to_pieces(&fixed, &holes)
                .iter()
                .map(Piece::to_string)
                .collect(),
        )
    }

    #[test]
    fn placeholders_in_command_text_are_safe() {
        for template in [
            "echo {x}",
            "cmd --opt={x} a{x}b{y}",
            // Escaped quotes are plain characters: they open nothing.
            r#"echo \"{x}\" \'{y}\'"#,
            r"echo \\{x}",
            r#"echo '$HOME' "$HOME" '\'{x}"#,
            // A command substitution starts over, even inside double quotes.
            r#"[ "$(psql -c {query})" = 1 ] && echo "$(echo "$(cat {f})")""#,
            "echo `date` $(cat {f}) ( cd {d} && make )",
            "echo $(( 1 + (2) )) $(( $(wc -l < {f}) + 1 )) {x}",
            "x=${{y:-{z}}}",
            "echo $$ {x}# a#b {y}",
            "echo hi # comment\necho {x}",
            "cat <<EOF\n$x {{\nEOF\necho {x}",
            "cat <<'EOF' && echo {x}\nbody\nEOF\n{y}",
            "cat <<-\"E O\"\n\tbody\n\tE O\n{x}",
            "cat <<< {x}",
            r"echo $'it\'s' {x}",
        ] {
            assert_eq!(unsafe_hole(template), None, "{template}");
        }
    }

    #[test]
    fn placeholders_where_quoting_does_not_hold_are_found() {
        use UnsafeSpot::*;
        for (template, expected) in [
            ("echo '{x}'", (0, SingleQuotes)),
            ("echo {a} 'b' '--opt={c}'", (1, SingleQuotes)),
            (r"echo $'a\'{x}'", (0, SingleQuotes)),
            (r#"echo "{x}""#, (0, DoubleQuotes)),
            (r#"echo "a $(b) {x}""#, (0, DoubleQuotes)),
            (r#"echo "\"{x}\"""#, (0, DoubleQuotes)),
            (r#"echo "$(echo "{x}")""#, (0, DoubleQuotes)),
            (r#"echo "${{y:-{x}}}""#, (0, DoubleQuotes)),
            (r#"echo $"{x}""#, (0, DoubleQuotes)),
            ("echo `cat {x}`", (0, Backquotes)),
            ("echo \"`cat {x}`\"", (0, Backquotes)),
            ("echo $(( {x} + 1 ))", (0, Arithmetic)),
            ("(( {x} > 1 )) && echo", (0, Arithmetic)),
            ("echo $(( (1) + {x} ))", (0, Arithmetic)),
            ("echo hi # {x}", (0, Comment)),
            ("echo $(#{x}\n)", (0, Comment)),
            ("cat <<EOF\n{x}\nEOF", (0, HereDocument)),
            ("cat <<'EOF'\nEOF {x}\nEOF", (0, HereDocument)),
            ("cat <<-EOF\n\tEOFx\n{x}\n\tEOF", (0, HereDocument)),
            ("cat <<A <<B\nA\n{x}\nB", (0, HereDocument)),
            ("cat <<{x}", (0, HereDocumentDelimiter)),
            ("cat << 'EOF{x}'", (0, HereDocumentDelimiter)),
            ("echo ${x}", (0, AfterDollar)),
            (r"echo \{x}", (0, AfterBackslash)),
        ] {
            assert_eq!(unsafe_hole(template), Some(expected), "{template}");
        }
    }

    #[test]
    fn placeholders_move_out_of_their_quotes() {
        for (template, expected) in [
            (r#"echo "{x}""#, "echo {x}"),
            (r#"echo "to: {x}!""#, r#"echo "to: "{x}"!""#),
            (
                "psql -c 'create extension {name}'",
                "psql -c 'create extension '{name}",
            ),
            (r#"echo "{a} and {b}""#, r#"echo {a}" and "{b}"#),
            (r#"echo "$(echo "{x}")""#, r#"echo "$(echo {x})""#),
            (r#"echo "{{{x}}}""#, r#"echo "{{"{x}"}}""#),
        ] {
            assert_eq!(
                suggestion(template).as_deref(),
                Some(expected),
                "{template}"
            );
        }
        // No sound rewrite: the quote would be escaped, the rest is not
        // about quotes, the quotes never close, or bash's `$'…'`.
        for template in [
            r#"echo "a\{x}""#,
            "echo '{x}' `{y}`",
            "echo '{x}",
            r"echo $'{x}'",
        ] {
            assert_eq!(suggestion(template), None, "{template}");
        }
    }

    #[test]
    fn the_message_names_the_placeholder_and_the_fix() {
        let message = check(&pieces(r#"echo "{x}""#).unwrap()).unwrap_err();
        assert_eq!(
            message,
            "`{x}` is inside double quotes in the sh! template, where the shell still runs a \
             `$(…)` or a backquote in the value; sh! quotes every value itself, so write \
             placeholders outside the template's quotes: `\"echo {x}\"`"
        );
        let message = check(&pieces("cat <<EOF\n{0:>3}\nEOF").unwrap()).unwrap_err();
        assert!(
            message.starts_with("`{0:>3}` is inside a here-document"),
            "{message}"
        );
        assert!(
            message.ends_with("(`run_with_input`, `sudo_with_input`)"),
            "{message}"
        );
        let message = check(&pieces("echo ${x}").unwrap()).unwrap_err();
        assert!(
            message.contains("write `\"${{name}}\"` for a shell variable, or `\"'$'{x}\"`"),
            "{message}"
        );
        assert_eq!(check(&pieces("echo {x}").unwrap()), Ok(()));
    }
}
