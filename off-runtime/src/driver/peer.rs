//! `--serve HOST:PORT` on a recipe binary: the phases of peer mode (DESIGN §7) with the recipe
//! itself as the command, run on this node. The recipe declares how the cluster's membership
//! maps onto its own kwargs (`#[recipe(peers = f)]`, a [`PeerMapping`]); the mapped values are
//! given as if they were flags, so the recipe's own parser and `validate` check them.
//!
//! Every input is checked before anything binds: the peer flags, and the kwargs as this node
//! would run them both as the master and as a slave (it does not know yet which it will be).

use off_discovery::{Member, Membership, PeerPlan, Phase, Role, run_in_order};

use super::{ArgErrors, ParseKwargs, Prepared, RawArgs, RecipeSpec, cli};
use crate::Secret;
use crate::error::CliError;

/// The kwargs a recipe sets from the membership, each as if given as a flag
/// (`--role primary`): [`PeerKwargs::set`] for a value, [`PeerKwargs::flag`] for a bool.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerKwargs(Vec<(&'static str, Vec<String>)>);

impl PeerKwargs {
    pub fn new() -> PeerKwargs {
        PeerKwargs::default()
    }

    /// Kwarg `name` (the parameter's name, `primary_host`) takes `value`.
    pub fn set(mut self, name: &'static str, value: impl ToString) -> PeerKwargs {
        self.0.push((name, vec![value.to_string()]));
        self
    }

    /// Bool kwarg `name` is on.
    pub fn flag(mut self, name: &'static str) -> PeerKwargs {
        self.0.push((name, Vec::new()));
        self
    }

    /// The names set, in order.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.0.iter().map(|(name, _)| *name)
    }
}

/// How membership maps onto a recipe's kwargs: `#[recipe(peers = f)]` with
/// `fn f(cluster: &Membership) -> PeerKwargs`.
pub type PeerMapping = fn(&Membership) -> PeerKwargs;

/// What `prepare` checked for `--serve`.
pub(crate) struct Serving {
    pub plan: PeerPlan,
}

/// A list this node could end up in, as master or as slave, to check its kwargs before it
/// binds: the other member stands at this node's own address (a host every check accepts).
fn hypothetical(plan: &PeerPlan, master: bool) -> Membership {
    let member = |index: usize, role: Role| Member {
        id: format!("member{index}"),
        host: plan.serve.host.clone(),
        port: plan.serve.port,
        role,
        index,
    };
    Membership {
        members: vec![member(0, Role::Master), member(1, Role::Slave)],
        me: if master { 0 } else { 1 },
        master: 0,
    }
}

/// `raw` with the mapping's values for `membership` given as flags.
pub(crate) fn mapped(spec: &RecipeSpec, raw: &RawArgs, membership: &Membership) -> RawArgs {
    match spec.peers {
        None => raw.clone(),
        Some(mapping) => raw.with_flags(
            mapping(membership)
                .0
                .into_iter()
                .map(|(name, values)| (name.to_string(), values)),
        ),
    }
}

