//! `cargo off`: tooling for off recipe crates, working from their source
//! (the same analysis the `#[recipe]` macro does; nothing is built).
//!
//! Exit codes: 0 success, 2 for `new` into an existing directory or with a
//! name that is not a lowercase identifier; 1 `gen-config --check` found `off.yaml` stale or
//! missing, 2 usage or input error (bad manifest path, no recipe, malformed
//! `off.yaml`).

mod block;
mod completions;
mod gen_config;
mod new;
mod recipe_crate;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use off_cli::SelfDescriptionFlags;
use off_error::CliError;
use off_manifest::kwarg_name;

use crate::recipe_crate::RecipeCrate;

#[derive(Parser)]
#[command(name = "cargo", bin_name = "cargo")]
enum Cargo {
    /// Tooling for off recipe crates.
    Off(Off),
}

// `cargo off`: a subcommand, or --completions / --man. (A `//` comment: a
// derived `Args`' doc comment would replace the variant's about.)
#[derive(clap::Args)]
#[command(
    version,
    arg_required_else_help = true,
    args_conflicts_with_subcommands = true
)]
struct Off {
    #[command(subcommand)]
    command: Option<OffCommand>,
    #[command(flatten)]
    describe: SelfDescriptionFlags,
}

#[derive(clap::Subcommand)]
enum OffCommand {
    /// Create a recipe crate NAME: a #[recipe] of two steps, its template,
    /// its off.yaml and a test, ready for `cargo test` and `cargo run -- --help`.
    New {
        /// The crate's directory; its last component is the crate, binary
        /// and recipe name (a lowercase Rust identifier, e.g. offregister_nginx).
        name: PathBuf,
        /// Depend on the off-runtime of this checkout of off (its root or its
        /// off-runtime/ directory) instead of the published crate.
        #[arg(long, value_name = "DIR")]
        path: Option<PathBuf>,
    },
    /// Show each recipe's steps, keyword arguments and planned operations.
    Plan {
        /// Path to the recipe crate's Cargo.toml.
        #[arg(long, default_value = "Cargo.toml")]
        manifest_path: PathBuf,
    },
    /// Write off.yaml beside Cargo.toml: the recipe's keyword arguments and
    /// the check spec derived from its source (only the generated block is
    /// rewritten; `overrides:` and everything else outside it are kept).
    GenConfig {
        /// Path to the recipe crate's Cargo.toml.
        #[arg(long, default_value = "Cargo.toml")]
        manifest_path: PathBuf,
        /// Write nothing; exit 1 when off.yaml is missing or its generated
        /// block differs from what would be generated now (for CI).
        #[arg(long)]
        check: bool,
    },
}

fn main() -> ExitCode {
    let Cargo::Off(off) = Cargo::parse();
    let result = match off.command {
        None => completions::describe(&off.describe),
        Some(OffCommand::New { name, path }) => path
            .as_deref()
            .map_or(Ok(new::Runtime::Registry), new::Runtime::from_path)
            .and_then(|runtime| new::run(&name, &runtime))
            .map(|message| println!("{message}")),
        Some(OffCommand::Plan { manifest_path }) => plan(&manifest_path),
        Some(OffCommand::GenConfig {
            manifest_path,
            check,
        }) => gen_config::run(&manifest_path, check).map(|message| println!("{message}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => error.report(),
    }
}

fn plan(manifest: &Path) -> Result<(), CliError> {
    let krate = RecipeCrate::load(manifest)?;
    for (recipe, source) in &krate.recipes {
        println!(
            "recipe {} ({})",
            recipe.name,
            krate.dir.join(source).display()
        );
        for step in &recipe.steps {
            println!("  step {}: {}", step.name, step.plan);
        }
        for kwarg in recipe.kwargs() {
            let p = &kwarg.param;
            let ty = quote::ToTokens::to_token_stream(&p.ty)
                .to_string()
                .replace(' ', "");
            println!("  {} <{ty}>  {}", kwarg_name::flag(&p.name), p.docs);
        }
        println!("  total: {}", recipe.plan);
    }
    Ok(())
}
