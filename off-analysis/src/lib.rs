//! Recipe analysis shared by the `#[recipe]` macro and `cargo off`.
//!
//! # Pipeline
//!
//! One fixed pipeline, one file per stage:
//!
//! 1. `attr.rs` parses `#[recipe(...)]`, `#[step]` and `#[arg(...)]` into
//!    typed values ([`RecipeAttr`], [`CheckAttr`], [`ArgAttr`]).
//! 2. `ast.rs` builds the model ([`Recipe`], [`Step`], [`Param`], [`Helper`]),
//!    calling
//! 3. `count.rs`, which counts the operations of every function ([`OpPlan`])
//!    and collects template paths and [`Effects`], in the types of
//!    `model.rs` that every later pass reads (`count.rs` never sees a
//!    [`Recipe`]).
//! 4. `valid.rs` checks the model's semantics.
//! 5. `expand.rs` generates the code; `fallback.rs` the errors plus stubs.
//!
//! `sh!` has its own small pipeline in `sh.rs`: parse the arguments, split
//! the format string (off-input's `placeholder` grammar, which counting also uses to
//! read `format!` templates), refuse placeholders where quoting cannot hold
//! (`sh/quoting.rs`), generate.
//!
//! Beside the pipeline, `host_state.rs` derives from a model the state the
//! recipe leaves a host in ([`HostState`]), for `cargo off gen-config`.
//!
//! Every stage records its errors instead of stopping at the first, and
//! [`parse_recipe`] returns them all combined into one [`syn::Error`].
//! [`parse_recipe`] is what the proc macro calls; [`parse_recipe_file`] finds
//! and analyses every recipe of a source file without building it (for
//! `cargo off gen-config`).
//!
//! # What counts as an operation
//!
//! An operation is a call of one of the free functions of
//! `off_runtime::prelude` listed in [`OpKind`] (`run`, `sudo`, `sudo_as`,
//! `local`, `get`, `put`, `upload_template`, `exists`, `append`, `contains`,
//! `package`, `service`) where the callee is written
//!
//! - as the bare name (`run(..)`, also with a turbofish) or as `self::run(..)`,
//!   unless the name is shadowed (below); or
//! - as `off_runtime::run`, `off_runtime::ops::run` or
//!   `off_runtime::prelude::run` (with or without a leading `::`); or
//! - under a name imported by `use off_runtime::{ops::,prelude::}run [as x]`,
//!   in the module or in a block.
//!
//! Not operations: method calls (`cmd.run()`), other paths
//! (`other_crate::run(..)`, `Self::run(..)`, `std::process::Command::new(..)`),
//! the guards `cd`, `lcd`, `shell_env` and `settings`, and `sh!(..)`.
//!
//! A bare name is *shadowed*, and so neither an operation nor a helper call,
//! when it resolves to something else under Rust's scoping rules, as far as
//! the syntax shows: a `let` binding (from the next statement on; its own
//! initializer still sees the outer name), a function or closure parameter, a
//! `for`/`match`/`if let`/`while let` binding, or an item declared in an
//! enclosing block (a nested `fn run`, a `use other::run`, a `const`), which
//! covers the whole block. Inside a nested `fn` the enclosing function's
//! locals are not visible, as in Rust. In the recipe module, a module
//! function or a non-glob `use` of the same name shadows the operation; glob
//! imports (`use super::*`) are assumed to bring the prelude's functions.
//!
//! Counting decides this once and records every operation call in
//! [`Recipe::op_calls`]; host-state inference and the embedding of template
//! paths read that record instead of deciding again.
//!
//! Each operation is counted once where it is written:
//!
//! - a loop body (`for`, `while`, `loop`) counts once;
//! - both arms of an `if`/`else` and every arm of a `match` count;
//! - a closure body counts once where the closure is defined, however often
//!   it is called; so does the body of a `fn` nested in a function body;
//! - the arguments of a macro call count when they parse as comma-separated
//!   expressions (`format!`, `vec!`, `println!`, `assert!`, `sh!`, ...) or
//!   as `vec![x; n]` (in a `name = value` argument only `value` is an
//!   expression); other macro bodies are not looked into, nor are the
//!   expansions of `macro_rules!` macros;
//! - an operation used as a value (`cmds.iter().map(run)`) counts once.
//!
//! A call of a function of the recipe module (a helper or another step),
//! written as a bare name or `self::name` and not shadowed, adds the callee's
//! operations once per call site, recursively; using such a function as a
//! value (`.for_each(install_one)`) counts as one call site. A call that would
//! recurse (directly or through other functions) adds nothing and is reported
//! in [`Recipe::notes`]. Methods, associated functions and functions outside
//! the module are not followed; a single-fn recipe has no module functions
//! (the macro cannot see the fn's siblings), only itself.
//!
//! The result is an estimate by design: the runtime raises the total when
//! more operations run than planned.

