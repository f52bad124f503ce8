//! Code generation for `#[recipe]`: the recipe as written (minus off's
//! attributes, with literal template paths embedded) plus the generated
//! binary entry point. Generates only; every check happened before.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::visit_mut::VisitMut;
use syn::{Expr, ExprCall, Item, ItemFn, LitStr};

use crate::ast::{ParamKind, Recipe, RecipeKind};
use crate::attr::{CheckAttr, is_arg_attr, is_step_attr};
use crate::model::OpKind;

/// The expansion of a valid recipe.
pub(crate) fn expand(recipe: &Recipe) -> TokenStream {
    let generated = entry_point(recipe);
    match (&recipe.item, recipe.kind) {
        (Item::Mod(module), RecipeKind::Module) => {
            let mut module = module.clone();
            let (_, items) = module.content.as_mut().expect("inline module (validated)");
            let module_fns = items.iter_mut().filter_map(|item| match item {
                Item::Fn(f) => Some(f),
                _ => None,
            });
            for (function, f) in module_fns.enumerate() {
                // Before anything else changes the fn: the record counts its
                // call expressions as written.
                EmbedTemplates::in_fn(recipe, function, f);
                strip_off_attrs(f);
            }
            let generated: syn::File = syn::parse_quote!(#generated);
            items.extend(generated.items);
            quote!(#module)
        }
        (Item::Fn(f), RecipeKind::SingleFn) => {
            let mut f = f.clone();
            EmbedTemplates::in_fn(recipe, 0, &mut f);
            strip_off_attrs(&mut f);
            let vis = &f.vis;
            let name = &f.sig.ident;
            // A module of the same name (modules and functions live in
            // different namespaces) gives `name::main`, as for module recipes.
            quote! {
                #f
                #[doc(hidden)]
                #vis mod #name {
                    #[allow(unused_imports)]
                    use super::*;
                    #generated
                }
            }
        }
        _ => unreachable!("the recipe kind matches its item"),
    }
}

/// The spec, the typed keyword arguments, the step dispatcher and `main`.
fn entry_point(recipe: &Recipe) -> TokenStream {
    let private = quote!(::off_runtime::__private);
    let name = &recipe.name;
    let about = &recipe.docs;
    let kwargs = recipe.kwargs();

    let param_specs = kwargs.iter().map(|k| {
        let p = &k.param;
        let name = &p.name;
        let ty = quote::ToTokens::to_token_stream(&p.ty)
            .to_string()
            .replace(' ', "");
        let kind = match p.kind {
            ParamKind::Plain => quote!(Plain),
            ParamKind::Option => quote!(Option),
            ParamKind::Bool => quote!(Bool),
            ParamKind::Vec => quote!(Vec),
        };
        let docs = &p.docs;
        let default = match &p.default {
            Some(d) => {
                // An enum variant as a user types it, quoted like a string
                // literal (`"distribution"` for `AptSource::Distribution`):
                // the help shows it, a `{apt_source}` placeholder stands for it.
                let text = match crate::condition::default_variant(d) {
                    Some(variant) => format!("{variant:?}"),
                    None => quote!(#d).to_string().replace(" :: ", "::"),
                };
                quote!(::core::option::Option::Some(#text))
            }
            None => quote!(::core::option::Option::None),
        };
        let short = match &p.short {
            Some(c) => quote!(::core::option::Option::Some(#c)),
            None => quote!(::core::option::Option::None),
        };
        let env = match &p.env {
            Some(e) => quote!(::core::option::Option::Some(#e)),
            None => quote!(::core::option::Option::None),
        };
        let hide = p.hide;
        quote! {
            #private::ParamSpec {
                name: #name, ty: #ty, kind: #private::ParamKind::#kind, docs: #docs,
                default: #default, short: #short, env: #env, hide: #hide,
            }
        }
    });

    let step_specs = recipe.steps.iter().map(|s| {
        let name = &s.name;
        let docs = &s.docs;
        let plan = s.plan.iter().map(|(kind, n)| {
            let kind = kind.name();
            quote!((#kind, #n))
        });
        quote!(#private::StepSpec { name: #name, docs: #docs, plan: &[#(#plan),*] })
    });

    let fields = kwargs.iter().map(|k| {
        let ident = &k.param.ident;
        let ty = &k.param.ty;
        quote_spanned!(k.param.span=> #ident: #ty)
    });
    let parse_lets = kwargs.iter().map(|k| {
        let p = &k.param;
        let ident = &p.ident;
        let name = &p.name;
        let get = match (&p.kind, &p.default) {
            (ParamKind::Plain, Some(default)) => {
                let ty = &p.ty;
                // A string literal becomes a `String` (or whatever the type
                // converts from); anything else must already have the type.
                let value = match default {
                    Expr::Lit(syn::ExprLit {
                        lit: syn::Lit::Str(_),
                        ..
                    }) => {
                        quote!(::core::convert::Into::into(#default))
                    }
                    _ => quote!(#default),
                };
                quote_spanned!(p.span=> raw.get_or::<#ty>(#name, || -> #ty { #value }))
            }
            (ParamKind::Plain, None) => {
                let ty = &p.ty;
                quote_spanned!(p.span=> raw.get::<#ty>(#name))
            }
            (ParamKind::Option, _) => {
                let inner = &p.value_ty;
                quote_spanned!(p.span=> raw.get_opt::<#inner>(#name))
            }
            (ParamKind::Vec, _) => {
                let inner = &p.value_ty;
                quote_spanned!(p.span=> raw.get_vec::<#inner>(#name))
            }
            (ParamKind::Bool, _) => quote_spanned!(p.span=> raw.get_bool(#name)),
        };
        quote!(let #ident = errors.take(#get);)
    });
    let field_inits = kwargs.iter().map(|k| {
        let ident = &k.param.ident;
        quote!(#ident: #ident.expect("no errors, so every value parsed"))
    });

    let step_arms = recipe.steps.iter().enumerate().map(|(i, s)| {
        let call_path = match recipe.kind {
            RecipeKind::Module => {
                let ident = &s.ident;
                quote!(#ident)
            }
            RecipeKind::SingleFn => {
                let ident = &s.ident;
                quote!(super::#ident)
            }
        };
        let args = s.params.iter().map(|p| {
            let ident = &p.ident;
            quote!(::core::clone::Clone::clone(&kwargs.#ident))
        });
        quote!(#i => #call_path(#(#args),*),)
    });

    let checks = check_annotations(&recipe.check);
    // `#[recipe(validate = f)]`: combinations of kwargs, checked once each
    // has parsed; an `Err` is one more input error (exit 2, nothing runs).
    let validate_call = recipe.validator().map(|(helper, params)| {
        let ident = &helper.fn_item.sig.ident;
        let args = params.iter().filter_map(|name| {
            kwargs
                .iter()
                .find(|k| &k.param.name == name)
                .map(|k| &k.param.ident)
        });
        quote! {
            if let ::core::result::Result::Err(e) = #ident(#(&kwargs.#args),*) {
                let mut errors = #private::ArgErrors::default();
                errors.push(e);
                return ::core::result::Result::Err(errors);
            }
        }
    });

    let peers = match &recipe.peers {
        // Coerced to the field's fn-pointer type; a fn of another signature is a type error at
        // the path the user wrote.
        Some(path) => {
            let span = syn::spanned::Spanned::span(path);
            quote_spanned!(span=> ::core::option::Option::Some(#path))
        }
        None => quote!(::core::option::Option::None),
    };
    let spec_ident = format_ident!("__OFF_RECIPE");
    quote! {
        #[doc(hidden)]
        static #spec_ident: #private::RecipeSpec = #private::RecipeSpec {
            name: #name,
            about: #about,
            params: &[#(#param_specs),*],
            steps: &[#(#step_specs),*],
            checks: #checks,
            peers: #peers,
        };

        #[doc(hidden)]
        #[allow(non_camel_case_types, dead_code)]
        struct __OffKwargs { #(#fields,)* }

        #[doc(hidden)]
        fn __off_parse(
            raw: &#private::RawArgs,
        ) -> ::core::result::Result<::std::boxed::Box<dyn #private::Kwargs>, #private::ArgErrors> {
            let mut errors = #private::ArgErrors::default();
            #(#parse_lets)*
            errors.finish()?;
            let kwargs = __OffKwargs { #(#field_inits,)* };
            #validate_call
            ::core::result::Result::Ok(::std::boxed::Box::new(kwargs))
        }

        impl #private::Kwargs for __OffKwargs {
            fn run_step(&self, step: usize) -> ::off_runtime::Result<()> {
                let kwargs = self;
                let _ = kwargs;
                match step {
                    #(#step_arms)*
                    _ => ::core::unreachable!("the runtime only asks for declared steps"),
                }
            }
        }

        /// Runs the recipe as a command-line program: parses the keyword
        /// arguments and flags (`--help` lists them) and runs the steps.
        pub fn main() -> ::std::process::ExitCode {
            #private::recipe_main(&#spec_ident, __off_parse)
        }
    }
}

/// Removes `#[step]` from a function, and `#[arg]` and `///` docs (which
/// became `--help` text) from its parameters: rustc allows neither there.
pub(crate) fn strip_off_attrs(f: &mut ItemFn) {
    f.attrs.retain(|a| !is_step_attr(a));
    for input in &mut f.sig.inputs {
        if let syn::FnArg::Typed(pat) = input {
            pat.attrs
                .retain(|a| !is_arg_attr(a) && !a.path().is_ident("doc"));
        }
    }
}

/// Rewrites `upload_template("path", ..)` into
/// `upload_template(::off_runtime::template!("path"), ..)`, so the template
/// is embedded in the binary and a change to it rebuilds the recipe. Only
/// the calls that counting recorded as the operation are rewritten.
struct EmbedTemplates {
    /// The ordinals ([`crate::model::CallNode::call`]) of the fn's
    /// `upload_template` operations.
    upload_templates: Vec<usize>,
    next_call: usize,
}

impl EmbedTemplates {
    /// Rewrites the `function`-th fn of the recipe module, `f`.
    fn in_fn(recipe: &Recipe, function: usize, f: &mut ItemFn) {
        let upload_templates = recipe
            .op_calls
            .iter()
            .filter(|call| call.kind == OpKind::UploadTemplate)
            .filter_map(|call| call.node)
            .filter(|node| node.function == function)
            .map(|node| node.call)
            .collect();
        let mut embed = EmbedTemplates {
            upload_templates,
            next_call: 0,
        };
        embed.visit_item_fn_mut(f);
    }
}

impl VisitMut for EmbedTemplates {
    fn visit_expr_call_mut(&mut self, call: &mut ExprCall) {
        // Numbered on the way down, as `count.rs` numbers them.
        let ordinal = self.next_call;
        self.next_call += 1;
        syn::visit_mut::visit_expr_call_mut(self, call);
        if !self.upload_templates.contains(&ordinal) {
            return;
        }
        if let Some(Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(path),
            ..
        })) = call.args.first()
        {
            let path: LitStr = path.clone();
            let embedded: Expr =
                syn::parse_quote_spanned!(path.span()=> ::off_runtime::template!(#path));
            call.args[0] = embedded;
        }
    }
}

/// `#[recipe(check(...))]` as a `static` of the model the attribute was
/// parsed into (`off_input::annotations`, re-exported by the runtime).
fn check_annotations(check: &CheckAttr) -> TokenStream {
    let model = quote!(::off_runtime::__private::annotations);
    let some_str = |s: &Option<off_input::annotations::Text>| match s {
        Some(s) => {
            let s: &str = s;
            quote!(::core::option::Option::Some(#s))
        }
        None => quote!(::core::option::Option::None),
    };
    let version = match &check.version {
        Some(v) => {
            let cmd: &str = &v.cmd;
            let (regex, expected) = (some_str(&v.regex), some_str(&v.expected));
            quote!(::core::option::Option::Some(#model::VersionAnnotation::new(#cmd, #regex, #expected)))
        }
        None => quote!(::core::option::Option::None),
    };
    let alive = check.alive.iter().map(|a| {
        let (shell, cmd, exit_code): (&str, &str, u8) = (&a.shell, &a.cmd, a.exit_code);
        let timeout = match a.timeout {
            Some(t) => {
                let ms = t.as_millis() as u64;
                quote!(::core::option::Option::Some(::core::time::Duration::from_millis(#ms)))
            }
            None => quote!(::core::option::Option::None),
        };
        quote!(#model::AliveAnnotation::new(#shell, #cmd, #exit_code, #timeout))
    });
    let os = check.os.iter().map(|o| -> &str { o });
    let services = check.services.iter().map(|s| {
        let name: &str = &s.name;
        let state = syn::Ident::new(&format!("{:?}", s.state), proc_macro2::Span::call_site());
        quote!(#model::ServiceAnnotation::new(#name, #model::ServiceState::#state))
    });
    let ports = check.ports.iter();
    let packages = check.packages.iter().map(|p| -> &str { p });
    let borrowed = quote!(::std::borrow::Cow::Borrowed);
    quote! {
        #model::CheckAnnotations {
            version: #version,
            alive: #borrowed(&[#(#alive),*]),
            os: #borrowed(&[#(#borrowed(#os)),*]),
            services: #borrowed(&[#(#services),*]),
            ports: #borrowed(&[#(#ports),*]),
            packages: #borrowed(&[#(#borrowed(#packages)),*]),
        }
    }
}

#[cfg(test)]
mod tests {
    use quote::quote;

    fn expand(item: proc_macro2::TokenStream) -> String {
        let out = crate::expand_recipe(quote!(), item, std::path::Path::new("."));
        // The expansion is valid Rust.
        syn::parse2::<syn::File>(out.clone()).expect("expansion parses");
        out.to_string()
    }

    #[test]
    fn module_recipe_gains_main_and_loses_off_attributes() {
        let out = expand(quote! {
            mod demo {
                /// Install it.
                #[step]
                fn install(#[arg(default = 15)] version: u32, force: bool) -> Result<()> {
                    run("true")?;
                    Ok(())
                }
            }
        });
        assert!(
            out.contains("pub fn main () -> :: std :: process :: ExitCode"),
            "{out}"
        );
        assert!(
            !out.contains("# [step]") && !out.contains("# [arg"),
            "{out}"
        );
        assert!(
            out.contains("raw . get_or :: < u32 > (\"version\""),
            "{out}"
        );
        assert!(out.contains("raw . get_bool (\"force\")"), "{out}");
        assert!(out.contains("plan : & [(\"run\" , 1u64)]"), "{out}");
        assert!(out.contains("docs : \"Install it.\""), "{out}");
    }

    #[test]
    fn validator_runs_after_every_kwarg_parsed() {
        let out = crate::expand_recipe(
            quote!(validate = inputs),
            quote! {
                mod demo {
                    #[step]
                    fn s(role: String, primary: Option<String>) -> Result<()> { Ok(()) }
                    fn inputs(primary: &Option<String>, role: &String) -> ::core::result::Result<(), String> { Ok(()) }
                }
            },
            std::path::Path::new("."),
        )
        .to_string();
        assert!(
            out.contains("if let :: core :: result :: Result :: Err (e) = inputs (& kwargs . primary , & kwargs . role)"),
            "{out}"
        );
        assert!(!out.contains("compile_error"), "{out}");
    }

    #[test]
    fn single_fn_recipe_gets_a_module_of_the_same_name() {
        let out = expand(quote! {
            pub fn hello(name: String) -> Result<()> {
                run(sh!("echo {name}"))?;
                Ok(())
            }
        });
        assert!(out.contains("pub mod hello"), "{out}");
        assert!(
            out.contains("super :: hello (:: core :: clone :: Clone :: clone (& kwargs . name))"),
            "{out}"
        );
    }

    #[test]
    fn literal_template_paths_are_embedded() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("t.j2"), "x\n").unwrap();
        let out = crate::expand_recipe(
            quote!(),
            quote! {
                mod demo {
                    #[step]
                    fn s() -> Result<()> {
                        upload_template("t.j2", "/etc/t", context! {})?;
                        Ok(())
                    }
                }
            },
            dir.path(),
        )
        .to_string();
        assert!(
            out.contains("upload_template (:: off_runtime :: template ! (\"t.j2\")"),
            "{out}"
        );
    }

    #[test]
    fn errors_come_with_stubs() {
        let out = expand(quote! {
            mod demo {
                #[step]
                fn s(parallel: u32) -> Result<()> { Ok(()) }
            }
        });
        assert!(out.contains("compile_error"), "{out}");
        assert!(
            out.contains("pub fn main"),
            "a stub main keeps `demo::main()` compiling: {out}"
        );
    }
}
