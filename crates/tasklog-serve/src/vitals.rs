//! What `/healthz` and `/metrics` report about the server itself: the
//! in-process indexer's state (up, down and restarting, its restarts and
//! last error) and the requests and streams the limits refused or dropped.
//!
//! Why shared atomics: the supervisor thread of the indexer, the request
//! guard and the event streams each update one number, and the health
//! endpoints read them without a lock or a database.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

/// The counters and the indexer's state, shared by the server and the
/// sidecar's supervisor.
#[derive(Debug, Default)]
pub struct Vitals {
    /// Whether an in-process indexer is supervised at all.
    supervised: AtomicBool,
    /// Whether the in-process indexer is running now.
    indexer_up: AtomicBool,
    /// Times the supervisor restarted the indexer after a failure.
    restarts: AtomicU64,
    /// Why the indexer last failed (never holds a secret: index errors name
    /// paths, not URLs).
    last_error: Mutex<Option<String>>,
    /// Requests refused by the host, origin or content-type rules.
    pub refused: AtomicU64,
    /// Event streams dropped because their client did not read.
    pub slow_streams: AtomicU64,
    /// Connections refused because the connection limit was reached.
    pub connections_refused: AtomicU64,
    /// Accepts that failed (descriptors or memory ran out) and were retried.
    pub accept_errors: AtomicU64,
    /// Connections closed because no byte moved for the idle time.
    pub idle_closed: AtomicU64,
    /// Connections closed because a request head did not arrive in time.
    pub header_timeouts: AtomicU64,
    /// Requests answered 408 because their body did not arrive in time.
    pub body_timeouts: AtomicU64,
}

impl Vitals {
    /// The indexer started (again).
    pub fn indexer_started(&self) {
        self.supervised.store(true, Ordering::SeqCst);
        self.indexer_up.store(true, Ordering::SeqCst);
    }

    /// The indexer failed; the supervisor restarts it after a pause.
    pub fn indexer_failed(&self, why: String) {
        self.indexer_up.store(false, Ordering::SeqCst);
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(why);
        }
    }

    /// The supervisor is about to restart the indexer.
    pub fn indexer_restarting(&self) {
        self.restarts.fetch_add(1, Ordering::SeqCst);
    }

    /// Whether the server is healthy: no supervised indexer, or one that runs.
    pub fn healthy(&self) -> bool {
        !self.supervised.load(Ordering::SeqCst) || self.indexer_up.load(Ordering::SeqCst)
    }

    /// `up`, `down` or `none` (not in this process).
    pub fn indexer_state(&self) -> &'static str {
        match (
            self.supervised.load(Ordering::SeqCst),
            self.indexer_up.load(Ordering::SeqCst),
        ) {
            (false, _) => "none",
            (true, true) => "up",
            (true, false) => "down",
        }
    }

    /// Restarts so far.
    pub fn restarts(&self) -> u64 {
        self.restarts.load(Ordering::SeqCst)
    }

    /// The last failure of the indexer, if any.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().ok().and_then(|l| l.clone())
    }

    /// Adds one to a counter.
    pub fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus lines of these numbers.
    pub fn prometheus(&self) -> String {
        let mut out = String::new();
        let mut line = |name: &str, kind: &str, help: &str, value: u64| {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
            ));
        };
        line(
            "tasklog_indexer_up",
            "gauge",
            "1 when the in-process indexer runs (1 also when there is none to supervise).",
            u64::from(self.healthy()),
        );
        line(
            "tasklog_indexer_restarts_total",
            "counter",
            "Restarts of the in-process indexer after a failure.",
            self.restarts(),
        );
        line(
            "tasklog_http_refused_total",
            "counter",
            "Requests refused by the Host, Origin or content-type rules.",
            self.refused.load(Ordering::Relaxed),
        );
        line(
            "tasklog_event_streams_dropped_total",
            "counter",
            "Event streams closed because their client did not read.",
            self.slow_streams.load(Ordering::Relaxed),
        );
        line(
            "tasklog_connections_refused_total",
            "counter",
            "Connections closed at once because the connection limit was reached.",
            self.connections_refused.load(Ordering::Relaxed),
        );
        line(
            "tasklog_accept_errors_total",
            "counter",
            "Accepts that failed (descriptors or memory ran out) and were retried.",
            self.accept_errors.load(Ordering::Relaxed),
        );
        line(
            "tasklog_connections_idle_closed_total",
            "counter",
            "Connections closed because no byte moved in either direction for the idle time.",
            self.idle_closed.load(Ordering::Relaxed),
        );
        line(
            "tasklog_header_timeouts_total",
            "counter",
            "Connections closed because a request head did not arrive within the header time.",
            self.header_timeouts.load(Ordering::Relaxed),
        );
        line(
            "tasklog_body_timeouts_total",
            "counter",
            "Requests answered 408 because their body did not arrive within the body time.",
            self.body_timeouts.load(Ordering::Relaxed),
        );
        out
    }
}
