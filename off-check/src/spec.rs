//! The check spec: what a host should look like.
//!
//! Read from YAML or JSON ([`CheckSpec::from_str`]) or built in code (every
//! type has public fields and a `Default`). Every value is validated while it
//! is read (sizes, regexes, version constraints, modes, checksums), so a spec
//! that parses is a spec the engine can run.

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor, value::MapAccessDeserializer};

use super::size::Size;
use super::version::VersionConstraint;

/// Everything to check on one host. Sections that are empty are not checked.
///
/// ```
/// use off_check::{CheckSpec, FileCheck, ServiceCheck, ServiceState, SpecFormat};
/// let from_text = CheckSpec::from_str(
///     "config:\n- path: /etc/hostname\nservice:\n- ssh: running\n",
///     SpecFormat::Yaml,
///     "spec.yaml",
/// )
/// .unwrap();
/// let in_code = CheckSpec {
///     config: vec![FileCheck { path: "/etc/hostname".into(), ..FileCheck::default() }],
///     service: vec![ServiceCheck { name: "ssh".into(), state: ServiceState::Running }],
///     ..CheckSpec::default()
/// };
/// assert_eq!(from_text, in_code);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckSpec {
    /// The deployed software's version, read from a command's output.
    pub version: Option<VersionCheck>,
    /// The host must run one of these (`Debian 12`, `Ubuntu 22.04`).
    pub os: Vec<String>,
    /// Files and their attributes.
    pub config: Vec<FileCheck>,
    /// Services and their state (`- postgresql: running`).
    pub service: Vec<ServiceCheck>,
    /// Scripts that say whether the software answers (`pg_isready`).
    pub alive_script: Vec<AliveScript>,
    /// TCP ports that must (or must not) be listening.
    pub port: Vec<PortCheck>,
    /// Installed packages (dpkg or rpm).
    pub package: Vec<PackageCheck>,
    /// Commands with their expected exit code and output.
    pub command: Vec<CommandCheck>,
}

/// `version: {cmd, regex, expected}`; `version: 15.18` alone sets only
/// `expected` (a recipe's `check(version(cmd, regex))` annotation supplies
/// the rest).
#[derive(Debug, Clone, PartialEq)]
pub struct VersionCheck {
    /// Prints the version (standard output and error are both searched).
    pub cmd: String,
    /// Its first capture group (or whole match) is the version; by default
    /// the first run of dotted numbers.
    pub regex: Option<Pattern>,
    pub expected: VersionConstraint,
}

/// One file. `exists: false` checks that it is absent.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileCheck {
    #[serde(deserialize_with = "de_abs_path")]
    pub path: String,
    #[serde(default = "yes")]
    pub exists: bool,
    /// Lowercase hex.
    #[serde(default, deserialize_with = "de_sha256")]
    pub sha256: Option<String>,
    #[serde(default, deserialize_with = "de_from_str_opt")]
    pub size: Option<Size>,
    /// Permission bits, written in octal in a spec (`"0644"`).
    #[serde(default, deserialize_with = "de_mode")]
    pub mode: Option<u32>,
    /// A user name or numeric id.
    #[serde(default)]
    pub owner: Option<String>,
    /// A group name or numeric id.
    #[serde(default)]
    pub group: Option<String>,
    /// Informational: the file is an init script or unit (set by generators
    /// for files under /etc/init.d or /etc/systemd). Not checked.
    #[serde(default)]
    pub init: bool,
    /// `file` or `directory`; either when not given.
    #[serde(default)]
    pub kind: Option<FileKind>,
    /// Whole lines the file must contain (the lines `append` adds).
    #[serde(default)]
    pub contains: Vec<String>,
}

/// What a checked path must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    File,
    Directory,
}

impl Default for FileCheck {
    fn default() -> Self {
        FileCheck {
            path: String::new(),
            exists: true,
            sha256: None,
            size: None,
            mode: None,
            owner: None,
            group: None,
            init: false,
            kind: None,
            contains: Vec::new(),
        }
    }
}

