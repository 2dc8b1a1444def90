//! The alerter: a thread beside the sidecar that, every pass, asks the
//! index each rule's condition, records new firings and resolutions in the
//! log (outbox: the row and the file line exist before anything is sent),
//! then sends what is pending and writes the destinations' status.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::alert::{Alert, Delivery, Observation, State};
use crate::deliver::{DestinationStatus, Outcome, Sender};
use crate::error::{Error, Result};
use crate::rule::{Condition, Rule};
use crate::store::{now_text, AlertStore};

/// Which index the alerter asks.
#[derive(Debug, Clone)]
pub enum StoreTarget {
    /// The SQLite index file.
    Sqlite(PathBuf),
    /// A shared PostgreSQL index (libpq URL).
    Postgres(String),
}

/// How to run the alerter.
#[derive(Debug, Clone)]
pub struct AlerterOptions {
    /// The log root (the file log and the status file live under it).
    pub root: PathBuf,
    /// The index.
    pub target: StoreTarget,
    /// This host's id (sent in every alert; owner of what it claims).
    pub host_id: String,
    /// The rules; no rules, no thread.
    pub rules: Vec<Rule>,
    /// Time between two passes.
    pub interval: Duration,
}

/// A pending message of another host untouched this long is taken over.
const TAKEOVER_AFTER_SECS: i64 = 300;

/// The destinations' status file under the root.
pub fn status_path(root: &Path) -> PathBuf {
    root.join(crate::journal::DIR)
        .join("alert_destinations.json")
}

/// What the status file holds: written by the alerter after each pass,
/// read by `tasklog status`, `/api/status` and `/metrics`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DestinationsReport {
    /// The host whose alerter wrote it.
    pub host_id: String,
    /// When (RFC 3339 UTC).
    pub updated_at: String,
    /// Every destination of the rules.
    pub destinations: Vec<DestinationStatus>,
    /// Times the alerter was started again after a panic since its
    /// sidecar started (the supervisor in `engine.rs`); absent in older files.
    #[serde(default)]
    pub alerter_restarts: u32,
}

