//! docs/operations.md names everything the prelude exports, so a new
//! operation cannot land undocumented.

use std::collections::BTreeSet;

/// The names `src/prelude.rs` exports: the last segment of each `pub use`
/// path (or its `as` name), `self` standing for its parent.
fn exports() -> BTreeSet<String> {
    fn leaves(tree: &syn::UseTree, parent: Option<&syn::Ident>, out: &mut BTreeSet<String>) {
        match tree {
            syn::UseTree::Path(p) => leaves(&p.tree, Some(&p.ident), out),
            syn::UseTree::Name(n) if n.ident == "self" => {
                out.insert(parent.expect("`self` under a path").to_string());
            }
            syn::UseTree::Name(n) => {
                out.insert(n.ident.to_string());
            }
            syn::UseTree::Rename(r) => {
                out.insert(r.rename.to_string());
            }
            syn::UseTree::Group(g) => g.items.iter().for_each(|t| leaves(t, parent, out)),
            syn::UseTree::Glob(_) => panic!("a glob in the prelude: name each export"),
        }
    }
    let source = include_str!("../src/prelude.rs");
    let file = syn::parse_file(source).expect("src/prelude.rs parses");
    let mut names = BTreeSet::new();
    for item in &file.items {
        if let syn::Item::Use(u) = item
            && matches!(u.vis, syn::Visibility::Public(_))
        {
            leaves(&u.tree, None, &mut names);
        }
    }
    names
}

/// The identifiers inside the page's code: inline `code` and fenced blocks.
fn code_words(markdown: &str) -> BTreeSet<String> {
    let mut code = String::new();
    let mut fenced = false;
    for line in markdown.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            code.push_str(line);
            code.push('\n');
        } else {
            // Every other backquote-separated piece is inline code.
            for piece in line.split('`').skip(1).step_by(2) {
                code.push_str(piece);
                code.push('\n');
            }
        }
    }
    code.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn operations_md_names_every_export_of_the_prelude() {
    let exports = exports();
    assert!(exports.contains("run") && exports.contains("current_host"));
    let page = include_str!("../../docs/operations.md");
    let documented = code_words(page);
    let missing: Vec<&String> = exports.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "docs/operations.md does not mention (in code) these exports of off_runtime::prelude: {missing:?}"
    );
}

#[test]
fn the_export_list_is_read_whole() {
    let exports = exports();
    // One of each shape: a plain name, a group, `self` in a group, a macro.
    for name in [
        "Secret",
        "mkdir",
        "ServiceAction",
        "Reload",
        "sh",
        "Duration",
    ] {
        assert!(exports.contains(name), "{name} not read from the prelude");
    }
}
