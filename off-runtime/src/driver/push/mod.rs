//! `--push`: the recipe binary runs on each host itself.
//!
//! Without it, every operation is one round trip over the host's persistent
//! shell. With it, the control machine copies this very binary into the
//! login user's cache on the host ([`binary`]; once per build, named by its
//! sha256), starts it over the host's SSH connection and hands it the run
//! on its standard input ([`wire`]); the copy runs the steps there with the
//! local transport ([`child`]) and reports each operation back, and the
//! control machine replays the reports into its own progress, echo, events
//! and summary ([`control`]). An operation then costs a fork on the host,
//! and the network carries the binary once and the reports back.
//!
//! What stays on the control machine: the inputs (read, checked, sent),
//! `--resume`'s record (each completed step is reported), and anything an
//! operation would need from it, which a pushed run refuses
//! ([`crate::Error::ControlMachine`]): before anything runs, a dry run with
//! the same kwargs finds such operations (see [`refusals`]).

mod binary;
mod child;
mod control;
mod wire;

use std::collections::HashMap;
use std::sync::Arc;

pub(crate) use child::serve;
pub(crate) use control::PushedRun;

use super::{Prepared, RecipeSpec, run_steps_by};
use crate::dry_run::DryRun;
use crate::executor::Executor;
use crate::report::Console;

/// Why `--push` cannot run these targets, if it cannot: it needs SSH hosts.
pub(crate) fn target_error(targets: &[crate::Target]) -> Option<String> {
    if targets.is_empty() {
        return Some(
            "--push needs hosts (-H or --inventory): on this machine the recipe runs where its operations do already"
                .to_string(),
        );
    }
    targets
        .iter()
        .any(|t| matches!(t, crate::Target::Local))
        .then(|| {
            "--push: `local` is this machine, where the recipe runs without --push".to_string()
        })
}

/// The operations of the recipe, with these kwargs, that a pushed run
/// would refuse because they need the control machine, by host: found by a
/// dry run in which they fail as they would on the host (and which records
/// no step for `--resume`).
pub(crate) fn refusals(spec: &'static RecipeSpec, prepared: &Prepared) -> HashMap<String, String> {
    let report = Executor::new(prepared.targets.clone())
        .observer(Arc::new(Console::new(false)))
        .dry_run(DryRun::new())
        .pushed(true)
        .run(|| run_steps_by(spec, prepared, None, false, &|_, _| {}));
    report
        .hosts
        .into_iter()
        .filter_map(|host| match host.result {
            Err(e @ crate::Error::ControlMachine { .. }) => Some((host.label, e.to_string())),
            _ => None,
        })
        .collect()
}
