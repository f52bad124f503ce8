//! When an operation runs, as far as the branches on variables around it
//! tell: the `if`s and `match`es that compare a variable (usually a step
//! parameter, a keyword argument) with a value.
//!
//! - `if flag` / `if !flag`: `flag` is `true` / `false`;
//! - `if x == Enum::Variant`, `x == "text"`, `x == 5` (either side, through
//!   `*` and `&`): `x` is that value; `!=`: it is not;
//! - `a && b`: both; `x == A || x == B`: `x` is one of them;
//! - `else`: the opposite of a single test (`if !flag` ... `else`: `flag`);
//! - `match x { A | B => .., C => .., _ => .. }`: per arm, `x` is `A` or
//!   `B`, `C`, neither of the earlier ones; a guard adds a test not read.
//!
//! Anything else (`exists(..)?`, a method call, `if let`) is a test the
//! analysis does not read ([`Test::Other`]); it does not narrow the
//! condition, since it usually is a fact of the host (`if !exists(..)`)
//! that the run makes true anyway. Early returns (`if c { return .. }`) are
//! not followed.
//!
//! Values are written as a user types them on the command line: an enum
//! variant `AptSource::Pgdg` is `pgdg` (see [`variant_value`]), literals are
//! their text.
//!
//! The condition of a call in a helper is the condition of its calls (see
//! `ast.rs`): a helper called only inside `if apt_source == AptSource::Pgdg`
//! writes its files only then.

use std::fmt;

use quote::ToTokens;
use syn::ext::IdentExt;
use syn::{BinOp, Expr, ExprLit, Lit, Pat, UnOp};

/// One test of a condition.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Test {
    /// The variable `name` has one of `values` (none of them when `negated`).
    Is {
        name: String,
        values: Vec<String>,
        negated: bool,
    },
    /// A test the analysis does not read, as written.
    Other(String),
}

/// Every test holds (no tests: always).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Guard {
    pub tests: Vec<Test>,
}

/// One of the guards holds: the conditions of the several places an
/// operation is reached from. [`Condition::always`] has one empty guard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub any: Vec<Guard>,
}

/// More alternatives than this make a condition `always`: a condition that
/// large says nothing a reader could use.
const MOST_GUARDS: usize = 16;

impl Default for Condition {
    fn default() -> Self {
        Condition::always()
    }
}

impl Condition {
    pub fn always() -> Condition {
        Condition {
            any: vec![Guard::default()],
        }
    }

    /// Reached from nowhere (yet): the start of an [`Condition::or`] fold.
    pub fn never() -> Condition {
        Condition { any: Vec::new() }
    }

    pub fn is_always(&self) -> bool {
        self.any.iter().any(|g| g.tests.is_empty())
    }

    pub fn is_never(&self) -> bool {
        self.any.is_empty()
    }

    /// This condition, or `other`.
    pub fn or(&mut self, other: &Condition) {
        for guard in &other.any {
            if !self.any.contains(guard) {
                self.any.push(guard.clone());
            }
        }
        self.simplify();
    }

    /// This condition and `guard` (the guard of a call inside it).
    pub fn and(&self, guard: &Guard) -> Condition {
        let mut out = Condition {
            any: self
                .any
                .iter()
                .map(|g| {
                    let mut tests = g.tests.clone();
                    for test in &guard.tests {
                        if !tests.contains(test) {
                            tests.push(test.clone());
                        }
                    }
                    Guard { tests }
                })
                .collect(),
        };
        out.simplify();
        out
    }

    fn simplify(&mut self) {
        if self.is_always() || self.any.len() > MOST_GUARDS {
            *self = Condition::always();
        }
    }

    /// The condition with only the tests `keep` accepts (the others count
    /// as true), e.g. the tests of keyword arguments.
    pub fn only(&self, keep: &dyn Fn(&Test) -> bool) -> Condition {
        let mut out = Condition::never();
        for guard in &self.any {
            let tests = guard.tests.iter().filter(|t| keep(t)).cloned().collect();
            out.or(&Condition::from(Guard { tests }));
        }
        out
    }
}

