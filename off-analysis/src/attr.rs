//! Typed arguments of `#[recipe(...)]`, `#[step]` and `#[arg(...)]`.
//!
//! Every list is parsed to the end even after a bad entry, so two mistakes
//! give two errors. An unknown key names the keys that are accepted and,
//! when one is close, suggests it.

use proc_macro2::{Span, TokenStream, TokenTree};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::{Attribute, Expr, Ident, LitChar, LitInt, LitStr, Meta, Token, bracketed, parenthesized};

use off_input::{did_you_mean, parse_duration};

use crate::ctxt::Ctxt;

mod kw {
    syn::custom_keyword!(alive);
    syn::custom_keyword!(check);
    syn::custom_keyword!(cmd);
    syn::custom_keyword!(default);
    syn::custom_keyword!(env);
    syn::custom_keyword!(exit_code);
    syn::custom_keyword!(expected);
    syn::custom_keyword!(hide);
    syn::custom_keyword!(name);
    syn::custom_keyword!(os);
    syn::custom_keyword!(package);
    syn::custom_keyword!(peers);
    syn::custom_keyword!(port);
    syn::custom_keyword!(regex);
    syn::custom_keyword!(service);
    syn::custom_keyword!(shell);
    syn::custom_keyword!(short);
    syn::custom_keyword!(state);
    syn::custom_keyword!(timeout);
    syn::custom_keyword!(validate);
    syn::custom_keyword!(version);
}

/// Arguments of `#[recipe(...)]`.
#[derive(Debug, Clone, Default)]
pub struct RecipeAttr {
    /// `name = "..."`: overrides the recipe (and binary) name.
    pub name: Option<LitStr>,
    /// `check(...)`: what `--check` verifies besides the recipe's own effects.
    pub check: CheckAttr,
    /// `validate = inputs`: a module fn that checks combinations of kwargs
    /// (its parameters, by reference) before any host is touched.
    pub validate: Option<Ident>,
    /// `peers = cluster_kwargs`: the fn (`fn(&Membership) -> PeerKwargs`) that maps a
    /// cluster's membership onto kwargs under `--serve`.
    pub peers: Option<syn::Path>,
}

/// Arguments of `check(...)` inside `#[recipe(...)]`: the one model of
/// them, which the generated binary holds as a `static` too.
pub type CheckAttr = CheckAnnotations;

pub use off_input::ServiceState;
pub use off_input::annotations::{
    AliveAnnotation, CheckAnnotations, ServiceAnnotation, VersionAnnotation,
};

/// Arguments of `#[step]`: none yet. The type exists so that a stray
/// argument is reported as an unknown key like everywhere else.
#[derive(Debug, Clone, Copy, Default)]
pub struct StepAttr;

/// Arguments of `#[arg(...)]` on a step parameter.
#[derive(Debug, Clone, Default)]
pub struct ArgAttr {
    /// `default = <expr>`: a literal or any expression of the parameter's type.
    pub default: Option<Expr>,
    /// `short = 'c'`
    pub short: Option<LitChar>,
    /// `env = "PGVERSION"`: replaces the default `OFF_<NAME>` variable.
    pub env: Option<LitStr>,
    /// `hide`: left out of `--help`.
    pub hide: bool,
}

const RECIPE: &str = "#[recipe(...)]";
const CHECK: &str = "check(...)";
const VERSION: &str = "version(...)";
const ALIVE: &str = "alive(...)";
const SERVICE: &str = "service(...)";
const STEP: &str = "#[step]";
const ARG: &str = "#[arg(...)]";

