//! An open target: its transport plus the facts about it that operations need.

use std::sync::{Arc, OnceLock};

use off_error::Error;

use crate::target::Target;
use crate::{ExecRequest, LocalTransport, SshOptions, SshTransport, Transport, TransportError};

/// What off learns about a host when it connects, in one round trip, so that
/// `sudo`, `package`, `service` and timeouts pick the right tool without
/// probing again for every operation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostFacts {
    pub uid: u32,
    pub user: String,
    pub has_sudo: bool,
    /// coreutils `timeout`, used to kill a timed-out command's process group.
    pub has_timeout: bool,
    pub systemd: bool,
    pub has_service: bool,
    pub package_manager: Option<PackageManager>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackageManager {
    Apt,
    Dnf,
}

/// The probe printing one `key=value` line per fact.
const PROBE: &str = "printf 'uid=%s\\nuser=%s\\n' \"$(id -u)\" \"$(id -un)\"; \
command -v sudo >/dev/null 2>&1 && echo sudo=1; \
command -v timeout >/dev/null 2>&1 && echo timeout=1; \
[ -d /run/systemd/system ] && echo systemd=1; \
command -v service >/dev/null 2>&1 && echo service=1; \
if command -v apt-get >/dev/null 2>&1; then echo pm=apt; elif command -v dnf >/dev/null 2>&1; then echo pm=dnf; fi; \
true";

impl HostFacts {
    fn parse(probe_output: &str) -> Option<HostFacts> {
        let mut facts = HostFacts::default();
        let mut saw_uid = false;
        for line in probe_output.lines() {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            match key {
                "uid" => {
                    facts.uid = value.parse().ok()?;
                    saw_uid = true;
                }
                "user" => facts.user = value.to_string(),
                "sudo" => facts.has_sudo = true,
                "timeout" => facts.has_timeout = true,
                "systemd" => facts.systemd = true,
                "service" => facts.has_service = true,
                "pm" if value == "apt" => facts.package_manager = Some(PackageManager::Apt),
                "pm" if value == "dnf" => facts.package_manager = Some(PackageManager::Dnf),
                _ => {}
            }
        }
        saw_uid.then_some(facts)
    }
}

/// One target, connected and probed.
pub struct Connection {
    pub target: Target,
    /// `user@host` as output lines and errors show it.
    pub label: String,
    pub facts: HostFacts,
    pub transport: Box<dyn Transport>,
}

impl Connection {
    /// Connects to `target` and probes it. Errors are reported as the host
    /// being unreachable (exit code 3) or its host key having changed.
    pub fn open(target: &Target, ssh: &SshOptions) -> Result<Arc<Connection>, Error> {
        let transport: Box<dyn Transport> = match target {
            Target::Local => Box::new(LocalTransport::default()),
            Target::Ssh(ssh_target) => {
                Box::new(SshTransport::connect(ssh_target, ssh).map_err(|e| {
                    let host = target.to_string();
                    match e {
                        TransportError::HostKey(reason) => Error::HostKey { host, reason },
                        TransportError::UnknownHostKey(reason) => {
                            Error::UnknownHostKey { host, reason }
                        }
                        other => Error::Unreachable {
                            host,
                            reason: other.to_string(),
                        },
                    }
                })?)
            }
        };
        Self::probe(target.clone(), transport)
    }

    /// The control machine, probed once per process.
    pub fn control_machine() -> Arc<Connection> {
        static CONTROL: OnceLock<Arc<Connection>> = OnceLock::new();
        CONTROL
            .get_or_init(|| {
                Self::probe(Target::Local, Box::new(LocalTransport::default()))
                    .expect("cannot run /bin/sh on the control machine")
            })
            .clone()
    }

    fn probe(target: Target, transport: Box<dyn Transport>) -> Result<Arc<Connection>, Error> {
        let unreachable = |reason: String| Error::Unreachable {
            host: target.to_string(),
            reason,
        };
        let output = transport
            .exec(ExecRequest {
                command: PROBE,
                stdin: None,
                deadline: Some(std::time::Duration::from_secs(30)),
                on_output: &mut |_, _| {},
                keep_stdout: true,
            })
            .map_err(|e| unreachable(format!("probing the host failed: {e}")))?;
        let text = String::from_utf8_lossy(&output.stdout);
        let facts = HostFacts::parse(&text).ok_or_else(|| {
            unreachable(format!(
                "probing the host gave no answer (is /bin/sh a POSIX shell there?): {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        })?;
        let label = label(&target, &facts.user);
        Ok(Arc::new(Connection {
            target,
            label,
            facts,
            transport,
        }))
    }
}

/// `user@host` as output lines and errors show a target whose login user is
/// `user` (`local` for the control machine).
pub fn label(target: &Target, user: &str) -> String {
    match target {
        Target::Local => "local".to_string(),
        Target::Ssh(t) if t.user.is_some() => t.to_string(),
        Target::Ssh(t) => format!("{user}@{t}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_probe_output() {
        let facts =
            HostFacts::parse("uid=0\nuser=root\nsudo=1\ntimeout=1\nservice=1\npm=apt\n").unwrap();
        assert_eq!(
            facts,
            HostFacts {
                uid: 0,
                user: "root".into(),
                has_sudo: true,
                has_timeout: true,
                systemd: false,
                has_service: true,
                package_manager: Some(PackageManager::Apt),
            }
        );
        assert_eq!(HostFacts::parse("garbage"), None);
    }

    #[test]
    fn probes_the_local_machine() {
        let conn = Connection::control_machine();
        assert_eq!(conn.label, "local");
        assert_eq!(conn.facts.uid, unsafe { libc::getuid() });
        assert!(conn.facts.has_timeout);
    }
}
