//! What `#[recipe]` emits when the recipe has errors: the errors, plus the
//! user's items (so rustc still checks the bodies) and a stub `main`, so that
//! one mistake gives one error instead of a cascade of "cannot find `main`".

use proc_macro2::TokenStream;
use quote::quote;
use syn::Item;

use crate::expand::strip_off_attrs;

pub(crate) fn fallback(item: TokenStream, errors: syn::Error) -> TokenStream {
    let errors = errors.to_compile_error();
    let stub_main = quote! {
        #[doc(hidden)]
        pub fn main() -> ::std::process::ExitCode {
            ::core::unreachable!("the recipe did not compile")
        }
    };
    match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Mod(mut module)) if module.content.is_some() => {
            let (_, items) = module.content.as_mut().expect("checked");
            for item in items.iter_mut() {
                if let Item::Fn(f) = item {
                    strip_off_attrs(f);
                }
            }
            items.push(syn::parse_quote!(#stub_main));
            quote!(#errors #module)
        }
        Ok(Item::Fn(mut f)) => {
            strip_off_attrs(&mut f);
            let vis = &f.vis;
            let name = &f.sig.ident;
            quote! {
                #errors
                #f
                #[doc(hidden)]
                #vis mod #name { #stub_main }
            }
        }
        // Not something #[recipe] applies to: the error says so.
        _ => errors,
    }
}