impl From<Guard> for Condition {
    fn from(guard: Guard) -> Condition {
        Condition { any: vec![guard] }
    }
}

impl fmt::Display for Test {
    /// `apt_source == pgdg`, `role not in [a, b]`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Test::Is {
                name,
                values,
                negated,
            } => match (values.as_slice(), negated) {
                ([value], false) => write!(f, "{name} == {value}"),
                ([value], true) => write!(f, "{name} != {value}"),
                (values, false) => write!(f, "{name} in [{}]", values.join(", ")),
                (values, true) => write!(f, "{name} not in [{}]", values.join(", ")),
            },
            Test::Other(text) => f.write_str(text),
        }
    }
}

/// The tests of an `if` condition (see the module docs).
pub(crate) fn tests_of(cond: &Expr) -> Vec<Test> {
    match cond {
        Expr::Paren(inner) => tests_of(&inner.expr),
        Expr::Group(inner) => tests_of(&inner.expr),
        Expr::Binary(binary) if matches!(binary.op, BinOp::And(_)) => {
            let mut tests = tests_of(&binary.left);
            tests.extend(tests_of(&binary.right));
            tests
        }
        Expr::Binary(binary) if matches!(binary.op, BinOp::Or(_)) => {
            match (
                single(tests_of(&binary.left)),
                single(tests_of(&binary.right)),
            ) {
                (
                    Some(Test::Is {
                        name,
                        mut values,
                        negated: false,
                    }),
                    Some(Test::Is {
                        name: other,
                        values: more,
                        negated: false,
                    }),
                ) if name == other => {
                    for value in more {
                        if !values.contains(&value) {
                            values.push(value);
                        }
                    }
                    vec![Test::Is {
                        name,
                        values,
                        negated: false,
                    }]
                }
                _ => vec![other(cond)],
            }
        }
        Expr::Binary(binary) if matches!(binary.op, BinOp::Eq(_) | BinOp::Ne(_)) => {
            let negated = matches!(binary.op, BinOp::Ne(_));
            let sides = [
                (&*binary.left, &*binary.right),
                (&*binary.right, &*binary.left),
            ];
            sides
                .into_iter()
                .find_map(|(variable, value)| Some((variable_name(variable)?, value_of(value)?)))
                .map_or_else(
                    || vec![other(cond)],
                    |(name, value)| {
                        vec![Test::Is {
                            name,
                            values: vec![value],
                            negated,
                        }]
                    },
                )
        }
        Expr::Unary(unary) if matches!(unary.op, UnOp::Not(_)) => {
            match single(tests_of(&unary.expr)) {
                Some(test) => vec![negate(&test)],
                None => vec![other(cond)],
            }
        }
        Expr::Path(_) => match variable_name(cond) {
            Some(name) => vec![Test::Is {
                name,
                values: vec!["true".into()],
                negated: false,
            }],
            None => vec![other(cond)],
        },
        _ => vec![other(cond)],
    }
}

/// The test of an `else` branch: the opposite of the `if`'s tests.
pub(crate) fn else_tests(tests: &[Test]) -> Vec<Test> {
    match tests {
        [test] => vec![negate(test)],
        tests => {
            let text: Vec<String> = tests.iter().map(Test::to_string).collect();
            vec![Test::Other(format!("!({})", text.join(" && ")))]
        }
    }
}

fn negate(test: &Test) -> Test {
    match test {
        Test::Is {
            name,
            values,
            negated,
        } => {
            // A flag's opposite is its other value, which reads better.
            let flipped = match (values.as_slice(), negated) {
                ([v], false) if v == "true" => Some("false"),
                ([v], false) if v == "false" => Some("true"),
                _ => None,
            };
            match flipped {
                Some(value) => Test::Is {
                    name: name.clone(),
                    values: vec![value.into()],
                    negated: false,
                },
                None => Test::Is {
                    name: name.clone(),
                    values: values.clone(),
                    negated: !negated,
                },
            }
        }
        Test::Other(text) => Test::Other(format!("!({text})")),
    }
}

fn single(mut tests: Vec<Test>) -> Option<Test> {
    if tests.len() == 1 { tests.pop() } else { None }
}

