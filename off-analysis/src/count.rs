//! Operation counting by AST traversal.
//!
//! Each module function is walked once ([`summarize_fn`]): every recognised
//! operation call is counted where it is written, and calls to other module
//! functions are recorded as call sites. [`plan_fns`] then adds the callees'
//! plans at each call site, cutting recursion. See the crate docs for the
//! exact rules.

use std::collections::{BTreeMap, HashMap, HashSet};

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::parse::ParseStream;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{
    Arm, Block, Expr, ExprCall, ExprClosure, ExprForLoop, ExprIf, ExprLit, ExprPath, ExprWhile,
    FnArg, ImplItemFn, Item, ItemFn, Lit, Local, Macro, Pat, Signature, Stmt, Token, TraitItemFn,
    UseTree,
};

use crate::model::{
    CallNode, Effects, FileEffect, Note, OpCall, OpKind, OpPlan, TemplateRef, push_unique,
};
use off_input::placeholder::{self, Piece};

/// What a callable name refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Callee {
    Op(OpKind),
    /// A function of the recipe module (step or helper).
    Fn(String),
}

/// What an item name (a `use`, a nested `fn`, a `const`) refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ItemTarget {
    Op(OpKind),
    Other,
}

#[derive(Debug, Clone, Copy)]
enum Binding {
    /// `let`, a parameter, a closure parameter, a pattern binding.
    Local,
    Item(ItemTarget),
}

/// Names declared in one lexical scope.
struct Frame {
    /// The parameters of a (nested) function: the locals of enclosing
    /// frames are not visible from inside it, their items are.
    fn_boundary: bool,
    names: HashMap<String, Binding>,
}

/// The names visible at the top of the recipe module.
pub(crate) struct ModuleScope {
    fns: HashSet<String>,
    items: HashMap<String, ItemTarget>,
}

impl ModuleScope {
    /// `fns`: the module's functions; `items`: the module's items, whose
    /// `use`, `const` and `static` declarations may shadow or alias operations.
    pub(crate) fn new(fns: impl IntoIterator<Item = String>, items: &[Item]) -> ModuleScope {
        ModuleScope {
            fns: fns.into_iter().collect(),
            items: item_names(items.iter()).into_iter().collect(),
        }
    }

    fn resolve(&self, name: &str) -> Option<Callee> {
        if self.fns.contains(name) {
            return Some(Callee::Fn(name.to_owned()));
        }
        match self.items.get(name) {
            Some(ItemTarget::Op(kind)) => Some(Callee::Op(*kind)),
            Some(ItemTarget::Other) => None,
            // Glob imports (`use off_runtime::prelude::*`) are assumed to bring the ops.
            None => OpKind::from_name(name).map(Callee::Op),
        }
    }
}

/// A call from one module function to another.
#[derive(Debug, Clone)]
pub(crate) struct CallSite {
    pub(crate) callee: String,
    pub(crate) span: Span,
}

/// The result of walking one function once.
#[derive(Debug, Clone, Default)]
pub(crate) struct FnSummary {
    /// Operations written in the function itself.
    pub(crate) own: OpPlan,
    /// Calls to module functions, in source order.
    pub(crate) calls: Vec<CallSite>,
    pub(crate) templates: Vec<TemplateRef>,
    pub(crate) non_literal_templates: Vec<Expr>,
    pub(crate) effects: Effects,
    /// Every recognised operation call, in source order.
    pub(crate) op_calls: Vec<OpCall>,
}

/// Walks the body of `f`, the `function`-th fn of the module described by
/// `scope` (see [`CallNode`]).
pub(crate) fn summarize_fn(scope: &ModuleScope, function: usize, f: &ItemFn) -> FnSummary {
    let mut counter = OpCounter {
        module: scope,
        function,
        call_ordinals: call_ordinals(f),
        frames: Vec::new(),
        summary: FnSummary::default(),
    };
    counter.visit_fn(&f.sig, &f.block);
    counter.summary
}

/// The ordinal of each call expression of `f` in `syn::visit` order (see
/// [`CallNode`]), keyed by the node's address. Counting meets these very
/// nodes while `f` is borrowed; a call it parses from a macro's tokens lives
/// elsewhere, so it has no ordinal.
fn call_ordinals(f: &ItemFn) -> HashMap<*const ExprCall, usize> {
    struct Ordinals(HashMap<*const ExprCall, usize>);
    impl<'ast> Visit<'ast> for Ordinals {
        fn visit_expr_call(&mut self, call: &'ast ExprCall) {
            let next = self.0.len();
            self.0.insert(std::ptr::from_ref(call), next);
            syn::visit::visit_expr_call(self, call);
        }
    }
    let mut ordinals = Ordinals(HashMap::new());
    ordinals.visit_item_fn(f);
    ordinals.0
}

/// The inclusive plan of each function (its own operations plus, per call
/// site, the callee's plan) and a note per recursive call site, which counts 0.
pub(crate) fn plan_fns(fns: &[(String, &FnSummary)]) -> (Vec<OpPlan>, Vec<Note>) {
    let mut index = HashMap::new();
    for (i, (name, _)) in fns.iter().enumerate() {
        // With `#[cfg]`-alternative functions of one name, the first one wins.
        index.entry(name.as_str()).or_insert(i);
    }
    let callees: Vec<Vec<Option<usize>>> = fns
        .iter()
        .map(|(_, summary)| {
            summary
                .calls
                .iter()
                .map(|call| index.get(call.callee.as_str()).copied())
                .collect()
        })
        .collect();
    let cyclic = (0..fns.len()).map(|f| reaches(&callees, f, f)).collect();
    let mut planner = Planner {
        fns,
        callees,
        cyclic,
        memo: vec![None; fns.len()],
        stack: Vec::new(),
        budget: CYCLIC_EVALUATION_BUDGET,
        notes: BTreeMap::new(),
    };
    let plans = (0..fns.len()).map(|f| planner.eval(f)).collect();
    (plans, planner.notes.into_values().collect())
}

/// Bounds the work spent on densely recursive call graphs, whose plans cannot
/// be memoized; calls past it count 0 (and say so in a note).
const CYCLIC_EVALUATION_BUDGET: usize = 100_000;

