//! Semantic checks of a built [`Recipe`]; every violation is collected.

use std::collections::HashMap;

use off_manifest::kwarg_name;
use proc_macro2::Span;
use quote::ToTokens;
use syn::visit::Visit;
use syn::{FnArg, Item, ItemFn, Pat, ReturnType, Type};

use crate::ast::{Param, ParamKind, Recipe, RecipeKind, generic_inner, mod_head, strip_type};
use crate::attr::{is_arg_attr, is_step_attr};
use crate::ctxt::Ctxt;

const STRAY_STEP: &str = "`#[step]` can only be used on functions inside a `#[recipe]` module";

/// The error for a `#[step]` that is not on a function of a `#[recipe]` module.
pub fn stray_step_error(span: Span) -> syn::Error {
    syn::Error::new(span, STRAY_STEP)
}

/// Names of the generated binary's own flags (as parameter names: `_`, not `-`).
/// `version` is deliberately free: recipes use `--version 15`.
pub const RESERVED_PARAM_NAMES: &[&str] = &[
    "check",
    "color",
    "config",
    "discovery_file",
    "discovery_mode",
    "discovery_stop",
    "discovery_timeout",
    "dry_run",
    "events",
    "fail_fast",
    "format",
    "help",
    "host",
    "hosts",
    "identity",
    "inventory",
    "kv",
    "metrics",
    "order",
    "parallel",
    "progress",
    "quiet",
    "resume",
    "retry_timeout",
    "serve",
    "serve_role",
    "sleep",
    "ssh_config",
    "steps",
    "sudo_password_stdin",
    "token_file",
    "verbose",
];

/// Short flags of the generated binary, with the long flag they abbreviate.
pub const RESERVED_SHORT_FLAGS: &[(char, &str)] = &[
    ('H', "--hosts"),
    ('c', "--config"),
    ('h', "--help"),
    ('i', "--identity"),
    ('q', "--quiet"),
    ('v', "--verbose"),
];

pub(crate) fn check(cx: &Ctxt, recipe: &Recipe) {
    check_has_steps(cx, recipe);
    let what = match recipe.kind {
        RecipeKind::Module => "#[step] fn",
        RecipeKind::SingleFn => "#[recipe] fn",
    };
    for step in &recipe.steps {
        check_signature(cx, what, &step.fn_item);
        for param in &step.params {
            check_reserved(cx, param);
            check_default_kind(cx, param);
            check_default_literal(cx, param);
        }
    }
    check_shared_params(cx, recipe);
    check_short_flags(cx, recipe);
    check_attr_placement(cx, recipe);
    check_validator(cx, recipe);
    for expr in &recipe.non_literal_templates {
        cx.error_spanned_by(
            expr,
            "upload_template needs a string literal template path (templates are embedded in the binary at compile time)",
        );
    }
}

/// `#[recipe(validate = f)]`: `f` is a module fn (not a step) whose
/// parameters are plain identifiers naming kwargs.
fn check_validator(cx: &Ctxt, recipe: &Recipe) {
    let Some(ident) = &recipe.validate else {
        return;
    };
    let Some((helper, names)) = recipe.validator() else {
        cx.error_spanned_by(
            ident,
            format!(
                "`validate = {ident}` needs a fn `{ident}` in the recipe module (not a #[step]) taking kwargs by reference and returning `Result<(), String>`"
            ),
        );
        return;
    };
    let kwargs: Vec<String> = recipe.kwargs().into_iter().map(|k| k.param.name).collect();
    let inputs = &helper.fn_item.sig.inputs;
    if names.len() != inputs.len() {
        cx.error_spanned_by(
            inputs,
            "parameters of a `validate` fn must be plain identifiers naming kwargs",
        );
    }
    for (input, name) in inputs.iter().zip(&names) {
        if !kwargs.contains(name) {
            cx.error_spanned_by(
                input,
                format!("`{name}` is not a kwarg of this recipe (a parameter of a #[step] fn)"),
            );
        }
    }
}

fn check_has_steps(cx: &Ctxt, recipe: &Recipe) {
    if recipe.kind == RecipeKind::Module && recipe.steps.is_empty() {
        let Item::Mod(module) = &recipe.item else {
            return;
        };
        cx.error_spanned_by(
            mod_head(module),
            "a #[recipe] module needs at least one #[step] fn",
        );
    }
}

