//! `cargo off new` as a new user meets it: the crate it writes builds and
//! passes its own test on the first `cargo test`.

use std::process::Command;

#[test]
fn a_new_recipe_crate_passes_its_own_test() {
    let dir = tempfile::tempdir().unwrap();
    let krate = dir.path().join("offregister_hello");
    let checkout = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let out = Command::new(env!("CARGO_BIN_EXE_cargo-off"))
        .args(["off", "new"])
        .arg(&krate)
        .args(["--path", checkout])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("cargo test"), "{said}");

    // The first `cargo test`, with the lock file the checkout is tested with.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["test", "--quiet", "--offline"])
        .current_dir(&krate)
        .output()
        .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert!(report.contains("2 passed"), "{report}");

    // Its off.yaml is what gen-config writes: up to date.
    let out = Command::new(env!("CARGO_BIN_EXE_cargo-off"))
        .args(["off", "gen-config", "--check", "--manifest-path"])
        .arg(krate.join("Cargo.toml"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A second `new` into the same place is refused and changes nothing.
    let before = std::fs::read_to_string(krate.join("src/main.rs")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cargo-off"))
        .args(["off", "new"])
        .arg(&krate)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(
        std::fs::read_to_string(krate.join("src/main.rs")).unwrap(),
        before
    );
}