mod ast;
mod attr;
pub mod condition;
mod count;
mod ctxt;
mod expand;
mod fallback;
mod host_state;
mod model;
mod sh;
mod templates;
mod valid;

use proc_macro2::TokenStream;
use syn::Item;

pub use crate::ast::{Helper, Kwarg, Param, ParamKind, Recipe, RecipeKind, Step};
pub use crate::attr::{
    AliveAnnotation, ArgAttr, CheckAnnotations, CheckAttr, RecipeAttr, ServiceAnnotation,
    ServiceState, StepAttr, VersionAnnotation, is_arg_attr, is_recipe_attr, is_step_attr,
    recipe_attr_tokens,
};
pub use crate::condition::{Condition, Guard, Test};
pub use crate::host_state::{FileState, HostState, PackageState, ServiceEffect};
pub use crate::model::{Effects, FileEffect, Note, OpCall, OpKind, OpPlan, TemplateRef};
pub use crate::templates::check_templates;
pub use crate::valid::{RESERVED_PARAM_NAMES, RESERVED_SHORT_FLAGS};

/// The whole `#[recipe]` macro: parse, validate, check the templates under
/// `manifest_dir`, and generate; on errors, the errors plus stubs.
pub fn expand_recipe(
    attr: TokenStream,
    item: TokenStream,
    manifest_dir: &std::path::Path,
) -> TokenStream {
    let recipe = parse_recipe(attr, item.clone())
        .and_then(|recipe| check_templates(&recipe, manifest_dir).map(|()| recipe));
    match recipe {
        Ok(recipe) => expand::expand(&recipe),
        Err(errors) => fallback::fallback(item, errors),
    }
}

/// The whole `sh!` macro: parse, check the template's quoting, generate; on
/// an error, the error.
pub fn expand_sh(input: TokenStream) -> TokenStream {
    syn::parse2::<sh::ShInput>(input)
        .and_then(sh::expand)
        .unwrap_or_else(syn::Error::into_compile_error)
}

/// The whole `#[step]` attribute outside a `#[recipe]` module (inside one,
/// the recipe consumes it): the item unchanged, plus an error at its name.
pub fn expand_stray_step(item: TokenStream) -> TokenStream {
    let span = syn::parse2::<syn::ItemFn>(item.clone())
        .map(|f| f.sig.ident.span())
        .unwrap_or_else(|_| proc_macro2::Span::call_site());
    let mut out = item;
    out.extend(valid::stray_step_error(span).to_compile_error());
    out
}

use crate::ctxt::Ctxt;

/// Parses and validates a recipe: `attr` is the content of `#[recipe(...)]`
/// (empty for `#[recipe]`) and `item` the annotated `mod` or `fn`, as a proc
/// macro receives them. All errors are combined into one.
pub fn parse_recipe(attr: TokenStream, item: TokenStream) -> syn::Result<Recipe> {
    let cx = Ctxt::new();
    let attr = parse_attr(&cx, attr);
    match syn::parse2::<Item>(item) {
        Ok(item) => analyse(cx, attr, item),
        Err(error) => {
            cx.push(error);
            Err(cx.check().expect_err("an error was just recorded"))
        }
    }
}

/// The recipe's arguments; when they are malformed the error is recorded
/// and the item is still analysed, without them.
fn parse_attr(cx: &Ctxt, attr: TokenStream) -> RecipeAttr {
    syn::parse2::<RecipeAttr>(attr).unwrap_or_else(|error| {
        cx.push(error);
        RecipeAttr::default()
    })
}