/// `- NAME: STATE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceCheck {
    pub name: String,
    pub state: ServiceState,
}

pub use off_input::ServiceState;

/// A script that must exit with `exit_code` within `timeout`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AliveScript {
    /// The interpreter; `cmd` is passed to it with `-c`.
    #[serde(default = "default_shell")]
    pub shell: String,
    pub cmd: String,
    #[serde(default)]
    pub exit_code: i32,
    /// `10s`, `500ms`, `2m` or a number of seconds.
    #[serde(default = "default_timeout", deserialize_with = "de_duration")]
    pub timeout: Duration,
}

impl Default for AliveScript {
    fn default() -> Self {
        AliveScript {
            shell: default_shell(),
            cmd: String::new(),
            exit_code: 0,
            timeout: default_timeout(),
        }
    }
}

/// `5432`, or `{port: 5432, listening: false}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortCheck {
    pub port: u16,
    pub listening: bool,
}

impl Default for PortCheck {
    fn default() -> Self {
        PortCheck {
            port: 0,
            listening: true,
        }
    }
}

/// `postgresql-15`, or `{name: postgresql-15, version: ">=15.4"}`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PackageCheck {
    pub name: String,
    pub version: Option<VersionConstraint>,
}

/// A command with its expected exit code and output.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandCheck {
    /// Run by `/bin/sh -c`.
    pub cmd: String,
    #[serde(default)]
    pub exit_code: i32,
    /// Substrings standard output must contain.
    #[serde(default)]
    pub stdout_contains: Vec<String>,
    /// A regex standard output must match.
    #[serde(default)]
    pub stdout_regex: Option<Pattern>,
    #[serde(default = "default_timeout", deserialize_with = "de_duration")]
    pub timeout: Duration,
}

impl Default for CommandCheck {
    fn default() -> Self {
        CommandCheck {
            cmd: String::new(),
            exit_code: 0,
            stdout_contains: Vec::new(),
            stdout_regex: None,
            timeout: default_timeout(),
        }
    }
}

/// A compiled regex that compares by its source text.
#[derive(Debug, Clone)]
pub struct Pattern(pub regex::Regex);

impl Pattern {
    pub fn new(source: &str) -> Result<Pattern, String> {
        regex::Regex::new(source)
            .map(Pattern)
            .map_err(|e| format!("invalid regex `{source}`: {}", one_line(&e.to_string())))
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

impl FromStr for Pattern {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Pattern::new(s)
    }
}

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_scalar(d, "a regex")
    }
}

/// The syntax a spec is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecFormat {
    Yaml,
    Json,
}

impl SpecFormat {
    /// JSON for `.json` files, YAML otherwise.
    pub fn of_path(path: &Path) -> SpecFormat {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("json") => SpecFormat::Json,
            _ => SpecFormat::Yaml,
        }
    }
}

/// A spec that cannot be used, located where possible.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SpecError {
    /// The file name (or whatever the caller calls the text).
    pub origin: String,
    /// The field, as a path (`config[1].size`), when known.
    pub field: Option<String>,
    pub line: Option<u64>,
    pub column: Option<u64>,
    pub message: String,
}