fn check_signature(cx: &Ctxt, what: &str, f: &ItemFn) {
    let sig = &f.sig;
    if let Some(asyncness) = &sig.asyncness {
        cx.error_spanned_by(
            asyncness,
            format!("a {what} cannot be `async`: operations are blocking calls"),
        );
    }
    if !sig.generics.params.is_empty() {
        cx.error_spanned_by(
            &sig.generics,
            format!("a {what} cannot be generic: its parameters become command-line flags of one type each"),
        );
    } else if let Some(where_clause) = &sig.generics.where_clause {
        cx.error_spanned_by(
            where_clause,
            format!("a {what} cannot be generic: its parameters become command-line flags of one type each"),
        );
    }
    match &sig.output {
        ReturnType::Default => cx.error_spanned_by(
            &sig.ident,
            format!("a {what} must return `Result<()>`; add `-> Result<()>`"),
        ),
        ReturnType::Type(_, ty) if is_unit(ty) => {
            cx.error_spanned_by(ty, format!("a {what} must return `Result<()>`, not `()`"))
        }
        ReturnType::Type(..) => {}
    }
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(receiver) => cx.error_spanned_by(
                receiver,
                format!("a {what} cannot take `self`: steps are free functions"),
            ),
            FnArg::Typed(pat_type) => match &*pat_type.pat {
                Pat::Ident(pat) if pat.by_ref.is_none() && pat.subpat.is_none() => {
                    check_param_type(cx, &pat_type.ty, TypeContext::Top);
                }
                pat => cx.error_spanned_by(
                    pat,
                    format!(
                        "parameters of a {what} must be plain identifiers (each becomes a `--flag`), not patterns"
                    ),
                ),
            },
        }
    }
}

