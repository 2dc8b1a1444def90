//! The long-running sidecar loop.
//!
//! One task owns the indexer and wakes for one of a closed set of reasons
//! ([`Wake`]): a filesystem hint, the poll timer, the reconcile timer, or
//! shutdown. Hints are only hints: every one makes the indexer read from its
//! checkpoint, and a lost or overflowed hint is repaired by the timers,
//! which reconcile from disk.

use std::collections::{BTreeSet, VecDeque};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::indexer::{Indexer, Stats};

/// Filesystem hints buffered before the loop falls back to a full reconcile.
const EVENT_QUEUE: usize = 8192;

/// Everything that can wake the loop.
enum Wake {
    /// notify delivered an event (paths that may have changed).
    Fs(notify::Event),
    /// notify reported an error (e.g. the watch limit).
    FsError(notify::Error),
    /// Time to poll the task folders that have no watch.
    Poll,
    /// Time for the full reconcile that repairs any missed hint.
    Reconcile,
    /// SIGINT, SIGTERM or the caller's shutdown future.
    Shutdown,
}

/// Which task folders have an inotify watch and which are polled.
struct Watches {
    watcher: Option<notify::RecommendedWatcher>,
    watched: BTreeSet<String>,
    polled: BTreeSet<String>,
    /// Where the last poll tick stopped.
    poll_cursor: Option<String>,
    limit: usize,
}

/// Most unwatched task folders looked at per poll tick.
const POLL_BUDGET: usize = 1000;

impl Watches {
    /// Watches `task`'s folder if the budget allows; otherwise polls it.
    fn add(&mut self, root: &Path, task: &str) {
        if self.watched.contains(task) {
            return;
        }
        let watched = match &mut self.watcher {
            Some(w) if self.watched.len() < self.limit => {
                match w.watch(&root.join(task), RecursiveMode::NonRecursive) {
                    Ok(()) => true,
                    Err(e) => {
                        tracing::warn!(task, error = %e, "cannot watch task folder; polling it instead");
                        false
                    }
                }
            }
            _ => false,
        };
        if watched {
            self.polled.remove(task);
            self.watched.insert(task.to_owned());
        } else {
            self.polled.insert(task.to_owned());
        }
    }

    /// Stops watching a sealed or vanished task (the slow reconcile still covers it).
    fn remove(&mut self, root: &Path, task: &str) {
        if self.watched.remove(task) {
            if let Some(w) = &mut self.watcher {
                let _ = w.unwatch(&root.join(task));
            }
        }
        self.polled.remove(task);
    }

    /// The next polled tasks to look at, at most [`POLL_BUDGET`], round
    /// robin: with more unwatched folders than that, each is still polled,
    /// just less often, and one tick's work stays bounded.
    fn next_polled(&mut self) -> Vec<String> {
        use std::ops::Bound::{Excluded, Unbounded};
        let start = match &self.poll_cursor {
            Some(c) => Excluded(c.clone()),
            None => Unbounded,
        };
        let mut batch: Vec<String> = self
            .polled
            .range((start, Unbounded))
            .take(POLL_BUDGET)
            .cloned()
            .collect();
        if batch.len() < POLL_BUDGET {
            let more = POLL_BUDGET - batch.len();
            batch.extend(
                self.polled
                    .iter()
                    .take(more)
                    .filter(|t| !batch.contains(t))
                    .cloned()
                    .collect::<Vec<_>>(),
            );
        }
        self.poll_cursor = batch.last().cloned();
        batch
    }

    fn mode(&self) -> &'static str {
        match (&self.watcher, self.polled.is_empty()) {
            (None, _) => "polling",
            (Some(_), true) => "inotify",
            (Some(_), false) => "inotify+polling",
        }
    }
}

/// Runs the sidecar until `shutdown` resolves: reconciles everything, then
/// follows changes. On shutdown the open batch commits before returning.
pub async fn watch(mut indexer: Indexer, shutdown: impl Future<Output = ()>) -> Result<Stats> {
    let root = indexer.root().to_owned();
    std::fs::create_dir_all(&root).map_err(|e| Error::io(&root, "creating log root", e))?;
    let (tx, mut rx) = mpsc::channel::<Wake>(EVENT_QUEUE);
    let overflow = Arc::new(AtomicBool::new(false));
    let watcher = start_watcher(&root, tx, Arc::clone(&overflow));
    let options = indexer_options(&indexer);
    let mut watches = Watches {
        watcher,
        watched: BTreeSet::new(),
        polled: BTreeSet::new(),
        poll_cursor: None,
        limit: options.0,
    };

    // Watch first, then list: a file created between the two is then seen
    // by the listing or by an event, never by neither.
    full_reconcile(&mut indexer, &mut watches)?;
    indexer.flush()?;
    tracing::info!(root = %root.display(), mode = watches.mode(), watches = watches.watched.len(), "watching");

    let mut poll = tokio::time::interval(options.1);
    let mut reconcile = tokio::time::interval(options.2);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    reconcile.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    reconcile.tick().await; // the first tick is immediate; we just reconciled
    tokio::pin!(shutdown);

    loop {
        let wake = tokio::select! {
            biased;
            () = &mut shutdown => Wake::Shutdown,
            Some(w) = rx.recv() => w,
            _ = poll.tick() => Wake::Poll,
            _ = reconcile.tick() => Wake::Reconcile,
        };
        match wake {
            Wake::Shutdown => break,
            Wake::Reconcile => full_reconcile(&mut indexer, &mut watches)?,
            Wake::Poll => {
                if overflow.swap(false, Ordering::SeqCst) {
                    tracing::warn!("filesystem event queue overflowed; reconciling from disk");
                    full_reconcile(&mut indexer, &mut watches)?;
                } else {
                    for task in watches.next_polled() {
                        indexer.reconcile_task(&task)?;
                    }
                }
            }
            Wake::FsError(e) => {
                tracing::warn!(error = %e, "filesystem watcher error; reconciling from disk");
                full_reconcile(&mut indexer, &mut watches)?;
            }
            Wake::Fs(event) => {
                let mut rescan = event.need_rescan();
                let mut dirty: BTreeSet<PathBuf> = event.paths.into_iter().collect();
                // Coalesce whatever else is already queued.
                while let Ok(w) = rx.try_recv() {
                    match w {
                        Wake::Fs(e) => {
                            rescan |= e.need_rescan();
                            dirty.extend(e.paths);
                        }
                        Wake::FsError(_) => rescan = true,
                        _ => {}
                    }
                }
                if rescan {
                    full_reconcile(&mut indexer, &mut watches)?;
                } else {
                    follow(&mut indexer, &mut watches, &root, dirty, &mut rx)?;
                }
            }
        }
    }
    indexer.request_stop();
    indexer.finish()
}

