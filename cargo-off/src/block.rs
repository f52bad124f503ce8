//! The generated block of `off.yaml`: the recipe, its keyword arguments and
//! the check spec its source implies, as YAML text.
//!
//! The text is written by hand rather than through a serializer so that the
//! order of keys is fixed (`path` first), comments can say which operation
//! touches a file, and the output is byte-for-byte stable across runs, which
//! `gen-config --check` relies on.

use std::fmt::Write as _;
use std::path::Path;

use off_analysis::{FileState, HostState, ParamKind, Recipe, ServiceState};
use quote::ToTokens;
use sha2::{Digest, Sha256};
use syn::{Expr, ExprLit, ExprUnary, Lit, UnOp};

/// The lines between the marker lines, each ending with `\n`.
pub fn render(recipe: &Recipe, source: &Path) -> String {
    let mut out = String::new();
    render_recipe(&mut out, recipe, source);
    render_kwargs(&mut out, recipe);
    render_check(&mut out, recipe);
    out
}

fn render_recipe(out: &mut String, recipe: &Recipe, source: &Path) {
    out.push_str("recipe:\n");
    line(out, 1, "name", &string(&recipe.name));
    line(out, 1, "source", &string(&source.to_string_lossy()));
    if !recipe.docs.is_empty() {
        line(out, 1, "doc", &string(&recipe.docs));
    }
    let steps: Vec<String> = recipe.steps.iter().map(|s| string(&s.name)).collect();
    line(out, 1, "steps", &flow(&steps));
}

fn render_kwargs(out: &mut String, recipe: &Recipe) {
    let kwargs = recipe.kwargs();
    if kwargs.is_empty() {
        out.push_str("kwargs: []\n");
        return;
    }
    out.push_str("kwargs:\n");
    for kwarg in kwargs {
        let param = &kwarg.param;
        let ty = param.ty.to_token_stream().to_string().replace(' ', "");
        out.push_str(&format!("- name: {}\n", string(&param.name)));
        line(out, 1, "type", &string(&ty));
        match (&param.default, &param.kind) {
            (Some(default), _) => line(out, 1, "default", &default_value(default)),
            // A flag that is not given is false.
            (None, ParamKind::Bool) => line(out, 1, "default", "false"),
            (None, _) => {}
        }
        if !param.docs.is_empty() {
            line(out, 1, "doc", &string(&param.docs));
        }
    }
}

fn render_check(out: &mut String, recipe: &Recipe) {
    let state = HostState::of(recipe);
    let annotations = &recipe.check;
    let mut body = String::new();
    // A placeholder naming a local variable (`for dir in ..`) has no value
    // when the spec is checked: such items are left out, and said so.
    let kwargs: Vec<String> = recipe.kwargs().into_iter().map(|k| k.param.name).collect();
    let mut unlisted: Vec<String> = Vec::new();
    let mut listable = |what: &str, templates: &[&str]| {
        let unknown = templates
            .iter()
            .find_map(|template| unknown_placeholder(template, &kwargs));
        if let Some(name) = &unknown {
            unlisted.push(format!("{what} {} ({{{name}}})", string(templates[0])));
        }
        unknown.is_none()
    };

    if let Some(version) = &annotations.version
        && let Some(expected) = &version.expected
        && listable("version", &[&version.cmd, expected])
    {
        body.push_str("  version:\n");
        line(&mut body, 2, "cmd", &string(&version.cmd));
        if let Some(regex) = &version.regex {
            line(&mut body, 2, "regex", &string(regex));
        }
        line(&mut body, 2, "expected", &string(expected));
    }
    if !annotations.os.is_empty() {
        let os: Vec<String> = annotations.os.iter().map(|o| string(o)).collect();
        line(&mut body, 1, "os", &flow(&os));
    }
    let files: Vec<&FileState> = state
        .files
        .iter()
        .filter(|file| {
            let mut templates = vec![file.path_template.as_str()];
            templates.extend(file.owner.as_deref());
            templates.extend(file.group.as_deref());
            listable("config", &templates)
        })
        .collect();
    if !files.is_empty() {
        body.push_str("  config:\n");
        for file in files {
            // A line naming a variable that is no kwarg cannot be checked.
            let mut file = file.clone();
            file.lines
                .retain(|l| unknown_placeholder(l, &kwargs).is_none());
            render_file(&mut body, &file);
        }
    }

    // Services touched by the code, then those only annotated; an annotation
    // states the expected state explicitly and wins.
    let mut services: Vec<(String, ServiceState)> = state
        .services
        .iter()
        .map(|s| (s.name.clone(), s.state))
        .collect();
    for check in &annotations.services {
        match services.iter_mut().find(|(name, _)| *name == check.name) {
            Some(service) => service.1 = check.state,
            None => services.push((check.name.clone(), check.state)),
        }
    }
    services.retain(|(name, _)| listable("service", &[name]));
    if !services.is_empty() {
        body.push_str("  service:\n");
        for (name, service_state) in services {
            body.push_str(&format!(
                "  - {}: {}\n",
                string(&name),
                service_state.name()
            ));
        }
    }

    let mut packages = state.packages.clone();
    for package in &annotations.packages {
        if !packages.contains(package) {
            packages.push(package.clone());
        }
    }
    packages.retain(|package| listable("package", &[package]));
    if !packages.is_empty() {
        body.push_str("  package:\n");
        for package in packages {
            body.push_str(&format!("  - {}\n", string(&package)));
        }
    }
    if !annotations.ports.is_empty() {
        let ports: Vec<String> = annotations.ports.iter().map(u16::to_string).collect();
        line(&mut body, 1, "port", &flow(&ports));
    }
    if !annotations.alive.is_empty() {
        body.push_str("  alive_script:\n");
        for alive in &annotations.alive {
            body.push_str(&format!("  - shell: {}\n", string(&alive.shell)));
            line(&mut body, 2, "cmd", &string(&alive.cmd));
            line(&mut body, 2, "exit_code", &alive.exit_code.to_string());
        }
    }

    if !unlisted.is_empty() {
        body.push_str(
            "  # Not listed: a placeholder is not a keyword argument (add them in overrides):\n",
        );
        for item in &unlisted {
            let _ = writeln!(body, "  # - {item}");
        }
    }

    if body.trim_start().starts_with('#') || body.is_empty() {
        out.push_str("check: {}\n");
    } else {
        out.push_str("check:\n");
    }
    out.push_str(&body);
}

