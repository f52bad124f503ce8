//! The stop condition of dynamic mode (`--discovery_stop`): when the nodes stop waiting for
//! more members and freeze the list.
//!
//! ```text
//! condition := or
//! or        := and ( "||" and )*
//! and       := atom ( "&&" atom )*
//! atom      := "(" or ")" | "n" op COUNT | "t" op DURATION
//! op        := ">=" | ">" | "=="
//! DURATION  := digits ( "ms" | "s" | "m" | "h" )
//! ```
//!
//! `n` is the number of nodes registered (alive) now; `t` the time since this node started.
//! `&&` binds tighter than `||`. The list frozen takes the first [`Condition::size`] registered
//! nodes: the largest count the condition names (`n>=3` and `n==3` both make a cluster of the
//! first three), or every registered node when it names none (`t>=90s`).
//!
//! `n==5` holds once five have registered, not only while exactly five have: two nodes that
//! register between two reads of the list must not make the condition unreachable, and the list
//! takes exactly five either way.

use std::fmt;
use std::time::Duration;

/// A parsed stop condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    expr: Expr,
    text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Expr {
    Count(Op, usize),
    Time(Op, Duration),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    AtLeast,
    MoreThan,
    Equals,
}

impl Op {
    fn holds<T: PartialOrd>(self, actual: T, bound: T) -> bool {
        match self {
            // See the module docs: a count that passes the bound still meets it.
            Op::AtLeast | Op::Equals => actual >= bound,
            Op::MoreThan => actual > bound,
        }
    }
}

/// Why a condition does not parse: a message and the 1-based column it points at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stop condition `{text}`, column {column}: {message}")]
pub struct ConditionError {
    pub text: String,
    pub column: usize,
    pub message: String,
}

impl From<ConditionError> for crate::PeerError {
    fn from(error: ConditionError) -> crate::PeerError {
        crate::PeerError::Usage(error.to_string())
    }
}

impl Condition {
    /// Parses `text` (see the module docs for the grammar).
    pub fn parse(text: &str) -> Result<Condition, ConditionError> {
        let tokens = lex(text)?;
        let mut parser = Parser {
            text,
            tokens,
            at: 0,
        };
        let expr = parser.or()?;
        match parser.peek() {
            (Token::End, _) => Ok(Condition {
                expr,
                text: text.to_string(),
            }),
            (token, column) => Err(parser.error(
                column,
                format!("expected `&&`, `||` or the end, found {}", token.describe()),
            )),
        }
    }

    /// Whether the condition holds with `registered` nodes, `elapsed` after this node started.
    pub fn holds(&self, registered: usize, elapsed: Duration) -> bool {
        self.expr.holds(registered, elapsed)
    }

    /// How many members the frozen list takes: the largest count named, if any.
    pub fn size(&self) -> Option<usize> {
        self.expr.size()
    }