/// Checks `--serve` and the peer flags, and the kwargs this node would run with as master and
/// as slave. Records errors; `None` when something is wrong.
pub(crate) fn prepare(
    spec: &'static RecipeSpec,
    options: &cli::Options,
    raw: Option<&RawArgs>,
    parse: ParseKwargs,
    env: &dyn Fn(&str) -> Option<String>,
    errors: &mut ArgErrors,
) -> Option<Serving> {
    let serve = options.peer.serve_addr()?;
    for (given, flag) in [
        (options.hosts.is_some(), "-H"),
        (options.inventory.is_some(), "--inventory"),
        (options.check.is_some(), "--check"),
        (options.diff, "--diff"),
        (options.resume, "--resume"),
    ] {
        if given {
            errors.push(format!(
                "--serve runs the recipe on this node as a member of a cluster; it does not take {flag}"
            ));
        }
    }
    let serve = errors.take(serve.map_err(super::ArgError))?;
    let plan = match options.peer.plan(serve, env) {
        Ok(plan) => plan,
        Err(e) => {
            for line in e {
                errors.push(line);
            }
            return None;
        }
    };
    if let Some(mapping) = spec.peers {
        let probe = hypothetical(&plan, true);
        for name in mapping(&probe).names() {
            if spec.param(name).is_none() {
                errors.push(format!(
                    "the recipe's peers mapping sets `{name}`, which is not one of its kwargs"
                ));
            } else if options.flags.iter().any(|(n, _)| n == name) {
                errors.push(format!(
                    "{} is set from the cluster's membership under --serve; leave it out",
                    off_manifest::kwarg_name::flag(name)
                ));
            }
        }
    }
    let raw = raw?;
    // The same mistake would show in both roles: each message once.
    let mut seen: Vec<String> = Vec::new();
    let roles: &[bool] = match plan.role {
        Role::Master => &[true],
        Role::Slave => &[false],
        Role::Auto => &[true, false],
    };
    for &master in roles {
        if let Err(e) = parse(&mapped(spec, raw, &hypothetical(&plan, master))) {
            for error in e.0 {
                if !seen.contains(&error.0) {
                    seen.push(error.0.clone());
                    errors.push(error.0);
                }
            }
        }
    }
    Some(Serving { plan })
}

/// `--dry-run --serve`: the phases, what the membership sets, and the recipe's plan; binds
/// nothing.
pub(crate) fn dry_run(spec: &'static RecipeSpec, prepared: &Prepared, serving: &Serving) {
    super::stdout_line(&format!(
        "{} --dry-run --serve: binds, registers and runs nothing.",
        spec.name
    ));
    for line in serving.plan.phases() {
        super::stdout_line(&line);
    }
    if let Some(mapping) = spec.peers {
        for (master, who) in [(true, "the master"), (false, "each other member")] {
            let set = mapping(&hypothetical(&serving.plan, master));
            let flags: Vec<String> = set
                .0
                .iter()
                .map(|(name, values)| {
                    let flag = off_manifest::kwarg_name::flag(name);
                    match values.as_slice() {
                        [] => flag,
                        values => format!("{flag} {}", values.join(" ")),
                    }
                })
                .collect();
            super::stdout_line(&format!("   {who} runs with {}", flags.join(" ")));
        }
    }
    let names: Vec<&str> = prepared
        .selected
        .iter()
        .map(|&i| spec.steps[i].name)
        .collect();
    super::stdout_line(&format!(
        "the recipe on this node: steps {}; planned {}",
        names.join(", "),
        cli::plan_text(&spec.plan(&prepared.selected))
    ));
}

/// Runs the phases with the recipe (on this node, with the mapped kwargs) as the command.
pub(crate) fn serve(
    spec: &'static RecipeSpec,
    prepared: Prepared,
    serving: Serving,
    parse: ParseKwargs,
    sudo_password: Option<Secret>,
) -> Result<u8, CliError> {
    let plan = serving.plan;
    let coordinator = plan.coordinator()?;
    let raw = prepared
        .raw
        .clone()
        .expect("checked inputs have raw kwargs");
    let mut run = Some((prepared, sudo_password));
    let code = run_in_order(
        coordinator.as_ref(),
        &plan.me(),
        plan.order,
        plan.timeout,
        &mut |membership| {
            let (mut prepared, sudo_password) = run.take().expect("the command runs once");
            let raw = mapped(spec, &raw, membership);
            match parse(&raw) {
                Ok(kwargs) => prepared.kwargs = Some(kwargs),
                // Checked for both roles before binding; a mapping that reads more than the
                // role (the master's host) can still end here.
                Err(e) => {
                    let e = CliError::from(e);
                    for line in &e.errors {
                        eprintln!("error: {line}");
                    }
                    return e.exit_code;
                }
            }
            prepared.raw = Some(raw);
            super::run(spec, prepared, sudo_password)
        },
        &|phase: &Phase| eprintln!("{}: {}", spec.name, phase.describe()),
    )?;
    Ok(code)
}
