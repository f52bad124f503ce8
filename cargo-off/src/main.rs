//! `cargo off`: tooling for off recipe crates, working from their source
//! (the same analysis the `#[recipe]` macro does; nothing is built).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(name = "cargo", bin_name = "cargo")]
enum Cargo {
    /// Tooling for off recipe crates.
    #[command(subcommand)]
    Off(OffCommand),
}

#[derive(clap::Subcommand)]
enum OffCommand {
    /// Show each recipe's steps, keyword arguments and planned operations.
    Plan {
        /// Path to the recipe crate's Cargo.toml.
        #[arg(long, default_value = "Cargo.toml")]
        manifest_path: PathBuf,
    },
}

fn main() -> ExitCode {
    let Cargo::Off(command) = Cargo::parse();
    let result = match command {
        OffCommand::Plan { manifest_path } => plan(&manifest_path),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

fn plan(manifest: &std::path::Path) -> Result<(), String> {
    let dir = manifest
        .parent()
        .map(|p| {
            if p.as_os_str().is_empty() {
                std::path::Path::new(".")
            } else {
                p
            }
        })
        .ok_or_else(|| format!("{}: not a path to a Cargo.toml", manifest.display()))?;
    if !manifest.is_file() {
        return Err(format!("{}: no such manifest", manifest.display()));
    }
    let mut found = 0;
    for source in rust_files(&dir.join("src")) {
        let text =
            std::fs::read_to_string(&source).map_err(|e| format!("{}: {e}", source.display()))?;
        let recipes = off_analysis::parse_recipe_file(&text)
            .map_err(|e| format!("{}: {e}", source.display()))?;
        for recipe in recipes {
            found += 1;
            println!("recipe {} ({})", recipe.name, source.display());
            for step in &recipe.steps {
                println!("  step {}: {}", step.name, step.plan);
            }
            for kwarg in recipe.kwargs() {
                let p = &kwarg.param;
                let ty = quote::ToTokens::to_token_stream(&p.ty)
                    .to_string()
                    .replace(' ', "");
                println!("  --{} <{ty}>  {}", p.name.replace('_', "-"), p.docs);
            }
            println!("  total: {}", recipe.plan);
        }
    }
    if found == 0 {
        return Err(format!("no #[recipe] in {}", dir.join("src").display()));
    }
    Ok(())
}

fn rust_files(dir: &std::path::Path) -> Vec<PathBuf> {
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