fn indexer_options(indexer: &Indexer) -> (usize, std::time::Duration, std::time::Duration) {
    let o = indexer.options();
    (o.max_watches, o.poll_interval, o.reconcile_interval)
}

fn start_watcher(
    root: &Path,
    tx: mpsc::Sender<Wake>,
    overflow: Arc<AtomicBool>,
) -> Option<notify::RecommendedWatcher> {
    let handler = move |res: notify::Result<notify::Event>| {
        let wake = match res {
            // Opens, reads and closes without writing change nothing, and
            // the indexer's own reads cause them: following them would loop.
            Ok(event) if matches!(event.kind, notify::EventKind::Access(_)) => return,
            Ok(event) => Wake::Fs(event),
            Err(e) => Wake::FsError(e),
        };
        if tx.try_send(wake).is_err() {
            overflow.store(true, Ordering::SeqCst);
        }
    };
    let mut watcher = match notify::recommended_watcher(handler) {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "inotify unavailable; polling every folder");
            return None;
        }
    };
    match watcher.watch(root, RecursiveMode::NonRecursive) {
        Ok(()) => Some(watcher),
        Err(e) => {
            tracing::warn!(root = %root.display(), error = %e, "cannot watch the log root; polling every folder");
            None
        }
    }
}

fn full_reconcile(indexer: &mut Indexer, watches: &mut Watches) -> Result<()> {
    let root = indexer.root().to_owned();
    let tasks = indexer.list_tasks()?;
    for task in &tasks {
        if !indexer.is_sealed(task) {
            watches.add(&root, task);
        }
    }
    indexer.reconcile_listed(&tasks, &mut |_| {})?;
    for task in &tasks {
        if indexer.is_sealed(task) {
            watches.remove(&root, task);
        }
    }
    let present: BTreeSet<&String> = tasks.iter().collect();
    for gone in watches
        .watched
        .iter()
        .chain(&watches.polled)
        .filter(|t| !present.contains(t))
        .cloned()
        .collect::<Vec<_>>()
    {
        watches.remove(&root, &gone);
    }
    record_watch_state(indexer, watches)
}

fn record_watch_state(indexer: &mut Indexer, watches: &Watches) -> Result<()> {
    indexer.set_state("watch_mode", watches.mode().to_owned())?;
    indexer.set_state("watches", watches.watched.len().to_string())?;
    indexer.set_state("polled_tasks", watches.polled.len().to_string())?;
    indexer.set_state("watcher_pid", std::process::id().to_string())
}

/// Follows the hinted paths with fair reads: one batch per file per turn,
/// so one busy stream cannot starve quiet ones, and new hints join the
/// queue between turns.
fn follow(
    indexer: &mut Indexer,
    watches: &mut Watches,
    root: &Path,
    dirty: BTreeSet<PathBuf>,
    rx: &mut mpsc::Receiver<Wake>,
) -> Result<()> {
    let mut queue = FairQueue::default();
    for path in dirty {
        queue.push(path);
    }
    let mut changed_watches = false;
    while let Some(path) = queue.pop() {
        let Ok(rel) = path.strip_prefix(root) else {
            continue;
        };
        let depth = rel.components().count();
        if depth == 1 {
            // A task folder appeared or vanished: watch it, then list it.
            let task = rel.to_string_lossy().into_owned();
            if path.is_dir() {
                watches.add(root, &task);
            } else {
                watches.remove(root, &task);
            }
            changed_watches = true;
            indexer.reconcile_task(&task)?;
        } else if depth == 2 && indexer.touch_once(&path)? {
            queue.push(path.clone());
        }
        if let Some(task) = rel.components().next().and_then(|c| c.as_os_str().to_str()) {
            if depth == 2 && indexer.is_sealed(task) && watches.watched.contains(task) {
                watches.remove(root, task);
                changed_watches = true;
            }
        }
        while let Ok(w) = rx.try_recv() {
            match w {
                Wake::Fs(e) if !e.need_rescan() => {
                    for p in e.paths {
                        queue.push(p);
                    }
                }
                _ => {
                    full_reconcile(indexer, watches)?;
                    return Ok(());
                }
            }
        }
    }
    if changed_watches {
        record_watch_state(indexer, watches)?;
    }
    Ok(())
}

/// Paths waiting for a turn, each at most once.
#[derive(Default)]
struct FairQueue {
    order: VecDeque<PathBuf>,
    members: BTreeSet<PathBuf>,
}

impl FairQueue {
    fn push(&mut self, path: PathBuf) {
        if self.members.insert(path.clone()) {
            self.order.push_back(path);
        }
    }

    fn pop(&mut self) -> Option<PathBuf> {
        let path = self.order.pop_front()?;
        self.members.remove(&path);
        Some(path)
    }
}
