//! The model of a recipe: steps, parameters, helpers, operation plans.
//!
//! Building it walks every module function with `count.rs`, which records
//! what it finds in the types of `model.rs`.
//!
//! The model owns its syn nodes (so `cargo off` can keep it after the source
//! string is gone) and keeps their spans for diagnostics. Building it reports
//! only malformed attributes; semantic rules live in `valid.rs`.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::{
    Attribute, Expr, ExprLit, FnArg, GenericArgument, Ident, Item, ItemFn, ItemMod, Lit, LitChar,
    LitStr, Meta, Pat, PathArguments, Type,
};

use crate::attr::{ArgAttr, CheckAttr, RecipeAttr, StepAttr, is_arg_attr, is_step_attr};
use crate::condition::Condition;
use crate::count::{self, FnSummary, ModuleScope};
use crate::ctxt::Ctxt;
use crate::model::{Effects, Note, OpCall, OpPlan, TemplateRef};

/// A parsed and validated recipe.
#[derive(Debug, Clone)]
pub struct Recipe {
    /// `#[recipe(name = "...")]`, else the module or function name.
    pub name: String,
    /// The module or function identifier.
    pub ident: Ident,
    /// Outer `///` and inner `//!` docs of the item.
    pub docs: String,
    pub kind: RecipeKind,
    /// In declaration order (the order they run in).
    pub steps: Vec<Step>,
    /// Module functions without `#[step]`.
    pub helpers: Vec<Helper>,
    pub check: CheckAttr,
    /// `#[recipe(validate = f)]`: the module fn that checks combinations of
    /// kwargs; `valid.rs` makes sure it is a helper whose parameters are kwargs.
    pub validate: Option<Ident>,
    /// `#[recipe(peers = f)]`: the fn mapping a cluster's membership onto kwargs.
    pub peers: Option<syn::Path>,
    /// Sum of the steps' plans: the denominators of the progress display.
    pub plan: OpPlan,
    /// Every literal template path of an `upload_template` call, in source order.
    pub templates: Vec<TemplateRef>,
    /// Files, services and packages the recipe's operations touch.
    pub effects: Effects,
    /// Every operation call of the module's functions, in source order
    /// (functions in declaration order): the one record of which calls are
    /// operations.
    pub op_calls: Vec<OpCall>,
    /// Things worth telling the user that are not errors (cut recursion).
    pub notes: Vec<Note>,
    /// The item as written (including `#[step]` and `#[arg]` attributes).
    pub item: Item,
    /// `upload_template` template arguments that are not string literals.
    pub(crate) non_literal_templates: Vec<Expr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecipeKind {
    /// `#[recipe] mod name { #[step] fn ... }`
    Module,
    /// `#[recipe] fn name(...)`: a one-step recipe.
    SingleFn,
}

/// A `#[step]` function (or the function of a single-fn recipe).
#[derive(Debug, Clone)]
pub struct Step {
    pub name: String,
    pub ident: Ident,
    pub docs: String,
    /// Parameters whose pattern is a plain identifier; `valid.rs` reports the others.
    pub params: Vec<Param>,
    /// Operations of the body, including those of the helpers it calls.
    pub plan: OpPlan,
    pub fn_item: ItemFn,
    pub span: Span,
}

/// A module function without `#[step]`.
#[derive(Debug, Clone)]
pub struct Helper {
    pub name: String,
    /// Operations of one call, including those of the helpers it calls.
    pub plan: OpPlan,
    pub fn_item: ItemFn,
    pub span: Span,
}

/// A step parameter: one keyword argument of the generated binary.
#[derive(Debug, Clone)]
pub struct Param {
    /// The identifier without `r#`, e.g. `listen_addresses`.
    pub name: String,
    pub ident: Ident,
    pub ty: Type,
    pub kind: ParamKind,
    /// The type of one value: `T` of `Option<T>` and `Vec<T>`, else `ty`.
    pub value_ty: Type,
    /// From `///` on the parameter.
    pub docs: String,
    pub default: Option<Expr>,
    pub short: Option<LitChar>,
    pub env: Option<LitStr>,
    pub hide: bool,
    /// The identifier's span.
    pub span: Span,
}

pub use off_input::ParamKind;

/// A step parameter merged over all steps that declare it (see [`Recipe::kwargs`]).
#[derive(Debug, Clone)]
pub struct Kwarg {
    /// The first declaration, with `docs`, `default`, `short` and `env` taken
    /// from the first step that gives them and `hide` set if any step hides it.
    pub param: Param,
    /// Names of the steps that take the parameter, in order.
    pub steps: Vec<String>,
}

impl Recipe {
    /// Builds the model. Returns `None` (with the error in `cx`) when the item
    /// is neither an inline module nor a function.
    pub(crate) fn from_syn(cx: &Ctxt, attr: RecipeAttr, item: Item) -> Option<Recipe> {
        let (kind, ident, attrs, fns, module_items): (_, _, _, Vec<&ItemFn>, &[Item]) = match &item
        {
            Item::Mod(module) => {
                let Some((_, items)) = &module.content else {
                    cx.error_spanned_by(
                        mod_head(module),
                        "#[recipe] needs an inline module: `mod name { ... }`",
                    );
                    return None;
                };
                let fns = items
                    .iter()
                    .filter_map(|item| match item {
                        Item::Fn(f) => Some(f),
                        _ => None,
                    })
                    .collect();
                (RecipeKind::Module, &module.ident, &module.attrs, fns, items)
            }
            Item::Fn(f) => (RecipeKind::SingleFn, &f.sig.ident, &f.attrs, vec![f], &[]),
            other => {
                cx.error_spanned_by(
                    other,
                    "#[recipe] can only be used on an inline `mod` or a `fn`",
                );
                return None;
            }
        };

        let names: Vec<String> = fns.iter().map(|f| fn_name(f)).collect();
        let scope = ModuleScope::new(names.iter().cloned(), module_items);
        let summaries: Vec<FnSummary> = fns
            .iter()
            .enumerate()
            .map(|(i, f)| count::summarize_fn(&scope, i, f))
            .collect();
        let named: Vec<(String, &FnSummary)> = names.into_iter().zip(&summaries).collect();
        let (plans, notes) = count::plan_fns(&named);

        let is_step: Vec<bool> = fns
            .iter()
            .map(|f| kind == RecipeKind::SingleFn || f.attrs.iter().any(is_step_attr))
            .collect();
        let conditions = calling_conditions(&named, &is_step);

        let mut steps = Vec::new();
        let mut helpers = Vec::new();
        for (f, plan) in fns.iter().zip(plans) {
            if kind == RecipeKind::SingleFn || f.attrs.iter().any(is_step_attr) {
                steps.push(Step::from_fn(cx, f, plan));
            } else {
                helpers.push(Helper {
                    name: fn_name(f),
                    plan,
                    fn_item: (*f).clone(),
                    span: f.sig.ident.span(),
                });
            }
        }
        let mut plan = OpPlan::default();
        for step in &steps {
            plan.add(&step.plan);
        }
        let mut templates = Vec::new();
        let mut non_literal_templates = Vec::new();
        let mut effects = Effects::default();
        let mut op_calls = Vec::new();
        for summary in summaries {
            op_calls.extend(summary.op_calls.into_iter().map(|mut call| {
                call.when = conditions[call.function].and(&call.guard);
                call
            }));
            templates.extend(summary.templates);
            non_literal_templates.extend(summary.non_literal_templates);
            effects.merge(summary.effects);
        }
        let name = attr
            .name
            .as_ref()
            .map_or_else(|| ident.unraw().to_string(), LitStr::value);
        let ident = ident.clone();
        let docs = docs_of(attrs);
        Some(Recipe {
            name,
            ident,
            docs,
            kind,
            steps,
            helpers,
            check: attr.check,
            validate: attr.validate,
            peers: attr.peers,
            plan,
            templates,
            effects,
            op_calls,
            notes,
            item,
            non_literal_templates,
        })
    }