/// Finds every item annotated with `#[recipe]`, `#[recipe(...)]` or
/// `#[off_runtime::recipe...]` in a source file (inline modules included) and
/// analyses it as [`parse_recipe`] does. The errors of all recipes are combined.
pub fn parse_recipe_file(src: &str) -> Result<Vec<Recipe>, syn::Error> {
    let file = syn::parse_file(src)?;
    let cx = Ctxt::new();
    let mut recipes = Vec::new();
    collect_recipes(&cx, file.items, &mut recipes);
    cx.check()?;
    Ok(recipes)
}

fn collect_recipes(cx: &Ctxt, items: Vec<Item>, recipes: &mut Vec<Recipe>) {
    for mut item in items {
        let Some(attrs) = item_attrs(&mut item) else {
            continue;
        };
        if let Some(position) = attrs.iter().position(is_recipe_attr) {
            // The macro never sees its own attribute; neither does the analysis.
            let recipe_attr = attrs.remove(position);
            let item_cx = Ctxt::new();
            let attr = match recipe_attr_tokens(&recipe_attr) {
                Ok(tokens) => parse_attr(&item_cx, tokens),
                Err(error) => {
                    item_cx.push(error);
                    RecipeAttr::default()
                }
            };
            match analyse(item_cx, attr, item) {
                Ok(recipe) => recipes.push(recipe),
                Err(error) => cx.push(error),
            }
        } else if let Item::Mod(module) = item
            && let Some((_, items)) = module.content
        {
            collect_recipes(cx, items, recipes);
        }
    }
}

fn analyse(cx: Ctxt, attr: RecipeAttr, item: Item) -> syn::Result<Recipe> {
    let recipe = ast::Recipe::from_syn(&cx, attr, item);
    if let Some(recipe) = &recipe {
        valid::check(&cx, recipe);
    }
    cx.check()?;
    Ok(recipe.expect("a missing model always comes with an error"))
}

