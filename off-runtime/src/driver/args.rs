//! A recipe's kwargs from their four sources, in precedence order: flags,
//! the environment, the `-c` file (with `--inventory` host vars between the
//! environment and the file), and the defaults (applied by the generated code).

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use off_manifest::kwarg_name;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::{ParamKind, RecipeSpec, did_you_mean, written};
use crate::error::{CliError, exit_code};
use crate::target::Target;

/// One invalid input: an unknown key, a wrong type, a missing value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgError(pub String);

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ArgError {}

/// All invalid inputs of a run, reported together.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ArgErrors(pub Vec<ArgError>);

impl ArgErrors {
    /// The value, or `None` after recording its error(s).
    pub fn take<T, E: Into<ArgErrors>>(&mut self, result: Result<T, E>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.extend(e.into().0);
                None
            }
        }
    }

    pub fn push(&mut self, message: impl Into<String>) {
        self.0.push(ArgError(message.into()));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Err(self)` when any error was recorded.
    pub fn finish(self) -> Result<(), ArgErrors> {
        if self.0.is_empty() { Ok(()) } else { Err(self) }
    }
}

impl From<ArgError> for ArgErrors {
    fn from(e: ArgError) -> Self {
        ArgErrors(vec![e])
    }
}

/// One `error: …` line per error.
impl fmt::Display for ArgErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.0 {
            writeln!(f, "error: {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ArgErrors {}

/// Input errors stop a run before it starts: exit 2, every error listed.
impl From<ArgErrors> for CliError {
    fn from(errors: ArgErrors) -> Self {
        CliError::many(exit_code::USAGE, errors.0)
    }
}

/// Values from a file: the values by parameter name, and where they came from.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct FileLayer {
    /// `cfg.yaml`, or `hosts.yaml host db1` for inventory vars.
    name: String,
    text: String,
    values: Map<String, Value>,
    /// `values` as written: each number and boolean as its source text
    /// (YAML only; JSON and TOML numbers have no such record).
    written: Option<Map<String, Value>>,
}

impl FileLayer {
    fn origin(&self, key: &str) -> String {
        match find_line(&self.text, key) {
            Some(line) => format!("{} line {line}", self.name),
            None => self.name.clone(),
        }
    }
}

/// Where a value came from.
enum Found<'a> {
    Flag(&'a [String]),
    Env(&'a str, &'a str),
    /// Where, the parsed value, and the value as written (see [`FileLayer::written`]).
    File(String, &'a Value, Option<&'a Value>),
}

/// The raw inputs of a recipe's kwargs, before typing.
#[derive(Debug, Clone)]
pub struct RawArgs {
    spec: &'static RecipeSpec,
    inputs: Inputs,
}

/// Every source's values as given, so that another process of the same
/// binary (`--push` runs one on the host) reads exactly these kwargs, with
/// the same errors and the same origins in them.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Inputs {
    flags: HashMap<String, Vec<String>>,
    /// Param name → (variable, value).
    env: HashMap<String, (String, String)>,
    host: Option<FileLayer>,
    file: Option<FileLayer>,
}

impl RawArgs {
    /// Builds the inputs from explicit sources: flag values by param name,
    /// an environment lookup, and the `-c` file's path and text. Errors: the
    /// file cannot be parsed, or has unknown keys.
    pub fn from_sources(
        spec: &'static RecipeSpec,
        flags: Vec<(String, Vec<String>)>,
        env: &dyn Fn(&str) -> Option<String>,
        file: Option<(PathBuf, String)>,
    ) -> Result<RawArgs, ArgErrors> {
        let env = spec
            .params
            .iter()
            .filter_map(|p| {
                let var = match p.env {
                    Some(var) => var.to_string(),
                    None => kwarg_name::default_env_var(p.name),
                };
                env(&var).map(|value| (p.name.to_string(), (var, value)))
            })
            .collect();
        let file = match file {
            None => None,
            Some((path, text)) => {
                let values = parse_config(&path, &text)?;
                let written = is_yaml(&path).then(|| written::top_level(&text)).flatten();
                let name = path.display().to_string();
                Some(check_keys(spec, name, text, values, written)?)
            }
        };
        Ok(RawArgs {
            spec,
            inputs: Inputs {
                flags: flags.into_iter().collect(),
                env,
                host: None,
                file,
            },
        })
    }

    /// The inputs as given, for another process of this binary.
    pub(crate) fn inputs(&self) -> &Inputs {
        &self.inputs
    }

    /// The raw inputs of `spec` that another process of this binary read
    /// ([`RawArgs::inputs`]).
    pub(crate) fn from_inputs(spec: &'static RecipeSpec, inputs: Inputs) -> RawArgs {
        RawArgs { spec, inputs }
    }

    /// These inputs with `flags` given as flags too (over the command line's): the kwargs a
    /// recipe sets from a cluster's membership under `--serve`.
    pub(crate) fn with_flags(
        &self,
        flags: impl IntoIterator<Item = (String, Vec<String>)>,
    ) -> RawArgs {
        let mut raw = self.clone();
        raw.inputs.flags.extend(flags);
        raw
    }

    /// These inputs with a host's vars (already checked) between the
    /// environment and the file.
    pub(crate) fn with_host_vars(&self, layer: &HostLayer, vars: Map<String, Value>) -> RawArgs {
        let mut raw = self.clone();
        raw.inputs.host = Some(FileLayer {
            name: layer.name.clone(),
            text: layer.text.clone(),
            values: vars,
            written: layer.written.clone(),
        });
        raw
    }

    fn find(&self, name: &str) -> Option<Found<'_>> {
        let inputs = &self.inputs;
        if let Some(values) = inputs.flags.get(name) {
            return Some(Found::Flag(values));
        }
        if let Some((var, value)) = inputs.env.get(name) {
            return Some(Found::Env(var, value));
        }
        for layer in [&inputs.host, &inputs.file].into_iter().flatten() {
            if let Some(value) = layer.values.get(name) {
                let written = layer.written.as_ref().and_then(|w| w.get(name));
                return Some(Found::File(layer.origin(name), value, written));
            }
        }
        None
    }

    fn flag(&self, name: &str) -> String {
        kwarg_name::flag(name)
    }

    fn env_var(&self, name: &str) -> String {
        match self.spec.param(name).and_then(|p| p.env) {
            Some(var) => var.to_string(),
            None => kwarg_name::default_env_var(name),
        }
    }

    fn invalid(&self, name: &str, value: &str, origin: Option<&str>, reason: &str) -> ArgError {
        let from = origin.map(|o| format!(" (from {o})")).unwrap_or_default();
        ArgError(format!(
            "invalid value `{value}` for {}{from}: {reason}",
            self.flag(name)
        ))
    }

    fn parse_str<T>(&self, name: &str, value: &str, origin: Option<&str>) -> Result<T, ArgError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        value
            .parse()
            .map_err(|e: T::Err| self.invalid(name, value, origin, &e.to_string()))
    }

    /// A file's value: as the type reads it (`version: 15` for a `u32`),
    /// else parsed from the text the user wrote (`dir_mode: 0750` for a
    /// `String` is `0750`, not `750.0`).
    fn parse_value<T>(
        &self,
        name: &str,
        value: &Value,
        written: Option<&Value>,
        origin: &str,
    ) -> Result<T, ArgError>
    where
        T: FromStr + DeserializeOwned,
        T::Err: fmt::Display,
    {
        if let Ok(v) = serde_json::from_value(value.clone()) {
            return Ok(v);
        }
        match (value, written) {
            (Value::String(s), _) => self.parse_str(name, s, Some(origin)),
            (Value::Number(_) | Value::Bool(_), Some(Value::String(text))) => {
                self.parse_str(name, text, Some(origin))
            }
            (Value::Number(n), _)
                if n.is_f64()
                    && serde_json::from_value::<T>(Value::String(n.to_string())).is_ok() =>
            {
                // The file's format keeps no record of how the number was
                // spelt (`1.10` and `1.1` are one float), and a kwarg that
                // takes text must get what the user wrote.
                Err(ArgError(format!(
                    "{} (from {origin}) takes text, and a number like {n} may not be what was written; put it in quotes",
                    self.flag(name)
                )))
            }
            (Value::Number(_) | Value::Bool(_), _) => {
                self.parse_str(name, &value.to_string(), Some(origin))
            }
            (other, _) => {
                let reason = serde_json::from_value::<T>(other.clone())
                    .err()
                    .map(|e| e.to_string())
                    .unwrap_or_default();
                // A list or map is not quoted: it may hold secrets (a
                // user's password), and serde's reason names what is wrong.
                Err(ArgError(format!(
                    "invalid value for {} (from {origin}): {reason}",
                    self.flag(name)
                )))
            }
        }
    }

    /// A value, or its absence.
    pub fn get_opt<T>(&self, name: &str) -> Result<Option<T>, ArgError>
    where
        T: FromStr + DeserializeOwned,
        T::Err: fmt::Display,
    {
        match self.find(name) {
            None => Ok(None),
            Some(Found::Flag(values)) => match values.last() {
                Some(v) => self.parse_str(name, v, None).map(Some),
                None => Ok(None),
            },
            Some(Found::Env(var, value)) => self.parse_str(name, value, Some(var)).map(Some),
            Some(Found::File(_, Value::Null, _)) => Ok(None),
            Some(Found::File(origin, value, written)) => {
                self.parse_value(name, value, written, &origin).map(Some)
            }
        }
    }

    /// A scalar kwarg's value as text, as given (flag, environment, file),
    /// else its default when that is a literal: what a `{name}` placeholder
    /// in a check annotation stands for. `None` for lists and maps, and for
    /// defaults that are expressions.
    pub fn text(&self, name: &str) -> Option<String> {
        match self.find(name) {
            Some(Found::Flag(values)) => values.last().cloned(),
            Some(Found::Env(_, value)) => Some(value.to_string()),
            Some(Found::File(_, Value::String(s), _)) => Some(s.clone()),
            Some(Found::File(_, Value::Number(_) | Value::Bool(_), Some(Value::String(text)))) => {
                Some(text.clone())
            }
            Some(Found::File(_, v @ (Value::Number(_) | Value::Bool(_)), _)) => Some(v.to_string()),
            Some(Found::File(..)) => None,
            None => literal_text(self.spec.param(name)?.default?),
        }
    }

    /// A canonical text of the kwarg's value, whichever source gave it:
    /// what `--resume` hashes to tell whether a run has the last run's
    /// inputs. The same value from a flag, the environment or a file gives
    /// the same text; a default is its source text.
    pub(crate) fn fingerprint(&self, name: &str) -> String {
        let kind = self.spec.param(name).map(|p| p.kind);
        let list =
            |items: Vec<String>| Value::Array(items.into_iter().map(Value::String).collect());
        let value = match self.find(name) {
            None => match self.spec.param(name).and_then(|p| p.default) {
                Some(default) => serde_json::json!({ "default": default }),
                None => Value::Null,
            },
            Some(Found::Flag(values)) => match kind {
                Some(ParamKind::Vec) => list(values.to_vec()),
                Some(ParamKind::Bool) if values.is_empty() => Value::String("true".into()),
                _ => values.last().cloned().map_or(Value::Null, Value::String),
            },
            Some(Found::Env(_, value)) => match kind {
                Some(ParamKind::Vec) => list(
                    value
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect(),
                ),
                _ => Value::String(value.to_string()),
            },
            Some(Found::File(_, value, written)) => as_text(written.unwrap_or(value)),
        };
        value.to_string()
    }

    /// A required value.
    pub fn get<T>(&self, name: &str) -> Result<T, ArgError>
    where
        T: FromStr + DeserializeOwned,
        T::Err: fmt::Display,
    {
        self.get_opt(name)?.ok_or_else(|| {
            ArgError(format!(
                "missing required {} (flag, {} or `{name}` in the -c file)",
                self.flag(name),
                self.env_var(name)
            ))
        })
    }

    /// A value, or `default()` when no source has one.
    pub fn get_or<T>(&self, name: &str, default: impl FnOnce() -> T) -> Result<T, ArgError>
    where
        T: FromStr + DeserializeOwned,
        T::Err: fmt::Display,
    {
        Ok(self.get_opt(name)?.unwrap_or_else(default))
    }

    /// A flag: `true` when given, else the environment's or file's
    /// `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`), else `false`.
    pub fn get_bool(&self, name: &str) -> Result<bool, ArgError> {
        let parse = |value: &str, origin: Option<&str>| match value.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" | "" => Ok(false),
            _ => Err(self.invalid(name, value, origin, "expected true or false")),
        };
        match self.find(name) {
            None => Ok(false),
            Some(Found::Flag(values)) => match values.last() {
                Some(v) => parse(v, None),
                None => Ok(true),
            },
            Some(Found::Env(var, value)) => parse(value, Some(var)),
            Some(Found::File(_, Value::Bool(b), _)) => Ok(*b),
            Some(Found::File(_, Value::Null, _)) => Ok(false),
            Some(Found::File(origin, Value::String(s), _)) => parse(s, Some(&origin)),
            Some(Found::File(origin, other, _)) => parse(&other.to_string(), Some(&origin)),
        }
    }

    /// Every value of a repeatable flag; from the environment, a
    /// comma-separated list; from a file, a list (one value is refused:
    /// wrapping it would hide a key meant for another kwarg).
    pub fn get_vec<T>(&self, name: &str) -> Result<Vec<T>, ArgError>
    where
        T: FromStr + DeserializeOwned,
        T::Err: fmt::Display,
    {
        match self.find(name) {
            None => Ok(Vec::new()),
            Some(Found::Flag(values)) => values
                .iter()
                .map(|v| self.parse_str(name, v, None))
                .collect(),
            Some(Found::Env(var, value)) => value
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|v| self.parse_str(name, v, Some(var)))
                .collect(),
            Some(Found::File(_, Value::Null, _)) => Ok(Vec::new()),
            Some(Found::File(origin, Value::Array(items), written)) => {
                let written = match written {
                    Some(Value::Array(written)) if written.len() == items.len() => Some(written),
                    _ => None,
                };
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        let as_written = written.map(|w| &w[i]);
                        self.parse_value(name, v, as_written, &origin)
                    })
                    .collect()
            }
            Some(Found::File(origin, _, _)) => Err(ArgError(format!(
                "{} (from {origin}) takes a list; write the value as one: `[…]`",
                self.flag(name)
            ))),
        }
    }
}

/// `value` with every number and boolean as its text, as a flag gives it.
fn as_text(value: &Value) -> Value {
    match value {
        Value::Number(_) | Value::Bool(_) => Value::String(value.to_string()),
        Value::Array(items) => Value::Array(items.iter().map(as_text).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), as_text(v))).collect())
        }
        other => other.clone(),
    }
}

fn is_yaml(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"))
}

/// Parses a config file by its extension into a top-level map.
fn parse_config(path: &Path, text: &str) -> Result<Map<String, Value>, ArgError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let shown = path.display();
    // A syntax error names its line and column but never quotes the file:
    // the line may hold a password.
    let value: Value = match ext.as_str() {
        "yaml" | "yml" => serde_saphyr::from_str_with_options(
            text,
            serde_saphyr::options! { with_snippet: false },
        )
        .map_err(|e| e.to_string()),
        "json" => serde_json::from_str(text).map_err(|e| e.to_string()),
        "toml" => toml::from_str(text).map_err(|e| match e.span() {
            Some(span) => {
                let (line, column) = line_column(text, span.start);
                format!("{} at line {line} column {column}", e.message().trim_end())
            }
            None => e.message().trim_end().to_string(),
        }),
        _ => {
            return Err(ArgError(format!(
                "-c {shown}: unknown config format `.{ext}` (use .yaml, .yml, .json or .toml)"
            )));
        }
    }
    .map_err(|e| ArgError(format!("-c {shown}: {e}")))?;
    match value {
        Value::Object(map) => Ok(map),
        Value::Null => Ok(Map::new()),
        _ => Err(ArgError(format!(
            "-c {shown}: expected a map of parameter names to values at the top level"
        ))),
    }
}

/// The 1-based line and column (in characters) of byte `offset` of `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..text.floor_char_boundary(offset)];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (
        before.matches('\n').count() + 1,
        before[line_start..].chars().count() + 1,
    )
}