impl fmt::Display for SpecError {
    /// One line: `spec.yaml:4:9: config[0].size: invalid size …`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.origin)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        f.write_str(": ")?;
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl CheckSpec {
    /// Reads a spec from a JSON tree (a manifest's merged spec), with the
    /// same checks and errors as [`CheckSpec::from_str`].
    pub fn from_value(value: &serde_json::Value, origin: &str) -> Result<CheckSpec, SpecError> {
        CheckSpec::from_str(&value.to_string(), SpecFormat::Json, origin)
    }

    /// Parses a spec. `origin` names the text in errors (usually its file name).
    #[allow(clippy::should_implement_trait)] // needs the format and origin too
    pub fn from_str(text: &str, format: SpecFormat, origin: &str) -> Result<CheckSpec, SpecError> {
        let error = |field: Option<String>, line, column, message: String| SpecError {
            origin: origin.to_string(),
            field: field.filter(|f| !f.is_empty() && f != "."),
            line,
            column,
            message: one_line(&message),
        };
        let spec: CheckSpec = match format {
            SpecFormat::Json => {
                let mut de = serde_json::Deserializer::from_str(text);
                let spec = serde_path_to_error::deserialize(&mut de).map_err(|e| {
                    let path = e.path().to_string();
                    let inner = e.into_inner();
                    let message = strip_location(&inner.to_string());
                    error(
                        Some(path),
                        Some(inner.line() as u64),
                        Some(inner.column() as u64),
                        message,
                    )
                })?;
                de.end().map_err(|e| {
                    error(
                        None,
                        Some(e.line() as u64),
                        Some(e.column() as u64),
                        e.to_string(),
                    )
                })?;
                spec
            }
            SpecFormat::Yaml => {
                if text.trim().is_empty() {
                    return Err(error(None, None, None, "the spec is empty".into()));
                }
                let mut path = None;
                let result = serde_saphyr::with_deserializer_from_str(text, |de| {
                    serde_path_to_error::deserialize(de).map_err(|e| {
                        path = Some(e.path().to_string());
                        e.into_inner()
                    })
                });
                result.map_err(|e| {
                    let location = e.location();
                    let message = strip_location(&e.without_snippet().to_string());
                    error(
                        path,
                        location.map(|l| l.line()),
                        location.map(|l| l.column()),
                        message,
                    )
                })?
            }
        };
        spec.validate().map_err(|(field, message)| {
            let line = text
                .lines()
                .position(|l| l.trim_start().trim_start_matches('"').starts_with(&field))
                .map(|i| i as u64 + 1);
            error(Some(field), line, None, message)
        })?;
        Ok(spec)
    }

    /// Reads and parses a spec file (JSON for `.json`, else YAML).
    pub fn from_path(path: &Path) -> Result<CheckSpec, SpecError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| SpecError {
            origin: origin.clone(),
            field: None,
            line: None,
            column: None,
            message: format!("cannot read the spec: {e}"),
        })?;
        CheckSpec::from_str(&text, SpecFormat::of_path(path), &origin)
    }

    /// Checks what the parser cannot check field by field; specs built in
    /// code should be validated too. Returns the field and the reason.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if let Some(v) = &self.version
            && v.cmd.trim().is_empty()
        {
            return Err((
                "version".into(),
                format!(
                    "no command to read the version `{}` from: write `version: {{cmd: \"psql --version\", expected: \"{}\"}}`",
                    v.expected, v.expected
                ),
            ));
        }
        for (i, os) in self.os.iter().enumerate() {
            if os.trim().is_empty() {
                return Err((format!("os[{i}]"), "empty OS name".into()));
            }
        }
        for (i, f) in self.config.iter().enumerate() {
            check_path(&f.path).map_err(|e| (format!("config[{i}].path"), e))?;
        }
        for (i, s) in self.service.iter().enumerate() {
            check_service_name(&s.name).map_err(|e| (format!("service[{i}]"), e))?;
        }
        for (i, p) in self.package.iter().enumerate() {
            check_package_name(&p.name).map_err(|e| (format!("package[{i}]"), e))?;
        }
        for (i, p) in self.port.iter().enumerate() {
            if p.port == 0 {
                return Err((format!("port[{i}]"), "port 0 cannot listen".into()));
            }
        }
        for (i, a) in self.alive_script.iter().enumerate() {
            if a.cmd.trim().is_empty() || a.shell.trim().is_empty() {
                return Err((
                    format!("alive_script[{i}]"),
                    "needs a `cmd` and a `shell`".into(),
                ));
            }
        }
        for (i, c) in self.command.iter().enumerate() {
            if c.cmd.trim().is_empty() {
                return Err((format!("command[{i}].cmd"), "empty command".into()));
            }
        }
        Ok(())
    }

    /// Whether the spec checks nothing.
    pub fn is_empty(&self) -> bool {
        self == &CheckSpec::default()
    }

    /// Replaces `{name}` in every string of the spec with `vars[name]`, for
    /// callers whose specs are templates (per-host inventory vars). Names
    /// without a value are left as they are. In the commands (`version.cmd`,
    /// `alive_script[].cmd`, `command[].cmd`) a value is one shell word,
    /// quoted as `sh!` quotes it; a placeholder there inside quotes or after
    /// `$` is an error `(field, reason)`, as from [`CheckSpec::validate`].
    pub fn resolve(
        &mut self,
        vars: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(), (String, String)> {
        use off_manifest::{Fill, fill_known};
        let mut strings: Vec<(String, Fill, &mut String)> = Vec::new();
        if let Some(v) = &mut self.version {
            strings.push(("version.cmd".into(), Fill::ShellWord, &mut v.cmd));
        }
        for (i, os) in self.os.iter_mut().enumerate() {
            strings.push((format!("os[{i}]"), Fill::Text, os));
        }
        for (i, f) in self.config.iter_mut().enumerate() {
            strings.push((format!("config[{i}].path"), Fill::Text, &mut f.path));
            if let Some(owner) = &mut f.owner {
                strings.push((format!("config[{i}].owner"), Fill::Text, owner));
            }
            if let Some(group) = &mut f.group {
                strings.push((format!("config[{i}].group"), Fill::Text, group));
            }
            for (j, line) in f.contains.iter_mut().enumerate() {
                strings.push((format!("config[{i}].contains[{j}]"), Fill::Text, line));
            }
        }
        for (i, s) in self.service.iter_mut().enumerate() {
            strings.push((format!("service[{i}]"), Fill::Text, &mut s.name));
        }
        for (i, a) in self.alive_script.iter_mut().enumerate() {
            // The shell is a path, quoted as a word of its own by the script.
            strings.push((format!("alive_script[{i}].shell"), Fill::Text, &mut a.shell));
            strings.push((
                format!("alive_script[{i}].cmd"),
                Fill::ShellWord,
                &mut a.cmd,
            ));
        }
        for (i, p) in self.package.iter_mut().enumerate() {
            strings.push((format!("package[{i}]"), Fill::Text, &mut p.name));
        }
        for (i, c) in self.command.iter_mut().enumerate() {
            strings.push((format!("command[{i}].cmd"), Fill::ShellWord, &mut c.cmd));
            for (j, text) in c.stdout_contains.iter_mut().enumerate() {
                strings.push((
                    format!("command[{i}].stdout_contains[{j}]"),
                    Fill::Text,
                    text,
                ));
            }
        }
        for (field, how, text) in strings {
            *text = fill_known(text, vars, how).map_err(|e| (field, e.to_string()))?;
        }
        Ok(())
    }
}

