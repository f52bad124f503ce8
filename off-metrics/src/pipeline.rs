//! What keeps a sink from failing or slowing a run: each sink gets a bounded queue and a thread
//! of its own. Sending never blocks: when a sink's queue is full (the sink is slow) the event is
//! dropped; when a delivery fails (the sink is down) its events are dropped. Either way the sink
//! is named in one warning, the first time. At the end, [`Metrics::finish`] waits for the queues
//! to drain for at most [`FLUSH_TIMEOUT`], then leaves whatever is still stuck.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::thread;
use std::time::{Duration, Instant};

use crate::event::Event;
use crate::sink::{self, Sink};
use crate::url::SinkUrl;

/// How long [`Metrics::finish`] waits for the sinks at most.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// Events a sink may have queued before it counts as too slow and further ones are dropped.
pub const QUEUE_CAPACITY: usize = 10_000;

/// Most events handed to one delivery (one HTTP request, one TCP write).
const BATCH: usize = 500;

/// How long a sink waits for more events after the first of a batch: one request for the
/// operations of a fifth of a second instead of one each keeps the sinks (and the servers, often
/// on the same machine) from competing with the run for CPU. Closing the queue ends the wait.
const LINGER: Duration = Duration::from_millis(200);

/// Where warnings go: standard error, or a test's collector.
pub type Warn = Arc<dyn Fn(&str) + Send + Sync>;

/// The running sinks of a run.
pub struct Metrics {
    sinks: Vec<SinkThread>,
    flush_timeout: Duration,
}

struct SinkThread {
    queue: Option<SyncSender<Event>>,
    warning: Arc<Warning>,
    /// Closed (by the thread's end) once the queue is drained.
    done: Receiver<()>,
}

/// A sink's one warning.
struct Warning {
    url: String,
    given: AtomicBool,
    warn: Warn,
}

impl Warning {
    fn give(&self, reason: &str) {
        if !self.given.swap(true, Ordering::SeqCst) {
            (self.warn)(&format!(
                "warning: --metrics {}: {reason}; dropping its events (the run goes on)",
                self.url
            ));
        }
    }
}

/// Warnings on standard error.
pub fn stderr_warn() -> Warn {
    Arc::new(|message: &str| eprintln!("{message}"))
}

impl Metrics {
    /// No sinks: sending does nothing.
    pub fn none() -> Metrics {
        Metrics {
            sinks: Vec::new(),
            flush_timeout: FLUSH_TIMEOUT,
        }
    }

    /// Starts one thread per URL. Connects to nothing here: that happens on the threads.
    pub fn start(urls: &[SinkUrl], warn: Warn) -> Metrics {
        let sinks = urls
            .iter()
            .map(|url| SinkThread::start(url.text.clone(), sink::open(url), warn.clone()))
            .collect();
        Metrics {
            sinks,
            flush_timeout: FLUSH_TIMEOUT,
        }
    }

    /// Starts one thread per given sink (for sinks not named by a URL, and tests).
    pub fn with_sinks(sinks: Vec<(String, Box<dyn Sink>)>, warn: Warn) -> Metrics {
        Metrics {
            sinks: sinks
                .into_iter()
                .map(|(name, sink)| SinkThread::start(name, sink, warn.clone()))
                .collect(),
            flush_timeout: FLUSH_TIMEOUT,
        }
    }

    /// How long [`Metrics::finish`] may wait (default [`FLUSH_TIMEOUT`]).
    pub fn flush_timeout(mut self, timeout: Duration) -> Metrics {
        self.flush_timeout = timeout;
        self
    }

    pub fn is_empty(&self) -> bool {
        self.sinks.is_empty()
    }

    /// Queues `event` for every sink, never blocking.
    pub fn send(&self, event: &Event) {
        for sink in &self.sinks {
            let Some(queue) = &sink.queue else { continue };
            match queue.try_send(event.clone()) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => sink
                    .warning
                    .give("the sink does not keep up (its queue is full)"),
                Err(TrySendError::Disconnected(_)) => {}
            }
        }
    }

    /// Closes the queues and waits until every sink has delivered what it had, for at most the
    /// flush timeout in all; a sink still busy then is left behind (and named in its warning).
    pub fn finish(mut self) {
        self.close(true);
    }

    fn close(&mut self, report: bool) {
        for sink in &mut self.sinks {
            sink.queue = None;
        }
        let deadline = Instant::now() + self.flush_timeout;
        for sink in self.sinks.drain(..) {
            let left = deadline.saturating_duration_since(Instant::now());
            match sink.done.recv_timeout(left) {
                Err(RecvTimeoutError::Timeout) if report => sink.warning.give(&format!(
                    "the sink did not take the last events within {:?}",
                    self.flush_timeout
                )),
                _ => {}
            }
        }
    }
}