/// Normalises keys (dashes to underscores) and rejects unknown ones.
fn check_keys(
    spec: &RecipeSpec,
    name: String,
    text: String,
    values: Map<String, Value>,
    written: Option<Map<String, Value>>,
) -> Result<FileLayer, ArgErrors> {
    let mut errors = ArgErrors::default();
    let mut normalised = Map::new();
    let mut written_normalised = written.as_ref().map(|_| Map::new());
    for (key, value) in values {
        let param = kwarg_name::from_long(&key);
        if spec.param(&param).is_some() {
            if let (Some(out), Some(text)) = (
                written_normalised.as_mut(),
                written.as_ref().and_then(|w| w.get(&key)),
            ) {
                out.insert(param.clone(), text.clone());
            }
            normalised.insert(param, value);
            continue;
        }
        let at = match find_line(&text, &key) {
            Some(line) => format!("{name} line {line}"),
            None => name.clone(),
        };
        let hint = did_you_mean(&param, spec.params.iter().map(|p| p.name))
            .map(|p| format!("; did you mean `{p}`?"))
            .unwrap_or_default();
        errors.push(format!("unknown key `{key}` in {at}{hint}"));
    }
    errors.finish()?;
    Ok(FileLayer {
        name,
        text,
        values: normalised,
        written: written_normalised,
    })
}

