//! `--resume` is keyed by the inputs: on test host 27, a resumed run with the
//! failed run's kwargs continues where it stopped; one with other kwargs
//! starts over, naming the kwarg that changed. The record holds no value.

mod common;

use common::text;

const HOST: usize = 27;

#[test]
fn resume_with_other_kwargs_starts_over_naming_the_kwarg() {
    let state = tempfile::tempdir().unwrap();
    let root = format!("/tmp/example-resume-{}", std::process::id());
    // A directory where the message of the day goes: `configure` fails
    // after `prepare` completed.
    common::on_host(HOST, &format!("rm -rf {root} && mkdir -p {root}/conf/motd"));
    let run = |greeting: &str, resume: bool| {
        let mut args = vec!["--root", &root, "--greeting", greeting];
        if resume {
            args.push("--resume");
        }
        common::recipe_on(HOST, &args, state.path())
    };
    let greeting = "kept-greeting-zq";

    let first = run(greeting, false);
    assert_eq!(first.status.code(), Some(1), "{}", text(&first));

    // Same kwargs: `prepare` is skipped.
    let same = run(greeting, true);
    assert_eq!(same.status.code(), Some(1), "{}", text(&same));
    assert!(
        text(&same).contains("--resume: skipping prepare, completed in the last run"),
        "{}",
        text(&same)
    );

    // Another greeting: the run starts over and says why.
    common::on_host(HOST, &format!("rmdir {root}/conf/motd"));
    let changed = run("other-greeting-zq", true);
    let out = text(&changed);
    assert!(changed.status.success(), "{out}");
    assert!(
        out.contains("--resume: starting over, `--greeting` differs from the last run"),
        "{out}"
    );
    assert!(!out.contains("skipping"), "{out}");

    // The record keeps hashes, never the values.
    for entry in std::fs::read_dir(state.path().join("offregister_example")).unwrap() {
        let record = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        assert!(record.contains("kwarg greeting "), "{record}");
        assert!(!record.contains("greeting-zq"), "{record}");
        assert!(!record.contains(&root), "{record}");
    }
    common::on_host(HOST, &format!("rm -rf {root}"));
}