impl Parse for RecipeAttr {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let cx = Ctxt::new();
        let mut name = None;
        let mut check = None;
        let mut validate = None;
        let mut peers = None;
        parse_entries(input, &cx, |input| {
            if input.peek(kw::name) {
                let key: kw::name = input.parse()?;
                let value: LitStr = parse_value(input)?;
                check_recipe_name(&value)?;
                set_once(&mut name, value, key.span, "name", RECIPE)
            } else if input.peek(kw::check) {
                let key: kw::check = input.parse()?;
                let content;
                parenthesized!(content in input);
                let value = content.call(parse_check)?;
                set_once(&mut check, value, key.span, "check", RECIPE)
            } else if input.peek(kw::validate) {
                let key: kw::validate = input.parse()?;
                let value: Ident = parse_value(input)?;
                set_once(&mut validate, value, key.span, "validate", RECIPE)
            } else if input.peek(kw::peers) {
                let key: kw::peers = input.parse()?;
                let value: syn::Path = parse_value(input)?;
                set_once(&mut peers, value, key.span, "peers", RECIPE)
            } else {
                Err(unknown_key(
                    input,
                    RECIPE,
                    &["check", "name", "peers", "validate"],
                ))
            }
        });
        cx.check()?;
        Ok(RecipeAttr {
            name,
            check: check.unwrap_or_default(),
            validate,
            peers,
        })
    }
}

/// The name becomes the binary's name.
fn check_recipe_name(name: &LitStr) -> syn::Result<()> {
    let value = name.value();
    let valid = !value.is_empty()
        && !value.starts_with('-')
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if valid {
        Ok(())
    } else {
        Err(syn::Error::new(
            name.span(),
            format!(
                "invalid recipe name {value:?}: use ASCII letters, digits, `_` and `-` (it names the binary)"
            ),
        ))
    }
}

/// Parses the entries of `check(...)`.
fn parse_check(input: ParseStream) -> syn::Result<CheckAttr> {
    let cx = Ctxt::new();
    let mut check = CheckAttr::default();
    let mut os = None;
    parse_entries(input, &cx, |input| {
        if input.peek(kw::version) {
            let key: kw::version = input.parse()?;
            let content;
            parenthesized!(content in input);
            let value = parse_version(&content, key.span)?;
            set_once(&mut check.version, value, key.span, "version", CHECK)
        } else if input.peek(kw::alive) {
            let key: kw::alive = input.parse()?;
            let content;
            parenthesized!(content in input);
            check.alive.to_mut().push(parse_alive(&content, key.span)?);
            Ok(())
        } else if input.peek(kw::os) {
            let key: kw::os = input.parse()?;
            input.parse::<Token![=]>()?;
            let value = parse_str_list(input)?;
            set_once(&mut os, value, key.span, "os", CHECK)
        } else if input.peek(kw::service) {
            let key: kw::service = input.parse()?;
            let content;
            parenthesized!(content in input);
            check
                .services
                .to_mut()
                .push(parse_service(&content, key.span)?);
            Ok(())
        } else if input.peek(kw::port) {
            input.parse::<kw::port>()?;
            input.parse::<Token![=]>()?;
            check.ports.to_mut().extend(parse_ports(input)?);
            Ok(())
        } else if input.peek(kw::package) {
            input.parse::<kw::package>()?;
            input.parse::<Token![=]>()?;
            check
                .packages
                .to_mut()
                .extend(parse_str_list(input)?.into_iter().map(Into::into));
            Ok(())
        } else {
            Err(unknown_key(
                input,
                CHECK,
                &["alive", "os", "package", "port", "service", "version"],
            ))
        }
    });
    cx.check()?;
    check.os = os.unwrap_or_default().into_iter().map(Into::into).collect();
    Ok(check)
}

fn parse_version(input: ParseStream, span: Span) -> syn::Result<VersionAnnotation> {
    let cx = Ctxt::new();
    let mut cmd = None;
    let mut regex = None;
    let mut expected = None;
    parse_entries(input, &cx, |input| {
        if input.peek(kw::cmd) {
            let key: kw::cmd = input.parse()?;
            let value: LitStr = parse_value(input)?;
            set_once(&mut cmd, value.value(), key.span, "cmd", VERSION)
        } else if input.peek(kw::regex) {
            let key: kw::regex = input.parse()?;
            let value: LitStr = parse_value(input)?;
            set_once(&mut regex, value.value(), key.span, "regex", VERSION)
        } else if input.peek(kw::expected) {
            let key: kw::expected = input.parse()?;
            let value: LitStr = parse_value(input)?;
            set_once(&mut expected, value.value(), key.span, "expected", VERSION)
        } else {
            Err(unknown_key(input, VERSION, &["cmd", "regex", "expected"]))
        }
    });
    if cmd.is_none() {
        cx.error_at(span, "missing key `cmd` in version(...)");
    }
    cx.check()?;
    Ok(VersionAnnotation {
        cmd: cmd.unwrap_or_default().into(),
        regex: regex.map(Into::into),
        expected: expected.map(Into::into),
    })
}