    /// The binary's keyword arguments: the union of all step parameters in
    /// order of first appearance.
    pub fn kwargs(&self) -> Vec<Kwarg> {
        let mut kwargs: Vec<Kwarg> = Vec::new();
        for step in &self.steps {
            for param in &step.params {
                match kwargs.iter_mut().find(|k| k.param.name == param.name) {
                    Some(kwarg) => {
                        let merged = &mut kwarg.param;
                        if merged.docs.is_empty() {
                            merged.docs.clone_from(&param.docs);
                        }
                        if merged.default.is_none() {
                            merged.default.clone_from(&param.default);
                        }
                        if merged.short.is_none() {
                            merged.short.clone_from(&param.short);
                        }
                        if merged.env.is_none() {
                            merged.env.clone_from(&param.env);
                        }
                        merged.hide |= param.hide;
                        kwarg.steps.push(step.name.clone());
                    }
                    None => kwargs.push(Kwarg {
                        param: param.clone(),
                        steps: vec![step.name.clone()],
                    }),
                }
            }
        }
        kwargs
    }

    /// The `validate` fn and the names of its parameters, once `valid.rs`
    /// accepted it.
    pub fn validator(&self) -> Option<(&Helper, Vec<String>)> {
        let name = self.validate.as_ref()?.unraw().to_string();
        let helper = self.helpers.iter().find(|h| h.name == name)?;
        let params = helper
            .fn_item
            .sig
            .inputs
            .iter()
            .filter_map(|input| match input {
                FnArg::Typed(pat) => match &*pat.pat {
                    Pat::Ident(p) => Some(p.ident.unraw().to_string()),
                    _ => None,
                },
                FnArg::Receiver(_) => None,
            })
            .collect();
        Some((helper, params))
    }

