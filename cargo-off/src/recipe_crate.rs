//! Finding a recipe crate and its recipes from a `--manifest-path`.

use std::path::{Path, PathBuf};

use off_analysis::Recipe;
use off_error::CliError;

/// A recipe crate: its directory and the recipes found in its `src/`.
pub struct RecipeCrate {
    /// The directory of `Cargo.toml` (`.` for a bare `Cargo.toml`).
    pub dir: PathBuf,
    /// Each recipe with its source file, relative to `dir`.
    pub recipes: Vec<(Recipe, PathBuf)>,
}

impl RecipeCrate {
    /// Analyses every `.rs` file under the `src/` beside `manifest`; nothing is built.
    pub fn load(manifest: &Path) -> Result<RecipeCrate, CliError> {
        if manifest.file_name().is_none_or(|name| name != "Cargo.toml") {
            return Err(CliError::usage(format!(
                "{}: --manifest-path must name a Cargo.toml",
                manifest.display()
            )));
        }
        if !manifest.is_file() {
            return Err(CliError::usage(format!(
                "{}: no such manifest",
                manifest.display()
            )));
        }
        let dir = match manifest.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let mut recipes = Vec::new();
        for source in rust_files(&dir.join("src")) {
            let text = std::fs::read_to_string(&source)
                .map_err(|e| CliError::usage(format!("{}: {e}", source.display())))?;
            let found = off_analysis::parse_recipe_file(&text)
                .map_err(|e| CliError::usage(format!("{}: {e}", source.display())))?;
            let relative = source.strip_prefix(&dir).unwrap_or(&source).to_path_buf();
            recipes.extend(found.into_iter().map(|recipe| (recipe, relative.clone())));
        }
        if recipes.is_empty() {
            return Err(CliError::usage(format!(
                "no #[recipe] in {}",
                dir.join("src").display()
            )));
        }
        Ok(RecipeCrate { dir, recipes })
    }
}

/// The `.rs` files under `dir`, recursively, in a stable order.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}
