//! A check's results as events (DESIGN §8): one `check_item` per item and one `check_host` per
//! host (with `bootstrapped`), for `--metrics` of `offcheck` and of a recipe's `--check`.

use off_metrics::event::{Body, CheckHost, CheckItem, CheckStatus, millis};

use crate::engine::CheckRun;

/// `expected` and `actual` as one line of text: strings as they are, the rest as JSON.
fn text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn status(ok: bool) -> CheckStatus {
    if ok {
        CheckStatus::Pass
    } else {
        CheckStatus::Fail
    }
}

/// The events of `run`, host by host: its items, then the host's verdict.
pub fn check_events(run: &CheckRun) -> Vec<Body> {
    let mut events = Vec::new();
    for host in &run.hosts {
        for item in &host.items {
            events.push(Body::CheckItem(CheckItem {
                host: host.host.clone(),
                resource: item.resource.to_string(),
                item: item.name.clone(),
                status: status(item.ok),
                expected: text(&item.expected),
                actual: text(&item.actual),
                message: item.message.clone(),
            }));
        }
        let passed = host.items.iter().filter(|i| i.ok).count() as u64;
        events.push(Body::CheckHost(CheckHost {
            host: host.host.clone(),
            status: status(host.ok()),
            bootstrapped: host.bootstrapped,
            passed,
            failed: host.items.len() as u64 - passed,
            duration_ms: millis(host.duration),
            error: host.error.as_ref().map(ToString::to_string),
        }));
    }
    events
}