fn parse_alive(input: ParseStream, span: Span) -> syn::Result<AliveAnnotation> {
    let cx = Ctxt::new();
    let mut shell = None;
    let mut cmd = None;
    let mut exit_code = None;
    let mut timeout = None;
    parse_entries(input, &cx, |input| {
        if input.peek(kw::shell) {
            let key: kw::shell = input.parse()?;
            let value: LitStr = parse_value(input)?;
            set_once(&mut shell, value.value(), key.span, "shell", ALIVE)
        } else if input.peek(kw::cmd) {
            let key: kw::cmd = input.parse()?;
            let value: LitStr = parse_value(input)?;
            set_once(&mut cmd, value.value(), key.span, "cmd", ALIVE)
        } else if input.peek(kw::exit_code) {
            let key: kw::exit_code = input.parse()?;
            let value: LitInt = parse_value(input)?;
            let code = value.base10_parse::<u8>().map_err(|_| {
                syn::Error::new(
                    value.span(),
                    format!("invalid exit code `{value}`: expected 0..=255"),
                )
            })?;
            set_once(&mut exit_code, code, key.span, "exit_code", ALIVE)
        } else if input.peek(kw::timeout) {
            let key: kw::timeout = input.parse()?;
            let value: LitStr = parse_value(input)?;
            let duration = parse_duration(&value.value()).map_err(|_| {
                syn::Error::new(
                    value.span(),
                    format!(
                        "invalid timeout {:?}: expected a duration like \"500ms\", \"5s\", \"2m\", \"1h\" or \"1m30s\"",
                        value.value()
                    ),
                )
            })?;
            set_once(&mut timeout, duration, key.span, "timeout", ALIVE)
        } else {
            Err(unknown_key(
                input,
                ALIVE,
                &["cmd", "exit_code", "shell", "timeout"],
            ))
        }
    });
    if cmd.is_none() {
        cx.error_at(span, "missing key `cmd` in alive(...)");
    }
    cx.check()?;
    Ok(AliveAnnotation {
        shell: shell.unwrap_or_else(|| "/bin/sh".to_owned()).into(),
        cmd: cmd.unwrap_or_default().into(),
        exit_code: exit_code.unwrap_or(0),
        timeout,
    })
}

fn parse_service(input: ParseStream, span: Span) -> syn::Result<ServiceAnnotation> {
    let cx = Ctxt::new();
    let mut name = None;
    let mut state = None;
    parse_entries(input, &cx, |input| {
        if input.peek(kw::name) {
            let key: kw::name = input.parse()?;
            let value: LitStr = parse_value(input)?;
            set_once(&mut name, value.value(), key.span, "name", SERVICE)
        } else if input.peek(kw::state) {
            let key: kw::state = input.parse()?;
            let value: LitStr = parse_value(input)?;
            let parsed = ServiceState::from_name(&value.value()).ok_or_else(|| {
                let names: Vec<_> = ServiceState::ALL.iter().map(|s| s.name()).collect();
                let mut message = format!(
                    "unknown service state {:?}; expected one of: {}",
                    value.value(),
                    names.join(", ")
                );
                if let Some(close) = did_you_mean(&value.value(), names.iter().copied()) {
                    message.push_str(&format!("; did you mean `{close}`?"));
                }
                syn::Error::new(value.span(), message)
            })?;
            set_once(&mut state, parsed, key.span, "state", SERVICE)
        } else {
            Err(unknown_key(input, SERVICE, &["name", "state"]))
        }
    });
    if name.is_none() {
        cx.error_at(span, "missing key `name` in service(...)");
    }
    cx.check()?;
    Ok(ServiceAnnotation {
        name: name.unwrap_or_default().into(),
        state: state.unwrap_or(ServiceState::Running),
    })
}

