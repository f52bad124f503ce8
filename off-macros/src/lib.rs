//! Entry points of off's macros; the work happens in `off-analysis` (shared
//! with `cargo off`) and in the modules here.

mod sh;

use proc_macro::TokenStream;

/// Formats a shell command like `format!`, shell-quoting every interpolated
/// value so that it reaches the command as one word of data:
/// `sudo(sh!("createdb -O {owner} {name}"))`. Literal text is not quoted.
#[proc_macro]
pub fn sh(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as sh::ShInput);
    sh::expand(input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