/// Error texts on one line, without the location the error adds itself
/// (ours is put in front).
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn strip_location(text: &str) -> String {
    let text = one_line(text);
    let cut = [" at line ", " at position "]
        .iter()
        .filter_map(|m| text.rfind(m))
        .min();
    let text = match cut {
        Some(i) => text[..i].to_string(),
        None => text,
    };
    with_suggestion(text)
}

/// Adds "did you mean `service`?" to serde's "unknown field `servce`,
/// expected one of …".
fn with_suggestion(message: String) -> String {
    let Some(rest) = message.strip_prefix("unknown field `") else {
        return message;
    };
    let Some((name, expected)) = rest.split_once('`') else {
        return message;
    };
    let candidates = expected
        .trim_start_matches(", expected one of ")
        .trim_start_matches(", expected ")
        .split(", ")
        .map(|c| c.trim_matches('`'));
    match off_input::did_you_mean(name, candidates) {
        Some(best) => format!("{message}; did you mean `{best}`?"),
        None => message,
    }
}

fn check_path(path: &str) -> Result<(), String> {
    if path.starts_with('/') && !path.contains(['\n', '\r', '\t']) {
        Ok(())
    } else {
        Err(format!(
            "`{path}` must be an absolute path without newlines or tabs"
        ))
    }
}

fn check_service_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@._-:{}".contains(&b));
    if valid {
        Ok(())
    } else {
        Err(format!("`{name}` is not a service name"))
    }
}

