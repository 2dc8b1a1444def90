//! The long-running sidecar loop.
//!
//! One task owns the tailer and wakes for one of a closed set of reasons
//! ([`Wake`]): a filesystem hint, the poll timer, the reconcile timer, or
//! shutdown. Hints are only hints: every one makes the tailer read from its
//! checkpoint, and a lost or overflowed hint is repaired by the timers,
//! which reconcile from disk.
//!
//! Folder-level changes are handled when their event arrives, not at the
//! next reconcile: a task folder renamed in, out, or to a name that is no
//! task (`.a`), removed, re-created, or moved in from outside the root is
//! looked at by name at once (see `Tailer::reconcile_task`), and its watch
//! follows the folder's identity (device, inode), so a re-created folder is
//! watched again. The root itself is checked the same way on every event
//! about it and every [`ROOT_CHECK`]: removed, it is an empty root; back
//! (or replaced), it is watched again and reconciled.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::state::StateKey;
use crate::tailer::{Stats, Tailer};

/// Filesystem hints buffered before the loop falls back to a full reconcile.
const EVENT_QUEUE: usize = 8192;

/// Longest the loop follows hinted files before it looks at its timers and
/// the shutdown request again: a stream written without pause keeps its
/// queue full, and must not hold off the reconcile tick or a stop.
const FOLLOW_SLICE: Duration = Duration::from_millis(50);

/// How often the loop checks that the root is the folder it watches (one
/// `stat`): how soon a removed and re-created root is followed again.
const ROOT_CHECK: Duration = Duration::from_millis(200);

/// Which folder a watch is on: device, inode, and birth time where the
/// file system keeps one (a folder removed and made again at once often
/// gets the same inode number back).
type Identity = (u64, u64, Option<std::time::SystemTime>);

/// The identity of a directory; `follow`: whether a symbolic link to one
/// counts (the root may be a link; a task folder may not).
fn dir_identity(path: &Path, follow: bool) -> Option<Identity> {
    use std::os::unix::fs::MetadataExt;
    let meta = if follow {
        std::fs::metadata(path)
    } else {
        std::fs::symlink_metadata(path)
    };
    meta.ok()
        .filter(|m| m.is_dir())
        .map(|m| (m.dev(), m.ino(), m.created().ok()))
}

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
    /// Time to check that the root is still the folder watched.
    RootCheck,
    /// Hinted files are still queued from the last slice.
    Pending,
    /// The tailer's [`Shutdown`](crate::Shutdown) was requested.
    Shutdown,
}

/// Which task folders have an inotify watch and which are polled.
struct Watches {
    watcher: Option<notify::RecommendedWatcher>,
    /// Task folders with a watch, and the folder each watch is on: a name
    /// whose folder was replaced must be watched again.
    watched: BTreeMap<String, Identity>,
    /// The root folder the watcher follows; `None` while it does not exist.
    root_id: Option<Identity>,
    polled: BTreeSet<String>,
    /// Where the last poll tick stopped.
    poll_cursor: Option<String>,
    limit: usize,
    /// The task folders of the last listing of the root: without a watch on
    /// the root, a new folder is whatever the next listing adds.
    listed: BTreeSet<String>,
    /// When the root was last listed.
    root_listed_at: Instant,
}

/// How often the root is listed for new and removed task folders when no
/// inotify watch covers it (a readdir and an lstat per folder, not a full
/// reconcile): new folders are found within seconds on filesystems without
/// events, not at the 30 s reconcile (issue 22).
pub const ROOT_POLL: Duration = Duration::from_secs(1);

/// Most unwatched task folders looked at per poll tick.
const POLL_BUDGET: usize = 1000;