/// The 1-based line where `key` is written as a key (`key:`, `"key" =`, …),
/// at the start of a line or, as in compact JSON, anywhere as `"key":`.
fn find_line(text: &str, key: &str) -> Option<usize> {
    let variants = [key.to_string(), kwarg_name::long(key)];
    find_line_start(text, &variants).or_else(|| {
        text.lines()
            .position(|line| {
                variants.iter().any(|k| {
                    line.match_indices(&format!("\"{k}\""))
                        .any(|(i, m)| line[i + m.len()..].trim_start().starts_with(':'))
                })
            })
            .map(|i| i + 1)
    })
}

fn find_line_start(text: &str, variants: &[String]) -> Option<usize> {
    text.lines()
        .position(|line| {
            let t = line.trim_start().trim_start_matches("- ");
            variants.iter().any(|k| {
                let rest = t
                    .strip_prefix(['"', '\''])
                    .unwrap_or(t)
                    .strip_prefix(k.as_str());
                match rest {
                    Some(rest) => {
                        let rest = rest.strip_prefix(['"', '\'']).unwrap_or(rest).trim_start();
                        rest.starts_with(':') || rest.starts_with('=')
                    }
                    None => false,
                }
            })
        })
        .map(|i| i + 1)
}

/// Where an inventory host's vars came from.
#[derive(Debug, Clone)]
pub(crate) struct HostLayer {
    name: String,
    text: String,
    written: Option<Map<String, Value>>,
}