impl Parse for StepAttr {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        if input.is_empty() {
            return Ok(StepAttr);
        }
        Err(match input.call(Ident::parse_any) {
            Ok(key) => syn::Error::new(
                key.span(),
                format!(
                    "unknown key `{}` in {STEP}; #[step] takes no arguments",
                    key.unraw()
                ),
            ),
            Err(_) => input.error("#[step] takes no arguments"),
        })
    }
}

impl StepAttr {
    /// Parses `#[step]`; `#[step(...)]` must be empty.
    pub fn from_attribute(attr: &Attribute) -> syn::Result<StepAttr> {
        match &attr.meta {
            Meta::Path(_) => Ok(StepAttr),
            Meta::List(list) => list.parse_args(),
            Meta::NameValue(nv) => Err(syn::Error::new_spanned(
                nv,
                "expected `#[step]`; #[step] takes no arguments",
            )),
        }
    }
}

impl Parse for ArgAttr {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let cx = Ctxt::new();
        let mut default = None;
        let mut short = None;
        let mut env = None;
        let mut hide = None;
        parse_entries(input, &cx, |input| {
            if input.peek(kw::default) {
                let key: kw::default = input.parse()?;
                let value: Expr = parse_value(input)?;
                set_once(&mut default, value, key.span, "default", ARG)
            } else if input.peek(kw::short) {
                let key: kw::short = input.parse()?;
                let value: LitChar = parse_value(input)?;
                if !value.value().is_ascii_alphanumeric() {
                    return Err(syn::Error::new(
                        value.span(),
                        "`short` must be an ASCII letter or digit",
                    ));
                }
                set_once(&mut short, value, key.span, "short", ARG)
            } else if input.peek(kw::env) {
                let key: kw::env = input.parse()?;
                let value: LitStr = parse_value(input)?;
                let name = value.value();
                if name.is_empty() || name.contains(['=', '\0']) {
                    return Err(syn::Error::new(
                        value.span(),
                        format!(
                            "invalid environment variable name {name:?}: it must be non-empty and contain no `=`"
                        ),
                    ));
                }
                set_once(&mut env, value, key.span, "env", ARG)
            } else if input.peek(kw::hide) {
                let key: kw::hide = input.parse()?;
                set_once(&mut hide, (), key.span, "hide", ARG)
            } else {
                Err(unknown_key(
                    input,
                    ARG,
                    &["default", "env", "hide", "short"],
                ))
            }
        });
        cx.check()?;
        Ok(ArgAttr {
            default,
            short,
            env,
            hide: hide.is_some(),
        })
    }
}

impl ArgAttr {
    /// Parses `#[arg(...)]`; a bare `#[arg]` has no effect.
    pub fn from_attribute(attr: &Attribute) -> syn::Result<ArgAttr> {
        match &attr.meta {
            Meta::Path(_) => Ok(ArgAttr::default()),
            Meta::List(list) => list.parse_args(),
            Meta::NameValue(nv) => Err(syn::Error::new_spanned(nv, "expected `#[arg(...)]`")),
        }
    }
}

/// `#[recipe]`, `#[off_runtime::recipe]`, `#[off_runtime::prelude::recipe]`.
pub fn is_recipe_attr(attr: &Attribute) -> bool {
    is_off_attr(attr, "recipe")
}

/// `#[step]` and its qualified spellings.
pub fn is_step_attr(attr: &Attribute) -> bool {
    is_off_attr(attr, "step")
}

/// `#[arg(...)]` and its qualified spellings.
pub fn is_arg_attr(attr: &Attribute) -> bool {
    is_off_attr(attr, "arg")
}

/// The tokens between the parentheses of `#[recipe(...)]` (empty for `#[recipe]`).
pub fn recipe_attr_tokens(attr: &Attribute) -> syn::Result<TokenStream> {
    match &attr.meta {
        Meta::Path(_) => Ok(TokenStream::new()),
        Meta::List(list) => Ok(list.tokens.clone()),
        Meta::NameValue(nv) => Err(syn::Error::new_spanned(
            nv,
            "expected `#[recipe]` or `#[recipe(...)]`",
        )),
    }
}

