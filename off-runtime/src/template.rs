//! Templates for `upload_template`: MiniJinja, strict about undefined values.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use minijinja::{Environment, UndefinedBehavior};

use crate::error::{Error, Result};

/// A template: embedded in the binary (what `#[recipe]` does for a literal
/// path, and what [`template!`](crate::template) does by hand), or a file
/// read at run time (a path given as a string).
#[derive(Debug, Clone)]
pub enum Template {
    Embedded {
        name: Cow<'static, str>,
        source: Cow<'static, str>,
    },
    File(PathBuf),
}

impl Template {
    pub fn embedded(name: &'static str, source: &'static str) -> Self {
        Template::Embedded {
            name: Cow::Borrowed(name),
            source: Cow::Borrowed(source),
        }
    }

    /// Renders with `context`. Undefined variables are errors, and the
    /// file's trailing newline is kept (configuration files want it). A
    /// file's path is resolved by `local_path` (against `lcd`).
    pub(crate) fn render(
        &self,
        local_path: impl FnOnce(&Path) -> Result<PathBuf>,
        context: &impl serde::Serialize,
    ) -> Result<String> {
        let (name, source) = match self {
            Template::Embedded { name, source } => (name.to_string(), source.clone()),
            Template::File(path) => {
                let path = local_path(path)?;
                let source = std::fs::read_to_string(&path).map_err(|e| Error::Template {
                    name: path.display().to_string(),
                    reason: format!("cannot read it: {e}"),
                })?;
                (path.display().to_string(), Cow::Owned(source))
            }
        };
        render_str(&name, &source, context)
    }
}

/// Renders template `source` (called `name` in errors) with `context`.
pub fn render_str(name: &str, source: &str, context: &impl serde::Serialize) -> Result<String> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()
            .expect("the default delimiters are valid"),
    );
    let error = |e: minijinja::Error| Error::Template {
        name: name.to_string(),
        reason: describe(&e),
    };
    env.add_template(name, source).map_err(error)?;
    env.get_template(name)
        .and_then(|t| t.render(minijinja::value::Serde(context)))
        .map_err(error)
}

fn describe(e: &minijinja::Error) -> String {
    let mut text = e.to_string();
    if let Some(line) = e.line()
        && !text.contains("line")
    {
        text.push_str(&format!(" (line {line})"));
    }
    text
}

impl From<&str> for Template {
    fn from(path: &str) -> Self {
        Template::File(path.into())
    }
}
impl From<String> for Template {
    fn from(path: String) -> Self {
        Template::File(path.into())
    }
}
impl From<PathBuf> for Template {
    fn from(path: PathBuf) -> Self {
        Template::File(path)
    }
}

/// Embeds a template file (path relative to the crate's Cargo.toml) in the
/// binary: `upload_template(template!("templates/pg.conf.j2"), ...)`.
#[macro_export]
macro_rules! template {
    ($path:literal) => {
        $crate::Template::embedded(
            $path,
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/", $path)),
        )
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_keeps_trailing_newline() {
        let out = render_str(
            "t",
            "port = {{ port }}\n",
            &minijinja::context! { port => 5432 },
        )
        .unwrap();
        assert_eq!(out, "port = 5432\n");
    }

    #[test]
    fn undefined_variable_is_an_error_naming_it() {
        let err =
            render_str("pg.conf", "x = {{ missing }}\n", &minijinja::context! {}).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("template pg.conf:"), "{msg}");
        assert!(msg.contains("undefined"), "{msg}");
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let err = render_str("t", "a\n{% if %}\n", &minijinja::context! {}).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("template t:"), "{msg}");
        assert!(msg.contains("line 2"), "{msg}");
    }
}