/// One host of an `--inventory` file with its vars checked as the recipe's
/// kwargs (off-check's `InventoryHost` is the host as the file gives it).
#[derive(Debug)]
pub(crate) struct HostKwargs {
    pub target: Target,
    pub source: HostLayer,
    pub vars: Map<String, Value>,
}

/// Parses `hosts: [{host: "user@h:22", vars: {key: value}}]`, checking
/// every host's keys against the recipe's params.
pub(crate) fn parse_inventory(
    spec: &RecipeSpec,
    path: &Path,
    text: &str,
) -> Result<Vec<HostKwargs>, ArgErrors> {
    let shown = path.display();
    let entries = crate::inventory::parse(path, text)
        .map_err(|errors| ArgErrors(errors.into_iter().map(ArgError).collect()))?;
    let mut written = written::inventory_vars(text)
        .filter(|vars| vars.len() == entries.len())
        .map(Vec::into_iter);
    let mut errors = ArgErrors::default();
    let mut hosts = Vec::new();
    for entry in entries {
        let target = entry.target;
        let name = format!("{shown} host `{}`", entry.name);
        let written = written.as_mut().and_then(Iterator::next);
        if let Some(layer) = errors.take(check_keys(
            spec,
            name.clone(),
            text.to_string(),
            entry.vars,
            written,
        )) {
            hosts.push(HostKwargs {
                target,
                source: HostLayer {
                    name,
                    text: text.to_string(),
                    written: layer.written,
                },
                vars: layer.values,
            });
        }
    }
    errors.finish()?;
    Ok(hosts)
}

