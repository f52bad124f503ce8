//! `cargo off gen-config`: writes (or checks) `off.yaml` beside a recipe
//! crate's `Cargo.toml`. Only the generated block is rewritten; every byte
//! outside it, the user's overrides and comments included, stays as it was.
//! The file format and merge rules are those of `off_manifest`.

use std::path::Path;

use off_error::CliError;
use off_manifest::{BLOCK_END, BLOCK_START, BlockLocation, Manifest};

use crate::block;
use crate::recipe_crate::RecipeCrate;

/// The manifest's file name.
pub const FILE_NAME: &str = "off.yaml";

/// What a fresh file starts with, before the block.
const HEADER: &str = "\
# The recipe's manifest: its keyword arguments and the check spec derived
# from its source, read by `offcheck -c off.yaml` and the recipe's `--check`.
# `cargo off gen-config` rewrites the block between the two marker lines on
# every run; edit `overrides:` below instead, which is merged over the block
# key by key and kept as it is, like everything else outside the block.
";

/// What a fresh file ends with, after the block.
const FRESH_OVERRIDES: &str = "
overrides: {}
# For example:
# overrides:
#   kwargs:
#   - name: root              # kwargs are matched by name,
#     default: /srv/web
#   check:
#     config:
#     - path: \"{root}/conf/motd\"  # files by path,
#       mode: \"0644\"
#     service:
#     - nginx: running        # services by name, packages by value;
#     package: [curl]         # unmatched items are added (with a warning)
";

/// Writes `off.yaml`, or with `check` only compares it; returns a message for stdout.
pub fn run(manifest_path: &Path, check: bool) -> Result<String, CliError> {
    let krate = RecipeCrate::load(manifest_path)?;
    let [(recipe, source)] = krate.recipes.as_slice() else {
        let names: Vec<&str> = krate.recipes.iter().map(|(r, _)| r.name.as_str()).collect();
        return Err(CliError::usage(format!(
            "{}: gen-config needs exactly one #[recipe] per crate, found {}: {}",
            krate.dir.join("src").display(),
            names.len(),
            names.join(", ")
        )));
    };
    let body = block::render(recipe, source);
    let path = krate.dir.join(FILE_NAME);
    let origin = path.display().to_string();

    let existing = match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(CliError::usage(format!("{origin}: {e}"))),
    };
    let Some(existing) = existing else {
        if check {
            return Err(CliError::failed(format!(
                "{origin}: missing; run `cargo off gen-config` and commit it"
            )));
        }
        let text = format!("{HEADER}{BLOCK_START}\n{body}{BLOCK_END}\n{FRESH_OVERRIDES}");
        parse(&text, &origin)?;
        write(&path, &text)?;
        return Ok(format!("wrote {origin}"));
    };

    // A malformed file is reported with the lines the user sees in it.
    let block = BlockLocation::find(&existing, &origin).map_err(usage)?;
    let current = Manifest::parse(&existing, &origin).map_err(usage)?;
    if check {
        print_warnings(&current);
        return if existing[block.body.clone()] == body {
            Ok(format!("{origin} is up to date"))
        } else {
            Err(CliError::failed(format!(
                "{origin}: the generated block is stale; run `cargo off gen-config` and commit it"
            )))
        };
    }
    let text = format!(
        "{}{BLOCK_START}\n{body}{BLOCK_END}\n{}",
        &existing[..block.start],
        &existing[block.end..]
    );
    parse(&text, &origin)?;
    if text == existing {
        return Ok(format!("{origin} is up to date"));
    }
    write(&path, &text)?;
    Ok(format!("updated {origin}"))
}

/// Parses the manifest and prints its warnings (overrides that match nothing).
fn parse(text: &str, origin: &str) -> Result<(), CliError> {
    let manifest = Manifest::parse(text, origin).map_err(usage)?;
    print_warnings(&manifest);
    Ok(())
}

fn print_warnings(manifest: &Manifest) {
    for warning in manifest.warnings() {
        eprintln!("warning: {warning}");
    }
}

fn usage(error: off_manifest::ManifestError) -> CliError {
    CliError::usage(error.to_string())
}

fn write(path: &Path, text: &str) -> Result<(), CliError> {
    std::fs::write(path, text).map_err(|e| CliError::usage(format!("{}: {e}", path.display())))
}
