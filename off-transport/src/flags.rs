//! Flags that several binaries share (recipe binaries, `offcheck`), each
//! defined once with its help text, and flattened into every command line.
//! (Those that need nothing but clap, `--completions` and `--man`, are
//! `off_cli`'s, for the binaries that reach no host.)

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::builder::{PossibleValuesParser, TypedValueParser};

use crate::{HostKeyPolicy, SshOptions};

// These structs have `//` comments, not doc comments: a derived `Args`' doc
// comment would become the `about` of every command it is flattened into
// (a recipe binary's --help began with "How to reach hosts over SSH").

/// The ssh_config file when `--ssh-config` is not given. ssh finds
/// `~/.ssh/config` through the password database, not `$HOME`, so this is
/// how a shell session or a CI job gives every command a config of its own.
pub const SSH_CONFIG_ENV: &str = "OFF_SSH_CONFIG";

// How to reach hosts over SSH.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct SshFlags {
    /// SSH private key
    #[arg(short = 'i', long, value_name = "KEY")]
    pub identity: Option<PathBuf>,
    /// ssh_config file instead of ~/.ssh/config (else OFF_SSH_CONFIG)
    #[arg(long, value_name = "FILE")]
    pub ssh_config: Option<PathBuf>,
    /// known_hosts file to check host keys against and record new ones in
    /// [default: ssh's own, ~/.ssh/known_hosts]
    #[arg(long, value_name = "FILE")]
    pub known_hosts: Option<PathBuf>,
    /// A host whose key is not known yet: accept-new records its key, strict
    /// refuses the host (exit 3). A changed key is always refused.
    #[arg(
        long,
        value_name = "POLICY",
        default_value = "accept-new",
        value_parser = PossibleValuesParser::new(["accept-new", "strict"]).map(|s| policy(&s)),
    )]
    pub host_key_policy: HostKeyPolicy,
}

// Which hosts to work on.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct TargetFlags {
    /// Targets: user@host:port,host2 (none: this machine)
    #[arg(short = 'H', long, value_name = "HOSTS")]
    pub hosts: Option<String>,
    /// Targets from a YAML file: `hosts: [{host: user@h:22, vars: {name: value}}]`;
    /// a host's vars are its kwargs (a recipe) or fill the spec's `{name}` placeholders (offcheck)
    #[arg(long, value_name = "FILE")]
    pub inventory: Option<PathBuf>,
}

// How many hosts are worked on at once.
#[derive(clap::Args, Debug, Clone)]
pub struct ParallelFlags {
    /// At most N hosts at a time
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = parse_parallel)]
    pub parallel: usize,
}

// Where the sudo password comes from.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct SudoFlags {
    /// Read the sudo password from one line of standard input (else OFF_SUDO_PASSWORD)
    #[arg(long)]
    pub sudo_password_stdin: bool,
}

fn policy(name: &str) -> HostKeyPolicy {
    match name {
        "strict" => HostKeyPolicy::Strict,
        _ => HostKeyPolicy::AcceptNew,
    }
}

impl SshFlags {
    /// The connection settings, or the error (exit 2) of a `--known-hosts`
    /// that ssh could not use as asked.
    pub fn options(&self) -> Result<SshOptions, String> {
        self.options_with_env(|name| std::env::var_os(name))
    }

    /// [`Self::options`], reading the environment through `env`.
    fn options_with_env(
        &self,
        env: impl Fn(&str) -> Option<OsString>,
    ) -> Result<SshOptions, String> {
        // ssh would only complain once connected, host by host.
        if let Some(file) = &self.identity {
            check_readable_file(&format!("-i {}", file.display()), file)?;
        }
        let ssh_config = match &self.ssh_config {
            Some(file) => {
                check_readable_file(&format!("--ssh-config {}", file.display()), file)?;
                Some(file.clone())
            }
            None => match env(SSH_CONFIG_ENV).filter(|v| !v.is_empty()) {
                Some(value) => {
                    let file = PathBuf::from(value);
                    check_readable_file(&format!("{SSH_CONFIG_ENV}={}", file.display()), &file)?;
                    Some(file)
                }
                None => None,
            },
        };
        if let Some(file) = &self.known_hosts {
            check_known_hosts(file, self.host_key_policy)?;
        }
        Ok(SshOptions {
            identity: self.identity.clone(),
            ssh_config,
            known_hosts: self.known_hosts.clone(),
            host_key_policy: self.host_key_policy,
            ..SshOptions::default()
        })
    }
}

