//! `sh!`: `format!` for shell commands, quoting every interpolated value.
//! A placeholder where that quoting cannot hold is refused (`quoting.rs`).

mod quoting;

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::parse::{Parse, ParseStream};
use syn::{Expr, Ident, LitStr, Token};

use off_input::placeholder::{Piece, pieces};

/// `sh!("fmt", positional..., name = value...)`.
pub(crate) struct ShInput {
    format: LitStr,
    positional: Vec<Expr>,
    named: Vec<(Ident, Expr)>,
}

impl Parse for ShInput {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let format: LitStr = input.parse()?;
        let mut positional = Vec::new();
        let mut named = Vec::new();
        while !input.is_empty() {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            if input.peek(Ident) && input.peek2(Token![=]) && !input.peek2(Token![==]) {
                let name: Ident = input.parse()?;
                input.parse::<Token![=]>()?;
                named.push((name, input.parse()?));
            } else if named.is_empty() {
                positional.push(input.parse()?);
            } else {
                return Err(input.error("positional arguments must come before named ones"));
            }
        }
        Ok(ShInput {
            format,
            positional,
            named,
        })
    }
}

pub(crate) fn expand(input: ShInput) -> syn::Result<TokenStream> {
    let span = input.format.span();
    let pieces = pieces(&input.format.value()).map_err(|m| syn::Error::new(span, m))?;
    quoting::check(&pieces).map_err(|m| syn::Error::new(span, m))?;
    let mut format = String::new();
    let mut values = Vec::new();
    let mut next_positional = 0;
    let mut used = vec![false; input.positional.len()];
    for piece in pieces {
        match piece {
            Piece::Text(_) => format.push_str(&piece.to_string()),
            Piece::Hole { arg, spec } => {
                format.push_str("{}");
                let value: TokenStream = if arg.is_empty() || arg.parse::<usize>().is_ok() {
                    let index = if arg.is_empty() {
                        next_positional += 1;
                        next_positional - 1
                    } else {
                        arg.parse().expect("digits")
                    };
                    if index >= input.positional.len() {
                        return Err(syn::Error::new(
                            span,
                            format!("sh! needs a value for placeholder {index}"),
                        ));
                    }
                    used[index] = true;
                    let ident = Ident::new(&format!("__off_arg{index}"), Span::mixed_site());
                    quote!(#ident)
                } else if let Some((_, expr)) = input.named.iter().find(|(n, _)| *n == arg) {
                    quote!((#expr))
                } else {
                    let ident = syn::parse_str::<Ident>(&arg).map_err(|_| {
                        syn::Error::new(span, format!("`{arg}` is not a valid placeholder"))
                    })?;
                    // The literal's span: the name resolves where sh! was called.
                    let ident = Ident::new(&ident.to_string(), span);
                    quote!(#ident)
                };
                let inner = LitStr::new(&format!("{{:{spec}}}"), span);
                values.push(quote! {
                    ::off_runtime::__private::quote_display(::std::format!(#inner, #value))
                });
            }
        }
    }
    if let Some(unused) = used.iter().position(|u| !u) {
        return Err(syn::Error::new_spanned(
            &input.positional[unused],
            "argument never used in the sh! format string",
        ));
    }
    let bindings = input.positional.iter().enumerate().map(|(i, e)| {
        let ident = Ident::new(&format!("__off_arg{i}"), Span::mixed_site());
        quote!(let #ident = &(#e);)
    });
    let format = LitStr::new(&format, span);
    Ok(quote! {{
        #(#bindings)*
        ::std::format!(#format #(, #values)*)
    }})
}