/// A package name, which may hold `{name}` placeholders until they are
/// resolved: the name with its braces left out must be one.
fn check_package_name(name: &str) -> Result<(), String> {
    if off_input::is_package_name(&name.replace(['{', '}'], "")) {
        Ok(())
    } else {
        Err(format!("`{name}` is not a package name"))
    }
}

fn de_abs_path<'de, D: de::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let path = String::deserialize(d)?;
    check_path(&path).map_err(de::Error::custom)?;
    Ok(path)
}

fn de_package_name<'de, D: de::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let name = String::deserialize(d)?;
    check_package_name(&name).map_err(de::Error::custom)?;
    Ok(name)
}

fn yes() -> bool {
    true
}

fn default_shell() -> String {
    "/bin/sh".into()
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

/// Reads a scalar (a string, or a number as YAML and JSON write it) and
/// parses it with `FromStr`.
fn from_scalar<'de, D, T>(d: D, what: &'static str) -> Result<T, D::Error>
where
    D: de::Deserializer<'de>,
    T: FromStr,
    T::Err: fmt::Display,
{
    struct ScalarVisitor(&'static str);
    impl Visitor<'_> for ScalarVisitor {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
            Ok(v.to_string())
        }
    }
    let text = d.deserialize_str(ScalarVisitor(what))?;
    text.parse().map_err(de::Error::custom)
}

fn de_from_str_opt<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: de::Deserializer<'de>,
    T: FromStr,
    T::Err: fmt::Display,
{
    from_scalar(d, "a string").map(Some)
}

fn de_sha256<'de, D: de::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let text: String = from_scalar(d, "a sha256 checksum")?;
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(de::Error::custom(format!(
            "`{text}` is not a sha256 checksum (64 hex digits)"
        )));
    }
    Ok(Some(text.to_ascii_lowercase()))
}

/// Permission bits by the one rule of [`off_input::Mode`]: `"0644"`,
/// `644`, `0o644`, `u=rw,g=r,o=r`.
pub(crate) fn parse_mode(text: &str) -> Result<u32, String> {
    text.parse::<off_input::Mode>()
        .map(off_input::Mode::bits)
        .map_err(|e| e.to_string())
}

fn de_mode<'de, D: de::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let text: String = from_scalar(d, "a file mode like \"0644\"")?;
    parse_mode(&text).map(Some).map_err(de::Error::custom)
}

struct HumanDuration(Duration);

impl FromStr for HumanDuration {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        off_input::parse_duration(s).map(HumanDuration)
    }
}

fn de_duration<'de, D: de::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    from_scalar::<D, HumanDuration>(d, "a duration like 10s").map(|h| h.0)
}

/// The map form of `version`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VersionMap {
    cmd: String,
    #[serde(default)]
    regex: Option<Pattern>,
    #[serde(deserialize_with = "de_constraint")]
    expected: VersionConstraint,
}

fn de_constraint<'de, D: de::Deserializer<'de>>(d: D) -> Result<VersionConstraint, D::Error> {
    from_scalar(d, "a version or a constraint like \">=15, <16\"")
}

impl<'de> Deserialize<'de> for VersionConstraint {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        de_constraint(d)
    }
}

/// Implements `Deserialize` for a type that is either a scalar (handled by
/// `$scalar`) or a map (deserialized as `$full`, with its unknown-field checks).
macro_rules! scalar_or_map {
    ($ty:ty, $full:ty, $what:literal, |$v:ident| $scalar:expr, |$m:ident| $from_full:expr) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($what)
                    }
                    fn visit_str<E: de::Error>(self, $v: &str) -> Result<$ty, E> {
                        $scalar
                    }
                    fn visit_u64<E: de::Error>(self, v: u64) -> Result<$ty, E> {
                        self.visit_str(&v.to_string())
                    }
                    fn visit_i64<E: de::Error>(self, v: i64) -> Result<$ty, E> {
                        self.visit_str(&v.to_string())
                    }
                    fn visit_f64<E: de::Error>(self, v: f64) -> Result<$ty, E> {
                        self.visit_str(&v.to_string())
                    }
                    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<$ty, A::Error> {
                        let $m: $full = Deserialize::deserialize(MapAccessDeserializer::new(map))?;
                        Ok($from_full)
                    }
                }
                d.deserialize_any(V)
            }
        }
    };
}

