//! Compile-time checks of the templates a recipe embeds: the file exists
//! (relative to the crate's Cargo.toml), its MiniJinja syntax is valid, and
//! when the context is a literal `context! { … }`, every variable the
//! template uses is one of its keys.

use std::path::Path;

use crate::ast::Recipe;
use crate::ctxt::Ctxt;
use crate::model::{LiteralContext, TemplateRef};

/// Checks every literal template path of `recipe` against the files under
/// `manifest_dir`; errors point at the path literal.
pub fn check_templates(recipe: &Recipe, manifest_dir: &Path) -> syn::Result<()> {
    let cx = Ctxt::new();
    for template in &recipe.templates {
        let file = manifest_dir.join(&template.path);
        match std::fs::read_to_string(&file) {
            Err(e) => cx.error_at(
                template.span,
                format!(
                    "cannot read template `{}` ({e}); template paths are relative to the crate's Cargo.toml",
                    template.path
                ),
            ),
            Ok(source) => {
                let mut env = minijinja::Environment::new();
                match env.add_template(&template.path, &source) {
                    Err(e) => {
                        let line = e.line().map(|l| format!(" at line {l}")).unwrap_or_default();
                        cx.error_at(
                            template.span,
                            format!(
                                "template `{}` has a syntax error{line}: {}",
                                template.path,
                                e.detail().unwrap_or(&e.to_string())
                            ),
                        );
                    }
                    Ok(()) => {
                        if let Some(context) = &template.context {
                            check_context(&cx, &env, template, context);
                        }
                    }
                }
            }
        }
    }
    cx.check()
}

/// Reports each variable the template reads that is neither a key of
/// `context` nor one of MiniJinja's globals (`range`, `dict`, ...): the
/// render would fail on every host with "undefined value".
fn check_context(
    cx: &Ctxt,
    env: &minijinja::Environment,
    template: &TemplateRef,
    context: &LiteralContext,
) {
    let Ok(compiled) = env.get_template(&template.path) else {
        return;
    };
    let globals: Vec<&str> = env.globals().map(|(name, _)| name).collect();
    let source = compiled.source();
    let mut missing: Vec<(Option<usize>, String)> = compiled
        .undeclared_variables(false)
        .into_iter()
        .filter(|name| !context.keys.contains(name) && !globals.contains(&name.as_str()))
        .filter(|name| !guarded(source, name))
        .map(|name| (first_use(source, &name), name))
        .collect();
    // In the template's order, so the errors read top to bottom.
    missing.sort();
    for (line, name) in missing {
        let hint = off_input::did_you_mean(&name, context.keys.iter().map(String::as_str))
            .map(|close| format!("; did you mean `{close}`?"))
            .unwrap_or_else(|| format!("; add `{name}` to the context"));
        let line = line.map(|l| format!(" at line {l}")).unwrap_or_default();
        cx.error_spanned_by(
            &context.mac,
            format!(
                "template `{}` uses `{name}`{line}, which this `context!` does not define{hint}",
                template.path
            ),
        );
    }
}

/// Whether the template allows `name` to be missing: it tests it
/// (`name is defined`, `name is undefined`) or gives it a default
/// (`name | default(…)`), which work under strict undefined behavior.
fn guarded(source: &str, name: &str) -> bool {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    source.match_indices(name).any(|(i, _)| {
        if source[..i].ends_with(is_word) {
            return false;
        }
        let rest = source[i + name.len()..].trim_start();
        rest.starts_with("is defined")
            || rest.starts_with("is undefined")
            || rest.starts_with("is not defined")
            || rest.strip_prefix('|').is_some_and(|f| {
                f.trim_start().starts_with("default") || f.trim_start().starts_with("d(")
            })
    })
}

