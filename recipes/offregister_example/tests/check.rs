//! `--check` of the example recipe on test host 7: the spec comes from the
//! recipe's own code and kwargs.

mod common;

use common::text;

use std::process::Output;

const HOST: usize = 7;

fn recipe(args: &[&str]) -> Output {
    let state = std::env::temp_dir().join(format!("off-example-check-{}", std::process::id()));
    common::recipe_on(HOST, args, &state)
}

#[test]
fn check_passes_after_deploy_and_names_a_drifted_file() {
    let root = format!("/tmp/{}", off_testbed::unique("example-check"));
    let args = ["--root", &root, "--greeting", "hi", "--with-index"];
    let out = recipe(&args);
    assert!(out.status.success(), "{}", text(&out));

    let check = |extra: &[&str]| recipe(&[&args[..], &["--check"], extra].concat());
    let out = check(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("bootstrapped: true"), "{report}");
    assert!(report.contains(&format!("{root}/conf/motd")), "{report}");
    assert!(
        report.contains(&format!("{root}/www/index.html")),
        "{report}"
    );

    // Other kwargs render another file: the same host drifts from them.
    let out = recipe(&[
        "--root",
        &root,
        "--greeting",
        "bye",
        "--with-index",
        "--check",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));

    // The manifest's overrides add what the code cannot know.
    let manifest = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("off.yaml"),
    )
    .unwrap()
    .replace(
        "overrides: {}",
        "overrides:\n  check:\n    config:\n    - path: \"{root}/conf/stages\"\n      size: 5M\n",
    );
    let manifest_path =
        std::env::temp_dir().join(format!("off-example-{}.yaml", std::process::id()));
    std::fs::write(&manifest_path, manifest).unwrap();
    let out = check(&["--manifest", manifest_path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("{root}/conf/stages")),
        "{}",
        text(&out)
    );

    // A changed managed file is drift, and the report names it.
    common::on_host(HOST, &format!("echo edited >> {root}/www/index.html"));
    let out = check(&["--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let failing: Vec<String> = failing_items(&report);
    assert!(
        failing
            .iter()
            .any(|f| f.contains(&format!("{root}/www/index.html"))),
        "{failing:?} in {report}"
    );
    assert!(
        !failing.iter().any(|f| f.contains("motd")),
        "only the edited file drifts: {failing:?}"
    );
}

#[test]
fn an_undeployed_host_is_not_bootstrapped() {
    let root = format!("/tmp/{}", off_testbed::unique("example-fresh"));
    let out = recipe(&["--root", &root, "--check"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("bootstrapped: false"), "{report}");
    assert_eq!(
        common::on_host(
            HOST,
            &format!("test -e {root} && echo exists || echo absent")
        ),
        "absent\n",
        "--check changes nothing"
    );
}

#[test]
fn check_flags_are_validated_before_any_host_is_touched() {
    for (args, expected) in [
        (vec!["--format", "tap"], "--check"),
        (vec!["--check", "--format", "xml"], "xml"),
        (vec!["--check", "--retry-timeout", "soon"], "soon"),
        (
            vec!["--check", "--manifest", "/nonexistent/off.yaml"],
            "/nonexistent/off.yaml",
        ),
    ] {
        let out = recipe(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(text(&out).contains(expected), "{args:?}: {}", text(&out));
    }
}

/// The file items (those with a `path`) that did not pass, whatever the
/// nesting of the JSON report.
fn failing_items(report: &serde_json::Value) -> Vec<String> {
    let mut found = Vec::new();
    fn walk(v: &serde_json::Value, found: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(map) => {
                if map.get("ok") == Some(&serde_json::Value::Bool(false))
                    && map.contains_key("path")
                {
                    found.push(v.to_string());
                }
                map.values().for_each(|v| walk(v, found));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, found)),
            _ => {}
        }
    }
    walk(report, &mut found);
    found
}