scalar_or_map!(
    VersionCheck,
    VersionMap,
    "a version, a constraint, or {cmd, regex, expected}",
    |v| Ok(VersionCheck {
        cmd: String::new(),
        regex: None,
        expected: v.parse().map_err(E::custom)?,
    }),
    |m| VersionCheck {
        cmd: m.cmd,
        regex: m.regex,
        expected: m.expected,
    }
);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PortMap {
    port: u16,
    #[serde(default = "yes")]
    listening: bool,
}

scalar_or_map!(
    PortCheck,
    PortMap,
    "a port number or {port, listening}",
    |v| {
        let port = v
            .parse::<u16>()
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| E::custom(format!("`{v}` is not a port number (1-65535)")))?;
        Ok(PortCheck {
            port,
            listening: true,
        })
    },
    |m| PortCheck {
        port: m.port,
        listening: m.listening,
    }
);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PackageMap {
    #[serde(deserialize_with = "de_package_name")]
    name: String,
    #[serde(default, deserialize_with = "de_from_str_opt")]
    version: Option<VersionConstraint>,
}

scalar_or_map!(
    PackageCheck,
    PackageMap,
    "a package name or {name, version}",
    |v| {
        check_package_name(v).map_err(E::custom)?;
        Ok(PackageCheck {
            name: v.to_string(),
            version: None,
        })
    },
    |m| PackageCheck {
        name: m.name,
        version: m.version,
    }
);

impl<'de> Deserialize<'de> for ServiceCheck {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ServiceCheck;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a one-entry map `NAME: running|stopped|enabled|disabled`")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ServiceCheck, A::Error> {
                let Some((name, state)) = map.next_entry::<String, ServiceState>()? else {
                    return Err(de::Error::custom(
                        "empty service entry; write `- NAME: running`",
                    ));
                };
                check_service_name(&name).map_err(de::Error::custom)?;
                if map.next_key::<String>()?.is_some() {
                    return Err(de::Error::custom(
                        "one service per list entry: `- NAME: STATE`",
                    ));
                }
                Ok(ServiceCheck { name, state })
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Result<CheckSpec, SpecError> {
        CheckSpec::from_str(text, SpecFormat::Yaml, "spec.yaml")
    }

    const FULL: &str = r#"
version: {cmd: "psql --version", regex: '(\d+(\.\d+)?)', expected: ">=15, <16"}
os: [Debian 12, Ubuntu 22.04]
config:
- path: /etc/postgresql/15/main/postgresql.conf
  sha256: 21004C0000000000000000000000000000000000000000000000000000000000
  size: 22K
  mode: "0644"
  owner: postgres
  group: postgres
- path: /etc/init.d/postgresql
  init: true
- path: /etc/gone
  exists: false
service:
- postgresql: running
- cron: disabled
alive_script:
- shell: /bin/sh
  cmd: pg_isready
  exit_code: 0
  timeout: 5s
port: [5432, {port: 8080, listening: false}]
package: [postgresql-15, {name: libpq5, version: ">=15"}]
command:
- cmd: id -un
  stdout_contains: [root]
  stdout_regex: "^ro+t$"
"#;

