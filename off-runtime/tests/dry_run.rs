//! Dry runs: every operation goes through, nothing reaches the host, and
//! what the task would leave there is recorded.

use std::sync::Arc;

use off_runtime::dry_run::DryRun;
use off_runtime::prelude::*;
use off_runtime::report::Console;

#[test]
fn a_dry_run_touches_nothing_and_records_what_it_would_leave() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("marker");
    let conf = dir.path().join("app.conf");
    let secret_file = dir.path().join(".pgpass");
    let dry_run = DryRun::new();
    let report = Executor::new(vec![Target::Local])
        .observer(Arc::new(Console::new(false)))
        .dry_run(dry_run.clone())
        .run(|| {
            let out = run(sh!(
                "touch {marker}; echo hello",
                marker = marker.display().to_string()
            ))?;
            assert_eq!(out.stdout, "", "outputs are assumed empty");
            assert!(exists("/nonexistent")?, "commands are assumed to succeed");
            put(
                b"port = 5432\n",
                remote_path(conf.display().to_string()).mode(0o640),
            )?;
            put(
                Secret::new("db:5432:*:app:pw\n"),
                secret_file.display().to_string(),
            )?;
            local(sh!("touch {marker}", marker = marker.display().to_string()))?;
            package(["postgresql-15"])?;
            service("postgresql", Start)?;
            service("postgresql", Restart)?;
            Ok(())
        });
    assert_eq!(report.exit_code(), 0, "{}", report.summary());
    assert!(!marker.exists() && !conf.exists() && !secret_file.exists());

    let effects = dry_run.effects(&Target::Local);
    let files: Vec<(&str, Option<&str>, Option<u32>)> = effects
        .files
        .iter()
        .map(|f| (f.path.as_str(), f.sha256.as_deref(), f.mode))
        .collect();
    assert_eq!(
        files,
        [
            (
                conf.to_str().unwrap(),
                Some("c0efd349f9da495924a845e0395b6b87312a8d2d7c364a9564c114be5b768425"),
                Some(0o640)
            ),
            // A secret's content is not recorded, not even as a checksum.
            (secret_file.to_str().unwrap(), None, None),
        ]
    );
    assert_eq!(effects.packages, ["postgresql-15"]);
    assert_eq!(effects.services, [("postgresql".to_string(), Restart)]);
}
