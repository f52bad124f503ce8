//! Package names, as `install_packages` and a check spec's `package` take
//! them: Debian's and RPM's rule, which also keeps a name from being read
//! as an option of the package manager.

/// A Debian or RPM package name: a letter or digit first, then letters,
/// digits and `+-._:`.
pub fn is_package_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-._:".contains(&b))
}

/// A package version to pin (`name=version`): letters, digits and `+-.~:`.
pub fn is_package_version(version: &str) -> bool {
    !version.is_empty()
        && version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.~:".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_names() {
        assert!(is_package_name("postgresql-15"));
        assert!(is_package_name("libstdc++6"));
        assert!(is_package_name("python3.11"));
        assert!(!is_package_name(""));
        assert!(!is_package_name("-oAPT::x"));
        assert!(!is_package_name(".hidden"));
        assert!(!is_package_name("a; rm -rf /"));
        assert!(!is_package_name("a b"));
        assert!(!is_package_name("a=1"));
    }

    #[test]
    fn package_versions() {
        assert!(is_package_version("15.8-0+deb12u1"));
        assert!(is_package_version("1:2.3~rc1"));
        assert!(!is_package_version(""));
        assert!(!is_package_version("1 2"));
        assert!(!is_package_version("1;x"));
    }
}