fn item_attrs(item: &mut Item) -> Option<&mut Vec<syn::Attribute>> {
    Some(match item {
        Item::Const(i) => &mut i.attrs,
        Item::Enum(i) => &mut i.attrs,
        Item::ExternCrate(i) => &mut i.attrs,
        Item::Fn(i) => &mut i.attrs,
        Item::ForeignMod(i) => &mut i.attrs,
        Item::Impl(i) => &mut i.attrs,
        Item::Macro(i) => &mut i.attrs,
        Item::Mod(i) => &mut i.attrs,
        Item::Static(i) => &mut i.attrs,
        Item::Struct(i) => &mut i.attrs,
        Item::Trait(i) => &mut i.attrs,
        Item::TraitAlias(i) => &mut i.attrs,
        Item::Type(i) => &mut i.attrs,
        Item::Union(i) => &mut i.attrs,
        Item::Use(i) => &mut i.attrs,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn postgres() -> Recipe {
        parse_recipe(
            quote!(check(
                version(cmd = "psql --version", regex = r"(\d+(\.\d+)?)"),
                alive(shell = "/bin/sh", cmd = "pg_isready", exit_code = 0),
                os = ["Debian 12", "Ubuntu 22.04", "Ubuntu 24.04"],
            )),
            quote! {
                /// Install, configure and serve PostgreSQL.
                mod offregister_postgres {
                    //! Inner docs.
                    use super::*;

                    /// Install the server packages.
                    #[step]
                    fn install(/// PostgreSQL major version
                               #[arg(default = 15)] version: u32) -> Result<()> {
                        sudo("apt-get update -qq")?;
                        sudo(sh!("DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql-{version}"))?;
                        Ok(())
                    }

                    /// Write the configuration and restart.
                    #[step]
                    fn configure(version: u32,
                                 /// Addresses to listen on
                                 #[arg(default = "localhost", short = 'l', env = "PG_LISTEN")]
                                 listen_addresses: String,
                                 extensions: Vec<String>,
                                 superuser_password: Option<String>,
                                 /// Skip the restart
                                 #[arg(hide)]
                                 no_restart: bool) -> Result<()> {
                        upload_template("templates/postgresql.conf.j2",
                                        format!("/etc/postgresql/{version}/main/postgresql.conf"),
                                        context! { listen_addresses })?;
                        let _cd = cd("/var/lib/postgresql");
                        let _env = shell_env([("PGCONNECT_TIMEOUT", "5")]);
                        sudo_as("postgres", "psql -c 'select 1'")?;
                        for extension in &extensions {
                            create_extension(extension)?;
                        }
                        if !no_restart {
                            service("postgresql", Restart)?;
                        }
                        Ok(())
                    }

                    #[step]
                    fn reinstall(version: u32) -> Result<()> {
                        install(version)?;
                        Ok(())
                    }

                    fn create_extension(name: &str) -> Result<()> {
                        sudo_as("postgres", sh!("psql -c {sql}", sql = format!("create extension {name}")))?;
                        Ok(())
                    }
                }
            },
        )
        .unwrap()
    }

    fn plan(counts: &[(OpKind, u64)]) -> OpPlan {
        counts.iter().copied().collect()
    }

    #[test]
    fn module_recipe_model() {
        let recipe = postgres();
        assert_eq!(recipe.name, "offregister_postgres");
        assert_eq!(recipe.kind, RecipeKind::Module);
        assert_eq!(
            recipe.docs,
            "Install, configure and serve PostgreSQL.\nInner docs."
        );
        let steps: Vec<&str> = recipe.steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(steps, ["install", "configure", "reinstall"]);
        assert_eq!(recipe.helpers.len(), 1);
        assert_eq!(recipe.helpers[0].name, "create_extension");
        assert_eq!(recipe.helpers[0].plan, plan(&[(OpKind::SudoAs, 1)]));

        let install = recipe.step("install").unwrap();
        assert_eq!(install.docs, "Install the server packages.");
        assert_eq!(install.plan, plan(&[(OpKind::Sudo, 2)]));
        let version = &install.params[0];
        assert_eq!(version.name, "version");
        assert_eq!(version.docs, "PostgreSQL major version");
        assert_eq!(version.kind, ParamKind::Plain);
        assert_eq!(
            version.default.as_ref().map(|d| quote!(#d).to_string()),
            Some("15".to_owned())
        );

        let configure = recipe.step("configure").unwrap();
        assert_eq!(
            configure.plan,
            plan(&[
                (OpKind::SudoAs, 2),
                (OpKind::UploadTemplate, 1),
                (OpKind::Service, 1)
            ])
        );
        let params: Vec<(&str, &ParamKind)> = configure
            .params
            .iter()
            .map(|p| (p.name.as_str(), &p.kind))
            .collect();
        assert_eq!(
            params,
            [
                ("version", &ParamKind::Plain),
                ("listen_addresses", &ParamKind::Plain),
                ("extensions", &ParamKind::Vec),
                ("superuser_password", &ParamKind::Option),
                ("no_restart", &ParamKind::Bool),
            ]
        );
        let listen = &configure.params[1];
        assert_eq!(listen.docs, "Addresses to listen on");
        assert_eq!(listen.short.as_ref().unwrap().value(), 'l');
        assert_eq!(listen.env.as_ref().unwrap().value(), "PG_LISTEN");
        assert!(!listen.hide);
        assert!(configure.params[4].hide);
        assert_eq!(configure.params[4].docs, "Skip the restart");

        // A step calling another step counts the callee's operations too.
        let reinstall = recipe.step("reinstall").unwrap();
        assert_eq!(reinstall.plan, plan(&[(OpKind::Sudo, 2)]));

        assert_eq!(
            recipe.plan,
            plan(&[
                (OpKind::Sudo, 4),
                (OpKind::SudoAs, 2),
                (OpKind::UploadTemplate, 1),
                (OpKind::Service, 1),
            ])
        );
        assert_eq!(recipe.plan.total(), 8);
        assert!(recipe.notes.is_empty());

        let templates: Vec<&str> = recipe.templates.iter().map(|t| t.path.as_str()).collect();
        assert_eq!(templates, ["templates/postgresql.conf.j2"]);
        assert_eq!(recipe.effects.files.len(), 1);
        assert_eq!(recipe.effects.files[0].op, OpKind::UploadTemplate);
        assert_eq!(
            recipe.effects.files[0].path_template,
            "/etc/postgresql/{version}/main/postgresql.conf"
        );
        assert_eq!(recipe.effects.services, ["postgresql"]);
        assert!(recipe.effects.packages.is_empty());

        assert_eq!(
            *recipe.check.os,
            ["Debian 12", "Ubuntu 22.04", "Ubuntu 24.04"]
        );
        assert_eq!(recipe.check.version.as_ref().unwrap().cmd, "psql --version");
        assert_eq!(recipe.check.alive[0].cmd, "pg_isready");
    }

    #[test]
    fn kwargs_are_the_union_of_step_params() {
        let recipe = postgres();
        let kwargs = recipe.kwargs();
        let names: Vec<&str> = kwargs.iter().map(|k| k.param.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "version",
                "listen_addresses",
                "extensions",
                "superuser_password",
                "no_restart"
            ]
        );
        let version = &kwargs[0];
        assert_eq!(version.steps, ["install", "configure", "reinstall"]);
        assert_eq!(version.param.docs, "PostgreSQL major version");
        let default = version.param.default.as_ref().unwrap();
        assert_eq!(quote!(#default).to_string(), "15");
    }

    #[test]
    fn name_override() {
        let recipe = parse_recipe(
            quote!(name = "pg"),
            quote!(
                mod offregister_postgres {
                    #[step]
                    fn a() -> Result<()> {
                        Ok(())
                    }
                }
            ),
        )
        .unwrap();
        assert_eq!(recipe.name, "pg");
        assert_eq!(recipe.ident, "offregister_postgres");
    }

    #[test]
    fn single_fn_recipe() {
        let recipe = parse_recipe(
            quote!(),
            quote! {
                /// Say hello.
                fn hello(/// Who to greet
                         #[arg(default = "world")] name: String,
                         loud: bool) -> Result<()> {
                    run(sh!("echo hello {name}"))?;
                    if loud { sudo("wall hello")?; }
                    Ok(())
                }
            },
        )
        .unwrap();
        assert_eq!(recipe.kind, RecipeKind::SingleFn);
        assert_eq!(recipe.name, "hello");
        assert_eq!(recipe.docs, "Say hello.");
        assert!(recipe.helpers.is_empty());
        assert_eq!(recipe.steps.len(), 1);
        let step = &recipe.steps[0];
        assert_eq!(step.name, "hello");
        assert_eq!(step.params.len(), 2);
        assert_eq!(step.params[0].docs, "Who to greet");
        assert_eq!(step.params[1].kind, ParamKind::Bool);
        assert_eq!(recipe.plan, plan(&[(OpKind::Run, 1), (OpKind::Sudo, 1)]));
        assert!(recipe.check.is_empty());
    }

    #[test]
    fn single_fn_recursion_is_noted() {
        let recipe = parse_recipe(
            quote!(),
            quote!(
                fn again(n: u32) -> Result<()> {
                    run("x")?;
                    if n > 0 {
                        again(n - 1)?;
                    }
                    Ok(())
                }
            ),
        )
        .unwrap();
        assert_eq!(recipe.plan, plan(&[(OpKind::Run, 1)]));
        assert_eq!(recipe.notes.len(), 1);
        assert_eq!(
            recipe.notes[0].message,
            "call to `again` from `again` counts 0 operations in the plan (recursion is not followed)"
        );
    }

    #[test]
    fn attr_and_item_errors_are_combined() {
        let error = parse_recipe(
            quote!(nmae = "x"),
            quote!(
                mod m {
                    #[step]
                    fn a(host: String) -> Result<()> {
                        Ok(())
                    }
                }
            ),
        )
        .unwrap_err();
        let messages: Vec<String> = error.into_iter().map(|e| e.to_string()).collect();
        assert_eq!(
            messages,
            [
                "unknown key `nmae` in #[recipe(...)]; expected one of: check, name, peers, validate; did you mean `name`?",
                "parameter `host` clashes with the built-in `--host` flag of the generated binary; rename the parameter",
            ]
        );
    }

    #[test]
    fn item_that_does_not_parse() {
        let error = parse_recipe(quote!(), quote!(mod m { fn })).unwrap_err();
        assert_eq!(error.into_iter().count(), 1);
    }

    #[test]
    fn file_with_several_recipes() {
        let src = r#"
            use off_runtime::prelude::*;

            #[recipe]
            fn one() -> Result<()> { run("a")?; Ok(()) }

            fn not_a_recipe() { run("b"); }

            #[off_runtime::recipe(name = "second", check(port = 80))]
            mod two {
                use super::*;
                #[step]
                fn a() -> Result<()> { sudo("c")?; Ok(()) }
            }

            mod nested {
                #[recipe]
                mod three {
                    #[step]
                    fn b() -> Result<()> { put(x, "/etc/y")?; Ok(()) }
                }
            }
        "#;
        let recipes = parse_recipe_file(src).unwrap();
        let names: Vec<&str> = recipes.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["one", "second", "three"]);
        assert_eq!(recipes[0].plan, plan(&[(OpKind::Run, 1)]));
        assert_eq!(recipes[1].plan, plan(&[(OpKind::Sudo, 1)]));
        assert_eq!(*recipes[1].check.ports, [80]);
        assert_eq!(recipes[2].plan, plan(&[(OpKind::Put, 1)]));
        // The analysed item no longer carries the #[recipe] attribute.
        let Item::Fn(one) = &recipes[0].item else {
            panic!("expected a fn")
        };
        assert!(one.attrs.is_empty());
    }

    #[test]
    fn file_errors_of_all_recipes_are_combined() {
        let src = r#"
            #[recipe(nmae = "x")]
            mod a { #[step] fn s() -> Result<()> { Ok(()) } }
            #[recipe]
            mod b { fn helper() {} }
        "#;
        let error = parse_recipe_file(src).unwrap_err();
        let messages: Vec<String> = error.into_iter().map(|e| e.to_string()).collect();
        assert_eq!(
            messages,
            [
                "unknown key `nmae` in #[recipe(...)]; expected one of: check, name, peers, validate; did you mean `name`?",
                "a #[recipe] module needs at least one #[step] fn",
            ]
        );
    }

    #[test]
    fn module_fns_named_like_operations_are_no_operation_for_any_pass() {
        let module: syn::ItemMod = syn::parse_quote! {
            mod r {
                #[step]
                fn s(root: String) -> Result<()> {
                    put("x", "/etc/shadowed")?;
                    upload_template("shadowed.j2", "/etc/t", ())?;
                    run(sh!("rm -f {root}/shadowed"))?;
                    // Fully qualified paths still name the operations.
                    off_runtime::upload_template("real.j2", "/etc/real", ())?;
                    off_runtime::run(sh!("rm -f {root}/real"))?;
                    Ok(())
                }
                fn put(content: &str, dest: &str) -> Result<()> {
                    Ok(())
                }
                fn upload_template(path: &str, dest: &str, context: ()) -> Result<()> {
                    Ok(())
                }
                fn run(command: String) -> Result<()> {
                    Ok(())
                }
            }
        };
        let recipe = parse_recipe(quote!(), quote!(#module)).unwrap();
        let kinds: Vec<OpKind> = recipe.op_calls.iter().map(|call| call.kind).collect();
        assert_eq!(kinds, [OpKind::UploadTemplate, OpKind::Run]);
        assert_eq!(
            recipe.plan,
            plan(&[(OpKind::UploadTemplate, 1), (OpKind::Run, 1)])
        );
        let templates: Vec<&str> = recipe.templates.iter().map(|t| t.path.as_str()).collect();
        assert_eq!(templates, ["real.j2"]);

        let state = HostState::of(&recipe);
        let files: Vec<(&str, bool)> = state
            .files
            .iter()
            .map(|f| (f.path_template.as_str(), f.removed))
            .collect();
        assert_eq!(files, [("/etc/real", false), ("{root}/real", true)]);

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("real.j2"), "x\n").unwrap();
        let out = expand_recipe(quote!(), quote!(#module), dir.path()).to_string();
        assert!(!out.contains("compile_error"), "{out}");
        assert!(
            out.contains("upload_template (\"shadowed.j2\""),
            "the shadowed call keeps its plain literal: {out}"
        );
        assert!(
            out.contains("upload_template (:: off_runtime :: template ! (\"real.j2\")"),
            "{out}"
        );
    }

    #[test]
    fn file_that_does_not_parse() {
        assert!(parse_recipe_file("fn (").is_err());
    }
}
