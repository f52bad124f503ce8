//! What the control machine and the pushed binary say to each other over
//! the channel: one JSON object per line each way.
//!
//! Control → host (the binary's standard input): the [`Request`] first,
//! then [`Control`] lines until the run ends. Host → control (its standard
//! output): [`Report`]s, the run's observer calls in order, ending with
//! [`Report::Finished`]. The binary on both ends is the same file (the copy
//! is named by its sha256), so both speak the same [`PROTOCOL`].

use serde::{Deserialize, Serialize};

use crate::driver::args::Inputs;
use crate::report::OpStatus;
use crate::transport::Stream;

/// Bumped whenever a message changes meaning.
pub(crate) const PROTOCOL: u32 = 1;

/// The run the pushed binary is to do: the first line of its standard input.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Request {
    pub protocol: u32,
    /// The host as the control machine names it (`root@db1`), for the
    /// output, the errors and `current_host()`.
    pub label: String,
    /// The kwargs' raw inputs, as the control machine read them.
    pub inputs: Inputs,
    /// The steps to run, in order (`--steps` and `--resume` already applied).
    pub steps: Vec<String>,
    /// `--timeout` in milliseconds; `None` for no limit.
    pub timeout_ms: Option<u64>,
    /// The sudo password, when the control machine has one.
    pub sudo_password: Option<String>,
}

/// What the control machine may send once the run has started.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Control {
    /// The control machine is still there: sent every [`HEARTBEAT`].
    Alive,
    /// Another host failed under `--fail-fast` (or the run is cancelled):
    /// start no further operation.
    Cancel,
}

/// How often the control machine says it is still there.
pub(crate) const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(2);

/// How long the copy runs on without hearing from the control machine: a
/// host cut off without a word (no FIN, no reset) keeps its sshd session
/// for hours, and the copy must not go on deploying alone. Longer than the
/// control machine takes to give the host up (three missed keepalives).
pub(crate) const SILENCE: std::time::Duration = std::time::Duration::from_secs(20);

/// One thing that happened in the pushed run.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "report", rename_all = "snake_case")]
pub(crate) enum Report {
    Step {
        name: String,
    },
    OpStarted {
        op: String,
        command: String,
        quiet: bool,
    },
    Output {
        stderr: bool,
        line: String,
    },
    OpFinished {
        op: String,
        command: String,
        quiet: bool,
        status: Status,
        micros: u64,
    },
    Message {
        text: String,
    },
    /// The step completed: `--resume` will skip it.
    StepDone {
        name: String,
    },
    /// The run on the host is over: `error` is how it failed.
    Finished {
        error: Option<Failure>,
    },
}

/// [`OpStatus`] on the wire.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Status {
    Ok,
    Changed,
    Failed,
}

impl From<OpStatus> for Status {
    fn from(status: OpStatus) -> Status {
        match status {
            OpStatus::Ok { changed: false } => Status::Ok,
            OpStatus::Ok { changed: true } => Status::Changed,
            OpStatus::Failed => Status::Failed,
        }
    }
}

impl From<Status> for OpStatus {
    fn from(status: Status) -> OpStatus {
        match status {
            Status::Ok => OpStatus::Ok { changed: false },
            Status::Changed => OpStatus::Ok { changed: true },
            Status::Failed => OpStatus::Failed,
        }
    }
}

/// A host's failure: its message and the exit code it means.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Failure {
    pub message: String,
    pub exit_code: u8,
}

/// Which stream an output line came from, on the wire.
pub(crate) fn is_stderr(stream: Stream) -> bool {
    stream == Stream::Stderr
}

/// One message as the line that carries it.
pub(crate) fn line<T: Serialize>(message: &T) -> String {
    let mut text = serde_json::to_string(message).expect("messages serialize");
    text.push('\n');
    text
}

/// The operation's name as the observers take it (`&'static str`): one of
/// the names operations have, or the name leaked once per process.
pub(crate) fn op_name(name: &str) -> &'static str {
    use std::collections::HashSet;
    use std::sync::Mutex;
    static NAMES: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
    let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    let names = names.get_or_insert_with(HashSet::new);
    if let Some(known) = names.get(name) {
        return known;
    }
    let leaked: &'static str = Box::leak(name.to_string().into_boxed_str());
    names.insert(leaked);
    leaked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_round_trip_one_per_line() {
        let reports = [
            Report::Step {
                name: "configure".into(),
            },
            Report::Output {
                stderr: true,
                line: "a\nb \"quoted\"".into(),
            },
            Report::OpFinished {
                op: "run".into(),
                command: "true".into(),
                quiet: false,
                status: Status::Changed,
                micros: 12,
            },
            Report::Finished {
                error: Some(Failure {
                    message: "[root@db1] run `false` exited with code 1".into(),
                    exit_code: 1,
                }),
            },
        ];
        for report in reports {
            let text = line(&report);
            assert_eq!(text.matches('\n').count(), 1, "{text}");
            assert_eq!(serde_json::from_str::<Report>(&text).unwrap(), report);
        }
        assert_eq!(line(&Control::Cancel), "\"cancel\"\n");
        assert!(SILENCE > HEARTBEAT * 5);
    }

    #[test]
    fn op_names_are_interned() {
        let a = op_name(&String::from("upload_template"));
        let b = op_name("upload_template");
        assert!(std::ptr::eq(a, b));
    }
}