/// Whether `to` is reachable from `from` through at least one call.
fn reaches(callees: &[Vec<Option<usize>>], from: usize, to: usize) -> bool {
    let mut seen = vec![false; callees.len()];
    let mut pending: Vec<usize> = callees[from].iter().flatten().copied().collect();
    while let Some(f) = pending.pop() {
        if f == to {
            return true;
        }
        if !std::mem::replace(&mut seen[f], true) {
            pending.extend(callees[f].iter().flatten().copied());
        }
    }
    false
}

struct Planner<'a> {
    fns: &'a [(String, &'a FnSummary)],
    /// Per function and call site, the callee's index.
    callees: Vec<Vec<Option<usize>>>,
    /// Functions that can reach themselves. Their plan depends on which
    /// callers are on the stack (the cut moves), so it is never memoized;
    /// every other function's plan is the same in every context.
    cyclic: Vec<bool>,
    memo: Vec<Option<OpPlan>>,
    stack: Vec<usize>,
    budget: usize,
    /// Keyed by `(caller, call site)`: one note per site, in source order.
    notes: BTreeMap<(usize, usize), Note>,
}

impl Planner<'_> {
    fn eval(&mut self, f: usize) -> OpPlan {
        if let Some(plan) = &self.memo[f] {
            return plan.clone();
        }
        if self.cyclic[f] {
            self.budget = self.budget.saturating_sub(1);
        }
        self.stack.push(f);
        let fns = self.fns;
        let (caller, summary) = &fns[f];
        let mut plan = summary.own.clone();
        for (site, call) in summary.calls.iter().enumerate() {
            let Some(callee) = self.callees[f][site] else {
                continue;
            };
            let recursive = self.stack.contains(&callee);
            if recursive || (self.cyclic[callee] && self.budget == 0) {
                let reason = if recursive {
                    "recursion is not followed"
                } else {
                    "the recursive call graph is too large to follow"
                };
                self.notes.entry((f, site)).or_insert_with(|| Note {
                    message: format!(
                        "call to `{}` from `{caller}` counts 0 operations in the plan ({reason})",
                        call.callee
                    ),
                    span: call.span,
                });
                continue;
            }
            plan.add(&self.eval(callee));
        }
        self.stack.pop();
        if !self.cyclic[f] {
            self.memo[f] = Some(plan.clone());
        }
        plan
    }
}

struct OpCounter<'a> {
    module: &'a ModuleScope,
    /// The walked fn's index in the module, for [`CallNode`]s.
    function: usize,
    call_ordinals: HashMap<*const ExprCall, usize>,
    frames: Vec<Frame>,
    summary: FnSummary,
}

impl OpCounter<'_> {
    fn push_frame(&mut self, fn_boundary: bool, names: HashMap<String, Binding>) {
        self.frames.push(Frame { fn_boundary, names });
    }

    fn push_locals(&mut self, names: Vec<String>) {
        let names = names.into_iter().map(|n| (n, Binding::Local)).collect();
        self.push_frame(false, names);
    }

    /// Resolves a single-segment name through the lexical scopes, then the module.
    fn lookup(&self, name: &str) -> Option<Callee> {
        let mut crossed_fn = false;
        for frame in self.frames.iter().rev() {
            match frame.names.get(name) {
                Some(Binding::Local) if crossed_fn => {}
                Some(Binding::Local) | Some(Binding::Item(ItemTarget::Other)) => return None,
                Some(Binding::Item(ItemTarget::Op(kind))) => return Some(Callee::Op(*kind)),
                None => {}
            }
            crossed_fn |= frame.fn_boundary;
        }
        self.module.resolve(name)
    }

    fn resolve_path(&self, path: &syn::Path) -> Option<Callee> {
        let segments: Vec<&syn::PathSegment> = path.segments.iter().collect();
        let (last, prefix) = segments.split_last()?;
        if prefix.iter().any(|s| !s.arguments.is_none()) {
            return None;
        }
        let name = last.ident.unraw().to_string();
        let prefix: Vec<String> = prefix.iter().map(|s| s.ident.to_string()).collect();
        let prefix: Vec<&str> = prefix.iter().map(String::as_str).collect();
        match (path.leading_colon.is_some(), prefix.as_slice()) {
            (false, []) => self.lookup(&name),
            (false, ["self"]) => self.module.resolve(&name),
            (_, ["off_runtime"] | ["off_runtime", "ops" | "prelude"]) => {
                OpKind::from_name(&name).map(Callee::Op)
            }
            _ => None,
        }
    }

    fn record(
        &mut self,
        callee: Callee,
        span: Span,
        args: Option<&Punctuated<Expr, Token![,]>>,
        node: Option<CallNode>,
    ) {
        match callee {
            Callee::Op(kind) => {
                self.summary.own.record(kind);
                if let Some(args) = args {
                    self.record_effects(kind, args);
                }
                self.summary.op_calls.push(OpCall {
                    kind,
                    span,
                    args: args.map(|args| args.iter().cloned().collect()),
                    node,
                });
            }
            Callee::Fn(callee) => self.summary.calls.push(CallSite { callee, span }),
        }
    }

    fn record_effects(&mut self, kind: OpKind, args: &Punctuated<Expr, Token![,]>) {
        let arg = |i: usize| args.iter().nth(i);
        let summary = &mut self.summary;
        let mut file = |index: usize| {
            if let Some(mut effect) = arg(index).and_then(|dest| file_effect(kind, dest)) {
                if kind == OpKind::Append {
                    effect.line = arg(1).and_then(string_template).map(|(line, _)| line);
                }
                summary.effects.add_file(effect);
            }
        };
        match kind {
            OpKind::Put => file(1),
            OpKind::Append | OpKind::Mkdir => file(0),
            OpKind::UploadTemplate => {
                file(1);
                if let Some(template) = arg(0) {
                    match template_path(template) {
                        Some((lit, via_template_macro)) => summary.templates.push(TemplateRef {
                            path: lit.value(),
                            span: lit.span(),
                            via_template_macro,
                        }),
                        None => summary.non_literal_templates.push(template.clone()),
                    }
                }
            }
            OpKind::Service => {
                if let Some((name, _)) = arg(0).and_then(string_template) {
                    push_unique(&mut summary.effects.services, name);
                }
            }
            OpKind::Package => {
                for (name, _) in arg(0).map(string_list).unwrap_or_default() {
                    push_unique(&mut summary.effects.packages, name);
                }
            }
            _ => {}
        }
    }

    /// A function body: parameters are a scope of their own that hides the
    /// locals of any enclosing function.
    fn visit_fn(&mut self, sig: &Signature, block: &Block) {
        let mut names = HashMap::new();
        for input in &sig.inputs {
            match input {
                FnArg::Receiver(_) => {
                    names.insert("self".to_owned(), Binding::Local);
                }
                FnArg::Typed(pat_type) => {
                    for name in pat_bindings(&pat_type.pat) {
                        names.insert(name, Binding::Local);
                    }
                }
            }
        }
        self.push_frame(true, names);
        self.visit_block(block);
        self.frames.pop();
    }
}

