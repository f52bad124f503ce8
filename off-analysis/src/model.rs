//! The vocabulary the passes share: the operations ([`OpKind`]), their
//! counts ([`OpPlan`]) and what counting finds beside them (templates,
//! [`Effects`], [`Note`]s). `count.rs` fills these in, `ast.rs` gathers them
//! into the recipe's model, and the later passes read them.

use std::collections::BTreeMap;
use std::fmt;

use proc_macro2::Span;
use syn::Expr;

/// The operations of `off_runtime::prelude`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OpKind {
    Run,
    Sudo,
    SudoAs,
    Local,
    Get,
    Put,
    UploadTemplate,
    Exists,
    Append,
    Contains,
    Mkdir,
    Package,
    Service,
}

impl OpKind {
    pub const ALL: [OpKind; 13] = [
        OpKind::Run,
        OpKind::Sudo,
        OpKind::SudoAs,
        OpKind::Local,
        OpKind::Get,
        OpKind::Put,
        OpKind::UploadTemplate,
        OpKind::Exists,
        OpKind::Append,
        OpKind::Contains,
        OpKind::Mkdir,
        OpKind::Package,
        OpKind::Service,
    ];

    /// The function's name, as shown by the progress display (`run`, `sudo_as`, ...).
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Run => "run",
            OpKind::Sudo => "sudo",
            OpKind::SudoAs => "sudo_as",
            OpKind::Local => "local",
            OpKind::Get => "get",
            OpKind::Put => "put",
            OpKind::UploadTemplate => "upload_template",
            OpKind::Exists => "exists",
            OpKind::Append => "append",
            OpKind::Contains => "contains",
            OpKind::Mkdir => "mkdir",
            OpKind::Package => "package",
            OpKind::Service => "service",
        }
    }

    /// The kind of the operation function `name`. The `*_with_input`
    /// variants of `run`, `sudo` and `sudo_as` are the same operations with
    /// bytes on standard input, and count as such.
    pub fn from_name(name: &str) -> Option<OpKind> {
        let name = match name {
            "run_with_input" => "run",
            "sudo_with_input" => "sudo",
            "sudo_as_with_input" => "sudo_as",
            other => other,
        };
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

impl fmt::Display for OpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Planned number of operations per kind. Kinds with zero operations have no
/// entry, so two plans with the same counts are equal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpPlan {
    counts: BTreeMap<OpKind, u64>,
}

impl OpPlan {
    pub fn new() -> OpPlan {
        OpPlan::default()
    }

    /// All operations of all kinds.
    pub fn total(&self) -> u64 {
        self.counts
            .values()
            .fold(0, |sum, n| sum.saturating_add(*n))
    }

    pub fn get(&self, kind: OpKind) -> u64 {
        self.counts.get(&kind).copied().unwrap_or(0)
    }

    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &OpPlan) {
        for (kind, n) in &other.counts {
            self.add_count(*kind, *n);
        }
    }

    /// Adds `n` operations of `kind`.
    pub fn add_count(&mut self, kind: OpKind, n: u64) {
        if n > 0 {
            let count = self.counts.entry(kind).or_insert(0);
            *count = count.saturating_add(n);
        }
    }

    /// Adds one operation of `kind`.
    pub fn record(&mut self, kind: OpKind) {
        self.add_count(kind, 1);
    }

    /// The non-zero counts, in [`OpKind`] order.
    pub fn iter(&self) -> impl Iterator<Item = (OpKind, u64)> + '_ {
        self.counts.iter().map(|(kind, n)| (*kind, *n))
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }
}

impl fmt::Display for OpPlan {
    /// `2 run, 1 sudo (3 total)`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (kind, n)) in self.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}{n} {kind}")?;
        }
        let sep = if self.is_empty() { "" } else { " " };
        write!(f, "{sep}({} total)", self.total())
    }
}