/// The first `{name}` in `template` that is not one of `kwargs`.
fn unknown_placeholder(template: &str, kwargs: &[String]) -> Option<String> {
    let known = |name: &str| kwargs.iter().any(|k| k == name).then(String::new);
    off_manifest::resolve(template, &known).err()
}

fn render_file(out: &mut String, file: &FileState) {
    let mut written: Vec<&str> = file.written_by.iter().map(|op| op.name()).collect();
    if file.created {
        written.push("a command");
    }
    let made = if file.directory { "made" } else { "written" };
    let comment = match file.exists() {
        Some(true) => format!("{made} by {}", written.join(", ")),
        Some(false) => "removed by a command".to_owned(),
        None => format!(
            "{made} by {} or removed by a command, depending on the branch taken: set `exists` in overrides",
            written.join(", ")
        ),
    };
    out.push_str(&format!(
        "  - path: {}  # {comment}\n",
        string(&file.path_template)
    ));
    if file.exists() == Some(false) {
        line(out, 2, "exists", "false");
    }
    if let Some(content) = &file.content {
        let digest = Sha256::digest(content);
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        // Always quoted: a digest of digits only would otherwise read as a number.
        line(out, 2, "sha256", &format!("\"{hex}\""));
    }
    if let Some(mode) = file.mode {
        line(out, 2, "mode", &string(&format!("{mode:04o}")));
    }
    if let Some(owner) = &file.owner {
        line(out, 2, "owner", &string(owner));
    }
    if let Some(group) = &file.group {
        line(out, 2, "group", &string(group));
    }
    if file.is_init_file() {
        line(out, 2, "init", "true");
    }
    if file.exists() == Some(true) {
        if file.directory {
            line(out, 2, "kind", "directory");
        }
        if !file.lines.is_empty() {
            let lines: Vec<String> = file.lines.iter().map(|l| string(l)).collect();
            line(out, 2, "contains", &flow(&lines));
        }
    }
}

/// `key: value` at an indentation of `level` list-or-map levels.
fn line(out: &mut String, level: usize, key: &str, value: &str) {
    let _ = writeln!(out, "{}{key}: {value}", "  ".repeat(level));
}

/// `[a, b]`
fn flow(items: &[String]) -> String {
    format!("[{}]", items.join(", "))
}

/// A `#[arg(default = ...)]` as a YAML scalar: literals as themselves, other
/// expressions as their Rust text (a string).
fn default_value(expr: &Expr) -> String {
    match expr {
        Expr::Lit(ExprLit { lit, .. }) => match lit {
            Lit::Str(text) => string(&text.value()),
            Lit::Int(int) => int.base10_digits().to_owned(),
            Lit::Float(float) => float.base10_digits().to_owned(),
            Lit::Bool(flag) => flag.value.to_string(),
            Lit::Char(c) => string(&c.value().to_string()),
            other => string(&other.to_token_stream().to_string()),
        },
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_),
            expr,
            ..
        }) if matches!(
            &**expr,
            Expr::Lit(ExprLit {
                lit: Lit::Int(_) | Lit::Float(_),
                ..
            })
        ) =>
        {
            format!("-{}", default_value(expr))
        }
        other => string(&rust_text(other)),
    }
}