fn other(expr: &Expr) -> Test {
    Test::Other(rust_text(expr))
}

/// `x`, `*x`, `&x`: a variable by its plain name.
fn variable_name(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Path(path) if path.qself.is_none() => {
            let ident = path.path.get_ident()?.unraw().to_string();
            // `Start`, `None`: a variant or constant, not a variable.
            let first = ident.chars().next()?;
            (first.is_lowercase() || first == '_').then_some(ident)
        }
        Expr::Unary(unary) if matches!(unary.op, UnOp::Deref(_)) => variable_name(&unary.expr),
        Expr::Reference(inner) => variable_name(&inner.expr),
        Expr::Paren(inner) => variable_name(&inner.expr),
        Expr::Group(inner) => variable_name(&inner.expr),
        _ => None,
    }
}

/// A value as a user types it: an enum variant's [`variant_value`], a
/// literal's text.
fn value_of(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Path(path) if path.qself.is_none() && path.path.segments.len() >= 2 => {
            let last = path.path.segments.last()?;
            last.arguments
                .is_none()
                .then(|| variant_value(&last.ident.unraw().to_string()))
        }
        Expr::Lit(ExprLit { lit, .. }) => literal_text(lit),
        Expr::Reference(inner) => value_of(&inner.expr),
        Expr::Paren(inner) => value_of(&inner.expr),
        Expr::Group(inner) => value_of(&inner.expr),
        _ => None,
    }
}

fn literal_text(lit: &Lit) -> Option<String> {
    match lit {
        Lit::Str(text) => Some(text.value()),
        Lit::Int(int) => Some(int.base10_digits().to_owned()),
        Lit::Bool(flag) => Some(flag.value.to_string()),
        Lit::Char(c) => Some(c.value().to_string()),
        _ => None,
    }
}

/// The values a `match` arm's pattern stands for; `None` when it binds
/// anything (a catch-all) or is not a plain value.
pub(crate) fn pattern_values(pat: &Pat) -> Option<Vec<String>> {
    match pat {
        Pat::Path(path) if path.qself.is_none() => {
            let last = path.path.segments.last()?;
            Some(vec![variant_value(&last.ident.unraw().to_string())])
        }
        // A glob-imported unit variant (`Primary`), not a binding.
        Pat::Ident(ident)
            if ident.subpat.is_none()
                && ident
                    .ident
                    .unraw()
                    .to_string()
                    .starts_with(|c: char| c.is_uppercase()) =>
        {
            Some(vec![variant_value(&ident.ident.unraw().to_string())])
        }
        Pat::Lit(lit) => literal_text(&lit.lit).map(|v| vec![v]),
        Pat::Or(or) => {
            let mut values = Vec::new();
            for case in &or.cases {
                values.extend(pattern_values(case)?);
            }
            Some(values)
        }
        Pat::Paren(inner) => pattern_values(&inner.pat),
        _ => None,
    }
}

/// Whether a `match` arm's pattern matches anything (`_`, a binding).
pub(crate) fn is_catch_all(pat: &Pat) -> bool {
    match pat {
        Pat::Wild(_) => true,
        Pat::Ident(ident) => ident.subpat.is_none() && pattern_values(pat).is_none(),
        _ => false,
    }
}

/// The scrutinee of a `match` on a variable.
pub(crate) fn match_variable(expr: &Expr) -> Option<String> {
    variable_name(expr)
}

/// An enum variant as a user types it: lowercase, words joined by `-`
/// (`Distribution` is `distribution`, `ReadOnly` is `read-only`), the way
/// clap spells the values of a `ValueEnum`.
pub fn variant_value(variant: &str) -> String {
    let mut out = String::with_capacity(variant.len() + 4);
    for (i, c) in variant.chars().enumerate() {
        if c.is_uppercase() {
            if i > 0 && !out.ends_with('-') {
                out.push('-');
            }
            out.extend(c.to_lowercase());
        } else if c == '_' {
            out.push('-');
        } else {
            out.push(c);
        }
    }
    out
}