/// The last status the alerter wrote under `root`, if any.
pub fn read_status(root: &Path) -> Option<DestinationsReport> {
    let bytes = std::fs::read(status_path(root)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn write_status(root: &Path, report: &DestinationsReport) {
    let path = status_path(root);
    let tmp = path.with_extension("json.tmp");
    let body = serde_json::to_vec_pretty(report).unwrap_or_default();
    // Temp file and rename: a reader sees the old report or the new one.
    let written = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(&tmp, body))
        .and_then(|()| std::fs::rename(&tmp, &path));
    if let Err(e) = written {
        tracing::warn!(path = %path.display(), error = %e, "alerts: cannot write the destinations' status");
    }
}

/// Opens the store `target` names.
pub fn open_store(target: &StoreTarget, root: &Path, host_id: &str) -> Result<Box<dyn AlertStore>> {
    Ok(match target {
        StoreTarget::Sqlite(db) => Box::new(crate::sqlite::SqliteStore::open(db, root)?),
        #[cfg(feature = "postgres")]
        StoreTarget::Postgres(url) => Box::new(crate::postgres::PgStore::open(url, root, host_id)?),
        #[cfg(not(feature = "postgres"))]
        StoreTarget::Postgres(_) => {
            let _ = host_id;
            return Err(Error::NoPostgres);
        }
    })
}

/// The running alerter.
#[derive(Debug)]
pub struct Alerter {
    /// Set once to end the thread; read between steps and retries.
    stop: Arc<AtomicBool>,
    /// Wakes the thread from its wait between passes (a std pair: the
    /// thread is a plain thread, not a task).
    wake: Arc<(Mutex<bool>, Condvar)>,
    /// Signals the thread's end, so `stop` can bound its wait.
    done: mpsc::Receiver<()>,
    thread: JoinHandle<()>,
}

impl Alerter {
    /// Starts the thread; `None` when there are no rules.
    pub fn start(options: AlerterOptions) -> Result<Option<Alerter>> {
        if options.rules.is_empty() {
            return Ok(None);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let wake = Arc::new((Mutex::new(false), Condvar::new()));
        let (done_tx, done) = mpsc::channel();
        let (s, w) = (Arc::clone(&stop), Arc::clone(&wake));
        let thread = std::thread::Builder::new()
            .name("tasklog-alerts".into())
            .spawn(move || {
                // Each start after the first is a restart (counted before
                // the run: a panic skips whatever follows it).
                let mut starts = 0u32;
                supervise(&s, &w, RESTART_FIRST, || {
                    let restarts = starts;
                    starts += 1;
                    run(options.clone(), &s, &w, restarts);
                });
                let _ = done_tx.send(());
            })
            .map_err(|e| Error::Delivery {
                destination: "alerter".into(),
                message: format!("starting its thread: {e}"),
            })?;
        Ok(Some(Alerter {
            stop,
            wake,
            done,
            thread,
        }))
    }

    /// Asks for a pass now (after a commit, say).
    pub fn wake(&self) {
        let (lock, cvar) = &*self.wake;
        if let Ok(mut woken) = lock.lock() {
            *woken = true;
            cvar.notify_one();
        }
    }

    /// Stops the thread, waiting at most `within` (a request in flight may
    /// take its timeout; what it was sending stays pending and is sent
    /// again, with the same id, at the next start).
    pub fn stop(self, within: Duration) {
        self.stop.store(true, Ordering::SeqCst);
        self.wake();
        if self.done.recv_timeout(within).is_ok() {
            let _ = self.thread.join();
        } else {
            tracing::warn!(
                "alerts: a delivery is still in flight; left pending for the next start"
            );
        }
    }
}

/// The first wait before a stopped alerter is started again; it doubles
/// up to [`RESTART_MAX`].
const RESTART_FIRST: Duration = Duration::from_secs(1);
const RESTART_MAX: Duration = Duration::from_secs(60);

/// Runs `run` until `stop` is set, starting it again (logged) whenever it
/// ends before that: a panic (caught) or a return. The wait before each
/// start is `first`, doubling up to [`RESTART_MAX`], and a stop or a wake
/// ends the wait. `run` is the alerter's loop, which retries its own
/// errors; before this, a panic in it ended the alerts of a sidecar that
/// went on indexing (issue 22). Returns the number of restarts.
fn supervise(
    stop: &AtomicBool,
    wake: &(Mutex<bool>, Condvar),
    first: Duration,
    mut run: impl FnMut(),
) -> u32 {
    let mut restarts = 0u32;
    loop {
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(&mut run));
        if stop.load(Ordering::SeqCst) {
            return restarts;
        }
        let why = match caught {
            Ok(()) => "it returned".to_owned(),
            Err(panic) => match (panic.downcast_ref::<&str>(), panic.downcast_ref::<String>()) {
                (Some(s), _) => (*s).to_owned(),
                (_, Some(s)) => s.clone(),
                _ => "a panic without a message".to_owned(),
            },
        };
        restarts += 1;
        let wait = first
            .saturating_mul(1 << (restarts - 1).min(16))
            .min(RESTART_MAX.max(first));
        tracing::error!(error = %why, restarts, retry_in = ?wait, "alerts: the alerter stopped; starting it again");
        let (lock, cvar) = wake;
        // A panic cannot poison this lock: nothing panics while holding it.
        if let Ok(woken) = lock.lock() {
            let _ = cvar.wait_timeout_while(woken, wait, |w| !*w && !stop.load(Ordering::SeqCst));
        }
        if stop.load(Ordering::SeqCst) {
            return restarts;
        }
    }
}

fn run(options: AlerterOptions, stop: &AtomicBool, wake: &(Mutex<bool>, Condvar), restarts: u32) {
    let mut engine = Engine {
        sender: Sender::default(),
        known: HashSet::new(),
        lag_since: HashMap::new(),
        options,
    };
    for rule in &engine.options.rules {
        engine.sender.register(&rule.destination, &rule.name);
    }
    let mut store: Option<Box<dyn AlertStore>> = None;
    while !stop.load(Ordering::SeqCst) {
        if store.is_none() {
            match open_store(
                &engine.options.target,
                &engine.options.root,
                &engine.options.host_id,
            ) {
                Ok(s) => store = Some(s),
                Err(e) => tracing::warn!(error = %e, "alerts: cannot open the store; trying again"),
            }
        }
        if let Some(s) = store.as_mut() {
            if let Err(e) = engine.pass(s.as_mut(), stop) {
                tracing::warn!(error = %e, "alerts: pass failed; trying again");
                // A lost PostgreSQL connection is opened afresh.
                #[cfg(feature = "postgres")]
                let reconnect = matches!(e, Error::Postgres { .. });
                #[cfg(not(feature = "postgres"))]
                let reconnect = false;
                if reconnect {
                    store = None;
                }
            }
        }
        write_status(
            &engine.options.root,
            &DestinationsReport {
                host_id: engine.options.host_id.clone(),
                updated_at: now_text(Timestamp::now()),
                destinations: engine.sender.statuses(),
                alerter_restarts: restarts,
            },
        );
        let (lock, cvar) = wake;
        if let Ok(mut woken) = lock.lock() {
            if !*woken && !stop.load(Ordering::SeqCst) {
                woken = match cvar.wait_timeout(woken, engine.options.interval) {
                    Ok((g, _)) => g,
                    Err(_) => return,
                };
            }
            *woken = false;
        }
    }
}

struct Engine {
    options: AlerterOptions,
    sender: Sender,
    /// Messages already in the log: asked once, then not claimed again
    /// (a claim is a write; most passes change nothing).
    known: HashSet<(String, State)>,
    /// Since when each lag rule has seen the index behind.
    lag_since: HashMap<String, Timestamp>,
}

impl Engine {
    fn pass(&mut self, store: &mut dyn AlertStore, stop: &AtomicBool) -> Result<()> {
        let now = Timestamp::now();
        let at = now_text(now);
        let host = self.options.host_id.clone();
        // A copy: `record` borrows the engine mutably (rules are small).
        let rules = self.options.rules.clone();
        for rule in &rules {
            if stop.load(Ordering::SeqCst) {
                return Ok(());
            }
            let observed = match &rule.condition {
                Condition::Lag { after, bytes } => {
                    lag_observation(store, rule, &host, *after, *bytes, now, &mut self.lag_since)?
                }
                _ => store.observe(rule, now)?,
            };
            let mut firing = HashSet::new();
            for obs in &observed {
                let alert = Alert::new(rule, obs, State::Firing, &at, &host);
                firing.insert(alert.id.clone());
                if matches!(rule.condition, Condition::Stalled { .. })
                    && !self.known.contains(&(alert.id.clone(), State::Firing))
                    && store
                        .fired(&rule.name, &obs.subject)?
                        .iter()
                        .any(|a| a.window > obs.window)
                {
                    // The index is behind what an earlier alert saw (a
                    // rebuild catching up): an older "last record" is
                    // not a new stall.
                    continue;
                }
                self.record(store, &alert, &at)?;
            }
            if rule.condition.resolvable() {
                for open in store.open(&rule.name)? {
                    if firing.contains(&open.id) || !store.resolved(rule, &open)? {
                        continue;
                    }
                    let value = observed
                        .iter()
                        .find(|o| o.subject == open.subject)
                        .map_or(0.0, |o| o.value);
                    let resolution = open.resolution(value, &at, &host);
                    self.record(store, &resolution, &at)?;
                }
            }
        }
        self.deliver(store, now, stop)
    }

    /// Claims `alert` in the log; the claimant appends the file line.
    fn record(&mut self, store: &mut dyn AlertStore, alert: &Alert, at: &str) -> Result<()> {
        let key = (alert.id.clone(), alert.state);
        if self.known.contains(&key) {
            return Ok(());
        }
        if store.claim(alert, at)? {
            tracing::info!(id = %alert.id, rule = %alert.rule, state = alert.state.as_str(), subject = %alert.subject, "alert recorded");
            crate::journal::append(&self.options.root, alert, Delivery::Pending, at)?;
        }
        self.known.insert(key);
        Ok(())
    }

    fn deliver(
        &mut self,
        store: &mut dyn AlertStore,
        now: Timestamp,
        stop: &AtomicBool,
    ) -> Result<()> {
        let stale =
            now_text(Timestamp::from_second(now.as_second() - TAKEOVER_AFTER_SECS).unwrap_or(now));
        let pending = store.pending(&self.options.host_id, &stale, &now_text(now))?;
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        for entry in &pending {
            if let Some(rule) = self
                .options
                .rules
                .iter()
                .find(|r| r.name == entry.alert.rule)
            {
                *counts.entry(rule.destination.key()).or_default() += 1;
            }
        }
        for entry in pending {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let Some(rule) = self
                .options
                .rules
                .iter()
                .find(|r| r.name == entry.alert.rule)
            else {
                // The rule was removed from the config: nowhere to send.
                continue;
            };
            let outcome = self.sender.send(
                &rule.destination,
                &rule.delivery,
                &entry.alert,
                &|| now_text(Timestamp::now()),
                &|| stop.load(Ordering::SeqCst),
            );
            let at = now_text(Timestamp::now());
            match outcome {
                Outcome::Delivered => {
                    store.delivered(&entry.alert.id, entry.alert.state, &at)?;
                    crate::journal::append(
                        &self.options.root,
                        &entry.alert,
                        Delivery::Delivered,
                        &at,
                    )?;
                    if let Some(n) = counts.get_mut(&rule.destination.key()) {
                        *n = n.saturating_sub(1);
                    }
                }
                Outcome::Failed(e) => {
                    store.attempted(&entry.alert.id, entry.alert.state, &e, &at)?
                }
                Outcome::Skipped => {}
            }
        }
        self.sender.set_pending(&counts);
        Ok(())
    }
}

/// The lag condition: this host's index behind by `bytes` or more for
/// longer than `after`. Its window is when the lag began, or, when an
/// alert for it is still open (after a restart), that alert's window.
fn lag_observation(
    store: &mut dyn AlertStore,
    rule: &Rule,
    host: &str,
    after: Duration,
    bytes: u64,
    now: Timestamp,
    since: &mut HashMap<String, Timestamp>,
) -> Result<Vec<Observation>> {
    let lag = store.lag_bytes()?.unwrap_or(0);
    if lag < bytes {
        since.remove(&rule.name);
        return Ok(Vec::new());
    }
    let began = *since.entry(rule.name.clone()).or_insert(now);
    if now.as_millisecond() - began.as_millisecond() < after.as_millis() as i64 {
        return Ok(Vec::new());
    }
    let window = store
        .open(&rule.name)?
        .into_iter()
        .find(|a| a.subject == host)
        .map_or_else(|| now_text(began), |a| a.window);
    Ok(vec![Observation {
        subject: host.to_owned(),
        value: lag as f64,
        window,
    }])
}

/// `tasklog alerts test NAME`: a test message through `rule`'s destination
/// now (not recorded in the log; its id is new each time).
pub fn send_test(rule: &Rule, host_id: &str) -> Result<Alert> {
    let now = Timestamp::now();
    let at = now_text(now);
    let obs = Observation {
        subject: "test".into(),
        value: rule.condition.threshold().0,
        window: at.clone(),
    };
    let mut alert = Alert::new(rule, &obs, State::Firing, &at, host_id);
    alert.test = true;
    alert.text = format!("[{}] test alert from tasklog on {host_id}", rule.name);
    let mut sender = Sender::default();
    match sender.send(
        &rule.destination,
        &rule.delivery,
        &alert,
        &|| now_text(Timestamp::now()),
        &|| false,
    ) {
        Outcome::Delivered => Ok(alert),
        Outcome::Failed(message) => Err(Error::Delivery {
            destination: rule.destination.display(),
            message,
        }),
        Outcome::Skipped => Err(Error::Delivery {
            destination: rule.destination.display(),
            message: "circuit breaker open".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_panicking_alerter_is_started_again_until_stopped() {
        let stop = AtomicBool::new(false);
        let wake = (Mutex::new(false), Condvar::new());
        let mut runs = 0;
        let restarts = supervise(&stop, &wake, Duration::from_millis(5), || {
            runs += 1;
            if runs < 3 {
                panic!("pass {runs} failed");
            }
            stop.store(true, Ordering::SeqCst); // as a sidecar stopping
        });
        assert_eq!((runs, restarts), (3, 2));
    }

    #[test]
    fn a_stop_ends_the_wait_before_a_restart() {
        let stop = Arc::new(AtomicBool::new(false));
        let wake = Arc::new((Mutex::new(false), Condvar::new()));
        let (s, w) = (Arc::clone(&stop), Arc::clone(&wake));
        let stopper = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            s.store(true, Ordering::SeqCst);
            let (lock, cvar) = &*w;
            *lock.lock().unwrap() = true;
            cvar.notify_one();
        });
        let started = Instant::now();
        // A return without a stop is restarted as a panic is (a panic here
        // would print its backtrace, which may outlast the 50 ms).
        let restarts = supervise(&stop, &wake, Duration::from_secs(30), || {});
        stopper.join().unwrap();
        assert_eq!(restarts, 1);
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