    #[test]
    fn reads_every_resource() {
        let spec = yaml(FULL).unwrap();
        let v = spec.version.as_ref().unwrap();
        assert_eq!(v.cmd, "psql --version");
        assert!(v.expected.matches("15.18"));
        assert_eq!(spec.os, ["Debian 12", "Ubuntu 22.04"]);
        let f = &spec.config[0];
        assert_eq!(
            f.sha256.as_deref().unwrap(),
            &FULL[FULL.find("21004C").unwrap()..][..64].to_ascii_lowercase()
        );
        assert!(f.size.as_ref().unwrap().matches(22 * 1024));
        assert_eq!(f.mode, Some(0o644));
        assert_eq!(f.owner.as_deref(), Some("postgres"));
        assert!(f.exists && !f.init);
        assert!(spec.config[1].init);
        assert!(!spec.config[2].exists);
        assert_eq!(
            spec.service,
            [
                ServiceCheck {
                    name: "postgresql".into(),
                    state: ServiceState::Running
                },
                ServiceCheck {
                    name: "cron".into(),
                    state: ServiceState::Disabled
                },
            ]
        );
        assert_eq!(spec.alive_script[0].timeout, Duration::from_secs(5));
        assert_eq!(
            spec.port,
            [
                PortCheck {
                    port: 5432,
                    listening: true
                },
                PortCheck {
                    port: 8080,
                    listening: false
                }
            ]
        );
        assert_eq!(spec.package[0].name, "postgresql-15");
        assert!(spec.package[1].version.as_ref().unwrap().matches("15.4-1"));
        assert_eq!(spec.command[0].stdout_contains, ["root"]);
        assert_eq!(spec.command[0].exit_code, 0);
    }

    #[test]
    fn json_is_accepted() {
        let spec = CheckSpec::from_str(
            r#"{"version": {"cmd": "x --version", "expected": "15.18"}, "port": [22], "service": [{"ssh": "running"}]}"#,
            SpecFormat::Json,
            "spec.json",
        )
        .unwrap();
        assert_eq!(spec.port[0].port, 22);
        assert_eq!(spec.service[0].name, "ssh");
    }

    #[test]
    fn numbers_that_look_like_floats_keep_their_digits() {
        let spec = yaml("version: {cmd: x, expected: 15.10}\nconfig:\n- path: /a\n  mode: 0644\n")
            .unwrap();
        assert_eq!(spec.version.unwrap().expected.as_str(), "15.10");
        assert_eq!(spec.config[0].mode, Some(0o644));
        let spec = yaml("version: 15\n").err().unwrap();
        assert!(spec.message.contains("no command"), "{spec}");
    }

    #[test]
    fn bad_input_names_the_field_and_line() {
        let cases: &[(&str, &str, u64)] = &[
            ("servce:\n- a: running\n", "did you mean `service`?", 1),
            (
                "config:\n- path: /a\n  colour: red\n",
                "unknown field `colour`",
                3,
            ),
            ("port: [22, x]\n", "`x` is not a port number", 1),
            ("port: [70000]\n", "not a port number", 1),
            (
                "config:\n- path: /a\n  size: 12Q\n",
                "invalid size `12Q`",
                3,
            ),
            (
                "command:\n- cmd: x\n  stdout_regex: \"(\"\n",
                "invalid regex",
                3,
            ),
            (
                "package:\n- {name: a, version: \"latest\"}\n",
                "invalid version constraint",
                2,
            ),
            (
                "version: {cmd: x, expected: \">=\"}\n",
                "invalid version constraint",
                1,
            ),
            ("service:\n- a: sleeping\n", "unknown variant `sleeping`", 2),
            ("os: Debian 12\n", "", 1),
            (
                "config:\n- path: /a\n  mode: \"0999\"\n",
                "not a file mode",
                3,
            ),
            ("config:\n- path: /a\n  sha256: abc\n", "not a sha256", 3),
            ("config:\n- path: relative\n", "absolute path", 2),
            ("package:\n- ok\n- \"-rf\"\n", "not a package name", 3),
            ("service:\n- \"a b\": running\n", "not a service name", 2),
            ("port: [0]\n", "not a port number", 1),
            (
                "alive_script:\n- cmd: x\n  timeout: soon\n",
                "not a duration",
                3,
            ),
            ("config:\n- path: /a\n  exists: maybe\n", "", 3),
        ];
        for (text, wanted, line) in cases {
            let e = yaml(text).expect_err(text);
            let shown = e.to_string();
            assert!(shown.contains(wanted), "{text:?}: {shown}");
            assert_eq!(e.line, Some(*line), "{text:?}: {shown}");
            assert!(!shown.contains('\n'), "one line: {shown}");
            assert!(shown.starts_with(&format!("spec.yaml:{line}")), "{shown}");
        }
    }