fn is_unit(ty: &Type) -> bool {
    matches!(strip_type(ty), Type::Tuple(tuple) if tuple.elems.is_empty())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum TypeContext {
    Top,
    InOption,
    InVec,
}

/// Allowed: paths (`T: FromStr + Deserialize`), `bool`, `Option<T>`, `Vec<T>`
/// with `T` neither `Option` nor `Vec`.
fn check_param_type(cx: &Ctxt, ty: &Type, context: TypeContext) {
    let reason = match strip_type(ty) {
        Type::Path(path) => {
            if path.qself.is_some() {
                Some(
                    "qualified paths (`<T as Trait>::X`) are not supported; name the type directly",
                )
            } else if let Some(inner) = option_inner(&path.path) {
                match context {
                    TypeContext::Top => {
                        check_param_type(cx, inner, TypeContext::InOption);
                        None
                    }
                    TypeContext::InOption => {
                        Some("`Option<Option<T>>` is not supported; use `Option<T>`")
                    }
                    TypeContext::InVec => Some("`Vec<Option<T>>` is not supported; use `Vec<T>`"),
                }
            } else if let Some(inner) = vec_inner(&path.path) {
                match context {
                    TypeContext::Top => {
                        check_param_type(cx, inner, TypeContext::InVec);
                        None
                    }
                    TypeContext::InOption => Some(
                        "`Option<Vec<T>>` is not supported; use `Vec<T>` (empty when the flag is not given)",
                    ),
                    TypeContext::InVec => Some("`Vec<Vec<T>>` is not supported; use `Vec<T>`"),
                }
            } else {
                None
            }
        }
        Type::Reference(_) => {
            Some("references are not supported; use an owned type such as `String`")
        }
        Type::Tuple(_) => Some("tuples are not supported; use one parameter per value"),
        Type::ImplTrait(_) => Some("`impl Trait` is not supported; use a concrete type"),
        Type::Array(_) | Type::Slice(_) => {
            Some("arrays and slices are not supported; use `Vec<T>` (a repeatable flag)")
        }
        Type::BareFn(_) => Some("function pointers are not supported"),
        Type::TraitObject(_) => Some("trait objects are not supported; use a concrete type"),
        Type::Ptr(_) => Some("raw pointers are not supported"),
        Type::Never(_) => Some("`!` is not supported"),
        Type::Infer(_) => Some("`_` is not allowed: the flag needs a concrete type"),
        _ => Some("this kind of type is not supported"),
    };
    if let Some(reason) = reason {
        cx.error_spanned_by(
            ty,
            format!(
                "unsupported parameter type `{}`: {reason}",
                display_type(ty)
            ),
        );
    }
}

fn option_inner(path: &syn::Path) -> Option<&Type> {
    generic_inner(path, "Option", &[&["std", "option"], &["core", "option"]])
}

fn vec_inner(path: &syn::Path) -> Option<&Type> {
    generic_inner(path, "Vec", &[&["std", "vec"], &["alloc", "vec"]])
}

/// Only a plain `T` takes a default: `Option`, `Vec` and `bool` parameters
/// already default to `None`, empty and `false`.
fn check_default_kind(cx: &Ctxt, param: &Param) {
    if let (Some(default), false) = (&param.default, param.kind == ParamKind::Plain) {
        cx.error_spanned_by(
            default,
            format!(
                "parameter `{}` cannot have a default: `Option`, `Vec` and `bool` parameters default to `None`, empty and `false`",
                param.name
            ),
        );
    }
}

/// A default is Rust code in the attribute, and `default = "15"` for a
/// `u32` would surface as a raw E0277 (`&str: Into<u32>`) in generated code
/// the user never wrote; the mix-ups of a literal with a primitive type get
/// an error at the attribute instead, saying how to write the default.
fn check_default_literal(cx: &Ctxt, param: &Param) {
    let (Some(syn::Expr::Lit(syn::ExprLit { lit, .. })), ParamKind::Plain) =
        (&param.default, param.kind)
    else {
        return;
    };
    let Type::Path(path) = strip_type(&param.ty) else {
        return;
    };
    let Some(ty) = path.path.get_ident().map(ToString::to_string) else {
        return;
    };
    let numeric = [
        "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128", "isize",
        "f32", "f64",
    ]
    .contains(&ty.as_str());
    let name = &param.name;
    let message = match lit {
        syn::Lit::Str(text) if numeric || ty == "char" => {
            let value = text.value();
            let unquoted = match ty.as_str() {
                "char" => (value.chars().count() == 1)
                    .then(|| format!("{:?}", value.chars().next().unwrap_or_default())),
                _ if ty.starts_with('f') => value.parse::<f64>().is_ok().then(|| value.clone()),
                _ => value.parse::<i128>().is_ok().then(|| value.clone()),
            };
            match unquoted {
                Some(literal) => format!(
                    "`#[arg(default = {})]`: parameter `{name}` is a `{ty}`, so its default is written without quotes: `#[arg(default = {literal})]`",
                    tokens(text)
                ),
                None => format!(
                    "`#[arg(default = {})]`: parameter `{name}` is a `{ty}`, and {} is not one",
                    tokens(text),
                    tokens(text)
                ),
            }
        }
        syn::Lit::Int(_) | syn::Lit::Float(_) | syn::Lit::Bool(_) | syn::Lit::Char(_)
            if ty == "String" =>
        {
            let text = tokens(lit);
            format!(
                "`#[arg(default = {text})]`: parameter `{name}` is a `String`, so its default is written in quotes: `#[arg(default = \"{}\")]`",
                text.trim_matches('\'')
            )
        }
        _ => return,
    };
    cx.error_spanned_by(lit, message);
}

fn check_reserved(cx: &Ctxt, param: &Param) {
    if RESERVED_PARAM_NAMES.contains(&param.name.as_str()) {
        cx.error_spanned_by(
            &param.ident,
            format!(
                "parameter `{}` clashes with the built-in `{}` flag of the generated binary; rename the parameter",
                param.name,
                kwarg_name::flag(&param.name)
            ),
        );
    }
}

/// A parameter shared by several steps is one flag: one type, one default,
/// one short flag, one environment variable.
fn check_shared_params(cx: &Ctxt, recipe: &Recipe) {
    let mut first: HashMap<&str, (&Param, &str)> = HashMap::new();
    let mut type_noted: Vec<&str> = Vec::new();
    for step in &recipe.steps {
        for param in &step.params {
            let Some((earlier, earlier_step)) = first.get(param.name.as_str()).copied() else {
                first.insert(&param.name, (param, &step.name));
                continue;
            };
            let name = &param.name;
            if tokens(&param.ty) != tokens(&earlier.ty) {
                cx.error_spanned_by(
                    &param.ty,
                    format!(
                        "parameter `{name}` has type `{}` here but type `{}` in step `{earlier_step}`; a parameter shared by several steps must have the same type in each",
                        display_type(&param.ty),
                        display_type(&earlier.ty),
                    ),
                );
                if !type_noted.contains(&name.as_str()) {
                    type_noted.push(name);
                    cx.error_spanned_by(
                        &earlier.ty,
                        format!(
                            "first declared here with type `{}`",
                            display_type(&earlier.ty)
                        ),
                    );
                }
            }
            if let (Some(here), Some(there)) = (&param.default, &earlier.default)
                && tokens(here) != tokens(there)
            {
                cx.error_spanned_by(
                    here,
                    format!(
                        "conflicting defaults for parameter `{name}`: `{}` here but `{}` in step `{earlier_step}`",
                        tokens(here),
                        tokens(there)
                    ),
                );
            }
            if let (Some(here), Some(there)) = (&param.short, &earlier.short)
                && here.value() != there.value()
            {
                cx.error_spanned_by(
                    here,
                    format!(
                        "conflicting short flags for parameter `{name}`: `-{}` here but `-{}` in step `{earlier_step}`",
                        here.value(),
                        there.value()
                    ),
                );
            }
            if let (Some(here), Some(there)) = (&param.env, &earlier.env)
                && here.value() != there.value()
            {
                cx.error_spanned_by(
                    here,
                    format!(
                        "conflicting environment variables for parameter `{name}`: {:?} here but {:?} in step `{earlier_step}`",
                        here.value(),
                        there.value()
                    ),
                );
            }
        }
    }
}

/// Short flags may not shadow the binary's own, nor be used by two parameters.
fn check_short_flags(cx: &Ctxt, recipe: &Recipe) {
    let mut used: HashMap<char, &str> = HashMap::new();
    for step in &recipe.steps {
        for param in &step.params {
            let Some(short) = &param.short else {
                continue;
            };
            let c = short.value();
            if let Some((_, long)) = RESERVED_SHORT_FLAGS.iter().find(|(r, _)| *r == c) {
                cx.error_spanned_by(
                    short,
                    format!("short flag `-{c}` is the generated binary's `{long}`; choose another letter"),
                );
                continue;
            }
            match used.get(&c) {
                Some(owner) if *owner != param.name => cx.error_spanned_by(
                    short,
                    format!("short flag `-{c}` is already used by parameter `{owner}`"),
                ),
                Some(_) => {}
                None => {
                    used.insert(c, &param.name);
                }
            }
        }
    }
}

/// `#[step]` only on the module's own functions; `#[arg]` only on step parameters.
fn check_attr_placement(cx: &Ctxt, recipe: &Recipe) {
    let mut stray = StraySteps { cx };
    match &recipe.item {
        Item::Mod(module) => {
            for item in module.content.iter().flat_map(|(_, items)| items) {
                let Item::Fn(f) = item else {
                    stray.visit_item(item);
                    continue;
                };
                stray.visit_block(&f.block);
                if !f.attrs.iter().any(is_step_attr) {
                    check_no_arg_attrs(cx, f);
                }
            }
        }
        Item::Fn(f) => stray.visit_block(&f.block),
        _ => {}
    }
}

fn check_no_arg_attrs(cx: &Ctxt, f: &ItemFn) {
    for input in &f.sig.inputs {
        let FnArg::Typed(pat_type) = input else {
            continue;
        };
        for attr in pat_type.attrs.iter().filter(|a| is_arg_attr(a)) {
            cx.error_spanned_by(
                attr,
                format!(
                    "`#[arg(...)]` only applies to parameters of a #[step] fn, and `{}` is not a step",
                    f.sig.ident
                ),
            );
        }
    }
}

struct StraySteps<'a> {
    cx: &'a Ctxt,
}