/// A known_hosts file ssh can read, and under accept-new record keys in.
/// An error starting with `input` (the flag or variable and its value)
/// unless `file` is a file this process can read.
fn check_readable_file(input: &str, file: &Path) -> Result<(), String> {
    match std::fs::File::open(file).and_then(|f| f.metadata()) {
        Ok(meta) if meta.is_file() => Ok(()),
        Ok(_) => Err(format!("{input}: not a file")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(format!("{input}: no such file")),
        Err(e) => Err(format!("{input}: {e}")),
    }
}

/// `--parallel N`: a number of hosts, at least 1.
pub fn parse_parallel(value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(0) => Err("at least one host must run at a time".to_string()),
        Ok(n) => Ok(n),
        Err(_) => Err("expected a whole number of hosts, at least 1".to_string()),
    }
}

fn check_known_hosts(file: &Path, policy: HostKeyPolicy) -> Result<(), String> {
    let shown = file.display();
    // ssh reads the option's value as a list of files separated by spaces.
    if file.to_string_lossy().chars().any(char::is_whitespace) {
        return Err(format!(
            "--known-hosts {shown}: a path with spaces is not supported (ssh reads it as several files)"
        ));
    }
    match std::fs::metadata(file) {
        Ok(meta) if meta.is_file() => Ok(()),
        Ok(_) => Err(format!("--known-hosts {shown}: not a file")),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(format!("--known-hosts {shown}: {e}"))
        }
        // A missing file under strict would refuse every host.
        Err(_) if policy == HostKeyPolicy::Strict => Err(format!(
            "--known-hosts {shown}: no such file (--host-key-policy strict needs the hosts' keys in it)"
        )),
        Err(_) => {
            // ssh creates the file, not its directory.
            let dir = match file.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => dir,
                _ => Path::new("."),
            };
            if dir.is_dir() {
                Ok(())
            } else {
                Err(format!(
                    "--known-hosts {shown}: directory {} does not exist",
                    dir.display()
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Args, Parser};

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        ssh: SshFlags,
    }

    fn parse(args: &[&str]) -> Result<SshFlags, clap::Error> {
        Cli::try_parse_from(std::iter::once("bin").chain(args.iter().copied())).map(|c| c.ssh)
    }

    #[test]
    fn host_key_policy_defaults_to_accept_new_and_takes_strict() {
        let flags = parse(&[]).unwrap();
        assert_eq!(flags.host_key_policy, HostKeyPolicy::AcceptNew);
        assert_eq!(flags.options().unwrap().known_hosts, None);
        let key = tempfile::NamedTempFile::new().unwrap();
        let key = key.path().to_str().unwrap();
        let flags = parse(&["--host-key-policy", "strict", "-i", key]).unwrap();
        assert_eq!(flags.host_key_policy, HostKeyPolicy::Strict);
        let options = flags.options().unwrap();
        assert_eq!(options.host_key_policy, HostKeyPolicy::Strict);
        assert_eq!(options.identity.as_deref(), Some(Path::new(key)));
        let e = parse(&["--host-key-policy", "yes"]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("--host-key-policy"), "{e}");
    }

    #[test]
    fn known_hosts_must_be_usable_as_asked() {
        let dir = tempfile::tempdir().unwrap();
        let fresh = dir.path().join("known_hosts");
        let fresh = fresh.to_str().unwrap();
        let options = parse(&["--known-hosts", fresh]).unwrap().options().unwrap();
        assert_eq!(options.known_hosts.as_deref(), Some(Path::new(fresh)));
        let error = |args: &[&str]| parse(args).unwrap().options().unwrap_err();
        let e = error(&["--known-hosts", fresh, "--host-key-policy", "strict"]);
        assert!(e.contains("no such file"), "{e}");
        let e = error(&["--known-hosts", "/nonexistent/dir/known_hosts"]);
        assert_eq!(
            e,
            "--known-hosts /nonexistent/dir/known_hosts: directory /nonexistent/dir does not exist"
        );
        let e = error(&["--known-hosts", dir.path().to_str().unwrap()]);
        assert!(e.ends_with("not a file"), "{e}");
        let e = error(&["--known-hosts", "/tmp/a b"]);
        assert!(e.contains("spaces"), "{e}");
        std::fs::write(fresh, "").unwrap();
        let strict = parse(&["--known-hosts", fresh, "--host-key-policy", "strict"]).unwrap();
        assert!(strict.options().is_ok());
    }

    #[test]
    fn identity_and_ssh_config_must_be_readable_files() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        let missing = missing.to_str().unwrap();
        let err = parse(&["-i", missing]).unwrap().options().unwrap_err();
        assert_eq!(err, format!("-i {missing}: no such file"));
        let err = parse(&["--ssh-config", missing])
            .unwrap()
            .options()
            .unwrap_err();
        assert_eq!(err, format!("--ssh-config {missing}: no such file"));
        let here = dir.path().to_str().unwrap();
        let err = parse(&["-i", here]).unwrap().options().unwrap_err();
        assert_eq!(err, format!("-i {here}: not a file"));
        let key = dir.path().join("key");
        std::fs::write(&key, "k").unwrap();
        assert!(
            parse(&["-i", key.to_str().unwrap()])
                .unwrap()
                .options()
                .is_ok()
        );
    }

    #[test]
    fn ssh_config_comes_from_the_environment_when_the_flag_is_absent() {
        let dir = tempfile::tempdir().unwrap();
        let from_env = dir.path().join("env_config");
        let from_flag = dir.path().join("flag_config");
        std::fs::write(&from_env, "").unwrap();
        std::fs::write(&from_flag, "").unwrap();
        let env_is = |value: &Path| {
            let value = value.as_os_str().to_owned();
            move |name: &str| (name == SSH_CONFIG_ENV).then(|| value.clone())
        };
        let options = |args: &[&str], env: &dyn Fn(&str) -> Option<OsString>| {
            parse(args).unwrap().options_with_env(env)
        };
        let got = options(&[], &env_is(&from_env)).unwrap();
        assert_eq!(got.ssh_config.as_deref(), Some(from_env.as_path()));
        let flag = from_flag.to_str().unwrap();
        let got = options(&["--ssh-config", flag], &env_is(&from_env)).unwrap();
        assert_eq!(got.ssh_config.as_deref(), Some(from_flag.as_path()));
        assert_eq!(options(&[], &|_| None).unwrap().ssh_config, None);
        let empty = |_: &str| Some(OsString::new());
        assert_eq!(options(&[], &empty).unwrap().ssh_config, None);
        let missing = dir.path().join("missing");
        let err = options(&[], &env_is(&missing)).unwrap_err();
        assert_eq!(
            err,
            format!("OFF_SSH_CONFIG={}: no such file", missing.display())
        );
    }

    #[derive(Parser, Debug)]
    struct RunCli {
        #[command(flatten)]
        targets: TargetFlags,
        #[command(flatten)]
        parallel: ParallelFlags,
        #[command(flatten)]
        sudo: SudoFlags,
    }

    fn parse_run(args: &[&str]) -> Result<RunCli, clap::Error> {
        RunCli::try_parse_from(std::iter::once("bin").chain(args.iter().copied()))
    }

    #[test]
    fn target_flags_take_hosts_and_an_inventory() {
        let none = parse_run(&[]).unwrap();
        assert_eq!(none.targets.hosts, None);
        assert_eq!(none.targets.inventory, None);
        let given = parse_run(&["-H", "root@db1,db2:2222", "--inventory", "inv.yaml"]).unwrap();
        assert_eq!(given.targets.hosts.as_deref(), Some("root@db1,db2:2222"));
        assert_eq!(given.targets.inventory, Some(PathBuf::from("inv.yaml")));
        let long = parse_run(&["--hosts", "db1"]).unwrap();
        assert_eq!(long.targets.hosts.as_deref(), Some("db1"));
    }

    #[test]
    fn parallel_defaults_to_ten_and_refuses_zero() {
        assert_eq!(parse_run(&[]).unwrap().parallel.parallel, 10);
        assert_eq!(
            parse_run(&["--parallel", "3"]).unwrap().parallel.parallel,
            3
        );
        let zero = parse_run(&["--parallel", "0"]).unwrap_err().to_string();
        assert!(
            zero.contains("at least one host must run at a time"),
            "{zero}"
        );
    }

    #[test]
    fn sudo_password_comes_from_stdin_only_when_asked() {
        assert!(!parse_run(&[]).unwrap().sudo.sudo_password_stdin);
        assert!(
            parse_run(&["--sudo-password-stdin"])
                .unwrap()
                .sudo
                .sudo_password_stdin
        );
    }

    #[test]
    fn shared_flags_bring_their_help_and_leave_the_about_alone() {
        let cmd = clap::Command::new("bin").about("the binary's own about");
        let cmd = SshFlags::augment_args(cmd);
        let mut cmd =
            SudoFlags::augment_args(ParallelFlags::augment_args(TargetFlags::augment_args(cmd)));
        let help = cmd.render_help().to_string();
        assert!(help.starts_with("the binary's own about"), "{help}");
        for wanted in [
            "-H, --hosts <HOSTS>",
            "Targets: user@host:port,host2 (none: this machine)",
            "--inventory <FILE>",
            "--parallel <N>",
            "At most N hosts at a time [default: 10]",
            "--sudo-password-stdin",
            "(else OFF_SUDO_PASSWORD)",
        ] {
            assert!(help.contains(wanted), "{wanted}: {help}");
        }
    }

    #[test]
    fn parallel_is_at_least_one() {
        assert_eq!(parse_parallel("3"), Ok(3));
        assert!(
            parse_parallel("0")
                .unwrap_err()
                .contains("at least one host")
        );
        assert!(parse_parallel("abc").unwrap_err().contains("whole number"));
        assert!(parse_parallel("-1").is_err());
    }
}