    #[test]
    fn json_errors_have_line_and_field() {
        let e = CheckSpec::from_str(
            "{\n  \"config\": [\n    {\"path\": \"/a\", \"size\": \"9X\"}\n  ]\n}",
            SpecFormat::Json,
            "s.json",
        )
        .unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
        assert_eq!(e.field.as_deref(), Some("config[0].size"), "{e}");
        assert!(e.to_string().starts_with("s.json:3:"), "{e}");
        let e = CheckSpec::from_str("{\"prot\": [1]}", SpecFormat::Json, "s.json").unwrap_err();
        assert!(e.message.contains("unknown field `prot`"), "{e}");
    }

    #[test]
    fn placeholders_resolve_from_vars() {
        let mut spec = yaml("config:\n- path: /etc/postgresql/{version}/main/x.conf\npackage:\n- postgresql-{version}\ncommand:\n- cmd: echo ${HOME}\n").unwrap();
        spec.resolve(&|name| (name == "version").then(|| "15".to_string()))
            .unwrap();
        assert_eq!(spec.config[0].path, "/etc/postgresql/15/main/x.conf");
        assert_eq!(spec.package[0].name, "postgresql-15");
        assert_eq!(spec.command[0].cmd, "echo ${HOME}");
    }

    /// Inventory vars are data: in a command each is one quoted word, as
    /// `sh!` writes it; elsewhere it is written as it is.
    #[test]
    fn placeholders_in_commands_are_one_shell_word() {
        let mut spec = yaml(
            "version: {cmd: 'echo {v}', expected: '1'}\nalive_script:\n- {shell: /bin/sh, cmd: 'test -n {v}'}\ncommand:\n- {cmd: 'printf %s {v}', stdout_contains: ['{v}']}\nconfig:\n- path: /srv/{v}\n",
        )
        .unwrap();
        let value = "1; touch /tmp/x $(id) 'q'";
        spec.resolve(&|name| (name == "v").then(|| value.to_string()))
            .unwrap();
        let word = r#"'1; touch /tmp/x $(id) '\''q'\'''"#;
        assert_eq!(spec.version.unwrap().cmd, format!("echo {word}"));
        assert_eq!(spec.alive_script[0].cmd, format!("test -n {word}"));
        assert_eq!(spec.command[0].cmd, format!("printf %s {word}"));
        assert_eq!(spec.command[0].stdout_contains, [value]);
        assert_eq!(spec.config[0].path, format!("/srv/{value}"));
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(&spec.command[0].cmd)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), value);
    }

    #[test]
    fn a_command_placeholder_inside_quotes_is_an_error_naming_the_field() {
        for (cmd, place) in [
            ("echo '{v}'", "inside single quotes"),
            ("echo \"a {v}\"", "inside double quotes"),
            ("echo `echo {v}`", "inside backquotes"),
            ("echo ${v}", "right after `$`"),
        ] {
            let mut spec = CheckSpec {
                command: vec![CommandCheck {
                    cmd: cmd.into(),
                    ..CommandCheck::default()
                }],
                ..CheckSpec::default()
            };
            let (field, reason) = spec
                .resolve(&|name| (name == "v").then(|| "x".to_string()))
                .unwrap_err();
            assert_eq!(field, "command[0].cmd");
            assert!(
                reason.contains(&format!("`{{v}}` is {place}")),
                "{cmd}: {reason}"
            );
        }
        // Quotes that are closed, escaped, or inside the other kind.
        let mut spec = CheckSpec {
            command: vec![CommandCheck {
                cmd: r#"echo 'a' "b" \' "'" {v} \$ {v}"#.into(),
                ..CommandCheck::default()
            }],
            ..CheckSpec::default()
        };
        spec.resolve(&|name| (name == "v").then(|| "x y".to_string()))
            .unwrap();
        assert_eq!(spec.command[0].cmd, r#"echo 'a' "b" \' "'" 'x y' \$ 'x y'"#);
    }
}
