//! `cargo off new NAME`: a recipe crate that builds and passes its own test
//! on the first `cargo test`: a `#[recipe]` of two steps, the template it
//! writes, its `off.yaml`, and a test that runs its binary.

use std::path::{Path, PathBuf};

use off_error::CliError;

/// The files of a new crate: (path inside it, contents with `{{name}}`).
const FILES: &[(&str, &str)] = &[
    ("src/main.rs", include_str!("new_template/main.rs")),
    (
        "templates/greeting.j2",
        include_str!("new_template/greeting.j2"),
    ),
    ("tests/deploy.rs", include_str!("new_template/deploy.rs")),
    (".gitignore", "/target\n"),
];

/// The crate's runtime dependency: from crates.io, or from a checkout.
pub enum Runtime {
    Registry,
    /// The `off-runtime` crate directory of a checkout of off.
    Path(PathBuf),
}

impl Runtime {
    /// `--path P`: a checkout of off (its root) or its `off-runtime` directory.
    pub fn from_path(path: &Path) -> Result<Runtime, CliError> {
        let candidates = [path.join("off-runtime"), path.to_path_buf()];
        for dir in candidates {
            let manifest = dir.join("Cargo.toml");
            if std::fs::read_to_string(&manifest)
                .is_ok_and(|text| text.contains("name = \"off-runtime\""))
            {
                let dir = dir
                    .canonicalize()
                    .map_err(|e| CliError::usage(format!("--path {}: {e}", path.display())))?;
                return Ok(Runtime::Path(dir));
            }
        }
        Err(CliError::usage(format!(
            "--path {}: neither it nor its off-runtime/ is the off-runtime crate",
            path.display()
        )))
    }

    fn dependency(&self) -> String {
        match self {
            Runtime::Registry => format!("\"{}\"", env!("CARGO_PKG_VERSION")),
            Runtime::Path(dir) => {
                format!("{{ path = {} }}", toml_string(&dir.display().to_string()))
            }
        }
    }
}

/// Creates the crate `name` at `dir` (which must not exist yet); returns
/// what to tell the user.
pub fn run(dir: &Path, runtime: &Runtime) -> Result<String, CliError> {
    let name = crate_name(dir)?;
    if dir.exists() {
        return Err(CliError::usage(format!(
            "{} already exists; cargo off new never writes into an existing directory",
            dir.display()
        )));
    }
    let written = write_crate(dir, &name, runtime);
    if let Err(e) = written {
        // Leave nothing half-made behind.
        let _ = std::fs::remove_dir_all(dir);
        return Err(e);
    }
    Ok(format!(
        "Created recipe crate `{name}` in {}.\n\
         Next: cd {} && cargo test && cargo run -- --help",
        dir.display(),
        dir.display()
    ))
}

fn write_crate(dir: &Path, name: &str, runtime: &Runtime) -> Result<(), CliError> {
    let write = |relative: &str, contents: &str| -> Result<(), CliError> {
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| {
                CliError::failed(format!("cannot create {}: {e}", parent.display()))
            })?;
        }
        std::fs::write(&path, contents)
            .map_err(|e| CliError::failed(format!("cannot write {}: {e}", path.display())))
    };
    write(
        "Cargo.toml",
        &format!(
            "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n\
             [dependencies]\noff-runtime = {}\n",
            runtime.dependency()
        ),
    )?;
    for (relative, contents) in FILES {
        write(relative, &contents.replace("{{name}}", name))?;
    }
    // A checkout's lock file pins the versions it is tested with (and lets
    // the first build reuse what the checkout has built).
    if let Runtime::Path(runtime) = runtime
        && let Some(lock) = runtime.parent().map(|root| root.join("Cargo.lock"))
        && lock.is_file()
    {
        std::fs::copy(&lock, dir.join("Cargo.lock"))
            .map_err(|e| CliError::failed(format!("cannot copy {}: {e}", lock.display())))?;
    }
    crate::gen_config::run(&dir.join("Cargo.toml"), false)?;
    Ok(())
}

/// The crate (and binary, and recipe module) name: the directory's last
/// component, which must be a Rust identifier so that it can name the module.
fn crate_name(dir: &Path) -> Result<String, CliError> {
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && syn::parse_str::<syn::Ident>(name).is_ok();
    if !valid {
        return Err(CliError::usage(format!(
            "cargo off new {}: a recipe's name is a lowercase Rust identifier \
             (letters, digits, `_`; not a keyword), e.g. offregister_nginx",
            dir.display()
        )));
    }
    Ok(name.to_string())
}

/// `s` as a TOML basic string.
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_lowercase_identifiers() {
        for good in ["offregister_nginx", "web", "_x1"] {
            assert_eq!(crate_name(Path::new(good)).ok().as_deref(), Some(good));
        }
        for bad in ["Nginx", "my-recipe", "1st", "fn", "", "a b", "café"] {
            let e = crate_name(Path::new(bad)).unwrap_err();
            assert_eq!(e.exit_code, 2, "{bad}");
            assert!(
                e.errors[0].contains("lowercase Rust identifier"),
                "{bad}: {e:?}"
            );
        }
    }

    #[test]
    fn an_existing_directory_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let existing = dir.path().join("web");
        std::fs::create_dir(&existing).unwrap();
        std::fs::write(existing.join("keep"), "mine").unwrap();
        let e = run(&existing, &Runtime::Registry).unwrap_err();
        assert_eq!(e.exit_code, 2);
        assert!(e.errors[0].contains("already exists"), "{e:?}");
        assert_eq!(
            std::fs::read_to_string(existing.join("keep")).unwrap(),
            "mine"
        );
    }

    #[test]
    fn writes_a_crate_with_its_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let krate = dir.path().join("offregister_web");
        run(&krate, &Runtime::Registry).unwrap();
        let toml = std::fs::read_to_string(krate.join("Cargo.toml")).unwrap();
        assert!(toml.contains("name = \"offregister_web\""), "{toml}");
        assert!(
            toml.contains(&format!("off-runtime = \"{}\"", env!("CARGO_PKG_VERSION"))),
            "{toml}"
        );
        let main = std::fs::read_to_string(krate.join("src/main.rs")).unwrap();
        assert!(main.contains("mod offregister_web {"), "{main}");
        assert!(!main.contains("{{name}}"), "{main}");
        let manifest = std::fs::read_to_string(krate.join("off.yaml")).unwrap();
        assert!(manifest.contains("who"), "{manifest}");
    }
}