fn is_off_attr(attr: &Attribute, name: &str) -> bool {
    let path = attr.path();
    if path.segments.iter().any(|s| !s.arguments.is_none()) {
        return false;
    }
    let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    match segments.as_slice() {
        [only] => path.leading_colon.is_none() && *only == name,
        ["off_runtime" | "off_macros", last] | ["off_runtime", "prelude", last] => *last == name,
        _ => false,
    }
}

/// Parses `= value`.
fn parse_value<T: Parse>(input: ParseStream) -> syn::Result<T> {
    input.parse::<Token![=]>()?;
    input.parse()
}

/// `"a"` or `["a", "b"]`.
fn parse_str_list(input: ParseStream) -> syn::Result<Vec<String>> {
    if input.peek(syn::token::Bracket) {
        let content;
        bracketed!(content in input);
        let items = content.parse_terminated(<LitStr as Parse>::parse, Token![,])?;
        Ok(items.iter().map(LitStr::value).collect())
    } else {
        Ok(vec![input.parse::<LitStr>()?.value()])
    }
}

/// `5432` or `[5432, 5433]`.
fn parse_ports(input: ParseStream) -> syn::Result<Vec<u16>> {
    let literals: Vec<LitInt> = if input.peek(syn::token::Bracket) {
        let content;
        bracketed!(content in input);
        content
            .parse_terminated(<LitInt as Parse>::parse, Token![,])?
            .into_iter()
            .collect()
    } else {
        vec![input.parse()?]
    };
    literals
        .iter()
        .map(|lit| match lit.base10_parse::<u16>() {
            Ok(port) if port != 0 => Ok(port),
            _ => Err(syn::Error::new(
                lit.span(),
                format!("invalid port `{lit}`: expected 1..=65535"),
            )),
        })
        .collect()
}

/// Parses a comma-separated list of entries with `parse_one`; an entry that
/// fails is recorded in `cx` and skipped up to the next top-level comma so
/// the following entries are still checked.
fn parse_entries(
    input: ParseStream,
    cx: &Ctxt,
    mut parse_one: impl FnMut(ParseStream) -> syn::Result<()>,
) {
    while !input.is_empty() {
        if let Err(error) = parse_one(input) {
            cx.push(error);
            skip_entry(input);
        }
        if input.is_empty() {
            break;
        }
        if let Err(error) = input.parse::<Token![,]>() {
            cx.push(error);
            skip_entry(input);
            let _ = input.parse::<Option<Token![,]>>();
        }
    }
}

/// Advances to the next top-level `,` (or the end).
fn skip_entry(input: ParseStream) {
    let _ = input.step(|cursor| {
        let mut rest = *cursor;
        while let Some((tree, next)) = rest.token_tree() {
            if let TokenTree::Punct(punct) = &tree
                && punct.as_char() == ','
            {
                break;
            }
            rest = next;
        }
        Ok(((), rest))
    });
}

fn set_once<T>(
    slot: &mut Option<T>,
    value: T,
    key_span: Span,
    key: &str,
    context: &str,
) -> syn::Result<()> {
    if slot.is_some() {
        return Err(syn::Error::new(
            key_span,
            format!("duplicate key `{key}` in {context}"),
        ));
    }
    *slot = Some(value);
    Ok(())
}

