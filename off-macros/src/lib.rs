//! Entry points of off's macros; the work happens in `off-analysis`, which
//! `cargo off` shares.

use proc_macro::TokenStream;

/// Formats a shell command like `format!`, shell-quoting every interpolated
/// value so that it reaches the command as one word of data:
/// `sudo(sh!("createdb -O {owner} {name}"))`. Literal text is not quoted.
/// A placeholder where that quoting cannot hold (inside the template's own
/// quotes, backquotes, `$((…))`, a comment or a here-document, or right after
/// `$` or `\`) is a compile error.
#[proc_macro]
pub fn sh(input: TokenStream) -> TokenStream {
    off_analysis::expand_sh(input.into()).into()
}

/// Turns a module of `#[step]` functions (run in declaration order), or a
/// single function, into a deployment recipe with a generated command line:
/// the module gains `pub fn main() -> ExitCode`. See the off documentation.
#[proc_macro_attribute]
pub fn recipe(attr: TokenStream, item: TokenStream) -> TokenStream {
    // Template paths are relative to the crate's Cargo.toml. The macro's UI
    // tests compile in a crate trybuild generates elsewhere, so they point
    // the macro back at their own crate; nothing else sets this variable.
    let manifest_dir = std::env::var_os("OFF_UI_TESTS_MANIFEST_DIR")
        .or_else(|| std::env::var_os("CARGO_MANIFEST_DIR"))
        .unwrap_or_default();
    off_analysis::expand_recipe(
        attr.into(),
        item.into(),
        std::path::Path::new(&manifest_dir),
    )
    .into()
}

/// Marks a step of a `#[recipe]` module. Outside one it is an error.
#[proc_macro_attribute]
pub fn step(_attr: TokenStream, item: TokenStream) -> TokenStream {
    off_analysis::expand_stray_step(item.into()).into()
}