    /// The step called `name`.
    pub fn step(&self, name: &str) -> Option<&Step> {
        self.steps.iter().find(|step| step.name == name)
    }
}

impl Step {
    fn from_fn(cx: &Ctxt, f: &ItemFn, plan: OpPlan) -> Step {
        for (i, attr) in f.attrs.iter().filter(|a| is_step_attr(a)).enumerate() {
            if i > 0 {
                cx.error_spanned_by(attr, "duplicate #[step] attribute");
            } else if let Err(error) = StepAttr::from_attribute(attr) {
                cx.push(error);
            }
        }
        let params = f
            .sig
            .inputs
            .iter()
            .filter_map(|arg| match arg {
                FnArg::Typed(pat_type) => Param::from_pat_type(cx, pat_type),
                FnArg::Receiver(_) => None,
            })
            .collect();
        Step {
            name: fn_name(f),
            ident: f.sig.ident.clone(),
            docs: docs_of(&f.attrs),
            params,
            plan,
            fn_item: f.clone(),
            span: f.sig.ident.span(),
        }
    }
}

impl Param {
    fn from_pat_type(cx: &Ctxt, pat_type: &syn::PatType) -> Option<Param> {
        let Pat::Ident(pat) = &*pat_type.pat else {
            return None;
        };
        let mut arg = ArgAttr::default();
        let mut seen_arg: Option<&Attribute> = None;
        for attr in pat_type.attrs.iter().filter(|a| is_arg_attr(a)) {
            if seen_arg.is_some() {
                cx.error_spanned_by(
                    attr,
                    "duplicate #[arg] attribute; put all keys in one #[arg(...)]",
                );
                continue;
            }
            seen_arg = Some(attr);
            match ArgAttr::from_attribute(attr) {
                Ok(parsed) => arg = parsed,
                Err(error) => cx.push(error),
            }
        }
        let (kind, value_ty) = param_kind(&pat_type.ty);
        Some(Param {
            name: pat.ident.unraw().to_string(),
            ident: pat.ident.clone(),
            ty: (*pat_type.ty).clone(),
            kind,
            value_ty,
            docs: docs_of(&pat_type.attrs),
            default: arg.default,
            short: arg.short,
            env: arg.env,
            hide: arg.hide,
            span: pat.ident.span(),
        })
    }
}

/// When each function runs: a step always; a helper when one of its calls
/// runs (its caller's condition and the call's guard), found by iterating to
/// a fixed point over the call graph. A helper called from nowhere counts as
/// always, as does one whose condition does not settle.
fn calling_conditions(fns: &[(String, &FnSummary)], is_step: &[bool]) -> Vec<Condition> {
    let index = |name: &str| fns.iter().position(|(n, _)| n == name);
    let mut conditions: Vec<Condition> = is_step
        .iter()
        .map(|&step| {
            if step {
                Condition::always()
            } else {
                Condition::never()
            }
        })
        .collect();
    let mut settled = false;
    for _ in 0..=fns.len() {
        let mut next = conditions.clone();
        for (caller, (_, summary)) in fns.iter().enumerate() {
            for call in &summary.calls {
                if let Some(callee) = index(&call.callee)
                    && !is_step[callee]
                {
                    next[callee].or(&conditions[caller].and(&call.guard));
                }
            }
        }
        if next == conditions {
            settled = true;
            break;
        }
        conditions = next;
    }
    for condition in &mut conditions {
        if !settled || condition.is_never() {
            *condition = Condition::always();
        }
    }
    conditions
}

/// Classifies a type by its spelling: `bool`, `Option<T>`, `Vec<T>` (also
/// `std::option::Option<T>`, ...), anything else is `Plain`; with the type
/// of one value (`T` for `Option<T>` and `Vec<T>`, else `ty`).
pub fn param_kind(ty: &Type) -> (ParamKind, Type) {
    if let Type::Path(path) = strip_type(ty)
        && path.qself.is_none()
    {
        if path_matches(
            &path.path,
            "bool",
            &[&["std", "primitive"], &["core", "primitive"]],
        ) {
            return (ParamKind::Bool, ty.clone());
        }
        if let Some(inner) = generic_inner(
            &path.path,
            "Option",
            &[&["std", "option"], &["core", "option"]],
        ) {
            return (ParamKind::Option, inner.clone());
        }
        if let Some(inner) = generic_inner(&path.path, "Vec", &[&["std", "vec"], &["alloc", "vec"]])
        {
            return (ParamKind::Vec, inner.clone());
        }
    }
    (ParamKind::Plain, ty.clone())
}

/// Removes parentheses and invisible groups around a type.
pub(crate) fn strip_type(mut ty: &Type) -> &Type {
    loop {
        match ty {
            Type::Paren(inner) => ty = &inner.elem,
            Type::Group(inner) => ty = &inner.elem,
            _ => return ty,
        }
    }
}

/// True when `path` is `name` or `prefix::name` for one of `prefixes`
/// (with an optional leading `::`), ignoring generic arguments on the last segment.
fn path_matches(path: &syn::Path, name: &str, prefixes: &[&[&str]]) -> bool {
    let segments: Vec<&syn::PathSegment> = path.segments.iter().collect();
    let Some((last, prefix)) = segments.split_last() else {
        return false;
    };
    if last.ident != name {
        return false;
    }
    if prefix.is_empty() {
        return path.leading_colon.is_none();
    }
    prefixes.iter().any(|candidate| {
        candidate.len() == prefix.len()
            && prefix
                .iter()
                .zip(candidate.iter())
                .all(|(segment, name)| segment.ident == name && segment.arguments.is_none())
    })
}

/// `T` of `Name<T>` (or `prefix::Name<T>`).
pub(crate) fn generic_inner<'a>(
    path: &'a syn::Path,
    name: &str,
    prefixes: &[&[&str]],
) -> Option<&'a Type> {
    if !path_matches(path, name, prefixes) {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &path.segments.last()?.arguments else {
        return None;
    };
    let mut types = args.args.iter();
    match (types.next(), types.next()) {
        (Some(GenericArgument::Type(inner)), None) => Some(inner),
        _ => None,
    }
}