impl Drop for Metrics {
    fn drop(&mut self) {
        self.close(false);
    }
}

impl SinkThread {
    fn start(url: String, mut sink: Box<dyn Sink>, warn: Warn) -> SinkThread {
        let (queue, events) = sync_channel::<Event>(QUEUE_CAPACITY);
        let (done_tx, done) = sync_channel::<()>(1);
        let warning = Arc::new(Warning {
            url,
            given: AtomicBool::new(false),
            warn,
        });
        let thread_warning = warning.clone();
        let spawned = thread::Builder::new()
            .name("off-metrics-sink".into())
            .spawn(move || {
                let _done = done_tx;
                while let Ok(first) = events.recv() {
                    let until = Instant::now() + LINGER;
                    let mut batch = vec![first];
                    while batch.len() < BATCH {
                        let left = until.saturating_duration_since(Instant::now());
                        match events.recv_timeout(left) {
                            Ok(event) => batch.push(event),
                            Err(_) => break,
                        }
                    }
                    if let Err(reason) = sink.deliver(&batch) {
                        thread_warning.give(&reason);
                    }
                }
            });
        if let Err(e) = spawned {
            warning.give(&format!("cannot start its thread: {e}"));
        }
        SinkThread {
            queue: Some(queue),
            warning,
            done,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct Collect(Arc<Mutex<Vec<String>>>);
    impl Sink for Collect {
        fn deliver(&mut self, events: &[Event]) -> Result<(), String> {
            self.0
                .lock()
                .unwrap()
                .extend(events.iter().map(|e| e.run_id.clone()));
            Ok(())
        }
    }

    struct Stuck;
    impl Sink for Stuck {
        fn deliver(&mut self, _: &[Event]) -> Result<(), String> {
            thread::sleep(Duration::from_secs(3600));
            Ok(())
        }
    }

    struct Down;
    impl Sink for Down {
        fn deliver(&mut self, _: &[Event]) -> Result<(), String> {
            Err("connection refused".into())
        }
    }

    fn warnings() -> (Warn, Arc<Mutex<Vec<String>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        (
            Arc::new(move |m: &str| sink.lock().unwrap().push(m.to_string())),
            seen,
        )
    }

    fn event(i: usize) -> Event {
        Event {
            run_id: i.to_string(),
            ..crate::event::tests::op_event()
        }
    }

    #[test]
    fn every_event_arrives_in_order() {
        let got = Arc::new(Mutex::new(Vec::new()));
        let (warn, seen) = warnings();
        let metrics = Metrics::with_sinks(vec![("c".into(), Box::new(Collect(got.clone())))], warn);
        for i in 0..2000 {
            metrics.send(&event(i));
        }
        metrics.finish();
        let expected: Vec<String> = (0..2000).map(|i| i.to_string()).collect();
        assert_eq!(*got.lock().unwrap(), expected);
        assert!(seen.lock().unwrap().is_empty());
    }

    #[test]
    fn a_stuck_sink_drops_with_one_warning_and_finish_is_bounded() {
        let (warn, seen) = warnings();
        let metrics = Metrics::with_sinks(vec![("stuck://".into(), Box::new(Stuck))], warn)
            .flush_timeout(Duration::from_millis(300));
        let started = Instant::now();
        for i in 0..QUEUE_CAPACITY * 2 {
            metrics.send(&event(i));
        }
        assert!(started.elapsed() < Duration::from_secs(2), "send blocked");
        metrics.finish();
        assert!(started.elapsed() < Duration::from_secs(3));
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert!(
            seen[0].starts_with("warning: --metrics stuck://: "),
            "{seen:?}"
        );
    }

    #[test]
    fn a_down_sink_warns_once() {
        let (warn, seen) = warnings();
        let metrics = Metrics::with_sinks(vec![("down://".into(), Box::new(Down))], warn);
        for i in 0..100 {
            metrics.send(&event(i));
            thread::sleep(Duration::from_millis(1));
        }
        metrics.finish();
        assert_eq!(
            *seen.lock().unwrap(),
            [
                "warning: --metrics down://: connection refused; dropping its events (the run goes on)"
            ]
        );
    }
}
