//! Compile-time checks of the templates a recipe embeds: the file exists
//! (relative to the crate's Cargo.toml) and its MiniJinja syntax is valid.

use std::path::Path;

use crate::ast::Recipe;
use crate::ctxt::Ctxt;

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
                if let Err(e) = env.add_template(&template.path, &source) {
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
            }
        }
    }
    cx.check()
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn recipe_with_template(path: &str) -> Recipe {
        crate::parse_recipe(
            quote!(),
            quote! {
                mod r {
                    #[step]
                    fn s() -> Result<()> {
                        upload_template(#path, "/etc/x", context! {})?;
                        Ok(())
                    }
                }
            },
        )
        .unwrap()
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