/// The error for a key that none of the branches recognised; consumes the key.
fn unknown_key(input: ParseStream, context: &str, expected: &[&str]) -> syn::Error {
    let expected_list = expected.join(", ");
    match input.call(Ident::parse_any) {
        Ok(ident) => {
            let key = ident.unraw().to_string();
            let mut message =
                format!("unknown key `{key}` in {context}; expected one of: {expected_list}");
            if let Some(close) = did_you_mean(&key, expected.iter().copied()) {
                message.push_str(&format!("; did you mean `{close}`?"));
            }
            syn::Error::new(ident.span(), message)
        }
        Err(_) => input.error(format!(
            "expected a key in {context}; expected one of: {expected_list}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn messages(error: syn::Error) -> Vec<String> {
        error.into_iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn empty_recipe_attr() {
        let attr: RecipeAttr = syn::parse2(quote!()).unwrap();
        assert!(attr.name.is_none());
        assert!(attr.check.is_empty());
    }

    #[test]
    fn full_recipe_attr() {
        let attr: RecipeAttr = syn::parse2(quote!(
            name = "pg",
            check(
                version(
                    cmd = "psql --version",
                    regex = r"(\d+(\.\d+)?)",
                    expected = "{version}"
                ),
                alive(
                    shell = "/bin/bash",
                    cmd = "pg_isready",
                    exit_code = 3,
                    timeout = "1m30s"
                ),
                alive(cmd = "true"),
                os = ["Debian 12", "Ubuntu 22.04"],
                service(name = "postgresql", state = "stopped"),
                service(name = "cron"),
                port = 5432,
                port = [5433, 5434],
                package = "postgresql-15",
                package = ["a", "b"],
            )
        ))
        .unwrap();
        assert_eq!(attr.name.unwrap().value(), "pg");
        let check = attr.check;
        let version = check.version.unwrap();
        assert_eq!(version.cmd, "psql --version");
        assert_eq!(version.regex.as_deref(), Some(r"(\d+(\.\d+)?)"));
        assert_eq!(version.expected.as_deref(), Some("{version}"));
        assert_eq!(check.alive.len(), 2);
        assert_eq!(check.alive[0].shell, "/bin/bash");
        assert_eq!(check.alive[0].cmd, "pg_isready");
        assert_eq!(check.alive[0].exit_code, 3);
        assert_eq!(
            check.alive[0].timeout,
            Some(std::time::Duration::from_secs(90))
        );
        assert_eq!(check.alive[1].shell, "/bin/sh");
        assert_eq!(check.alive[1].exit_code, 0);
        assert_eq!(check.alive[1].timeout, None);
        assert_eq!(*check.os, ["Debian 12", "Ubuntu 22.04"]);
        assert_eq!(check.services.len(), 2);
        assert_eq!(check.services[0].name, "postgresql");
        assert_eq!(check.services[0].state, ServiceState::Stopped);
        assert_eq!(check.services[1].state, ServiceState::Running);
        assert_eq!(*check.ports, [5432, 5433, 5434]);
        assert_eq!(*check.packages, ["postgresql-15", "a", "b"]);
    }

    #[test]
    fn peers_names_the_membership_mapping_once() {
        let attr: RecipeAttr = syn::parse2(quote!(peers = super::cluster_kwargs)).unwrap();
        let path = attr.peers.unwrap();
        assert_eq!(quote!(#path).to_string(), "super :: cluster_kwargs");
        let error = syn::parse2::<RecipeAttr>(quote!(peers = a, peers = b)).unwrap_err();
        assert!(messages(error)[0].contains("peers"));
        assert!(syn::parse2::<RecipeAttr>(quote!(peers = "a")).is_err());
    }

    #[test]
    fn unknown_key_suggests_close_one() {
        let error = syn::parse2::<RecipeAttr>(quote!(nmae = "x")).unwrap_err();
        assert_eq!(
            messages(error),
            [
                "unknown key `nmae` in #[recipe(...)]; expected one of: check, name, peers, validate; did you mean `name`?"
            ]
        );
    }

    #[test]
    fn unknown_key_without_close_one() {
        let error = syn::parse2::<RecipeAttr>(quote!(foo = 1)).unwrap_err();
        assert_eq!(
            messages(error),
            ["unknown key `foo` in #[recipe(...)]; expected one of: check, name, peers, validate"]
        );
    }

    #[test]
    fn invalid_name() {
        let error = syn::parse2::<RecipeAttr>(quote!(name = "my recipe")).unwrap_err();
        assert_eq!(
            messages(error),
            [
                "invalid recipe name \"my recipe\": use ASCII letters, digits, `_` and `-` (it names the binary)"
            ]
        );
    }

    #[test]
    fn duplicate_key() {
        let error = syn::parse2::<RecipeAttr>(quote!(name = "a", name = "b")).unwrap_err();
        assert_eq!(messages(error), ["duplicate key `name` in #[recipe(...)]"]);
        let error = syn::parse2::<RecipeAttr>(quote!(check(os = ["a"], os = ["b"]))).unwrap_err();
        assert_eq!(messages(error), ["duplicate key `os` in check(...)"]);
    }

    #[test]
    fn every_bad_entry_is_reported() {
        let error = syn::parse2::<RecipeAttr>(quote!(
            nmae = "x",
            check(
                verison(cmd = "v"),
                port = 88426,
                alive(cmd = "x", exit_code = 300),
                prot = 1
            ),
            naem = "y",
        ))
        .unwrap_err();
        assert_eq!(
            messages(error),
            [
                "unknown key `nmae` in #[recipe(...)]; expected one of: check, name, peers, validate; did you mean `name`?",
                "unknown key `verison` in check(...); expected one of: alive, os, package, port, service, version; did you mean `version`?",
                "invalid port `88426`: expected 1..=65535",
                "invalid exit code `300`: expected 0..=255",
                "unknown key `prot` in check(...); expected one of: alive, os, package, port, service, version; did you mean `port`?",
                "unknown key `naem` in #[recipe(...)]; expected one of: check, name, peers, validate; did you mean `name`?",
            ]
        );
    }

    #[test]
    fn nested_check_errors() {
        let error = syn::parse2::<RecipeAttr>(quote!(check(
            version(regex = "x"),
            alive(shell = "/bin/sh", timeout = "soon"),
            service(name = "pg", state = "runing"),
        )))
        .unwrap_err();
        assert_eq!(
            messages(error),
            [
                "missing key `cmd` in version(...)",
                "invalid timeout \"soon\": expected a duration like \"500ms\", \"5s\", \"2m\", \"1h\" or \"1m30s\"",
                "missing key `cmd` in alive(...)",
                "unknown service state \"runing\"; expected one of: running, stopped, enabled, disabled; did you mean `running`?",
            ]
        );
    }

    #[test]
    fn arg_attr() {
        let arg: ArgAttr =
            syn::parse2(quote!(default = 15, short = 'p', env = "PGV", hide)).unwrap();
        assert_eq!(
            quote::ToTokens::to_token_stream(&arg.default.unwrap()).to_string(),
            "15"
        );
        assert_eq!(arg.short.unwrap().value(), 'p');
        assert_eq!(arg.env.unwrap().value(), "PGV");
        assert!(arg.hide);

        let arg: ArgAttr = syn::parse2(quote!(default = vec![1, 2], short = 'x')).unwrap();
        assert_eq!(
            quote::ToTokens::to_token_stream(&arg.default.unwrap()).to_string(),
            "vec ! [1 , 2]"
        );
        assert!(!arg.hide);
    }

    #[test]
    fn arg_attr_errors() {
        let error = syn::parse2::<ArgAttr>(quote!(defualt = 1, short = '-', env = "", hide, hide))
            .unwrap_err();
        assert_eq!(
            messages(error),
            [
                "unknown key `defualt` in #[arg(...)]; expected one of: default, env, hide, short; did you mean `default`?",
                "`short` must be an ASCII letter or digit",
                "invalid environment variable name \"\": it must be non-empty and contain no `=`",
                "duplicate key `hide` in #[arg(...)]",
            ]
        );
    }

    #[test]
    fn step_attr_takes_no_arguments() {
        let ok: Attribute = syn::parse_quote!(#[step]);
        assert!(StepAttr::from_attribute(&ok).is_ok());
        let bad: Attribute = syn::parse_quote!(#[step(name = "x")]);
        assert_eq!(
            messages(StepAttr::from_attribute(&bad).unwrap_err()),
            ["unknown key `name` in #[step]; #[step] takes no arguments"]
        );
    }

    #[test]
    fn attribute_paths() {
        let yes: [Attribute; 4] = [
            syn::parse_quote!(#[recipe]),
            syn::parse_quote!(#[recipe(name = "x")]),
            syn::parse_quote!(#[off_runtime::recipe]),
            syn::parse_quote!(#[::off_runtime::prelude::recipe(check())]),
        ];
        assert!(yes.iter().all(is_recipe_attr));
        let no: [Attribute; 3] = [
            syn::parse_quote!(#[other::recipe]),
            syn::parse_quote!(#[::recipe]),
            syn::parse_quote!(#[step]),
        ];
        assert!(!no.iter().any(is_recipe_attr));
        assert!(is_step_attr(&syn::parse_quote!(#[off_runtime::step])));
        assert!(is_arg_attr(&syn::parse_quote!(#[arg(default = 1)])));
    }
}