impl Watches {
    /// Watches `task`'s folder if the budget allows; otherwise polls it. A
    /// name already watched is watched again when its folder changed, or
    /// always when `renew` (an event said the folder itself changed).
    fn add(&mut self, root: &Path, task: &str, renew: bool) {
        let path = root.join(task);
        let Some(id) = dir_identity(&path, false) else {
            return self.remove(root, task);
        };
        match self.watched.get(task) {
            Some(&known) if known == id && !renew => return,
            Some(_) => self.remove(root, task),
            None => {}
        }
        let watched = match &mut self.watcher {
            Some(w) if self.watched.len() < self.limit => {
                match w.watch(&path, RecursiveMode::NonRecursive) {
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
            self.watched.insert(task.to_owned(), id);
        } else {
            self.polled.insert(task.to_owned());
        }
    }

    /// Stops watching a sealed or vanished task (the slow reconcile still covers it).
    fn remove(&mut self, root: &Path, task: &str) {
        if let Some(id) = self.watched.remove(task) {
            // A folder renamed within the root keeps its inotify watch (one
            // per inode): removing the old name must not drop the new one's.
            let shared = self.watched.values().any(|&other| other == id);
            if let (Some(w), false) = (&mut self.watcher, shared) {
                let _ = w.unwatch(&root.join(task));
            }
        }
        self.polled.remove(task);
    }

    /// Whether the root is another folder than the one watched (removed,
    /// re-created, replaced); if so, watches it again. The caller then
    /// reconciles: a missing root lists as empty. `force`: an event said the
    /// root itself changed, so its watch is not trusted whatever the
    /// identity says.
    fn root_changed(&mut self, root: &Path, force: bool) -> bool {
        let now = dir_identity(root, true);
        if now == self.root_id && !force {
            return false;
        }
        if let Some(w) = &mut self.watcher {
            // The old watch is on a folder that is gone or elsewhere now.
            let _ = w.unwatch(root);
            if now.is_some() {
                if let Err(e) = w.watch(root, RecursiveMode::NonRecursive) {
                    tracing::warn!(root = %root.display(), error = %e, "cannot watch the log root again; the reconcile timer covers it");
                }
            }
        }
        match now {
            Some(_) => tracing::info!(root = %root.display(), "log root (re)appeared; watching it"),
            None => {
                tracing::warn!(root = %root.display(), "log root is gone; waiting for it to come back")
            }
        }
        self.root_id = now;
        true
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

/// Runs the sidecar until its [`Shutdown`](crate::Shutdown) is requested
/// (`Tailer::shutdown`): reconciles everything, then follows changes. On
/// shutdown the open batch commits before returning when the database
/// allows; when it does not (locked by another process), the batch is
/// rolled back with its checkpoints and read again at the next start. A
/// request reaches every state within about the busy timeout: waiting, a
/// backfill, a stream written without pause, a locked database.
pub async fn watch(mut tailer: Tailer) -> Result<Stats> {
    let shutdown = tailer.shutdown();
    let result = run(&mut tailer, &shutdown).await;
    let finished = tailer.finish();
    let stopping = shutdown.is_requested();
    match (result, finished) {
        (Err(Error::ShuttingDown { .. }), Ok(stats)) if stopping => Ok(stats),
        (Err(e), _) => Err(e),
        (Ok(()), Err(Error::ShuttingDown { uncommitted_ops })) if stopping => {
            tracing::info!(uncommitted_ops, "stopped without committing the last batch");
            Ok(Stats::default())
        }
        (Ok(()), finished) => finished,
    }
}

async fn run(tailer: &mut Tailer, shutdown: &crate::Shutdown) -> Result<()> {
    let root = tailer.root().to_owned();
    std::fs::create_dir_all(&root).map_err(|e| Error::io(&root, "creating log root", e))?;
    let (tx, mut rx) = mpsc::channel::<Wake>(EVENT_QUEUE);
    let overflow = Arc::new(AtomicBool::new(false));
    // Identity first, then the watch: a root replaced in between is then
    // seen as changed by the first root check.
    let root_id = dir_identity(&root, true);
    let options = tailer.options().clone();
    let watcher = if options.inotify {
        start_watcher(&root, tx, Arc::clone(&overflow))
    } else {
        tracing::info!("inotify off ([index] inotify = false): polling every folder, and the root for new ones");
        drop(tx);
        None
    };
    let mut watches = Watches {
        watcher,
        watched: BTreeMap::new(),
        root_id,
        polled: BTreeSet::new(),
        poll_cursor: None,
        limit: options.max_watches,
        listed: BTreeSet::new(),
        root_listed_at: Instant::now(),
    };

    // Watch first, then list: a file created between the two is then seen
    // by the listing or by an event, never by neither.
    full_reconcile(tailer, &mut watches)?;
    tailer.flush()?;
    tracing::info!(root = %root.display(), mode = watches.mode(), watches = watches.watched.len(), "watching");

    let mut poll = tokio::time::interval(options.poll_interval);
    let mut reconcile = tokio::time::interval(options.reconcile_interval);
    let mut root_check = tokio::time::interval(ROOT_CHECK);
    root_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    reconcile.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    reconcile.tick().await; // the first tick is immediate; we just reconciled
    let stop = shutdown.requested();
    tokio::pin!(stop);
    // Hinted files not yet read: kept across wakes, so the loop can return
    // to its timers and the shutdown request between slices of work.
    let mut pending = FairQueue::default();

    loop {
        let wake = tokio::select! {
            biased;
            () = &mut stop => Wake::Shutdown,
            _ = reconcile.tick() => Wake::Reconcile,
            _ = root_check.tick() => Wake::RootCheck,
            _ = poll.tick() => Wake::Poll,
            Some(w) = rx.recv() => w,
            () = std::future::ready(()), if !pending.is_empty() => Wake::Pending,
        };
        match wake {
            Wake::Shutdown => return Ok(()),
            Wake::Reconcile => full_reconcile(tailer, &mut watches)?,
            Wake::RootCheck => {
                if watches.root_changed(&root, false) {
                    full_reconcile(tailer, &mut watches)?;
                }
            }
            Wake::Poll => {
                if overflow.swap(false, Ordering::SeqCst) {
                    tracing::warn!("filesystem event queue overflowed; reconciling from disk");
                    full_reconcile(tailer, &mut watches)?;
                } else {
                    if watches.watcher.is_none() && watches.root_listed_at.elapsed() >= ROOT_POLL {
                        poll_root(tailer, &mut watches)?;
                    }
                    for task in watches.next_polled() {
                        tailer.reconcile_task(&task)?;
                    }
                }
            }
            Wake::FsError(e) => {
                tracing::warn!(error = %e, "filesystem watcher error; reconciling from disk");
                full_reconcile(tailer, &mut watches)?;
            }
            Wake::Pending => follow(tailer, &mut watches, &root, &mut pending, &mut rx)?,
            Wake::Fs(event) => {
                let mut rescan = event.need_rescan();
                for path in event.paths {
                    pending.push(path);
                }
                // Coalesce whatever else is already queued.
                while let Ok(w) = rx.try_recv() {
                    match w {
                        Wake::Fs(e) => {
                            rescan |= e.need_rescan();
                            for path in e.paths {
                                pending.push(path);
                            }
                        }
                        Wake::FsError(_) => rescan = true,
                        _ => {}
                    }
                }
                if rescan {
                    pending.clear();
                    full_reconcile(tailer, &mut watches)?;
                } else {
                    follow(tailer, &mut watches, &root, &mut pending, &mut rx)?;
                }
            }
        }
    }
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

/// Lists the root (no watch covers it) and reads the folders that came or
/// went since the last listing; the others are the poll tick's.
fn poll_root(tailer: &mut Tailer, watches: &mut Watches) -> Result<()> {
    let root = tailer.root().to_owned();
    watches.root_listed_at = Instant::now();
    let tasks: BTreeSet<String> = tailer.survey_root()?.into_iter().collect();
    let changed: Vec<String> = tasks
        .symmetric_difference(&watches.listed)
        .cloned()
        .collect();
    if changed.is_empty() {
        return Ok(());
    }
    for task in &changed {
        if tasks.contains(task) {
            tracing::debug!(task, "new task folder found by listing the root");
            watches.add(&root, task, false);
        } else {
            watches.remove(&root, task);
        }
        tailer.reconcile_task(task)?;
        if tailer.is_sealed(task) {
            watches.remove(&root, task);
        }
    }
    watches.listed = tasks;
    record_watch_state(tailer, watches)
}

fn full_reconcile(tailer: &mut Tailer, watches: &mut Watches) -> Result<()> {
    let root = tailer.root().to_owned();
    let tasks = tailer.survey_root()?;
    watches.root_listed_at = Instant::now();
    watches.listed = tasks.iter().cloned().collect();
    for task in &tasks {
        if !tailer.is_sealed(task) {
            watches.add(&root, task, false);
        }
    }
    tailer.reconcile_listed(&tasks, &mut |_| {})?;
    for task in &tasks {
        if tailer.is_sealed(task) {
            watches.remove(&root, task);
        }
    }
    let present: BTreeSet<&String> = tasks.iter().collect();
    for gone in watches
        .watched
        .keys()
        .chain(&watches.polled)
        .filter(|t| !present.contains(t))
        .cloned()
        .collect::<Vec<_>>()
    {
        watches.remove(&root, &gone);
    }
    record_watch_state(tailer, watches)
}

fn record_watch_state(tailer: &mut Tailer, watches: &Watches) -> Result<()> {
    tailer.set_state(StateKey::WatchMode, watches.mode().to_owned())?;
    tailer.set_state(StateKey::Watches, watches.watched.len().to_string())?;
    tailer.set_state(StateKey::PolledTasks, watches.polled.len().to_string())?;
    tailer.set_state(StateKey::WatcherPid, std::process::id().to_string())
}

/// Follows the hinted paths with fair reads: one batch per file per turn,
/// so one busy stream cannot starve quiet ones, and new hints join the
/// queue between turns. Returns after [`FOLLOW_SLICE`] with the rest still
/// queued, so the caller's timers and shutdown get their turn.
fn follow(
    tailer: &mut Tailer,
    watches: &mut Watches,
    root: &Path,
    queue: &mut FairQueue,
    rx: &mut mpsc::Receiver<Wake>,
) -> Result<()> {
    let started = Instant::now();
    let mut changed_watches = false;
    while started.elapsed() < FOLLOW_SLICE {
        let Some(path) = queue.pop() else { break };
        let Ok(rel) = path.strip_prefix(root) else {
            continue;
        };
        let depth = rel.components().count();
        if depth == 0 {
            // An event about the root itself: removed, moved, replaced.
            if watches.root_changed(root, true) {
                queue.clear();
                full_reconcile(tailer, watches)?;
                return Ok(());
            }
        } else if depth == 1 {
            // A task folder appeared, vanished, was renamed or replaced:
            // watch it (again) or drop its watch, then look at it by name.
            // `reconcile_task` decides what the name is now; one that is no
            // task folder (gone, dotted, a link) has its rows removed.
            let task = rel.to_string_lossy().into_owned();
            if crate::discovery::classify_folder(root, &task) == crate::discovery::Folder::Task {
                watches.add(root, &task, true);
            } else {
                watches.remove(root, &task);
            }
            changed_watches = true;
            tailer.reconcile_task(&task)?;
        } else if depth == 2 && tailer.read_hinted(&path)? {
            queue.push(path.clone());
        }
        if let Some(task) = rel.components().next().and_then(|c| c.as_os_str().to_str()) {
            if depth == 2 && tailer.is_sealed(task) && watches.watched.contains_key(task) {
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
                    queue.clear();
                    full_reconcile(tailer, watches)?;
                    return Ok(());
                }
            }
        }
    }
    if changed_watches {
        record_watch_state(tailer, watches)?;
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

    fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    fn clear(&mut self) {
        self.order.clear();
        self.members.clear();
    }
}