/// The value of a literal default's source text: `"localhost"` →
/// `localhost`, `15` → `15`; `None` for any other expression.
pub(super) fn literal_text(source: &str) -> Option<String> {
    let source = source.trim();
    if let Some(inner) = source.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        return (!inner.contains(['\\', '"'])).then(|| inner.to_string());
    }
    let is_literal = source.parse::<f64>().is_ok() || matches!(source, "true" | "false");
    is_literal.then(|| source.to_string())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::driver::{ParamKind, ParamSpec, StepSpec};

    const fn param(name: &'static str, ty: &'static str, kind: ParamKind) -> ParamSpec {
        ParamSpec {
            name,
            ty,
            kind,
            docs: "",
            default: None,
            short: None,
            env: None,
            hide: false,
        }
    }

    pub(crate) static SPEC: RecipeSpec = RecipeSpec {
        name: "demo",
        about: "A demo.",
        params: &[
            param("listen_addresses", "String", ParamKind::Plain),
            param("version", "u32", ParamKind::Plain),
            param("ssl", "bool", ParamKind::Bool),
            param("peers", "Vec<String>", ParamKind::Vec),
            param("standby", "Option<String>", ParamKind::Option),
        ],
        steps: &[
            StepSpec {
                name: "install",
                docs: "Install.",
                plan: &[("run", 2), ("sudo", 3)],
            },
            StepSpec {
                name: "configure",
                docs: "Configure.",
                plan: &[("sudo", 1), ("put", 1)],
            },
        ],
        checks: super::super::CheckAnnotations::NONE,
        peers: None,
    };

    fn raw(
        flags: &[(&str, &[&str])],
        env: &[(&str, &str)],
        file: Option<(&str, &str)>,
    ) -> Result<RawArgs, ArgErrors> {
        let flags = flags
            .iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect();
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = move |k: &str| env.get(k).cloned();
        RawArgs::from_sources(
            &SPEC,
            flags,
            &lookup,
            file.map(|(p, t)| (PathBuf::from(p), t.to_string())),
        )
    }

    const YAML: &str = "# config\nlisten_addresses: from-file\nversion: 14\n";

    #[test]
    fn precedence_is_flag_env_file_default() {
        let get = |r: RawArgs| r.get_or::<String>("listen_addresses", || "default".into());
        let file = Some(("cfg.yaml", YAML));
        let all = raw(
            &[("listen_addresses", &["flag"])],
            &[("OFF_LISTEN_ADDRESSES", "env")],
            file,
        );
        assert_eq!(get(all.unwrap()).unwrap(), "flag");
        let env = raw(&[], &[("OFF_LISTEN_ADDRESSES", "env")], file).unwrap();
        assert_eq!(get(env).unwrap(), "env");
        assert_eq!(get(raw(&[], &[], file).unwrap()).unwrap(), "from-file");
        assert_eq!(get(raw(&[], &[], None).unwrap()).unwrap(), "default");
        assert_eq!(raw(&[], &[], file).unwrap().get::<u32>("version"), Ok(14));
    }

    #[test]
    fn host_vars_sit_between_env_and_file() {
        let base = raw(&[], &[], Some(("cfg.yaml", YAML))).unwrap();
        let text = "hosts:\n  - host: root@db1\n    vars:\n      version: 16\n";
        let hosts = parse_inventory(&SPEC, Path::new("inv.yaml"), text).unwrap();
        assert_eq!(hosts.len(), 1);
        let h = &hosts[0];
        let layered = base.with_host_vars(&h.source, h.vars.clone());
        assert_eq!(layered.get::<u32>("version"), Ok(16));
        let bad = "hosts:\n  - host: db2\n    vars:\n      versoin: 1\n";
        let e = parse_inventory(&SPEC, Path::new("inv.yaml"), bad).unwrap_err();
        assert_eq!(
            e.0[0].0,
            "unknown key `versoin` in inv.yaml host `db2` line 4; did you mean `version`?"
        );
    }

    #[test]
    fn unknown_key_names_file_line_and_suggestion() {
        let text = "version: 3\n\nlisten-adresses: x\nzzz: 1\n";
        let e = raw(&[], &[], Some(("cfg.yaml", text))).unwrap_err();
        assert_eq!(
            e.to_string(),
            "error: unknown key `listen-adresses` in cfg.yaml line 3; did you mean `listen_addresses`?\n\
             error: unknown key `zzz` in cfg.yaml line 4\n"
        );
    }

    #[test]
    fn wrong_type_names_key_file_and_line() {
        let text = "listen_addresses: a\n\nversion: abc\n";
        let r = raw(&[], &[], Some(("cfg.yaml", text))).unwrap();
        assert_eq!(
            r.get::<u32>("version").unwrap_err().0,
            "invalid value `abc` for --version (from cfg.yaml line 3): invalid digit found in string"
        );
        let r = raw(&[("version", &["x1"])], &[], None).unwrap();
        assert_eq!(
            r.get::<u32>("version").unwrap_err().0,
            "invalid value `x1` for --version: invalid digit found in string"
        );
        let r = raw(&[], &[("OFF_VERSION", "-1")], None).unwrap();
        assert!(
            r.get::<u32>("version")
                .unwrap_err()
                .0
                .starts_with("invalid value `-1` for --version (from OFF_VERSION): ")
        );
    }

    #[test]
    fn missing_required_and_errors_collect() {
        let r = raw(&[("ssl", &["maybe"])], &[], None).unwrap();
        let mut errors = ArgErrors::default();
        assert_eq!(errors.take(r.get::<u32>("version")), None);
        assert_eq!(errors.take(r.get_bool("ssl")), None);
        assert_eq!(
            errors.finish().unwrap_err().to_string(),
            "error: missing required --version (flag, OFF_VERSION or `version` in the -c file)\n\
             error: invalid value `maybe` for --ssl: expected true or false\n"
        );
    }

    #[test]
    fn bool_vec_and_option() {
        let r = raw(&[("ssl", &[]), ("peers", &["a", "b"])], &[], None).unwrap();
        assert_eq!(r.get_bool("ssl"), Ok(true));
        assert_eq!(r.get_vec::<String>("peers").unwrap(), ["a", "b"]);
        assert_eq!(r.get_opt::<String>("standby"), Ok(None));
        let r = raw(&[], &[("OFF_SSL", "no"), ("OFF_PEERS", "x, y")], None).unwrap();
        assert_eq!(r.get_bool("ssl"), Ok(false));
        assert_eq!(r.get_vec::<String>("peers").unwrap(), ["x", "y"]);
        let r = raw(&[], &[], None).unwrap();
        assert_eq!(r.get_bool("ssl"), Ok(false));
        assert!(r.get_vec::<String>("peers").unwrap().is_empty());
        let json = r#"{"ssl": true, "peers": ["p", 7], "standby": "s2"}"#;
        let r = raw(&[], &[], Some(("c.json", json))).unwrap();
        assert_eq!(r.get_bool("ssl"), Ok(true));
        assert_eq!(r.get_vec::<String>("peers").unwrap(), ["p", "7"]);
        assert_eq!(r.get_opt::<String>("standby"), Ok(Some("s2".into())));
    }

    #[test]
    fn toml_and_json_files_with_numbers_into_strings() {
        let toml = "listen-addresses = 15\nversion = 12\npeers = [\"one\"]\n";
        let r = raw(&[], &[], Some(("c.toml", toml))).unwrap();
        assert_eq!(r.get::<String>("listen_addresses").unwrap(), "15");
        assert_eq!(r.get::<u32>("version"), Ok(12));
        assert_eq!(r.get_vec::<String>("peers").unwrap(), ["one"]);
        let json = "{\n  \"version\": \"x\"\n}";
        let r = raw(&[], &[], Some(("c.json", json))).unwrap();
        assert_eq!(
            r.get::<u32>("version").unwrap_err().0,
            "invalid value `x` for --version (from c.json line 2): invalid digit found in string"
        );
        let e = raw(&[], &[], Some(("c.ini", "x=1"))).unwrap_err();
        assert!(e.0[0].0.contains("unknown config format `.ini`"));
        let e = raw(&[], &[], Some(("c.yaml", "- 1\n- 2\n"))).unwrap_err();
        assert!(e.0[0].0.contains("expected a map"));
    }

    #[test]
    fn a_yaml_scalar_for_a_string_kwarg_is_the_text_written() {
        let yaml =
            "listen_addresses: 0750\nstandby: 1.10\nversion: 0750\npeers: [0750, yes, 1e3]\n";
        let r = raw(&[], &[], Some(("c.yaml", yaml))).unwrap();
        assert_eq!(r.get::<String>("listen_addresses").unwrap(), "0750");
        assert_eq!(r.get_opt::<String>("standby").unwrap().unwrap(), "1.10");
        assert_eq!(r.get::<u32>("version"), Ok(750));
        assert_eq!(
            r.get_vec::<String>("peers").unwrap(),
            ["0750", "yes", "1e3"]
        );
        assert_eq!(r.text("listen_addresses").as_deref(), Some("0750"));
        let text = "hosts:\n- host: root@db1\n  vars:\n    listen-addresses: 0750\n";
        let hosts = parse_inventory(&SPEC, Path::new("inv.yaml"), text).unwrap();
        let layered = r.with_host_vars(&hosts[0].source, hosts[0].vars.clone());
        assert_eq!(layered.get::<String>("listen_addresses").unwrap(), "0750");
    }

    #[test]
    fn a_float_for_a_string_kwarg_without_its_spelling_is_refused() {
        let json = "{\n  \"listen_addresses\": 1.10\n}";
        let r = raw(&[], &[], Some(("c.json", json))).unwrap();
        assert_eq!(
            r.get::<String>("listen_addresses").unwrap_err().0,
            "--listen-addresses (from c.json line 2) takes text, and a number like 1.1 may not be what was written; put it in quotes"
        );
    }

    #[test]
    fn a_scalar_for_a_list_kwarg_is_refused_not_wrapped() {
        for (file, text) in [
            ("c.yaml", "\npeers: one\n"),
            ("c.toml", "\npeers = \"one\"\n"),
        ] {
            let r = raw(&[], &[], Some((file, text))).unwrap();
            assert_eq!(
                r.get_vec::<String>("peers").unwrap_err().0,
                format!("--peers (from {file} line 2) takes a list; write the value as one: `[…]`")
            );
        }
    }

    #[test]
    fn a_value_has_one_fingerprint_whichever_source_gives_it() {
        let from_flags = raw(
            &[("version", &["15"]), ("peers", &["a", "b"]), ("ssl", &[])],
            &[],
            None,
        );
        let from_env = raw(
            &[],
            &[
                ("OFF_VERSION", "15"),
                ("OFF_PEERS", "a, b"),
                ("OFF_SSL", "true"),
            ],
            None,
        );
        let from_file = raw(
            &[],
            &[],
            Some((
                "c.json",
                r#"{"version": 15, "peers": ["a", "b"], "ssl": true}"#,
            )),
        );
        let prints = |r: RawArgs| {
            ["version", "peers", "ssl", "listen_addresses"].map(|name| r.fingerprint(name))
        };
        let flags = prints(from_flags.unwrap());
        assert_eq!(flags, prints(from_env.unwrap()));
        assert_eq!(flags, prints(from_file.unwrap()));
        let other = prints(raw(&[("version", &["16"])], &[], None).unwrap());
        assert_ne!(flags[0], other[0]);
        assert_eq!(flags[3], other[3]);
    }

    #[test]
    fn text_of_a_kwarg_for_placeholders() {
        let r = raw(
            &[("version", &["16"])],
            &[("OFF_LISTEN_ADDRESSES", "*")],
            Some(("c.yaml", "ssl: true\npeers: [a]\n")),
        )
        .unwrap();
        assert_eq!(r.text("version").as_deref(), Some("16"));
        assert_eq!(r.text("listen_addresses").as_deref(), Some("*"));
        assert_eq!(r.text("ssl").as_deref(), Some("true"));
        assert_eq!(r.text("peers"), None);
        assert_eq!(r.text("standby"), None);
        assert_eq!(literal_text("\"localhost\"").as_deref(), Some("localhost"));
        assert_eq!(literal_text("15").as_deref(), Some("15"));
        assert_eq!(literal_text("vec![1]"), None);
    }

    #[test]
    fn finds_keys_in_compact_json() {
        let json = "{\n  \"a\": 1, \"with_index\": \"maybe\"}";
        assert_eq!(find_line(json, "with_index"), Some(2));
        assert_eq!(find_line("{\"x\": \"with_index\"}", "with_index"), None);
        assert_eq!(find_line("with-index: true", "with_index"), Some(1));
    }

    #[test]
    fn a_syntax_error_names_its_place_and_quotes_no_line() {
        let cases = [
            (
                "c.yaml",
                "version: 1\npeers:\n- {host: a, password: \"s3cret}\n",
            ),
            ("c.toml", "version = 1\nstandby = \"s3cret\n"),
            ("c.json", "{\"version\": 1,\n \"standby\": \"s3cret"),
        ];
        for (file, text) in cases {
            let err = raw(&[], &[], Some((file, text))).unwrap_err().to_string();
            assert!(!err.contains("s3cret"), "{err}");
            assert_eq!(err.lines().count(), 1, "{err}");
            assert!(err.starts_with(&format!("error: -c {file}: ")), "{err}");
            assert!(err.contains("line 3") || err.contains("line 2"), "{err}");
        }
        let err = raw(
            &[],
            &[],
            Some(("c.toml", "version = 1\nstandby = \"s3cret\n")),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "error: -c c.toml: invalid basic string, expected `\"` at line 2 column 18\n"
        );
        assert_eq!(line_column("ab\ncé\nd", 6), (2, 3));
        assert_eq!(line_column("ab", 0), (1, 1));
    }

    #[test]
    fn a_bad_list_or_map_value_is_not_quoted() {
        let r = raw(
            &[],
            &[],
            Some(("c.yaml", "peers:\n- {host: a, password: s3cret}\n")),
        )
        .unwrap();
        let err = r.get_vec::<String>("peers").unwrap_err().to_string();
        assert!(
            err.starts_with("invalid value for --peers (from c.yaml"),
            "{err}"
        );
        assert!(!err.contains("s3cret"), "{err}");
    }
}