impl<'ast> Visit<'ast> for OpCounter<'_> {
    fn visit_block(&mut self, block: &'ast Block) {
        // Items of a block are visible in all of it, before their declaration too.
        let items = block.stmts.iter().filter_map(|stmt| match stmt {
            Stmt::Item(item) => Some(item),
            _ => None,
        });
        let names = item_names(items)
            .into_iter()
            .map(|(name, target)| (name, Binding::Item(target)))
            .collect();
        self.push_frame(false, names);
        for stmt in &block.stmts {
            self.visit_stmt(stmt);
        }
        self.frames.pop();
    }

    fn visit_local(&mut self, local: &'ast Local) {
        // The initializer does not see the new binding: `let run = || run("x");`.
        if let Some(init) = &local.init {
            self.visit_expr(&init.expr);
            if let Some((_, diverge)) = &init.diverge {
                self.visit_expr(diverge);
            }
        }
        let frame = self
            .frames
            .last_mut()
            .expect("a `let` is always inside a block");
        for name in pat_bindings(&local.pat) {
            frame.names.insert(name, Binding::Local);
        }
    }

    fn visit_expr_closure(&mut self, closure: &'ast ExprClosure) {
        let names = closure.inputs.iter().flat_map(pat_bindings).collect();
        self.push_locals(names);
        self.visit_expr(&closure.body);
        self.frames.pop();
    }

    fn visit_arm(&mut self, arm: &'ast Arm) {
        self.push_locals(pat_bindings(&arm.pat));
        if let Some((_, guard)) = &arm.guard {
            self.visit_expr(guard);
        }
        self.visit_expr(&arm.body);
        self.frames.pop();
    }

    fn visit_expr_if(&mut self, expr: &'ast ExprIf) {
        self.visit_expr(&expr.cond);
        self.push_locals(let_bindings(&expr.cond));
        self.visit_block(&expr.then_branch);
        self.frames.pop();
        if let Some((_, otherwise)) = &expr.else_branch {
            self.visit_expr(otherwise);
        }
    }

    fn visit_expr_while(&mut self, expr: &'ast ExprWhile) {
        self.visit_expr(&expr.cond);
        self.push_locals(let_bindings(&expr.cond));
        self.visit_block(&expr.body);
        self.frames.pop();
    }

    fn visit_expr_for_loop(&mut self, expr: &'ast ExprForLoop) {
        self.visit_expr(&expr.expr);
        self.push_locals(pat_bindings(&expr.pat));
        self.visit_block(&expr.body);
        self.frames.pop();
    }

    fn visit_item_fn(&mut self, f: &'ast ItemFn) {
        self.visit_fn(&f.sig, &f.block);
    }

    fn visit_impl_item_fn(&mut self, f: &'ast ImplItemFn) {
        self.visit_fn(&f.sig, &f.block);
    }

    fn visit_trait_item_fn(&mut self, f: &'ast TraitItemFn) {
        if let Some(block) = &f.default {
            self.visit_fn(&f.sig, block);
        }
    }

    fn visit_expr_call(&mut self, call: &'ast ExprCall) {
        match &*call.func {
            Expr::Path(func) if func.qself.is_none() => {
                if let Some(callee) = self.resolve_path(&func.path) {
                    let node =
                        self.call_ordinals
                            .get(&std::ptr::from_ref(call))
                            .map(|&n| CallNode {
                                function: self.function,
                                call: n,
                            });
                    self.record(callee, func.span(), Some(&call.args), node);
                }
            }
            func => self.visit_expr(func),
        }
        for arg in &call.args {
            self.visit_expr(arg);
        }
    }

    /// An operation or module function used as a value (`.map(run)`,
    /// `.try_for_each(install_one)`) counts like one call.
    fn visit_expr_path(&mut self, expr: &'ast ExprPath) {
        if expr.qself.is_none()
            && let Some(callee) = self.resolve_path(&expr.path)
        {
            self.record(callee, expr.span(), None, None);
        }
    }

    fn visit_macro(&mut self, mac: &'ast Macro) {
        if let Ok(args) = mac.parse_body_with(Punctuated::<Expr, Token![,]>::parse_terminated) {
            for arg in &args {
                match arg {
                    // `format!("{x}", x = ..)`, `info!(run = 3)`: the left side is a name.
                    Expr::Assign(assign) if single_ident(&assign.left).is_some() => {
                        self.visit_expr(&assign.right);
                    }
                    arg => self.visit_expr(arg),
                }
            }
        } else if let Ok((value, len)) = mac.parse_body_with(parse_repeat) {
            self.visit_expr(&value);
            self.visit_expr(&len);
        }
    }

    // Patterns and types hold no operation calls worth counting.
    fn visit_pat(&mut self, _: &'ast Pat) {}
    fn visit_type(&mut self, _: &'ast syn::Type) {}
}

/// `vec![value; len]`
fn parse_repeat(input: ParseStream) -> syn::Result<(Expr, Expr)> {
    let value: Expr = input.parse()?;
    input.parse::<Token![;]>()?;
    let len: Expr = input.parse()?;
    Ok((value, len))
}

/// Names declared by items (`fn`, `use`, `const`, `static`) that could shadow
/// or alias an operation or a module function.
fn item_names<'a>(items: impl Iterator<Item = &'a Item>) -> Vec<(String, ItemTarget)> {
    let mut names = Vec::new();
    for item in items {
        match item {
            Item::Fn(f) => names.push((f.sig.ident.unraw().to_string(), ItemTarget::Other)),
            Item::Const(c) => names.push((c.ident.unraw().to_string(), ItemTarget::Other)),
            Item::Static(s) => names.push((s.ident.unraw().to_string(), ItemTarget::Other)),
            Item::Use(u) => use_names(&u.tree, &mut Vec::new(), &mut names),
            _ => {}
        }
    }
    names
}

