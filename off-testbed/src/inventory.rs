//! The inventory: what end-to-end tests need to reach the running testbed. Written by `up` as
//! YAML into the state dir, read by tests with [`Inventory::load`].

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

/// The running testbed, as the rest of the project sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Inventory {
    pub hosts: Vec<TestHost>,
    /// The client private key, accepted for every user of every host.
    pub key: PathBuf,
    /// One line per host address with that host's public key.
    pub known_hosts: PathBuf,
    /// An address in the hosts' subnet where no host answers (for connection-failure tests).
    pub unreachable_address: String,
    /// The bridge's address: the machine as seen from the hosts.
    pub gateway: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TestHost {
    pub name: String,
    pub address: String,
    pub port: u16,
    pub users: Vec<TestUser>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TestUser {
    pub name: String,
    /// `None`: the user needs no sudo (root).
    pub sudo_password: Option<String>,
}

impl Inventory {
    /// Writes to `path` an ssh_config that verifies the hosts' keys against the testbed's
    /// known_hosts (and never records one), with `extra` lines (`  ConnectTimeout 3\n`) after
    /// them; returns `path`.
    pub fn write_ssh_config(&self, path: &Path, extra: &str) -> Result<PathBuf> {
        let text = format!(
            "Host *\n  UserKnownHostsFile {}\n  StrictHostKeyChecking yes\n{extra}",
            self.known_hosts.display()
        );
        fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(path.to_path_buf())
    }

    /// Reads the inventory of the running default testbed (path: `$OFF_TESTBED_INVENTORY`, else
    /// `<default state dir>/inventory.yaml`).
    pub fn load() -> Result<Inventory> {
        let path = match std::env::var_os("OFF_TESTBED_INVENTORY") {
            Some(p) if !p.is_empty() => PathBuf::from(p),
            _ => crate::TestbedConfig::default().inventory_path(),
        };
        if !path.exists() {
            bail!(
                "no testbed inventory at {}: run `cargo xtask testbed up` first (as root)",
                path.display()
            );
        }
        Inventory::load_from(&path)
    }

    pub fn load_from(path: &Path) -> Result<Inventory> {
        let text = fs::read_to_string(path).with_context(|| {
            format!(
                "cannot read testbed inventory {} (is the testbed up? `cargo xtask testbed up`)",
                path.display()
            )
        })?;
        serde_saphyr::from_str(&text)
            .with_context(|| format!("invalid testbed inventory {}", path.display()))
    }

    /// Host `i` (0-based).
    pub fn host(&self, i: usize) -> Result<&TestHost> {
        self.hosts.get(i).with_context(|| {
            format!(
                "the test needs host #{i} but the testbed has only {} host(s): run `cargo xtask testbed up --hosts {}`",
                self.hosts.len(),
                i + 1
            )
        })
    }

    pub(crate) fn to_yaml(&self) -> Result<String> {
        serde_saphyr::to_string(self).context("cannot serialise the testbed inventory")
    }
}

impl TestHost {
    /// The user called `name`.
    pub fn user(&self, name: &str) -> Result<&TestUser> {
        self.users
            .iter()
            .find(|u| u.name == name)
            .with_context(|| format!("host {} has no test user {name:?}", self.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Inventory {
        Inventory {
            hosts: vec![TestHost {
                name: "off-host-0".into(),
                address: "10.250.0.10".into(),
                port: 22,
                users: vec![
                    TestUser {
                        name: "root".into(),
                        sudo_password: None,
                    },
                    TestUser {
                        name: "deploy".into(),
                        sudo_password: Some("deploy-sudo-pw".into()),
                    },
                ],
            }],
            key: "/run/off-testbed/id_ed25519".into(),
            known_hosts: "/run/off-testbed/known_hosts".into(),
            unreachable_address: "10.250.0.250".into(),
            gateway: "10.250.0.1".into(),
        }
    }

    #[test]
    fn yaml_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inventory.yaml");
        let yaml = sample().to_yaml().unwrap();
        fs::write(&path, &yaml).unwrap();
        let back = Inventory::load_from(&path).unwrap();
        assert_eq!(back.hosts.len(), 1);
        let h = back.host(0).unwrap();
        assert_eq!(h.address, "10.250.0.10");
        assert_eq!(h.port, 22);
        assert_eq!(h.user("root").unwrap().sudo_password, None);
        assert_eq!(
            h.user("deploy").unwrap().sudo_password.as_deref(),
            Some("deploy-sudo-pw")
        );
        assert_eq!(back.key, PathBuf::from("/run/off-testbed/id_ed25519"));
        assert_eq!(back.unreachable_address, "10.250.0.250");
        assert_eq!(back.gateway, "10.250.0.1");
    }

    #[test]
    fn missing_host_names_the_count() {
        let err = sample().host(3).unwrap_err().to_string();
        assert!(err.contains("only 1 host"), "{err}");
    }

    #[test]
    fn missing_file_says_how_to_start() {
        let err = Inventory::load_from(Path::new("/nonexistent/inventory.yaml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cargo xtask testbed up"), "{err}");
    }
}
