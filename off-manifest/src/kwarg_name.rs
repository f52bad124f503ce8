//! How a recipe's keyword argument is spelt outside Rust. One rule, because
//! the recipe binary's flags, its environment variables, its config file
//! keys, the macro's errors, `cargo off` and the manifest's messages must
//! all name the same kwarg the same way.

/// The long flag without its dashes: `listen_addresses` → `listen-addresses`.
pub fn long(kwarg: &str) -> String {
    kwarg.replace('_', "-")
}

/// The flag as a user types it: `listen_addresses` → `--listen-addresses`.
pub fn flag(kwarg: &str) -> String {
    format!("--{}", long(kwarg))
}

/// The environment variable read when the recipe gives none:
/// `listen_addresses` → `OFF_LISTEN_ADDRESSES`.
pub fn default_env_var(kwarg: &str) -> String {
    format!("OFF_{}", kwarg.to_uppercase())
}

/// The kwarg a long flag or config key names, in either spelling:
/// `listen-addresses` and `listen_addresses` → `listen_addresses`.
pub fn from_long(long: &str) -> String {
    long.replace('-', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kwarg_is_a_dashed_flag_and_an_upper_case_off_variable() {
        assert_eq!(long("listen_addresses"), "listen-addresses");
        assert_eq!(flag("listen_addresses"), "--listen-addresses");
        assert_eq!(flag("root"), "--root");
        assert_eq!(default_env_var("listen_addresses"), "OFF_LISTEN_ADDRESSES");
        assert_eq!(default_env_var("version"), "OFF_VERSION");
    }

    #[test]
    fn either_spelling_of_a_flag_names_the_kwarg() {
        assert_eq!(from_long("listen-addresses"), "listen_addresses");
        assert_eq!(from_long("listen_addresses"), "listen_addresses");
        assert_eq!(from_long(&long("a_b_c")), "a_b_c");
    }
}