impl FromIterator<(OpKind, u64)> for OpPlan {
    fn from_iter<I: IntoIterator<Item = (OpKind, u64)>>(iter: I) -> OpPlan {
        let mut plan = OpPlan::default();
        for (kind, n) in iter {
            plan.add_count(kind, n);
        }
        plan
    }
}

/// A literal template path of an `upload_template` call.
#[derive(Debug, Clone)]
pub struct TemplateRef {
    /// As written, e.g. `templates/postgresql.conf.j2`.
    pub path: String,
    /// The string literal's span.
    pub span: Span,
    /// Written as `template!("...")`, which embeds the file by itself; a
    /// plain literal is for the `#[recipe]` expansion to embed.
    pub via_template_macro: bool,
}

/// What the recipe's operations change on a host, as far as literals tell.
#[derive(Debug, Clone, Default)]
pub struct Effects {
    /// Destinations of `put`, `upload_template` and `append`, first occurrence of each.
    pub files: Vec<FileEffect>,
    /// Literal names passed to `service`, deduplicated, in source order.
    pub services: Vec<String>,
    /// Literal names passed to `package`, deduplicated, in source order.
    pub packages: Vec<String>,
}

/// A file written by an operation.
///
/// `path_template` (like the entries of `services` and `packages`) is either
/// a literal or the string of a `format!` whose placeholders are all named:
/// `{name}` then refers to a variable in scope at the call (usually a step
/// parameter); a named argument `x = var` is already substituted (`{var}`),
/// format specs are dropped and `{{`/`}}` stay escaped. The destination may
/// also be `remote_path(<that>)` with literal `.mode(..)`, `.owner(..)` and
/// `.group(..)` calls, which fill the fields of the same names.
#[derive(Debug, Clone)]
pub struct FileEffect {
    pub op: OpKind,
    pub path_template: String,
    /// The span of the path's literal.
    pub span: Span,
    /// Permission bits, e.g. `0o600`.
    pub mode: Option<u32>,
    pub owner: Option<String>,
    pub group: Option<String>,
    /// The line of an `append`, when it is a string template.
    pub line: Option<String>,
}

/// An operation call that counting recognised (see the crate docs for the
/// rule). The later passes read these instead of deciding again which calls
/// are operations, so a shadowed name is no operation for any of them.
#[derive(Debug, Clone)]
pub struct OpCall {
    pub kind: OpKind,
    /// The callee's span.
    pub span: Span,
    /// The arguments as written; `None` for an operation used as a value
    /// (`cmds.iter().map(run)`).
    pub args: Option<Vec<Expr>>,
    /// Where the call is in the recipe's item; `None` when it is no node of
    /// it (a call inside a macro's arguments, an operation used as a value).
    pub(crate) node: Option<CallNode>,
}

/// A call expression's place in the recipe's item, the same in every clone
/// of the item: the `call`-th [`syn::ExprCall`], counted in `syn::visit`
/// order, of the `function`-th `fn` of the recipe module (the recipe's own
/// fn for a single-fn recipe).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CallNode {
    pub(crate) function: usize,
    pub(crate) call: usize,
}

/// A non-fatal finding, e.g. a recursive call that counts zero operations.
#[derive(Debug, Clone)]
pub struct Note {
    pub message: String,
    pub span: Span,
}

impl Effects {
    pub(crate) fn merge(&mut self, other: Effects) {
        for file in other.files {
            self.add_file(file);
        }
        for service in other.services {
            push_unique(&mut self.services, service);
        }
        for package in other.packages {
            push_unique(&mut self.packages, package);
        }
    }

    pub(crate) fn add_file(&mut self, file: FileEffect) {
        let seen = self.files.iter().any(|f| {
            f.op == file.op && f.path_template == file.path_template && f.line == file.line
        });
        if !seen {
            self.files.push(file);
        }
    }
}

pub(crate) fn push_unique(list: &mut Vec<String>, value: String) {
    if !list.contains(&value) {
        list.push(value);
    }
}