/// The names a `use` tree brings into scope; `off_runtime::run` (or
/// `off_runtime::{ops, prelude}::run`), possibly renamed, is the operation.
fn use_names(tree: &UseTree, prefix: &mut Vec<String>, out: &mut Vec<(String, ItemTarget)>) {
    let mut bind = |local: String, path: &[String]| {
        let target = op_of_path(path).map_or(ItemTarget::Other, ItemTarget::Op);
        out.push((local, target));
    };
    match tree {
        UseTree::Path(path) => {
            prefix.push(path.ident.unraw().to_string());
            use_names(&path.tree, prefix, out);
            prefix.pop();
        }
        UseTree::Name(name) if name.ident == "self" => {
            if let Some(last) = prefix.last() {
                bind(last.clone(), prefix);
            }
        }
        UseTree::Name(name) => {
            let name = name.ident.unraw().to_string();
            prefix.push(name.clone());
            bind(name, prefix);
            prefix.pop();
        }
        UseTree::Rename(rename) => {
            let local = rename.rename.unraw().to_string();
            if rename.ident == "self" {
                bind(local, prefix);
            } else {
                prefix.push(rename.ident.unraw().to_string());
                bind(local, prefix);
                prefix.pop();
            }
        }
        UseTree::Glob(_) => {}
        UseTree::Group(group) => {
            for tree in &group.items {
                use_names(tree, prefix, out);
            }
        }
    }
}

fn op_of_path(path: &[String]) -> Option<OpKind> {
    let (last, prefix) = path.split_last()?;
    let prefix: Vec<&str> = prefix.iter().map(String::as_str).collect();
    match prefix.as_slice() {
        ["off_runtime"] | ["off_runtime", "ops" | "prelude"] => OpKind::from_name(last),
        _ => None,
    }
}

/// The names a pattern binds.
pub(crate) fn pat_bindings(pat: &Pat) -> Vec<String> {
    let mut names = Vec::new();
    collect_bindings(pat, &mut names);
    names
}

fn collect_bindings(pat: &Pat, names: &mut Vec<String>) {
    match pat {
        Pat::Ident(p) => {
            names.push(p.ident.unraw().to_string());
            if let Some((_, sub)) = &p.subpat {
                collect_bindings(sub, names);
            }
        }
        Pat::Or(p) => p
            .cases
            .iter()
            .for_each(|case| collect_bindings(case, names)),
        Pat::Paren(p) => collect_bindings(&p.pat, names),
        Pat::Reference(p) => collect_bindings(&p.pat, names),
        Pat::Slice(p) => p
            .elems
            .iter()
            .for_each(|elem| collect_bindings(elem, names)),
        Pat::Struct(p) => p
            .fields
            .iter()
            .for_each(|field| collect_bindings(&field.pat, names)),
        Pat::Tuple(p) => p
            .elems
            .iter()
            .for_each(|elem| collect_bindings(elem, names)),
        Pat::TupleStruct(p) => p
            .elems
            .iter()
            .for_each(|elem| collect_bindings(elem, names)),
        Pat::Type(p) => collect_bindings(&p.pat, names),
        _ => {}
    }
}

/// The bindings of the `let`s in an `if`/`while` condition (`let` chains included).
fn let_bindings(cond: &Expr) -> Vec<String> {
    match cond {
        Expr::Let(expr) => pat_bindings(&expr.pat),
        Expr::Binary(expr) if matches!(expr.op, syn::BinOp::And(_)) => {
            let mut names = let_bindings(&expr.left);
            names.extend(let_bindings(&expr.right));
            names
        }
        Expr::Paren(expr) => let_bindings(&expr.expr),
        Expr::Group(expr) => let_bindings(&expr.expr),
        _ => Vec::new(),
    }
}

/// A string literal, possibly parenthesized.
fn string_literal(expr: &Expr) -> Option<&syn::LitStr> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) => Some(lit),
        Expr::Paren(inner) => string_literal(&inner.expr),
        Expr::Group(inner) => string_literal(&inner.expr),
        _ => None,
    }
}

/// The template argument of `upload_template`: a string literal, or
/// `template!("...")` (then `true`: the runtime's macro embeds it already).
fn template_path(expr: &Expr) -> Option<(syn::LitStr, bool)> {
    if let Some(lit) = string_literal(expr) {
        return Some((lit.clone(), false));
    }
    match expr {
        Expr::Macro(mac) if is_template_macro(&mac.mac.path) => {
            let lit = mac.mac.parse_body::<syn::LitStr>().ok()?;
            Some((lit, true))
        }
        Expr::Paren(inner) => template_path(&inner.expr),
        Expr::Group(inner) => template_path(&inner.expr),
        _ => None,
    }
}

fn is_template_macro(path: &syn::Path) -> bool {
    let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    matches!(
        segments.as_slice(),
        ["template"] | ["off_runtime", "template"] | ["off_runtime", "prelude", "template"]
    )
}

/// The destination of `put`/`upload_template`/`append`: a string template
/// (see [`string_template`]) or `remote_path(<string template>)` followed by
/// `.mode(..)`, `.owner(..)`, `.group(..)`, `.sudo()` calls.
pub(crate) fn file_effect(op: OpKind, dest: &Expr) -> Option<FileEffect> {
    if let Some((path_template, span)) = path_template(dest) {
        return Some(FileEffect {
            op,
            path_template,
            span,
            mode: None,
            owner: None,
            group: None,
            line: None,
        });
    }
    let mut mode = None;
    let mut owner = None;
    let mut group = None;
    let mut expr = dest;
    loop {
        match expr {
            Expr::MethodCall(call) => {
                let arg = call.args.first();
                if call.method == "mode" {
                    // Walking from the last call inwards: the first value found wins.
                    mode = mode.or(arg.and_then(literal_mode));
                } else if call.method == "owner" {
                    owner = owner.or(arg.and_then(string_template).map(|(name, _)| name));
                } else if call.method == "group" {
                    group = group.or(arg.and_then(string_template).map(|(name, _)| name));
                }
                expr = &call.receiver;
            }
            Expr::Paren(inner) => expr = &inner.expr,
            Expr::Group(inner) => expr = &inner.expr,
            Expr::Reference(inner) => expr = &inner.expr,
            Expr::Call(call) => {
                let Expr::Path(func) = &*call.func else {
                    return None;
                };
                let is_remote_path = func.qself.is_none()
                    && func.path.segments.last()?.ident == "remote_path"
                    && call.args.len() == 1;
                if !is_remote_path {
                    return None;
                }
                let (path_template, span) = path_template(call.args.first()?)?;
                return Some(FileEffect {
                    op,
                    path_template,
                    span,
                    mode,
                    owner,
                    group,
                    line: None,
                });
            }
            _ => return None,
        }
    }
}

