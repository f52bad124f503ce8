//! The check-spec items of a recipe's `#[recipe(check(...))]`: the one
//! model of the annotation (`off_input::annotations`, which the macro
//! parses and the generated binary holds) turned into spec items, with the
//! kwargs' values in its `{param}` placeholders. A recipe's `--check` adds
//! them to the spec it derives from the recipe's effects.

use off_input::annotations::CheckAnnotations;
use off_manifest::{Fill, FillError, fill};

use super::spec::{
    AliveScript, CheckSpec, PackageCheck, Pattern, PortCheck, ServiceCheck, VersionCheck,
};
use super::version::VersionConstraint;

impl CheckSpec {
    /// Adds the items of `annotations`, each placeholder filled from
    /// `value` (in a command, as one shell word). An annotated service
    /// replaces the one of the same name already in the spec (the
    /// annotation states what it should be); an annotated package already
    /// there is not added twice. Errors name the annotation.
    pub fn add_annotations(
        &mut self,
        annotations: &CheckAnnotations,
        value: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(), String> {
        // Kwargs are data: in a command each value is one shell word.
        let fill_as = |what: &str, text: &str, how: Fill| {
            fill(text, value, how).map_err(|e| match e {
                FillError::NoValue(name) => format!(
                    "#[recipe(check({what}))]: no value for `{{{name}}}` (a kwarg without a value, or not a kwarg)"
                ),
                e => format!("#[recipe(check({what}))]: `{text}`: {e}"),
            })
        };
        let fill = |what: &str, text: &str| fill_as(what, text, Fill::Text);

        if let Some(v) = &annotations.version {
            let expected = fill("version", v.expected.as_deref().unwrap_or(">=0"))?;
            self.version = Some(VersionCheck {
                cmd: fill_as("version", &v.cmd, Fill::ShellWord)?,
                regex: v
                    .regex
                    .as_deref()
                    .map(Pattern::new)
                    .transpose()
                    .map_err(|e| format!("#[recipe(check(version))]: {e}"))?,
                expected: expected.parse::<VersionConstraint>().map_err(|e| {
                    format!("#[recipe(check(version))]: expected version `{expected}`: {e}")
                })?,
            });
        }
        for os in annotations.os.iter() {
            self.os.push(fill("os", os)?);
        }
        for a in annotations.alive.iter() {
            self.alive_script.push(AliveScript {
                shell: fill("alive", &a.shell)?,
                cmd: fill_as("alive", &a.cmd, Fill::ShellWord)?,
                exit_code: a.exit_code.into(),
                timeout: a.timeout.unwrap_or(AliveScript::default().timeout),
            });
        }
        for s in annotations.services.iter() {
            let name = fill("service", &s.name)?;
            self.service.retain(|existing| existing.name != name);
            self.service.push(ServiceCheck {
                name,
                state: s.state,
            });
        }
        for &port in annotations.ports.iter() {
            self.port.push(PortCheck {
                port,
                listening: true,
            });
        }
        for package in annotations.packages.iter() {
            let check = PackageCheck::pinned(&fill("package", package)?)?;
            if !self.package.iter().any(|p| p.name == check.name) {
                self.package.push(check);
            }
        }
        Ok(())
    }
}

impl PackageCheck {
    /// `name`, or apt's pinned `name=version`.
    pub fn pinned(package: &str) -> Result<PackageCheck, String> {
        match package.split_once('=') {
            None => Ok(PackageCheck {
                name: package.to_string(),
                ..PackageCheck::default()
            }),
            Some((name, version)) => Ok(PackageCheck {
                name: name.to_string(),
                version: Some(
                    version
                        .parse()
                        .map_err(|e| format!("package `{package}`: {e}"))?,
                ),
                ..PackageCheck::default()
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use off_input::annotations::{ServiceAnnotation, VersionAnnotation};

    use super::*;
    use crate::ServiceState;

    static ANNOTATIONS: CheckAnnotations = CheckAnnotations {
        version: Some(VersionAnnotation::new("app --version", None, Some("{v}"))),
        services: Cow::Borrowed(&[ServiceAnnotation::new("app@{v}", ServiceState::Enabled)]),
        packages: Cow::Borrowed(&[Cow::Borrowed("app={v}"), Cow::Borrowed("curl")]),
        ..CheckAnnotations::NONE
    };

    #[test]
    fn annotations_become_spec_items_with_the_kwargs_filled() {
        let mut spec = CheckSpec {
            service: vec![ServiceCheck {
                name: "app@2".into(),
                state: ServiceState::Running,
            }],
            package: vec![PackageCheck::pinned("curl").unwrap()],
            ..CheckSpec::default()
        };
        let v = |name: &str| (name == "v").then(|| "2".to_string());
        spec.add_annotations(&ANNOTATIONS, &v).unwrap();
        assert!(spec.version.as_ref().unwrap().expected.matches("2.1"));
        assert_eq!(
            spec.service,
            [ServiceCheck {
                name: "app@2".into(),
                state: ServiceState::Enabled
            }]
        );
        let packages: Vec<&str> = spec.package.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(packages, ["curl", "app"]);
        assert!(spec.package[1].version.as_ref().unwrap().matches("2"));
        let err = CheckSpec::default()
            .add_annotations(&ANNOTATIONS, &|_| None)
            .unwrap_err();
        assert!(
            err.contains("#[recipe(check(version))]: no value for `{v}`"),
            "{err}"
        );
    }
}