impl<'ast> Visit<'ast> for StraySteps<'_> {
    fn visit_attribute(&mut self, attr: &'ast syn::Attribute) {
        if is_step_attr(attr) {
            self.cx.error_spanned_by(attr, STRAY_STEP);
        }
    }
}

fn tokens<T: ToTokens>(node: &T) -> String {
    node.to_token_stream().to_string()
}

/// A type as a user writes it: `Option<u32>`, not `Option < u32 >`.
pub(crate) fn display_type(ty: &Type) -> String {
    let raw = tokens(ty);
    let chars: Vec<char> = raw.chars().collect();
    let mut out = String::with_capacity(raw.len());
    for (i, &c) in chars.iter().enumerate() {
        if c != ' ' {
            out.push(c);
            continue;
        }
        let before = out.chars().last().unwrap_or(' ');
        let after = chars.get(i + 1).copied().unwrap_or(' ');
        let word = |c: char| c.is_alphanumeric() || c == '_' || c == '\'';
        let keep = (word(before) && word(after))
            || before == ','
            || before == ';'
            || after == '='
            || before == '='
            || (after == '-' && chars.get(i + 2) == Some(&'>'))
            || out.ends_with("->")
            || after == '+'
            || before == '+';
        if keep {
            out.push(' ');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    use crate::parse_recipe;

    fn errors(item: proc_macro2::TokenStream) -> Vec<String> {
        match parse_recipe(quote!(), item) {
            Ok(_) => Vec::new(),
            Err(error) => error.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    /// `(message, line, column)` of each error of a recipe file.
    fn located_errors(src: &str) -> Vec<(String, usize, usize)> {
        let error = crate::parse_recipe_file(src).unwrap_err();
        error
            .into_iter()
            .map(|e| {
                let start = e.span().start();
                (e.to_string(), start.line, start.column)
            })
            .collect()
    }

    #[test]
    fn valid_recipe_has_no_errors() {
        assert_eq!(
            errors(quote!(
                mod m {
                    #[step]
                    fn a(
                        version: u32,
                        name: String,
                        flag: bool,
                        tags: Vec<String>,
                        maybe: Option<u16>,
                        mut n: u8,
                        path: std::path::PathBuf,
                        boxed: Box<dyn Whatever>,
                    ) -> Result<()> {
                        Ok(())
                    }
                    fn helper(x: &str, (a, b): (u32, u32)) {}
                    async fn async_helper<T>(t: T) {}
                }
            )),
            Vec::<String>::new()
        );
    }

    #[test]
    fn validator_must_exist_and_take_kwargs() {
        let errs = errors(quote! {
            mod r {
                #[step]
                fn a(role: String) -> Result<()> { Ok(()) }
                fn inputs(role: &String, nope: &u32) -> Result<(), String> { Ok(()) }
            }
        });
        assert!(errs.is_empty(), "no validate = …, no check: {errs:?}");
        let errs = crate::expand_recipe(
            quote!(validate = inputs),
            quote! {
                mod r {
                    #[step]
                    fn a(role: String) -> Result<()> { Ok(()) }
                    fn inputs(role: &String, nope: &u32) -> Result<(), String> { Ok(()) }
                }
            },
            std::path::Path::new("."),
        )
        .to_string();
        assert!(
            errs.contains("`nope` is not a kwarg of this recipe"),
            "{errs}"
        );
        assert!(!errs.contains("`role` is not a kwarg"), "{errs}");
        let errs = crate::expand_recipe(
            quote!(validate = missing),
            quote! {
                mod r {
                    #[step]
                    fn a(role: String) -> Result<()> { Ok(()) }
                }
            },
            std::path::Path::new("."),
        )
        .to_string();
        assert!(
            errs.contains("`validate = missing` needs a fn `missing`"),
            "{errs}"
        );
    }

    #[test]
    fn reserved_names_each_give_an_error() {
        assert_eq!(
            errors(quote!(
                mod m {
                    #[step]
                    fn a(host: String, dry_run: bool, version: u32) -> Result<()> {
                        Ok(())
                    }
                    #[step]
                    fn b(sudo_password_stdin: bool, r#format: String) -> Result<()> {
                        Ok(())
                    }
                }
            )),
            [
                "parameter `host` clashes with the built-in `--host` flag of the generated binary; rename the parameter",
                "parameter `dry_run` clashes with the built-in `--dry-run` flag of the generated binary; rename the parameter",
                "parameter `sudo_password_stdin` clashes with the built-in `--sudo-password-stdin` flag of the generated binary; rename the parameter",
                "parameter `format` clashes with the built-in `--format` flag of the generated binary; rename the parameter",
            ]
        );
    }

    #[test]
    fn unsupported_types() {
        assert_eq!(
            errors(quote!(
                mod m {
                    #[step]
                    fn a(
                        a: &str,
                        b: (u32, u32),
                        c: impl Display,
                        d: [u8; 4],
                        e: &[u8],
                        f: fn(u32) -> u32,
                        g: Vec<Option<u32>>,
                        h: Option<Vec<u32>>,
                        i: Vec<Vec<u32>>,
                        j: Option<Option<u32>>,
                        k: Vec<&str>,
                        l: dyn Trait,
                        m: _,
                        n: <T as Tr>::X,
                    ) -> Result<()> {
                        Ok(())
                    }
                }
            )),
            [
                "unsupported parameter type `&str`: references are not supported; use an owned type such as `String`",
                "unsupported parameter type `(u32, u32)`: tuples are not supported; use one parameter per value",
                "unsupported parameter type `impl Display`: `impl Trait` is not supported; use a concrete type",
                "unsupported parameter type `[u8; 4]`: arrays and slices are not supported; use `Vec<T>` (a repeatable flag)",
                "unsupported parameter type `&[u8]`: references are not supported; use an owned type such as `String`",
                "unsupported parameter type `fn(u32) -> u32`: function pointers are not supported",
                "unsupported parameter type `Option<u32>`: `Vec<Option<T>>` is not supported; use `Vec<T>`",
                "unsupported parameter type `Vec<u32>`: `Option<Vec<T>>` is not supported; use `Vec<T>` (empty when the flag is not given)",
                "unsupported parameter type `Vec<u32>`: `Vec<Vec<T>>` is not supported; use `Vec<T>`",
                "unsupported parameter type `Option<u32>`: `Option<Option<T>>` is not supported; use `Option<T>`",
                "unsupported parameter type `&str`: references are not supported; use an owned type such as `String`",
                "unsupported parameter type `dyn Trait`: trait objects are not supported; use a concrete type",
                "unsupported parameter type `_`: `_` is not allowed: the flag needs a concrete type",
                "unsupported parameter type `<T as Tr>::X`: qualified paths (`<T as Trait>::X`) are not supported; name the type directly",
            ]
        );
    }

    #[test]
    fn signature_errors() {
        assert_eq!(
            errors(quote!(
                mod m {
                    #[step]
                    async fn a<T>(&self, (x, y): (u32, u32), ref z: u32, _: u32) {}
                    #[step]
                    fn b() -> () {}
                    #[step]
                    fn c<'a>() -> Result<()> {
                        Ok(())
                    }
                    #[step]
                    fn d() -> Result<()>
                    where
                        u32: Copy,
                    {
                        Ok(())
                    }
                }
            )),
            [
                "a #[step] fn cannot be `async`: operations are blocking calls",
                "a #[step] fn cannot be generic: its parameters become command-line flags of one type each",
                "a #[step] fn must return `Result<()>`; add `-> Result<()>`",
                "a #[step] fn cannot take `self`: steps are free functions",
                "parameters of a #[step] fn must be plain identifiers (each becomes a `--flag`), not patterns",
                "parameters of a #[step] fn must be plain identifiers (each becomes a `--flag`), not patterns",
                "parameters of a #[step] fn must be plain identifiers (each becomes a `--flag`), not patterns",
                "a #[step] fn must return `Result<()>`, not `()`",
                "a #[step] fn cannot be generic: its parameters become command-line flags of one type each",
                "a #[step] fn cannot be generic: its parameters become command-line flags of one type each",
            ]
        );
    }

    #[test]
    fn single_fn_signature_errors_name_the_recipe() {
        assert_eq!(
            errors(quote!(
                fn deploy(host: &str) {}
            )),
            [
                "a #[recipe] fn must return `Result<()>`; add `-> Result<()>`",
                "unsupported parameter type `&str`: references are not supported; use an owned type such as `String`",
                "parameter `host` clashes with the built-in `--host` flag of the generated binary; rename the parameter",
            ]
        );
    }

    #[test]
    fn module_without_steps() {
        assert_eq!(
            errors(quote!(
                mod m {
                    fn helper() -> Result<()> {
                        run("x")
                    }
                }
            )),
            ["a #[recipe] module needs at least one #[step] fn"]
        );
    }

    #[test]
    fn wrong_items() {
        assert_eq!(
            errors(quote!(
                mod m;
            )),
            ["#[recipe] needs an inline module: `mod name { ... }`"]
        );
        assert_eq!(
            errors(quote!(
                struct S;
            )),
            ["#[recipe] can only be used on an inline `mod` or a `fn`"]
        );
    }

    #[test]
    fn stray_steps() {
        assert_eq!(
            errors(quote!(
                mod m {
                    #[step]
                    fn a() -> Result<()> {
                        #[step]
                        fn inner() {}
                        Ok(())
                    }
                    fn helper() {
                        #[step]
                        fn in_helper() {}
                    }
                    mod nested {
                        #[step]
                        fn b() {}
                    }
                    struct S;
                    impl S {
                        #[off_runtime::step]
                        fn method() {}
                    }
                }
            )),
            [STRAY_STEP, STRAY_STEP, STRAY_STEP, STRAY_STEP]
        );
        assert_eq!(
            errors(quote!(
                fn single() -> Result<()> {
                    #[step]
                    fn x() {}
                    Ok(())
                }
            )),
            [STRAY_STEP]
        );
        assert_eq!(
            stray_step_error(Span::call_site()).to_string(),
            "`#[step]` can only be used on functions inside a `#[recipe]` module"
        );
    }

    #[test]
    fn step_attributes() {
        assert_eq!(
            errors(quote!(
                mod m {
                    #[step(name = "x")]
                    fn a() -> Result<()> {
                        Ok(())
                    }
                    #[step]
                    #[step]
                    fn b() -> Result<()> {
                        Ok(())
                    }
                }
            )),
            [
                "unknown key `name` in #[step]; #[step] takes no arguments",
                "duplicate #[step] attribute",
            ]
        );
    }

    #[test]
    fn arg_attributes() {
        assert_eq!(
            errors(quote!(
                mod m {
                    #[step]
                    fn a(
                        #[arg(default = 1)]
                        #[arg(hide)]
                        x: u32,
                        #[arg(short = 'c')] y: u32,
                        #[arg(short = 'p')] z: u32,
                        #[arg(short = 'p')] w: u32,
                        #[arg(deflt = 2)] v: u32,
                    ) -> Result<()> {
                        Ok(())
                    }
                    fn helper(#[arg(default = 1)] x: u32) {}
                }
            )),
            [
                "duplicate #[arg] attribute; put all keys in one #[arg(...)]",
                "unknown key `deflt` in #[arg(...)]; expected one of: default, env, hide, short; did you mean `default`?",
                "short flag `-c` is the generated binary's `--config`; choose another letter",
                "short flag `-p` is already used by parameter `z`",
                "`#[arg(...)]` only applies to parameters of a #[step] fn, and `helper` is not a step",
            ]
        );
    }

    #[test]
    fn default_literals_that_do_not_fit_a_primitive_type() {
        assert_eq!(
            errors(quote!(
                mod m {
                    #[step]
                    fn a(
                        #[arg(default = "15")] version: u32,
                        #[arg(default = "fifteen")] port: u16,
                        #[arg(default = "x")] sep: char,
                        #[arg(default = 0750)] dir_mode: String,
                        #[arg(default = "ok")] name: String,
                        #[arg(default = 15)] fine: u32,
                        #[arg(default = "/etc")] path: std::path::PathBuf,
                    ) -> Result<()> {
                        Ok(())
                    }
                }
            )),
            [
                "`#[arg(default = \"15\")]`: parameter `version` is a `u32`, so its default is written without quotes: `#[arg(default = 15)]`",
                "`#[arg(default = \"fifteen\")]`: parameter `port` is a `u16`, and \"fifteen\" is not one",
                "`#[arg(default = \"x\")]`: parameter `sep` is a `char`, so its default is written without quotes: `#[arg(default = 'x')]`",
                "`#[arg(default = 0750)]`: parameter `dir_mode` is a `String`, so its default is written in quotes: `#[arg(default = \"0750\")]`",
            ]
        );
    }

    #[test]
    fn shared_parameter_conflicts() {
        assert_eq!(
            errors(quote!(
                mod m {
                    #[step]
                    fn a(#[arg(default = 15, short = 'x', env = "A")] version: u32) -> Result<()> {
                        Ok(())
                    }
                    #[step]
                    fn b(#[arg(default = 16, short = 'y', env = "B")] version: u32) -> Result<()> {
                        Ok(())
                    }
                    #[step]
                    fn c(#[arg(default = 15)] version: u32) -> Result<()> {
                        Ok(())
                    }
                }
            )),
            [
                "conflicting defaults for parameter `version`: `16` here but `15` in step `a`",
                "conflicting short flags for parameter `version`: `-y` here but `-x` in step `a`",
                "conflicting environment variables for parameter `version`: \"B\" here but \"A\" in step `a`",
            ]
        );
    }

    #[test]
    fn type_conflict_points_at_both_declarations() {
        let src = "#[recipe]
mod m {
    #[step]
    fn install(version: u32) -> Result<()> { Ok(()) }
    #[step]
    fn configure(version: String) -> Result<()> { Ok(()) }
    #[step]
    fn tune(version: Option<u32>) -> Result<()> { Ok(()) }
}
";
        assert_eq!(
            located_errors(src),
            [
                (
                    "parameter `version` has type `String` here but type `u32` in step `install`; a parameter shared by several steps must have the same type in each".to_owned(),
                    6,
                    26
                ),
                ("first declared here with type `u32`".to_owned(), 4, 24),
                (
                    "parameter `version` has type `Option<u32>` here but type `u32` in step `install`; a parameter shared by several steps must have the same type in each".to_owned(),
                    8,
                    21
                ),
            ]
        );
    }

    #[test]
    fn errors_point_at_the_offending_tokens() {
        let src = r#"#[recipe]
mod m {
    #[step]
    fn a(host: String, x: &str) -> Result<()> {
        upload_template(path, "/etc/x", ctx)?;
        Ok(())
    }
}
"#;
        assert_eq!(
            located_errors(src),
            [
                (
                    "unsupported parameter type `&str`: references are not supported; use an owned type such as `String`".to_owned(),
                    4,
                    26
                ),
                (
                    "parameter `host` clashes with the built-in `--host` flag of the generated binary; rename the parameter".to_owned(),
                    4,
                    9
                ),
                (
                    "upload_template needs a string literal template path (templates are embedded in the binary at compile time)".to_owned(),
                    5,
                    24
                ),
            ]
        );
    }

    #[test]
    fn non_literal_template_paths() {
        assert_eq!(
            errors(quote!(
                mod m {
                    #[step]
                    fn a(name: String) -> Result<()> {
                        upload_template("templates/ok.j2", "/etc/a", ctx)?;
                        upload_template(format!("templates/{name}.j2"), "/etc/b", ctx)?;
                        helper()?;
                        Ok(())
                    }
                    fn helper() -> Result<()> {
                        off_runtime::upload_template(TEMPLATE, "/etc/c", ctx)
                    }
                    fn shadowed() {
                        let upload_template = |a, b, c| ();
                        upload_template(not_checked, 1, 2);
                    }
                }
            )),
            [
                "upload_template needs a string literal template path (templates are embedded in the binary at compile time)",
                "upload_template needs a string literal template path (templates are embedded in the binary at compile time)",
            ]
        );
    }

    #[test]
    fn type_display() {
        let cases: [(Type, &str); 6] = [
            (syn::parse_quote!(Option<u32>), "Option<u32>"),
            (
                syn::parse_quote!(HashMap<String, Vec<u8>>),
                "HashMap<String, Vec<u8>>",
            ),
            (syn::parse_quote!(&'a mut str), "&'a mut str"),
            (syn::parse_quote!([u8; 4]), "[u8; 4]"),
            (syn::parse_quote!(fn(u32) -> u32), "fn(u32) -> u32"),
            (
                syn::parse_quote!(Box<dyn Error + Send>),
                "Box<dyn Error + Send>",
            ),
        ];
        for (ty, expected) in cases {
            assert_eq!(display_type(&ty), expected);
        }
    }
}
