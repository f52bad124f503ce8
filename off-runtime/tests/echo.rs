//! A command's output is shown as it arrives, each line with its host, as
//! Fabric shows it (`[root@db1] out: …`): on test host 27, over SSH.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Fixture;
use off_runtime::prelude::*;
use off_runtime::report::{self, OpEvent, OpStatus, RunObserver};
use off_runtime::transport::Stream;

const HOST: usize = 27;

/// Every echoed line and the end of each operation, with when they came.
#[derive(Default)]
struct Recorder(Mutex<Vec<(Instant, String)>>);

impl RunObserver for Recorder {
    fn output_line(&self, host: &str, stream: Stream, line: &str) {
        let text = report::output_echo_line(host, stream, line);
        self.0.lock().unwrap().push((Instant::now(), text));
    }
    fn op_finished(&self, _: &OpEvent<'_>, _: OpStatus, _: Duration) {
        self.0
            .lock()
            .unwrap()
            .push((Instant::now(), "finished".into()));
    }
}

#[test]
fn output_lines_are_echoed_live_with_the_host() {
    let fixture = Fixture::host(HOST, "root");
    let recorder = Arc::new(Recorder::default());
    let report = common::executor(vec![fixture.target.clone()], &fixture)
        .observer(recorder.clone())
        .run(|| {
            run("echo first; echo oops >&2; sleep 2; echo second")?;
            Ok(())
        });
    assert_eq!(report.exit_code(), 0, "{}", report.summary());
    let host = fixture.target.to_string();
    let seen = recorder.0.lock().unwrap();
    let at = |text: &str| {
        seen.iter()
            .find(|(_, t)| t == text)
            .map(|(when, _)| *when)
            .unwrap_or_else(|| panic!("no {text:?} in {seen:?}"))
    };
    let first = at(&format!("[{host}] out: first"));
    at(&format!("[{host}] err: oops"));
    let second = at(&format!("[{host}] out: second"));
    let finished = at("finished");
    // `first` came while the command still ran, not with its end.
    assert!(second - first >= Duration::from_millis(1500), "{seen:?}");
    assert!(finished >= second);
}