/// A `#[arg(default = ..)]` as a user would type it, when it is an enum
/// variant (`AptSource::Distribution` is `distribution`); `None` for
/// anything else.
pub fn default_variant(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Path(path) if path.qself.is_none() && path.path.segments.len() >= 2 => {
            let last = path.path.segments.last()?;
            let name = last.ident.unraw().to_string();
            // `Type::MAX` is a constant, not a variant.
            let camel = name.starts_with(|c: char| c.is_uppercase())
                && name.contains(|c: char| c.is_lowercase());
            (last.arguments.is_none() && camel).then(|| variant_value(&name))
        }
        Expr::Paren(inner) => default_variant(&inner.expr),
        Expr::Group(inner) => default_variant(&inner.expr),
        _ => None,
    }
}

/// An expression as Rust text, without the spaces of token streams around `::`.
fn rust_text(expr: &Expr) -> String {
    expr.to_token_stream()
        .to_string()
        .replace(" :: ", "::")
        .replace(" (", "(")
        .replace("( ", "(")
        .replace(" )", ")")
        .replace(" ?", "?")
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    fn shown(cond: Expr) -> Vec<String> {
        tests_of(&cond).iter().map(Test::to_string).collect()
    }

    #[test]
    fn tests_of_conditions() {
        assert_eq!(
            shown(parse_quote!(apt_source == AptSource::Pgdg)),
            ["apt_source == pgdg"]
        );
        assert_eq!(
            shown(parse_quote!(ClusterRole::Standalone != *role)),
            ["role != standalone"]
        );
        assert_eq!(shown(parse_quote!(with_index)), ["with_index == true"]);
        assert_eq!(shown(parse_quote!(!with_index)), ["with_index == false"]);
        assert_eq!(
            shown(parse_quote!(a && (port == 5432))),
            ["a == true", "port == 5432"]
        );
        assert_eq!(
            shown(parse_quote!(role == Role::A || role == Role::BigOne)),
            ["role in [a, big-one]"]
        );
        assert_eq!(
            shown(parse_quote!(!exists(remote_path(conf))?)),
            ["!(exists(remote_path(conf))?)"]
        );
        assert_eq!(shown(parse_quote!(name == "web")), ["name == web"]);
        assert_eq!(shown(parse_quote!(a == b)), ["a == b"]);
        assert!(matches!(
            &tests_of(&parse_quote!(a == b))[0],
            Test::Other(_)
        ));
    }

    #[test]
    fn else_is_the_opposite_of_one_test() {
        let tests = tests_of(&parse_quote!(with_index));
        assert_eq!(else_tests(&tests)[0].to_string(), "with_index == false");
        let tests = tests_of(&parse_quote!(source == Source::Pgdg));
        assert_eq!(else_tests(&tests)[0].to_string(), "source != pgdg");
        let tests = tests_of(&parse_quote!(a && b));
        assert!(matches!(&else_tests(&tests)[0], Test::Other(_)));
    }

    #[test]
    fn variants_are_spelled_as_typed() {
        assert_eq!(variant_value("Distribution"), "distribution");
        assert_eq!(variant_value("ReadOnly"), "read-only");
        assert_eq!(
            default_variant(&parse_quote!(AptSource::Distribution)).as_deref(),
            Some("distribution")
        );
        assert_eq!(default_variant(&parse_quote!(15)), None);
        assert_eq!(default_variant(&parse_quote!(std::u32::MAX)), None);
    }

    #[test]
    fn conditions_combine() {
        let a = Guard {
            tests: tests_of(&parse_quote!(a)),
        };
        let b = Guard {
            tests: tests_of(&parse_quote!(b)),
        };
        let mut c = Condition::never();
        assert!(c.is_never());
        c.or(&Condition::from(a.clone()));
        c.or(&Condition::from(a.clone()));
        assert_eq!(c.any.len(), 1);
        let both = c.and(&b);
        assert_eq!(both.any[0].tests.len(), 2);
        c.or(&Condition::always());
        assert!(c.is_always());
        let kept = both.only(&|t| t.to_string().starts_with('a'));
        assert_eq!(kept, Condition::from(a));
    }
}