/// An expression as Rust text, without the spaces of token streams around `::`.
fn rust_text(expr: &Expr) -> String {
    expr.to_token_stream().to_string().replace(" :: ", "::")
}

/// A string as a YAML scalar: plain when it cannot be read as anything
/// else, otherwise double-quoted (JSON escapes are valid YAML).
pub fn string(text: &str) -> String {
    let first_ok = text
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '/' || c == '_');
    let chars_ok = text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/_.-@+ ".contains(c));
    let keyword = matches!(
        text.to_ascii_lowercase().as_str(),
        "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "y" | "n"
    );
    if first_ok && chars_ok && !keyword && !text.ends_with(' ') {
        text.to_owned()
    } else {
        serde_json::Value::String(text.to_owned()).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_quoted_when_needed() {
        assert_eq!(string("/srv/example"), "/srv/example");
        assert_eq!(string("Debian 12"), "Debian 12");
        assert_eq!(string("{root}/conf"), "\"{root}/conf\"");
        assert_eq!(string("0644"), "\"0644\"");
        assert_eq!(string("yes"), "\"yes\"");
        assert_eq!(string("a: b"), "\"a: b\"");
        assert_eq!(string("two\nlines"), "\"two\\nlines\"");
        assert_eq!(string(""), "\"\"");
        assert_eq!(string("Vec<String>"), "\"Vec<String>\"");
    }

    #[test]
    fn check_section_of_a_recipe() {
        let recipe = off_analysis::parse_recipe(
            quote::quote!(check(
                version(cmd = "web --version", expected = ">={version}"),
                os = ["Debian 12"],
                port = 8080,
                package = "curl",
                service(name = "cron", state = "enabled"),
                alive(cmd = "curl -fs localhost:8080"),
            )),
            quote::quote! {
                mod web {
                    #[step]
                    fn install(version: u32) -> Result<()> {
                        package([format!("web-{version}"), "curl".to_owned()])?;
                        put(b"[Unit]\n", remote_path("/etc/systemd/system/web.service").mode(0o644).owner("root"))?;
                        sudo("rm -f /etc/web/old.conf")?;
                        service("web", Enable)?;
                        service("web", Restart)?;
                        service("cron", Start)?;
                        Ok(())
                    }
                }
            },
        )
        .unwrap();
        let text = render(&recipe, Path::new("src/main.rs"));
        let check = &text[text.find("check:\n").unwrap()..];
        assert_eq!(
            check,
            "check:
  version:
    cmd: web --version
    expected: \">={version}\"
  os: [Debian 12]
  config:
  - path: /etc/systemd/system/web.service  # written by put
    sha256: \"ae6c63cff33bcfa3b6a2d6d0c9dd19521dedaa351146b1a642d2bfc9cf5a1e1f\"
    mode: \"0644\"
    owner: root
    init: true
  - path: /etc/web/old.conf  # removed by a command
    exists: false
  service:
  - web: running
  - cron: enabled
  package:
  - \"web-{version}\"
  - curl
  port: [8080]
  alive_script:
  - shell: /bin/sh
    cmd: \"curl -fs localhost:8080\"
    exit_code: 0
"
        );
    }

    #[test]
    fn items_with_local_placeholders_are_left_out() {
        let recipe = off_analysis::parse_recipe(
            quote::quote!(),
            quote::quote! {
                fn web(root: String) -> Result<()> {
                    for site in ["a", "b"] {
                        put(b"x", format!("{root}/{site}/index.html"))?;
                        service(format!("web@{site}"), Start)?;
                    }
                    put(b"x", format!("{root}/index.html"))?;
                    Ok(())
                }
            },
        )
        .unwrap();
        let text = render(&recipe, Path::new("src/main.rs"));
        let check = &text[text.find("check:\n").unwrap()..];
        assert_eq!(
            check,
            "check:
  config:
  - path: \"{root}/index.html\"  # written by put
    sha256: \"2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881\"
  # Not listed: a placeholder is not a keyword argument (add them in overrides):
  # - config \"{root}/{site}/index.html\" ({site})
  # - service \"web@{site}\" ({site})
"
        );
    }

    #[test]
    fn defaults_keep_their_type() {
        let cases: [(Expr, &str); 6] = [
            (syn::parse_quote!("localhost"), "localhost"),
            (syn::parse_quote!(15), "15"),
            (syn::parse_quote!(-2), "-2"),
            (syn::parse_quote!(1.5), "1.5"),
            (syn::parse_quote!(true), "true"),
            (syn::parse_quote!(Mode::Fast), "\"Mode::Fast\""),
        ];
        for (expr, yaml) in cases {
            assert_eq!(default_value(&expr), yaml);
        }
    }
}
