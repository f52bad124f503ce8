//! The one place events leave a process: a [`Publisher`] stamps each event with the run's id
//! and recipe, redacts every secret known at that moment, writes it to `--events` (NDJSON) and
//! queues it for the sinks of `--metrics`.

use std::io::Write;
use std::sync::Mutex;

use crate::event::{Body, Event, new_run_id};
use crate::pipeline::Metrics;

/// The secrets to redact, asked for at each event (a recipe may create secrets as it runs).
pub type Secrets = Box<dyn Fn() -> Vec<String> + Send + Sync>;

pub struct Publisher {
    run_id: String,
    recipe: String,
    ndjson: Option<Mutex<Box<dyn Write + Send>>>,
    /// `None` once finished: later events are dropped.
    metrics: Mutex<Option<Metrics>>,
    has_sinks: bool,
    secrets: Secrets,
}

impl Publisher {
    /// A new run of `recipe` with a fresh run id.
    pub fn new(
        recipe: &str,
        ndjson: Option<Box<dyn Write + Send>>,
        metrics: Metrics,
        secrets: Secrets,
    ) -> Publisher {
        Publisher {
            run_id: new_run_id(),
            recipe: recipe.to_string(),
            ndjson: ndjson.map(Mutex::new),
            has_sinks: !metrics.is_empty(),
            metrics: Mutex::new(Some(metrics)),
            secrets,
        }
    }

    /// Whether events go anywhere (else callers need not build them).
    pub fn is_active(&self) -> bool {
        self.ndjson.is_some() || self.has_sinks
    }

    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// Publishes `body` as an event happening now.
    pub fn publish(&self, body: Body) {
        if !self.is_active() {
            return;
        }
        let event = Event::now(&self.run_id, &self.recipe, body).redact(&(self.secrets)());
        self.forward(&event);
    }

    /// Publishes an event as it is (`offmetric` relays other processes' events).
    pub fn forward(&self, event: &Event) {
        if let Some(ndjson) = &self.ndjson {
            let mut out = ndjson.lock().unwrap_or_else(|e| e.into_inner());
            if let Ok(line) = serde_json::to_string(event) {
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
        }
        if let Some(metrics) = &*self.metrics.lock().unwrap_or_else(|e| e.into_inner()) {
            metrics.send(event);
        }
    }

    /// Flushes `--events` and waits (bounded) for the sinks; events published later go to
    /// `--events` only.
    pub fn finish(&self) {
        if let Some(ndjson) = &self.ndjson {
            let _ = ndjson.lock().unwrap_or_else(|e| e.into_inner()).flush();
        }
        let metrics = self
            .metrics
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(metrics) = metrics {
            metrics.finish();
        }
    }
}