/// A destination path: a [`string_template`], or a variable (`root`,
/// `&root`), which is the template `{root}`.
fn path_template(expr: &Expr) -> Option<(String, Span)> {
    if let Some(template) = string_template(expr) {
        return Some(template);
    }
    match expr {
        Expr::Reference(inner) => path_template(&inner.expr),
        Expr::Paren(inner) => path_template(&inner.expr),
        Expr::Path(path) => {
            let name = single_ident(expr)?;
            Some((format!("{{{name}}}"), path.path.segments[0].ident.span()))
        }
        _ => None,
    }
}

/// The bits of `.mode(0o750)`: an integer literal.
fn literal_mode(expr: &Expr) -> Option<u32> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Int(bits),
            ..
        }) => bits.base10_parse::<u32>().ok(),
        Expr::Paren(inner) => literal_mode(&inner.expr),
        _ => None,
    }
}

/// A string literal or a `format!` with named placeholders only (see
/// [`FileEffect`]), through `&`, parentheses and `.to_string()`-like calls.
pub(crate) fn string_template(expr: &Expr) -> Option<(String, Span)> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) => Some((lit.value(), lit.span())),
        Expr::Reference(inner) => string_template(&inner.expr),
        Expr::Paren(inner) => string_template(&inner.expr),
        Expr::Group(inner) => string_template(&inner.expr),
        Expr::MethodCall(call)
            if call.args.is_empty()
                && ["to_string", "to_owned", "into", "as_str"]
                    .iter()
                    .any(|m| call.method == m) =>
        {
            string_template(&call.receiver)
        }
        Expr::Macro(mac) if is_format_macro(&mac.mac.path) => format_template(&mac.mac),
        _ => None,
    }
}

/// `"a"`, `["a", "b"]`, `&["a"]`, `vec!["a"]`: the entries that are string templates.
fn string_list(expr: &Expr) -> Vec<(String, Span)> {
    match expr {
        Expr::Array(array) => array.elems.iter().filter_map(string_template).collect(),
        Expr::Reference(inner) => string_list(&inner.expr),
        Expr::Paren(inner) => string_list(&inner.expr),
        Expr::Group(inner) => string_list(&inner.expr),
        Expr::Macro(mac) if mac.mac.path.is_ident("vec") => mac
            .mac
            .parse_body_with(Punctuated::<Expr, Token![,]>::parse_terminated)
            .map(|elems| elems.iter().filter_map(string_template).collect())
            .unwrap_or_default(),
        other => string_template(other).into_iter().collect(),
    }
}

fn is_format_macro(path: &syn::Path) -> bool {
    let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    matches!(
        segments.as_slice(),
        ["format"] | ["std" | "alloc", "format"]
    )
}

/// `format!("/etc/{version}/x")` or `format!("/etc/{v}/x", v = version)`.
pub(crate) fn format_template(mac: &Macro) -> Option<(String, Span)> {
    let args = mac
        .parse_body_with(Punctuated::<Expr, Token![,]>::parse_terminated)
        .ok()?;
    let mut args = args.iter();
    let format = string_literal(args.next()?)?;
    let mut named = HashMap::new();
    for arg in args {
        let Expr::Assign(assign) = arg else {
            return None;
        };
        let name = single_ident(&assign.left)?;
        let value = single_ident(&assign.right)?;
        named.insert(name, value);
    }
    let template = named_placeholders(&format.value(), &named)?;
    Some((template, format.span()))
}

fn single_ident(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Path(path) if path.qself.is_none() => {
            path.path.get_ident().map(|ident| ident.unraw().to_string())
        }
        _ => None,
    }
}