/// `mod name`, where errors about the whole module point.
pub(crate) fn mod_head(module: &ItemMod) -> proc_macro2::TokenStream {
    let (mod_token, ident) = (&module.mod_token, &module.ident);
    quote::quote!(#mod_token #ident)
}

/// The function's name without `r#`.
pub(crate) fn fn_name(f: &ItemFn) -> String {
    f.sig.ident.unraw().to_string()
}

/// Joins the `#[doc = "..."]` lines, each without its one leading space;
/// blank lines at the start and end are dropped.
pub(crate) fn docs_of(attrs: &[Attribute]) -> String {
    let mut lines: Vec<String> = Vec::new();
    for attr in attrs {
        if !attr.path().is_ident("doc") {
            continue;
        }
        let Meta::NameValue(name_value) = &attr.meta else {
            continue;
        };
        let Expr::Lit(ExprLit {
            lit: Lit::Str(text),
            ..
        }) = &name_value.value
        else {
            continue;
        };
        for line in text.value().split('\n') {
            let line = line.strip_prefix(' ').unwrap_or(line).trim_end();
            lines.push(line.to_owned());
        }
    }
    let first = lines.iter().position(|l| !l.is_empty());
    let last = lines.iter().rposition(|l| !l.is_empty());
    match (first, last) {
        (Some(first), Some(last)) => lines[first..=last].join("\n"),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    #[test]
    fn docs_are_joined_and_trimmed() {
        let f: ItemFn = parse_quote! {
            /// Install the server.
            ///
            ///   Indented line.
            #[doc = "no leading space"]
            ///
            fn f() {}
        };
        assert_eq!(
            docs_of(&f.attrs),
            "Install the server.\n\n  Indented line.\nno leading space"
        );
        let g: ItemFn = parse_quote!(
            fn g() {}
        );
        assert_eq!(docs_of(&g.attrs), "");
    }

    #[test]
    fn param_kinds() {
        let cases: [(Type, ParamKind, Type); 8] = [
            (parse_quote!(u32), ParamKind::Plain, parse_quote!(u32)),
            (parse_quote!(String), ParamKind::Plain, parse_quote!(String)),
            (parse_quote!(bool), ParamKind::Bool, parse_quote!(bool)),
            (
                parse_quote!(std::primitive::bool),
                ParamKind::Bool,
                parse_quote!(std::primitive::bool),
            ),
            (
                parse_quote!(Option<u32>),
                ParamKind::Option,
                parse_quote!(u32),
            ),
            (
                parse_quote!(std::option::Option<String>),
                ParamKind::Option,
                parse_quote!(String),
            ),
            (
                parse_quote!(Vec<String>),
                ParamKind::Vec,
                parse_quote!(String),
            ),
            (
                parse_quote!(other::Vec<String>),
                ParamKind::Plain,
                parse_quote!(other::Vec<String>),
            ),
        ];
        for (ty, kind, value_ty) in cases {
            assert_eq!(param_kind(&ty), (kind, value_ty), "{}", quote::quote!(#ty));
        }
    }
}
