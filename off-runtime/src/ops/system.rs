//! `package` and `service`: the same call on apt or dnf hosts, with or
//! without systemd (test hosts and containers have none).

use crate::connection::PackageManager;
use crate::error::{Error, Result};
use crate::output::Output;
use crate::service_action::ServiceAction;
use crate::shell::quote;

use super::{RunAs, Scope, operation};

/// Installs packages that are not installed yet (with apt-get or dnf, as
/// root); unchanged when all are there. `name=version` pins a version on apt.
pub fn package<I, S>(names: I) -> Result<Output>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let names: Vec<String> = names.into_iter().map(|n| n.as_ref().to_string()).collect();
    let display = names.join(" ");
    operation("package", &display, |scope| {
        if names.is_empty() {
            return Err(invalid(scope, "package", "no package names given".into()));
        }
        if let Some(bad) = names.iter().find(|n| !is_package_name(n)) {
            return Err(invalid(
                scope,
                "package",
                format!("`{bad}` is not a valid package name"),
            ));
        }
        let manager = scope.conn.facts.package_manager.ok_or_else(|| {
            invalid(
                scope,
                "package",
                "the host has neither apt-get nor dnf".into(),
            )
        })?;
        if let Some(dry_run) = &scope.shared.dry_run {
            dry_run.packages(&scope.conn.target, &names);
            if !dry_run.reads_hosts() {
                return Ok((Output::default(), true));
            }
        }
        let query = |name: &str| match manager {
            PackageManager::Apt => format!(
                "dpkg-query -W -f='${{Status}}' {} 2>/dev/null | grep -q 'ok installed'",
                quote(name.split('=').next().unwrap_or(name))
            ),
            PackageManager::Dnf => format!("rpm -q {} >/dev/null 2>&1", quote(name)),
        };
        let probe: String = names
            .iter()
            .map(|n| format!("{} || echo {};", query(n), quote(n)))
            .collect();
        let missing = scope.read("package", &display, &probe, RunAs::Login)?;
        let missing: Vec<&str> = missing.stdout.split_whitespace().collect();
        if missing.is_empty() {
            return Ok((Output::default(), false));
        }
        let list: Vec<_> = missing.iter().map(|n| quote(n).into_owned()).collect();
        let install = match manager {
            PackageManager::Apt => format!(
                "export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -q {}",
                list.join(" ")
            ),
            PackageManager::Dnf => format!("dnf install -y -q {}", list.join(" ")),
        };
        if let Some(dry_run) = &scope.shared.dry_run {
            dry_run.command(&scope.conn.target, "package", &install);
            return Ok((Output::default(), true));
        }
        Ok((root_command(scope, "package", &install)?, true))
    })
}

/// Starts, stops, restarts, reloads, enables or disables a service, through
/// systemctl where systemd runs, else `service` (or `/etc/init.d/<name>`)
/// and `update-rc.d`.
pub fn service(name: impl AsRef<str>, action: ServiceAction) -> Result<Output> {
    let name = name.as_ref();
    let display = format!("{name} {}", action.verb());
    operation("service", &display, |scope| {
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"@._:-".contains(&b))
        {
            return Err(invalid(
                scope,
                "service",
                format!("`{name}` is not a valid service name"),
            ));
        }
        if let Some(dry_run) = &scope.shared.dry_run {
            dry_run.service(&scope.conn.target, name, action);
            if !dry_run.reads_hosts() {
                return Ok((Output::default(), true));
            }
        }
        let facts = &scope.conn.facts;
        let n = quote(name);
        // (test whether the service already is in the asked state, command)
        let (state_test, command) = if facts.systemd {
            let state = match action {
                ServiceAction::Start => Some(format!("systemctl is-active --quiet {n}")),
                ServiceAction::Stop => Some(format!("! systemctl is-active --quiet {n}")),
                ServiceAction::Enable => Some(format!("systemctl is-enabled --quiet {n}")),
                ServiceAction::Disable => Some(format!("! systemctl is-enabled --quiet {n}")),
                _ => None,
            };
            (state, format!("systemctl {} {n}", action.verb()))
        } else {
            let ctl = if facts.has_service {
                format!("service {n}")
            } else {
                format!("/etc/init.d/{n}")
            };
            let enabled = format!("ls /etc/rc[2345].d/S*{n} >/dev/null 2>&1");
            match action {
                ServiceAction::Start => (
                    Some(format!("{ctl} status >/dev/null 2>&1")),
                    format!("{ctl} start"),
                ),
                ServiceAction::Stop => (
                    Some(format!("! {ctl} status >/dev/null 2>&1")),
                    format!("{ctl} stop"),
                ),
                ServiceAction::Restart | ServiceAction::Reload => {
                    (None, format!("{ctl} {}", action.verb()))
                }
                ServiceAction::Enable => (
                    Some(enabled),
                    format!("update-rc.d {n} defaults && update-rc.d {n} enable"),
                ),
                ServiceAction::Disable => (
                    Some(format!("! {enabled}")),
                    format!("update-rc.d {n} disable"),
                ),
            }
        };
        if let Some(test) = state_test {
            let out = scope.exec(super::Command::read(
                "service",
                &display,
                &test,
                RunAs::Sudo("root"),
            ))?;
            if out.code == 0 {
                return Ok((Output::default(), false));
            }
        }
        if let Some(dry_run) = &scope.shared.dry_run {
            dry_run.command(&scope.conn.target, "service", &command);
            return Ok((Output::default(), true));
        }
        Ok((root_command(scope, "service", &command)?, true))
    })
}

/// Runs `command` as root with its output echoed (the install or restart
/// the user should see happen); a non-zero exit is an error.
fn root_command(scope: &Scope, op: &'static str, command: &str) -> Result<Output> {
    let out = scope.exec(super::Command {
        echo: true,
        ..super::Command::plumbing(op, command, command, RunAs::Sudo("root"))
    })?;
    if out.code != 0 {
        return Err(scope.command_failed(op, command, &out));
    }
    Ok(out)
}

fn invalid(scope: &Scope, op: &'static str, reason: String) -> Error {
    Error::Invalid {
        host: scope.host().to_string(),
        op,
        reason,
    }
}

/// A package name by the rule every input shares, with an optional
/// `=version` to pin.
fn is_package_name(name: &str) -> bool {
    match name.split_once('=') {
        Some((base, version)) => {
            off_input::is_package_name(base) && off_input::is_package_version(version)
        }
        None => off_input::is_package_name(name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The name's own rule is tested in off-input; here, the `=version` pin.
    #[test]
    fn package_names_with_a_pinned_version() {
        assert!(is_package_name("postgresql-15"));
        assert!(is_package_name("postgresql-15=15.8-0+deb12u1"));
        assert!(!is_package_name("a="));
        assert!(!is_package_name("=1.0"));
        assert!(!is_package_name("-oAPT::x=1"));
        assert!(!is_package_name("a=1;rm"));
    }
}