/// Rewrites the placeholders of a format string to `{variable}`; `None` when
/// one of them is positional (`{}`, `{0}`) or the string is malformed.
fn named_placeholders(format: &str, named: &HashMap<String, String>) -> Option<String> {
    let mut out = String::with_capacity(format.len());
    for piece in placeholder::pieces(format).ok()? {
        match piece {
            Piece::Text(_) => out.push_str(&piece.to_string()),
            Piece::Hole { arg, .. } => {
                let is_ident = arg
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_alphabetic() || c == '_')
                    && arg.chars().all(|c| c.is_alphanumeric() || c == '_');
                if !is_ident {
                    return None;
                }
                let variable = named.get(&arg).map_or(arg.as_str(), String::as_str);
                out.push('{');
                out.push_str(variable);
                out.push('}');
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    /// Own operations of one function (no module functions around it).
    fn own(f: ItemFn) -> OpPlan {
        let scope = ModuleScope::new([], &[]);
        let summary = summarize_fn(&scope, 0, &f);
        assert!(summary.calls.is_empty());
        summary.own
    }

    fn plan(counts: &[(OpKind, u64)]) -> OpPlan {
        counts.iter().copied().collect()
    }

    #[test]
    fn names_round_trip() {
        for kind in OpKind::ALL {
            assert_eq!(OpKind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(OpKind::SudoAs.name(), "sudo_as");
        assert_eq!(OpKind::UploadTemplate.to_string(), "upload_template");
        assert_eq!(OpKind::from_name("cd"), None);
        assert_eq!(
            OpKind::from_name("sudo_as_with_input"),
            Some(OpKind::SudoAs)
        );
        assert_eq!(OpKind::from_name("put_with_input"), None);
        assert_eq!(OpKind::from_name("sh"), None);
    }

    #[test]
    fn plan_arithmetic() {
        let mut a = plan(&[(OpKind::Run, 2), (OpKind::Sudo, 0)]);
        assert_eq!(a, plan(&[(OpKind::Run, 2)]));
        a.add(&plan(&[(OpKind::Run, 1), (OpKind::Put, 3)]));
        assert_eq!(a.get(OpKind::Run), 3);
        assert_eq!(a.get(OpKind::Put), 3);
        assert_eq!(a.get(OpKind::Sudo), 0);
        assert_eq!(a.total(), 6);
        assert_eq!(a.to_string(), "3 run, 3 put (6 total)");
        assert!(OpPlan::new().is_empty());
        assert_eq!(OpPlan::new().total(), 0);
    }

    #[test]
    fn every_op_is_recognised() {
        let counted = own(parse_quote! {
            fn f() {
                run("a"); sudo("b"); sudo_as("u", "c"); local("d"); get("r", "l");
                put("s", "/d"); upload_template("t.j2", "/x", ctx); exists("/p");
                append("/f", "line"); contains("/f", "x"); mkdir("/d"); package(["p"]);
                service("s", Restart);
            }
        });
        let expected: OpPlan = OpKind::ALL.into_iter().map(|k| (k, 1)).collect();
        assert_eq!(counted, expected);
    }

    #[test]
    fn qualified_and_unqualified_paths() {
        let counted = own(parse_quote! {
            fn f() {
                off_runtime::sudo("a");
                ::off_runtime::sudo("b");
                off_runtime::ops::run("c");
                off_runtime::prelude::put(x, "/y");
                self::run("d");
                run::<&str>("e");
                other_crate::run("no");
                off_runtime::other::run("no");
                crate::run("no");
                Self::run("no");
                <T as X>::run("no");
            }
        });
        assert_eq!(
            counted,
            plan(&[(OpKind::Run, 3), (OpKind::Sudo, 2), (OpKind::Put, 1)])
        );
    }

    #[test]
    fn methods_guards_and_sh_are_not_ops() {
        let counted = own(parse_quote! {
            fn f() -> Result<()> {
                let _cd = cd("/var/lib/postgresql");
                let _l = lcd("/tmp");
                let _env = shell_env([("A", "1")]);
                let _s = settings(Settings::default().warn_only(true));
                runner.run("x");
                x.sudo();
                std::process::Command::new("x").output()?;
                let cmd = sh!("echo {name}");
                map.get("k");
                Ok(())
            }
        });
        assert_eq!(counted, OpPlan::new());
    }

    #[test]
    fn arguments_of_guards_and_ops_are_traversed() {
        let counted = own(parse_quote! {
            fn f() {
                let _cd = cd(run("pwd")?.stdout);
                sudo(&run("cat /etc/cmd")?.stdout)?;
            }
        });
        assert_eq!(counted, plan(&[(OpKind::Run, 2), (OpKind::Sudo, 1)]));
    }

    #[test]
    fn loops_count_once_and_branches_all() {
        let counted = own(parse_quote! {
            fn f() {
                for host in hosts { run("a"); sudo("b"); }
                while cond() { run("c"); }
                loop { if done { break; } local("d"); }
                if x { run("e"); } else if y { sudo("f"); } else { put(a, b); }
                match mode {
                    Mode::A => run("g"),
                    Mode::B => { sudo("h"); sudo("i"); }
                    _ => exists("/j")?,
                };
            }
        });
        assert_eq!(
            counted,
            plan(&[
                (OpKind::Run, 4),
                (OpKind::Sudo, 4),
                (OpKind::Local, 1),
                (OpKind::Put, 1),
                (OpKind::Exists, 1),
            ])
        );
    }

    #[test]
    fn closures_count_once_where_defined() {
        let counted = own(parse_quote! {
            fn f() {
                hosts.iter().for_each(|h| { run(h); });
                let g = move || sudo("x");
                g(); g(); g();
                cmds.iter().try_for_each(|c| run(c).map(|_| ()))?;
            }
        });
        assert_eq!(counted, plan(&[(OpKind::Run, 2), (OpKind::Sudo, 1)]));
    }

    #[test]
    fn ops_used_as_values_count_once() {
        let counted = own(parse_quote! {
            fn f() {
                cmds.iter().map(run).collect::<Result<Vec<_>>>()?;
                let op = if root { sudo } else { run };
                op("x");
            }
        });
        assert_eq!(counted, plan(&[(OpKind::Run, 2), (OpKind::Sudo, 1)]));
    }

    #[test]
    fn shadowing_by_let_closure_params_and_items() {
        let counted = own(parse_quote! {
            fn f(get: Getter) {
                get("not an op: parameter");
                let run = |x| x;
                run(1);
                {
                    fn sudo() {}
                    sudo();
                }
                sudo("counted: the fn is scoped to the block above");
                let closure = |put: u32| put(1);
                put(a, "/counted");
                match x { Some(exists) => exists(), None => {} }
                if let Some(append) = y { append() }
                append("/counted", "line");
                for local in xs { local(); }
                while let Some(contains) = it.next() { contains(); }
                let (service, _) = pair;
                service();
                use other::package;
                package("not an op: imported from elsewhere");
            }
        });
        assert_eq!(
            counted,
            plan(&[(OpKind::Sudo, 1), (OpKind::Put, 1), (OpKind::Append, 1)])
        );
    }

    #[test]
    fn let_initializer_sees_the_outer_name() {
        let counted = own(parse_quote! {
            fn f() {
                let run = |cmd| run(cmd);
                run("x");
                let sudo = sudo("y");
            }
        });
        assert_eq!(counted, plan(&[(OpKind::Run, 1), (OpKind::Sudo, 1)]));
    }

    #[test]
    fn nested_fn_bodies_count_once_and_do_not_see_outer_locals() {
        let counted = own(parse_quote! {
            fn f() {
                let run = 3;
                fn inner() {
                    run("counted: the outer `let run` is not visible here");
                }
                inner();
                inner();
            }
        });
        assert_eq!(counted, plan(&[(OpKind::Run, 1)]));
    }

    #[test]
    fn block_items_are_visible_before_their_declaration() {
        let counted = own(parse_quote! {
            fn f() {
                run("not an op: the fn below shadows it");
                fn run(_: &str) {}
            }
        });
        assert_eq!(counted, OpPlan::new());
    }

    #[test]
    fn use_aliases_of_ops() {
        let counted = own(parse_quote! {
            fn f() {
                use off_runtime::prelude::sudo as elevated;
                use off_runtime::{run as r, ops::put};
                elevated("a");
                r("b");
                put(x, "/c");
            }
        });
        assert_eq!(
            counted,
            plan(&[(OpKind::Run, 1), (OpKind::Sudo, 1), (OpKind::Put, 1)])
        );
    }

    #[test]
    fn calls_inside_macros() {
        let counted = own(parse_quote! {
            fn f() {
                println!("{}", run("a")?.stdout);
                let v = vec![sudo("b")?, sudo("c")?];
                let w = vec![local("d"); 3];
                assert!(exists("/e")?, "missing {}", get("r", "l")?);
                let s = format!("{x}", x = contains("/f", "g")?);
                my_macro!(run("h") => not an expression list);
                sh!("{}", run("i")?.stdout);
                info!(run = true, sudo = sudo("j")?.code, "named macro arguments are names");
            }
        });
        assert_eq!(
            counted,
            plan(&[
                (OpKind::Run, 2),
                (OpKind::Sudo, 3),
                (OpKind::Local, 1),
                (OpKind::Get, 1),
                (OpKind::Exists, 1),
                (OpKind::Contains, 1),
            ])
        );
    }

    #[test]
    fn module_functions_are_call_sites() {
        let items: Vec<Item> = vec![parse_quote!(
            fn helper() {}
        )];
        let scope = ModuleScope::new(["helper".to_owned()], &items);
        let f: ItemFn = parse_quote! {
            fn f() {
                helper();
                self::helper();
                xs.iter().for_each(helper);
                x.helper();
                other::helper();
                { let helper = 1; helper(); }
            }
        };
        let summary = summarize_fn(&scope, 0, &f);
        let callees: Vec<&str> = summary.calls.iter().map(|c| c.callee.as_str()).collect();
        assert_eq!(callees, ["helper", "helper", "helper"]);
    }

    #[test]
    fn module_fns_and_imports_shadow_glob_ops() {
        let items: Vec<Item> = vec![
            parse_quote!(
                fn package() {}
            ),
            parse_quote!(
                use other::service;
            ),
            parse_quote!(
                use off_runtime::sudo as su;
            ),
            parse_quote!(
                const exists: u32 = 1;
            ),
        ];
        let scope = ModuleScope::new(["package".to_owned()], &items);
        let f: ItemFn = parse_quote! {
            fn f() {
                package(); service("x"); su("y"); exists; run("z");
            }
        };
        let summary = summarize_fn(&scope, 0, &f);
        assert_eq!(summary.own, plan(&[(OpKind::Run, 1), (OpKind::Sudo, 1)]));
        assert_eq!(summary.calls.len(), 1);
        assert_eq!(summary.calls[0].callee, "package");
    }

    fn plans_of(fns: &[ItemFn]) -> (Vec<OpPlan>, Vec<Note>) {
        let names: Vec<String> = fns
            .iter()
            .map(|f| f.sig.ident.unraw().to_string())
            .collect();
        let scope = ModuleScope::new(names.clone(), &[]);
        let summaries: Vec<FnSummary> = fns
            .iter()
            .enumerate()
            .map(|(i, f)| summarize_fn(&scope, i, f))
            .collect();
        let named: Vec<(String, &FnSummary)> = names.into_iter().zip(summaries.iter()).collect();
        plan_fns(&named)
    }

    #[test]
    fn helpers_count_per_call_site_recursively() {
        let (plans, notes) = plans_of(&[
            parse_quote!(
                fn step() {
                    outer();
                    outer();
                    run("s");
                }
            ),
            parse_quote!(
                fn outer() {
                    inner();
                    sudo("o");
                }
            ),
            parse_quote!(
                fn inner() {
                    run("i");
                    put(a, "/b");
                }
            ),
        ]);
        assert!(notes.is_empty());
        assert_eq!(plans[2], plan(&[(OpKind::Run, 1), (OpKind::Put, 1)]));
        assert_eq!(
            plans[1],
            plan(&[(OpKind::Run, 1), (OpKind::Sudo, 1), (OpKind::Put, 1)])
        );
        assert_eq!(
            plans[0],
            plan(&[(OpKind::Run, 3), (OpKind::Sudo, 2), (OpKind::Put, 2)])
        );
    }

    #[test]
    fn recursion_is_cut_and_noted() {
        let (plans, notes) = plans_of(&[
            parse_quote!(
                fn retry() {
                    run("a");
                    if failed {
                        retry();
                    }
                }
            ),
            parse_quote!(
                fn ping() {
                    run("p");
                    pong();
                }
            ),
            parse_quote!(
                fn pong() {
                    sudo("q");
                    ping();
                }
            ),
            parse_quote!(
                fn both() {
                    ping();
                    pong();
                }
            ),
        ]);
        assert_eq!(plans[0], plan(&[(OpKind::Run, 1)]));
        assert_eq!(plans[1], plan(&[(OpKind::Run, 1), (OpKind::Sudo, 1)]));
        assert_eq!(plans[2], plan(&[(OpKind::Run, 1), (OpKind::Sudo, 1)]));
        assert_eq!(plans[3], plan(&[(OpKind::Run, 2), (OpKind::Sudo, 2)]));
        let messages: Vec<&str> = notes.iter().map(|n| n.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "call to `retry` from `retry` counts 0 operations in the plan (recursion is not followed)",
                "call to `pong` from `ping` counts 0 operations in the plan (recursion is not followed)",
                "call to `ping` from `pong` counts 0 operations in the plan (recursion is not followed)",
            ]
        );
    }

    #[test]
    fn memoized_plans_are_exact_on_wide_call_graphs() {
        // 2^30 call paths: only terminates because shared callees are memoized.
        let mut fns: Vec<ItemFn> = vec![parse_quote!(
            fn f0() {
                run("x");
            }
        )];
        for i in 1..=30u32 {
            let name = quote::format_ident!("f{i}");
            let prev = quote::format_ident!("f{}", i - 1);
            fns.push(parse_quote!(fn #name() { #prev(); #prev(); }));
        }
        let (plans, _) = plans_of(&fns);
        assert_eq!(plans[30].get(OpKind::Run), 1 << 30);
    }

    #[test]
    fn format_placeholders() {
        let named: HashMap<String, String> = [("v".to_owned(), "version".to_owned())].into();
        let cases = [
            ("/etc/{version}/x", Some("/etc/{version}/x")),
            ("/etc/{v}/x", Some("/etc/{version}/x")),
            ("{a:>4}-{b}", Some("{a}-{b}")),
            ("{{literal}} {x}", Some("{{literal}} {x}")),
            ("/etc/{}/x", None),
            ("/etc/{0}/x", None),
            ("/etc/{x", None),
            ("/etc/x}", None),
        ];
        for (format, expected) in cases {
            assert_eq!(
                named_placeholders(format, &named).as_deref(),
                expected,
                "{format}"
            );
        }
    }

    #[test]
    fn effects_and_templates() {
        let f: ItemFn = parse_quote! {
            fn f(version: u32, dir: String) {
                upload_template("templates/pg.conf.j2",
                                format!("/etc/postgresql/{version}/main/postgresql.conf"),
                                context! { version })?;
                upload_template(TEMPLATE, "/etc/x", ctx)?;
                put(bytes, "/etc/motd".to_string())?;
                put(bytes, &format!("{d}/a", d = dir))?;
                put(bytes, format!("/tmp/{}", dir))?;
                put(bytes, path)?;
                put(bytes, remote_path("/etc/secret").mode(0o600).owner("postgres").group("pg").sudo())?;
                put(bytes, remote_path(format!("/srv/{dir}/b")))?;
                put(bytes, remote_path(path).mode(0o600))?;
                upload_template(template!("templates/embedded.j2"), "/etc/y", ctx)?;
                append("/etc/hosts", "127.0.0.1 db")?;
                append("/etc/hosts", "127.0.0.2 db2")?;
                service("postgresql", Restart)?;
                service(format!("postgresql@{version}-main"), Start)?;
                service(name, Stop)?;
                package(["postgresql-15", "postgresql-client-15"])?;
                package("curl")?;
                package(&["curl", "jq"])?;
                package(vec![format!("pg-{version}"), other])?;
            }
        };
        let summary = summarize_fn(&ModuleScope::new([], &[]), 0, &f);
        let files: Vec<(OpKind, &str)> = summary
            .effects
            .files
            .iter()
            .map(|f| (f.op, f.path_template.as_str()))
            .collect();
        assert_eq!(
            files,
            [
                (
                    OpKind::UploadTemplate,
                    "/etc/postgresql/{version}/main/postgresql.conf"
                ),
                (OpKind::UploadTemplate, "/etc/x"),
                (OpKind::Put, "/etc/motd"),
                (OpKind::Put, "{dir}/a"),
                // A variable is the placeholder of itself.
                (OpKind::Put, "{path}"),
                (OpKind::Put, "/etc/secret"),
                (OpKind::Put, "/srv/{dir}/b"),
                (OpKind::UploadTemplate, "/etc/y"),
                // Each line appended is an effect of its own.
                (OpKind::Append, "/etc/hosts"),
                (OpKind::Append, "/etc/hosts"),
            ]
        );
        let lines: Vec<Option<&str>> = summary.effects.files[8..]
            .iter()
            .map(|f| f.line.as_deref())
            .collect();
        assert_eq!(lines, [Some("127.0.0.1 db"), Some("127.0.0.2 db2")]);
        let secret = &summary.effects.files[5];
        assert_eq!(secret.mode, Some(0o600));
        assert_eq!(secret.owner.as_deref(), Some("postgres"));
        assert_eq!(secret.group.as_deref(), Some("pg"));
        assert_eq!(summary.effects.files[0].mode, None);
        assert_eq!(
            summary.effects.services,
            ["postgresql", "postgresql@{version}-main"]
        );
        assert_eq!(
            summary.effects.packages,
            [
                "postgresql-15",
                "postgresql-client-15",
                "curl",
                "jq",
                "pg-{version}"
            ]
        );
        let templates: Vec<(&str, bool)> = summary
            .templates
            .iter()
            .map(|t| (t.path.as_str(), t.via_template_macro))
            .collect();
        assert_eq!(
            templates,
            [
                ("templates/pg.conf.j2", false),
                ("templates/embedded.j2", true)
            ]
        );
        assert_eq!(summary.non_literal_templates.len(), 1);
        assert_eq!(
            summary.own,
            plan(&[
                (OpKind::Put, 7),
                (OpKind::UploadTemplate, 3),
                (OpKind::Append, 2),
                (OpKind::Package, 4),
                (OpKind::Service, 3),
            ])
        );
    }

    #[test]
    fn op_calls_are_recorded_with_their_arguments_and_place() {
        let f: ItemFn = parse_quote! {
            fn f() {
                not_an_op(run("a"));
                println!("{}", sudo("b", "c")?.stdout);
                cmds.iter().map(put);
            }
        };
        let summary = summarize_fn(&ModuleScope::new([], &[]), 3, &f);
        let calls: Vec<(OpKind, Option<usize>, Option<CallNode>)> = summary
            .op_calls
            .iter()
            .map(|call| (call.kind, call.args.as_ref().map(Vec::len), call.node))
            .collect();
        assert_eq!(
            calls,
            [
                // `not_an_op(..)` is the fn's call expression 0.
                (
                    OpKind::Run,
                    Some(1),
                    Some(CallNode {
                        function: 3,
                        call: 1
                    })
                ),
                // Parsed from the macro's tokens: no node of the item.
                (OpKind::Sudo, Some(2), None),
                (OpKind::Put, None, None),
            ]
        );
    }

    #[test]
    fn effects_ignore_shadowed_and_foreign_calls() {
        let f: ItemFn = parse_quote! {
            fn f() {
                other::put(x, "/no");
                let service = |n: &str| n;
                service("no");
                x.package("no");
            }
        };
        let summary = summarize_fn(&ModuleScope::new([], &[]), 0, &f);
        assert!(summary.effects.files.is_empty());
        assert!(summary.effects.services.is_empty());
        assert!(summary.effects.packages.is_empty());
    }
}