/// The 1-based line of the first `{{ … }}` or `{% … %}` block that mentions
/// `name` as a whole word: where to look for it in the template.
fn first_use(source: &str, name: &str) -> Option<usize> {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let mut rest = source;
    let mut offset = 0;
    while let Some(open) = rest.find('{') {
        let after = &rest[open..];
        let close = if after.starts_with("{{") {
            "}}"
        } else if after.starts_with("{%") {
            "%}"
        } else {
            offset += open + 1;
            rest = &rest[open + 1..];
            continue;
        };
        let end = after.find(close).map_or(after.len(), |e| e + close.len());
        let block = &after[..end];
        let mentions = block.match_indices(name).any(|(i, _)| {
            !block[..i].ends_with(is_word) && !block[i + name.len()..].starts_with(is_word)
        });
        if mentions {
            return Some(source[..offset + open].matches('\n').count() + 1);
        }
        offset += open + end;
        rest = &rest[open + end..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn recipe_with_template(path: &str) -> Recipe {
        recipe_with_context(path, quote!(ctx))
    }

    fn recipe_with_context(path: &str, context: proc_macro2::TokenStream) -> Recipe {
        crate::parse_recipe(
            quote!(),
            quote! {
                mod r {
                    #[step]
                    fn s(port: u16) -> Result<()> {
                        upload_template(#path, "/etc/x", #context)?;
                        Ok(())
                    }
                }
            },
        )
        .unwrap()
    }

    fn check_with_context(
        source: &str,
        context: proc_macro2::TokenStream,
    ) -> Result<(), Vec<String>> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("t.j2"), source).unwrap();
        check_templates(&recipe_with_context("t.j2", context), dir.path())
            .map_err(|e| e.into_iter().map(|e| e.to_string()).collect())
    }

    #[test]
    fn a_variable_the_literal_context_lacks_is_an_error_with_a_suggestion() {
        let errors = check_with_context(
            "# demo\nport = {{ port }}\nhello = {{ greting }}\n",
            quote!(context! { port, greeting => "hi" }),
        )
        .unwrap_err();
        assert_eq!(
            errors,
            [
                "template `t.j2` uses `greting` at line 3, which this `context!` does not define; \
              did you mean `greeting`?"
            ]
        );
    }

    #[test]
    fn every_missing_variable_is_reported_in_template_order() {
        let errors = check_with_context(
            "{{ zeta }}\n{% if alpha %}{{ port }}{% endif %}\n",
            quote!(context! { port }),
        )
        .unwrap_err();
        assert_eq!(
            errors,
            [
                "template `t.j2` uses `zeta` at line 1, which this `context!` does not define; \
                 add `zeta` to the context",
                "template `t.j2` uses `alpha` at line 2, which this `context!` does not define; \
                 add `alpha` to the context",
            ]
        );
    }

    #[test]
    fn template_locals_globals_and_attributes_need_no_context_key() {
        check_with_context(
            "{% set x = 1 %}{{ x }}\n{% for i in range(port) %}{{ loop.index }}{{ i }}{% endfor %}\n\
             {{ user.name | upper }}\n",
            quote!(context! { port, user => u }),
        )
        .unwrap();
    }

    #[test]
    fn variables_the_template_tests_or_defaults_may_be_missing() {
        check_with_context(
            "{% if extra is defined %}{{ extra }}{% endif %}\n{{ note | default('-') }}\n\
             {% if other is not defined %}none{% endif %}\n",
            quote!(context! { port }),
        )
        .unwrap();
    }

    #[test]
    fn contexts_known_only_at_run_time_are_not_checked() {
        // A spread, or a context built elsewhere, may hold any key.
        check_with_context("{{ anything }}\n", quote!(context! { port, ..extra })).unwrap();
        check_with_context("{{ anything }}\n", quote!(ctx)).unwrap();
    }

    #[test]
    fn accepts_a_valid_template() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ok.j2"), "port = {{ port }}\n").unwrap();
        check_templates(&recipe_with_template("ok.j2"), dir.path()).unwrap();
    }

    #[test]
    fn syntax_error_names_template_and_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bad.j2"), "a\n{% if %}\n").unwrap();
        let err = check_templates(&recipe_with_template("bad.j2"), dir.path()).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("template `bad.j2` has a syntax error at line 2:"),
            "{msg}"
        );
    }

    #[test]
    fn missing_template_says_where_paths_are_relative_to() {
        let dir = tempfile::tempdir().unwrap();
        let err = check_templates(&recipe_with_template("nope.j2"), dir.path()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("cannot read template `nope.j2`"), "{msg}");
        assert!(msg.contains("relative to the crate's Cargo.toml"), "{msg}");
    }
}