    /// The next moment (since this node's start) after `elapsed` at which a `t` comparison
    /// changes, so that a wait can end then and re-check.
    pub fn next_time_change(&self, elapsed: Duration) -> Option<Duration> {
        self.expr.times().into_iter().filter(|t| *t > elapsed).min()
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Expr {
    fn holds(&self, registered: usize, elapsed: Duration) -> bool {
        match self {
            Expr::Count(op, n) => op.holds(registered, *n),
            Expr::Time(op, t) => op.holds(elapsed, *t),
            Expr::And(a, b) => a.holds(registered, elapsed) && b.holds(registered, elapsed),
            Expr::Or(a, b) => a.holds(registered, elapsed) || b.holds(registered, elapsed),
        }
    }

    fn size(&self) -> Option<usize> {
        match self {
            // `n>2` means three.
            Expr::Count(Op::MoreThan, n) => Some(n + 1),
            Expr::Count(_, n) => Some(*n),
            Expr::Time(..) => None,
            Expr::And(a, b) | Expr::Or(a, b) => a.size().max(b.size()),
        }
    }

    /// Every moment a `t` comparison turns true (a strict one just after its bound).
    fn times(&self) -> Vec<Duration> {
        match self {
            Expr::Count(..) => Vec::new(),
            Expr::Time(Op::MoreThan, t) => vec![*t + Duration::from_millis(1)],
            Expr::Time(_, t) => vec![*t],
            Expr::And(a, b) | Expr::Or(a, b) => {
                let mut times = a.times();
                times.extend(b.times());
                times
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Var(char),
    Op(Op),
    /// Digits, and the unit letters right after them.
    Number(u64, String),
    Open,
    Close,
    And,
    Or,
    /// A character that starts no token: reported where the parser expected something.
    Unknown(char),
    End,
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Var(v) => format!("`{v}`"),
            Token::Op(Op::AtLeast) => "`>=`".into(),
            Token::Op(Op::MoreThan) => "`>`".into(),
            Token::Op(Op::Equals) => "`==`".into(),
            Token::Number(n, unit) => format!("`{n}{unit}`"),
            Token::Open => "`(`".into(),
            Token::Close => "`)`".into(),
            Token::And => "`&&`".into(),
            Token::Or => "`||`".into(),
            Token::Unknown(c) => format!("`{c}`"),
            Token::End => "the end".into(),
        }
    }
}

/// Tokens with their 1-based columns (counted in characters).
fn lex(text: &str) -> Result<Vec<(Token, usize)>, ConditionError> {
    let chars: Vec<char> = text.chars().collect();
    let error = |column: usize, message: String| ConditionError {
        text: text.to_string(),
        column,
        message,
    };
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let column = i + 1;
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let (token, len) = match (c, next) {
            (c, _) if c.is_whitespace() => {
                i += 1;
                continue;
            }
            ('n' | 't', _) => (Token::Var(c), 1),
            ('>', Some('=')) => (Token::Op(Op::AtLeast), 2),
            ('>', _) => (Token::Op(Op::MoreThan), 1),
            ('=', Some('=')) => (Token::Op(Op::Equals), 2),
            ('&', Some('&')) => (Token::And, 2),
            ('|', Some('|')) => (Token::Or, 2),
            ('(', _) => (Token::Open, 1),
            (')', _) => (Token::Close, 1),
            ('0'..='9', _) => {
                let digits = chars[i..].iter().take_while(|c| c.is_ascii_digit()).count();
                let unit_len = chars[i + digits..]
                    .iter()
                    .take_while(|c| c.is_ascii_alphabetic())
                    .count();
                let number: String = chars[i..i + digits].iter().collect();
                let unit: String = chars[i + digits..i + digits + unit_len].iter().collect();
                let number = number
                    .parse()
                    .map_err(|_| error(column, format!("`{number}` is too large")))?;
                (Token::Number(number, unit), digits + unit_len)
            }
            ('<', _) => {
                return Err(error(
                    column,
                    "`<` cannot stop a wait (it holds from the start); use `>=`, `>` or `==`"
                        .into(),
                ));
            }
            ('=', _) => return Err(error(column, "expected `==`".into())),
            ('&', _) => return Err(error(column, "expected `&&`".into())),
            ('|', _) => return Err(error(column, "expected `||`".into())),
            (c, _) => (Token::Unknown(c), 1),
        };
        tokens.push((token, column));
        i += len;
    }
    tokens.push((Token::End, chars.len() + 1));
    Ok(tokens)
}

struct Parser<'a> {
    text: &'a str,
    tokens: Vec<(Token, usize)>,
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> (Token, usize) {
        self.tokens[self.at].clone()
    }

    fn advance(&mut self) -> (Token, usize) {
        let token = self.peek();
        if token.0 != Token::End {
            self.at += 1;
        }
        token
    }

    fn error(&self, column: usize, message: String) -> ConditionError {
        ConditionError {
            text: self.text.to_string(),
            column,
            message,
        }
    }

    fn or(&mut self) -> Result<Expr, ConditionError> {
        let mut expr = self.and()?;
        while self.peek().0 == Token::Or {
            self.advance();
            expr = Expr::Or(Box::new(expr), Box::new(self.and()?));
        }
        Ok(expr)
    }

    fn and(&mut self) -> Result<Expr, ConditionError> {
        let mut expr = self.atom()?;
        while self.peek().0 == Token::And {
            self.advance();
            expr = Expr::And(Box::new(expr), Box::new(self.atom()?));
        }
        Ok(expr)
    }

    fn atom(&mut self) -> Result<Expr, ConditionError> {
        match self.advance() {
            (Token::Open, column) => {
                let expr = self.or()?;
                match self.advance() {
                    (Token::Close, _) => Ok(expr),
                    (token, at) => Err(self.error(
                        at,
                        format!(
                            "expected `)` to close the `(` at column {column}, found {}",
                            token.describe()
                        ),
                    )),
                }
            }
            (Token::Var(var), _) => {
                let op = match self.advance() {
                    (Token::Op(op), _) => op,
                    (token, at) => {
                        return Err(self.error(
                            at,
                            format!(
                                "expected `>=`, `>` or `==` after `{var}`, found {}",
                                token.describe()
                            ),
                        ));
                    }
                };
                let (value, unit, at) = match self.advance() {
                    (Token::Number(value, unit), at) => (value, unit, at),
                    (token, at) => {
                        let what = if var == 'n' {
                            "a number of nodes"
                        } else {
                            "a duration such as `90s`"
                        };
                        return Err(
                            self.error(at, format!("expected {what}, found {}", token.describe()))
                        );
                    }
                };
                if var == 'n' {
                    if !unit.is_empty() {
                        return Err(self.error(
                            at,
                            format!("`n` counts nodes: `{value}{unit}` should be `{value}`"),
                        ));
                    }
                    if value == 0 {
                        return Err(self.error(at, "a cluster needs at least one node".into()));
                    }
                    Ok(Expr::Count(op, value as usize))
                } else {
                    let duration = match unit.as_str() {
                        "ms" => Duration::from_millis(value),
                        "s" => Duration::from_secs(value),
                        "m" => Duration::from_secs(value.saturating_mul(60)),
                        "h" => Duration::from_secs(value.saturating_mul(3600)),
                        "" => {
                            return Err(self.error(
                                at,
                                format!("a duration needs a unit: `{value}s`, `{value}m`, ..."),
                            ));
                        }
                        other => {
                            return Err(self.error(
                                at,
                                format!("unknown unit `{other}` (expected ms, s, m or h)"),
                            ));
                        }
                    };
                    Ok(Expr::Time(op, duration))
                }
            }
            (token, column) => Err(self.error(
                column,
                format!("expected `n`, `t` or `(`, found {}", token.describe()),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn parse(text: &str) -> Condition {
        Condition::parse(text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn column_of(text: &str) -> (usize, String) {
        let error = Condition::parse(text).expect_err(text);
        (error.column, error.message)
    }

    #[test]
    fn counts_and_times() {
        let c = parse("n>=3");
        assert!(!c.holds(2, 100 * S));
        assert!(c.holds(3, Duration::ZERO));
        assert!(c.holds(4, Duration::ZERO));
        assert_eq!(c.size(), Some(3));
        let c = parse("n==5");
        assert!(!c.holds(4, S) && c.holds(5, S) && c.holds(6, S));
        assert_eq!(c.size(), Some(5));
        assert_eq!(parse("n>2").size(), Some(3));
        assert!(!parse("n>2").holds(2, S));
        let c = parse("t>=90s");
        assert!(!c.holds(100, 89 * S));
        assert!(c.holds(1, 90 * S));
        assert_eq!(c.size(), None);
        assert!(parse("t>=1500ms").holds(1, Duration::from_millis(1500)));
        assert!(parse("t>=2m").holds(1, 120 * S) && !parse("t>=2m").holds(1, 119 * S));
    }

    #[test]
    fn and_binds_tighter_than_or() {
        // n>=5 || (n>=2 && t>=10s)
        let c = parse("n>=5 || n>=2 && t>=10s");
        assert!(c.holds(5, Duration::ZERO));
        assert!(!c.holds(2, 9 * S));
        assert!(c.holds(2, 10 * S));
        assert!(!c.holds(1, 100 * S));
        // (n>=5 || n>=2) && t>=10s
        let c = parse("(n>=5 || n>=2) && t>=10s");
        assert!(!c.holds(5, Duration::ZERO));
        assert!(c.holds(2, 10 * S));
        assert_eq!(c.size(), Some(5));
        assert_eq!(parse(" ( ( n >= 3 ) ) ").size(), Some(3));
    }

    #[test]
    fn the_next_time_change_is_the_nearest_later_bound() {
        let c = parse("t>=10s || (n>=2 && t>=3s)");
        assert_eq!(c.next_time_change(Duration::ZERO), Some(3 * S));
        assert_eq!(c.next_time_change(3 * S), Some(10 * S));
        assert_eq!(c.next_time_change(10 * S), None);
        assert_eq!(parse("n>=3").next_time_change(Duration::ZERO), None);
    }

    #[test]
    fn errors_name_the_column() {
        assert_eq!(column_of("n>=").0, 4);
        assert_eq!(column_of("n>=x").0, 4);
        assert_eq!(column_of("m>=3").0, 1);
        assert_eq!(column_of("n>=3 &").0, 6);
        assert_eq!(column_of("n>=3 && ").0, 9);
        assert_eq!(column_of("n>=3 n>=4").0, 6);
        assert_eq!(column_of("(n>=3").0, 6);
        assert_eq!(column_of("n>=3)").0, 5);
        assert_eq!(column_of("n 3").0, 3);
        assert_eq!(column_of("n=3").0, 2);
        assert_eq!(column_of("n<=3").0, 2);
        assert_eq!(column_of("").0, 1);
        let (column, message) = column_of("t>=90");
        assert_eq!(column, 4);
        assert!(message.contains("`90s`"), "{message}");
        let (column, message) = column_of("t>=9d");
        assert_eq!(column, 4);
        assert!(message.contains("unknown unit `d`"), "{message}");
        let (column, message) = column_of("n>=3s");
        assert_eq!(column, 4);
        assert!(message.contains("should be `3`"), "{message}");
        assert!(column_of("n>=0").1.contains("at least one"));
        assert!(
            column_of("n>=99999999999999999999999")
                .1
                .contains("too large")
        );
    }

    #[test]
    fn an_error_is_one_line_quoting_the_condition() {
        let error = Condition::parse("n>=3 && t>=x").unwrap_err().to_string();
        assert_eq!(
            error,
            "stop condition `n>=3 && t>=x`, column 12: expected a duration such as `90s`, found `x`"
        );
    }
}
