//! Following sources that grow: `tasklog import --follow`, and the
//! `[[import]]` / `agents = "auto"` followers of `tasklog watch`.
//!
//! One loop owns the state. It learns of changes two ways:
//! - file events (notify: inotify on Linux) of the followed folders and
//!   files: a changed file is imported as soon as its event arrives, so an
//!   appended line reaches the task folder within milliseconds instead of
//!   at the next look (docs/IMPORT.md section 15); a folder created or
//!   moved in is listed (twice, see [`Events::wait`]), since no event names
//!   the files it already holds (a session's new `subagents` folder);
//! - a full look every `poll`: the paths are listed again (new session
//!   files are found the same way as by a plain import) and every file
//!   whose length or modification time changed is imported. This is the
//!   safety net for what events miss (a folder created and written before
//!   its watch was added, a lost event queue, no inotify at all), and the
//!   whole mechanism when no watch could be set up.
//!
//! Both end in the same [`look`]: a file whose length and modification time
//! did not change is not read. The import itself is exactly once across
//! crashes (journal.rs), so a follower killed at any instant and started
//! again neither loses nor repeats anything. Shutdown is looked at between
//! two files (and at least every [`SLICE`] while idle), never in the middle
//! of one.
//!
//! Sealing: `result.json` seals a task (the index stops watching it), so a
//! followed session is sealed only when its source says it ended (an end
//! marker: Copilot CLI's `session.shutdown`, a trajectory's exit status,
//! OpenHands' `finish`, an OpenCode export) or once it has been unchanged
//! for `seal_after`. A session that grows again after that (its main
//! transcript, or a new sub-agent file) is still imported, and reaches the
//! index at once: the watcher no longer watches a sealed task's folder, so
//! the import touches it (import.rs `nudge_watcher`).

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant, SystemTime};

use notify::{RecursiveMode, Watcher};

use crate::discover::{discover, is_agent_file, Candidate};
use crate::error::Result;
use crate::import::Importer;
use crate::report::FileReport;
use crate::source::INCOMPLETE_TAIL;

/// What can wake the follower besides its poll tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// Stop after the file being imported (SIGINT, SIGTERM).
    Shutdown,
}

/// How often to look, and when an unchanged session is finished.
#[derive(Debug, Clone, Copy)]
pub struct FollowOptions {
    /// Time between two looks at the paths.
    pub poll: Duration,
    /// A source unchanged this long is finished: its task is sealed.
    pub seal_after: Duration,
}

/// What the follower knows of one file (in memory only: after a restart
/// every file is looked at once, and unchanged ones cost a hash).
struct Watched {
    len: u64,
    modified: Option<SystemTime>,
    /// When the file was last seen changing.
    changed_at: Instant,
    sealed: bool,
    /// Its task was offered for compression (settle.rs) once it was due.
    settled: bool,
}

/// Longest wait between two looks at the shutdown channel while file events
/// are awaited (the channel of [`Wake`]s cannot be selected together with
/// the events').
const SLICE: Duration = Duration::from_millis(100);

/// Follows `paths` until a [`Wake::Shutdown`] arrives (or the sender is
/// dropped), handing every report of a file that changed to `on_report`.
/// Returns the number of imports made.
///
/// Without `TASKLOG_IMPORT_NOTIFY=0` in the environment (the benchmark's
/// baseline), file events of the paths trigger imports at once; the full
/// look every `options.poll` runs either way.
pub fn follow(
    importer: &mut Importer,
    paths: &[PathBuf],
    options: FollowOptions,
    wake: &Receiver<Wake>,
    mut on_report: impl FnMut(&FileReport),
) -> Result<u64> {
    importer.defer_seal(true);
    let mut watched: HashMap<PathBuf, Watched> = HashMap::new();
    let mut imports = 0u64;
    let mut events = Events::start(paths);
    let mut next_look = Instant::now();
    loop {
        match wake.try_recv() {
            Ok(Wake::Shutdown) | Err(TryRecvError::Disconnected) => return Ok(imports),
            Err(TryRecvError::Empty) => {}
        }
        if Instant::now() >= next_look {
            if let Some(e) = events.as_mut() {
                e.watch_missing(); // a followed folder created since
            }
            let candidates = match discover(paths) {
                Ok(c) => c,
                // A folder that is gone for now (a session folder deleted by
                // the agent's cleanup): look again at the next tick.
                Err(e) => {
                    tracing::warn!(error = %e, "listing the followed paths");
                    Vec::new()
                }
            };
            for candidate in &candidates {
                if wake.try_recv() == Ok(Wake::Shutdown) {
                    return Ok(imports);
                }
                imports +=
                    look_guarded(importer, candidate, &mut watched, options, &mut on_report)?;
            }
            next_look = Instant::now() + options.poll;
        }
        let until_look = next_look.saturating_duration_since(Instant::now());
        let Some(e) = events.as_mut() else {
            match wake.recv_timeout(until_look) {
                Ok(Wake::Shutdown) | Err(RecvTimeoutError::Disconnected) => return Ok(imports),
                Err(RecvTimeoutError::Timeout) => continue,
            }
        };
        let changed = match e.wait(until_look.min(SLICE)) {
            Ok(changed) => changed,
            Err(()) => {
                tracing::warn!("file events stopped; following by looking every poll");
                events = None;
                continue;
            }
        };
        for candidate in changed {
            if wake.try_recv() == Ok(Wake::Shutdown) {
                return Ok(imports);
            }
            imports += look_guarded(importer, &candidate, &mut watched, options, &mut on_report)?;
        }
    }
}

/// The file events of the followed paths, as candidates to look at.
struct Events {
    /// Kept alive: dropping it ends the events.
    watcher: notify::RecommendedWatcher,
    rx: Receiver<Named>,
    /// Each followed path: as given, its canonical form (events may name a
    /// file through either), whether it is a folder, whether it is watched.
    roots: Vec<Root>,
    /// Folders that arrived, to list once more when due: a file written
    /// into one after the first listing but before notify added the
    /// folder's watch has no event either.
    again: Vec<(Instant, PathBuf)>,
}

/// A path a file event names, and whether the event says it arrived
/// (created, or moved in).
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Named {
    path: PathBuf,
    arrived: bool,
}

/// Whether an event of `kind` says its path arrived: created, or moved in
/// (a rename names both ends; the end that is gone is dropped later).
fn arrived(kind: &notify::EventKind) -> bool {
    use notify::event::ModifyKind;
    matches!(
        kind,
        notify::EventKind::Create(_) | notify::EventKind::Modify(ModifyKind::Name(_))
    )
}

struct Root {
    given: PathBuf,
    canonical: Option<PathBuf>,
    folder: bool,
    watching: bool,
}

impl Events {
    /// Watches every path that exists (`None`: no file events at all, by
    /// choice or because the platform refused; the full looks remain).
    fn start(paths: &[PathBuf]) -> Option<Events> {
        if std::env::var_os("TASKLOG_IMPORT_NOTIFY").is_some_and(|v| v == "0") {
            return None;
        }
        let (tx, rx) = mpsc::channel();
        let handler = move |res: notify::Result<notify::Event>| match res {
            // Reads change nothing (and the importer's own reads cause them).
            Ok(event) if matches!(event.kind, notify::EventKind::Access(_)) => {}
            Ok(event) => {
                let arrived = arrived(&event.kind);
                for path in event.paths {
                    let _ = tx.send(Named { path, arrived });
                }
            }
            // A lost queue: the next full look finds what it lost.
            Err(e) => tracing::debug!(error = %e, "file events of followed paths"),
        };
        let watcher = match notify::recommended_watcher(handler) {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "no file events; following by looking every poll");
                return None;
            }
        };
        let roots = paths
            .iter()
            .map(|p| Root {
                given: p.clone(),
                canonical: None,
                folder: false,
                watching: false,
            })
            .collect();
        let mut events = Events {
            watcher,
            rx,
            roots,
            again: Vec::new(),
        };
        events.watch_missing();
        Some(events)
    }

    /// Adds a watch for each followed path not watched yet that exists now.
    fn watch_missing(&mut self) {
        for root in self.roots.iter_mut().filter(|r| !r.watching) {
            let Ok(meta) = std::fs::metadata(&root.given) else {
                continue; // not there yet: the full looks will tell
            };
            root.folder = meta.is_dir();
            root.canonical = std::fs::canonicalize(&root.given).ok();
            let mode = if root.folder {
                RecursiveMode::Recursive
            } else {
                RecursiveMode::NonRecursive
            };
            match self.watcher.watch(&root.given, mode) {
                Ok(()) => root.watching = true,
                // The inotify watch limit, most likely: looking every poll
                // still finds everything, only later.
                Err(e) => tracing::warn!(path = %root.given.display(), error = %e,
                    "cannot watch a followed path; it is looked at every poll"),
            }
        }
    }

    /// Waits up to `timeout` for file events; returns the candidates they
    /// name (each once, a session's main transcript before its sub-agent
    /// files, as `discover` orders them), or `Err` when the events ended.
    fn wait(&mut self, timeout: Duration) -> std::result::Result<Vec<Candidate>, ()> {
        let timeout = match self.again.first() {
            Some((due, _)) => timeout.min(due.saturating_duration_since(Instant::now())),
            None => timeout,
        };
        let mut paths = BTreeSet::new();
        match self.rx.recv_timeout(timeout) {
            Ok(p) => {
                paths.insert(p);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return Err(()),
        }
        while let Ok(p) = self.rx.try_recv() {
            paths.insert(p);
        }
        let now = Instant::now();
        let due = self.again.iter().take_while(|(at, _)| *at <= now).count();
        let again: Vec<PathBuf> = self.again.drain(..due).map(|(_, p)| p).collect();
        for named in paths.iter().filter(|n| n.arrived && n.path.is_dir()) {
            self.again.push((now + SLICE, named.path.clone()));
        }
        let mut out: Vec<Candidate> = paths
            .iter()
            .flat_map(|n| self.candidates(&n.path, n.arrived))
            .chain(again.iter().flat_map(|p| self.candidates(p, true)))
            .collect();
        out.sort_by_key(|c| (is_agent_file(&c.path), c.path.clone()));
        out.dedup();
        Ok(out)
    }

    /// The candidates an event's path stands for: a followed file itself, or
    /// a file that a walk of a followed folder would list, named as the
    /// walk names it (so one file is one entry of the follower's state).
    /// A folder that `arrived` (created, or moved in) stands for the files
    /// in it: no event names a file written into a new folder before the
    /// folder's own watch was added (a session's new `subagents` folder), nor
    /// those of a folder moved in whole; without this they waited for the
    /// next full look.
    fn candidates(&self, path: &Path, arrived: bool) -> Vec<Candidate> {
        let Ok(meta) = std::fs::metadata(path) else {
            return Vec::new(); // removed since: nothing to import
        };
        let folder = meta.is_dir();
        if folder && !arrived {
            return Vec::new(); // its files have events of their own
        }
        for root in &self.roots {
            let canonical = root.canonical.as_deref();
            let Some(rel) = path
                .strip_prefix(&root.given)
                .ok()
                .or_else(|| canonical.and_then(|c| path.strip_prefix(c).ok()))
            else {
                continue;
            };
            if !root.folder {
                if !rel.as_os_str().is_empty() || folder {
                    continue;
                }
                return vec![Candidate {
                    path: root.given.clone(),
                    explicit: true,
                }];
            }
            let file = root.given.join(rel);
            // An OpenHands session's event files are one source: its
            // `events` folder (assemble.rs), as the walk lists it.
            let events = file
                .ancestors()
                .skip(usize::from(!folder))
                .take_while(|a| a.starts_with(&root.given))
                .find(|a| crate::assemble::is_openhands_events(a));
            if let Some(events) = events {
                return vec![Candidate {
                    path: events.to_path_buf(),
                    explicit: events == root.given,
                }];
            }
            if folder {
                return new_folder(&file, rel);
            }
            // An OpenCode message or part: its session is the source.
            if let Some(session) = crate::assemble::opencode_session_of(&file) {
                return vec![Candidate {
                    path: session,
                    explicit: false,
                }];
            }
            if !walk_would_list(rel) {
                continue;
            }
            // Evaluation output: one source per line, as the walk lists it.
            if let Some(lines) = crate::assemble::eval_sources(&file) {
                return lines
                    .into_iter()
                    .map(|path| Candidate {
                        path,
                        explicit: false,
                    })
                    .collect();
            }
            return vec![Candidate {
                path: file,
                explicit: false,
            }];
        }
        Vec::new()
    }
}

/// The files a walk of the followed folder lists below `folder` (at `rel`
/// in it), as that walk names them. A hidden folder, or the followed
/// folder itself, holds none worth a walk here (the full look sees them).
fn new_folder(folder: &Path, rel: &Path) -> Vec<Candidate> {
    let hidden = rel
        .components()
        .any(|c| c.as_os_str().to_string_lossy().starts_with('.'));
    if hidden || rel.as_os_str().is_empty() {
        return Vec::new();
    }
    match discover(&[folder.to_path_buf()]) {
        Ok(found) => found
            .into_iter()
            .map(|c| Candidate {
                path: c.path,
                explicit: false,
            })
            .collect(),
        // Gone again, or unreadable: the full look will say.
        Err(_) => Vec::new(),
    }
}

/// Whether a folder walk (discover.rs) lists the file at `rel` below the
/// folder: no hidden component, a `.jsonl`, `.json` or `.traj` name.
fn walk_would_list(rel: &Path) -> bool {
    let hidden = rel
        .components()
        .any(|c| c.as_os_str().to_string_lossy().starts_with('.'));
    let name = rel.file_name().map(|n| n.to_string_lossy().into_owned());
    !hidden && name.is_some_and(|n| [".jsonl", ".json", ".traj"].iter().any(|e| n.ends_with(e)))
}

/// [`look`], outliving a panic while importing, sealing or compressing
/// one file: that file is reported failed and left alone until it changes
/// (the same bytes would panic the same way, every look), the importer's
/// caches are dropped, and the follower goes on with the other files.
/// Whatever the panic left half-written is finished or undone by the next
/// import of that task (journal.rs), as after a crash. Before, the panic
/// ended the follower's thread, and `tasklog watch` went on indexing
/// without importing anything more.
fn look_guarded(
    importer: &mut Importer,
    candidate: &Candidate,
    watched: &mut HashMap<PathBuf, Watched>,
    options: FollowOptions,
    on_report: &mut impl FnMut(&FileReport),
) -> Result<u64> {
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        look(importer, candidate, watched, options, on_report)
    }));
    let panic = match caught {
        Ok(result) => return result,
        Err(panic) => panic,
    };
    let message = panic_message(panic.as_ref());
    tracing::error!(path = %candidate.path.display(), panic = %message,
        "importing a file panicked; it is left alone until it changes");
    importer.forget_caches();
    let mut report = FileReport::new(&candidate.path);
    report.action = crate::report::Action::Failed;
    report.reason = Some(format!(
        "the importer panicked ({message}); not imported again until the file changes"
    ));
    on_report(&report);
    if let Ok((len, modified)) = crate::assemble::source_stat(&candidate.path) {
        let entry = Watched {
            len,
            modified: Some(modified),
            changed_at: Instant::now(),
            sealed: true,
            settled: true,
        };
        watched.insert(candidate.path.clone(), entry);
    }
    Ok(0)
}

/// The text of a panic's payload (`panic!` with a literal or a format).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    match (
        payload.downcast_ref::<&str>(),
        payload.downcast_ref::<String>(),
    ) {
        (Some(s), _) => (*s).to_owned(),
        (_, Some(s)) => s.clone(),
        _ => "a panic without a message".to_owned(),
    }
}

/// Imports `candidate` if it changed, seals it if it has been quiet long
/// enough. Returns 1 for an import, else 0.
fn look(
    importer: &mut Importer,
    candidate: &Candidate,
    watched: &mut HashMap<PathBuf, Watched>,
    options: FollowOptions,
    on_report: &mut impl FnMut(&FileReport),
) -> Result<u64> {
    let Ok((len, modified)) = crate::assemble::source_stat(&candidate.path) else {
        return Ok(0); // removed since the listing
    };
    let modified = Some(modified);
    if let Some(w) = watched.get_mut(&candidate.path) {
        if w.len == len && w.modified == modified {
            if !w.sealed && w.changed_at.elapsed() >= options.seal_after {
                w.sealed = true;
                if let Err(e) = importer.seal(candidate) {
                    tracing::warn!(path = %candidate.path.display(), error = %e, "sealing");
                }
            }
            if w.sealed && !w.settled && importer.compress_due(modified) {
                w.settled = true;
                importer.compress_if_quiet(&candidate.path);
            }
            return Ok(0);
        }
    }
    let mut report = importer.import_file(candidate);
    // A line still being written when the file event came is no error of
    // the source: the rest of it brings another event and another import.
    report
        .parse_errors
        .retain(|p| !p.message.starts_with(INCOMPLETE_TAIL));
    on_report(&report);
    watched.insert(
        candidate.path.clone(),
        Watched {
            len,
            modified,
            changed_at: Instant::now(),
            sealed: false,
            settled: false,
        },
    );
    Ok(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_files_a_folder_walk_lists_are_candidates() {
        assert!(walk_would_list(Path::new("p/s.jsonl")));
        assert!(walk_would_list(Path::new(
            "t/api_conversation_history.json"
        )));
        assert!(walk_would_list(Path::new("run.traj")));
        assert!(!walk_would_list(Path::new("p/s.jsonl.tmp")));
        assert!(!walk_would_list(Path::new(".hidden/s.jsonl")));
        assert!(!walk_would_list(Path::new("p/.s.jsonl")));
        assert!(!walk_would_list(Path::new("")));
    }

    #[test]
    fn an_event_names_the_file_as_the_walk_does() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("projects");
        std::fs::create_dir_all(folder.join("p")).unwrap();
        let file = folder.join("p/s.jsonl");
        std::fs::write(&file, "{}\n").unwrap();
        std::fs::write(folder.join("p/notes.txt"), "x").unwrap();
        let lone = dir.path().join("lone.log");
        std::fs::write(&lone, "{}\n").unwrap();
        let roots = vec![folder.clone(), lone.clone()];
        let Some(events) = Events::start(&roots) else {
            return; // no file events on this platform: nothing to map
        };
        let canonical = std::fs::canonicalize(&file).unwrap();
        for named in [&file, &canonical] {
            let c = events.candidates(named, false);
            assert_eq!(
                c,
                vec![Candidate {
                    path: file.clone(),
                    explicit: false
                }]
            );
        }
        assert!(events
            .candidates(&folder.join("p/notes.txt"), true)
            .is_empty());
        assert!(events
            .candidates(&folder.join("p/gone.jsonl"), true)
            .is_empty());
        // A folder whose files have events of their own stands for nothing;
        // one that arrived, for the files in it that a walk lists.
        assert!(events.candidates(&folder.join("p"), false).is_empty());
        let c = events.candidates(&folder.join("p"), true);
        assert_eq!(
            c,
            vec![Candidate {
                path: file.clone(),
                explicit: false
            }]
        );
        std::fs::create_dir_all(folder.join(".cache/q")).unwrap();
        std::fs::write(folder.join(".cache/q/s.jsonl"), "{}\n").unwrap();
        assert!(events.candidates(&folder.join(".cache/q"), true).is_empty());
        assert!(events.candidates(&folder, true).is_empty());
        // An OpenHands session's event file stands for its events folder.
        let session = folder.join("oh/s1/events");
        std::fs::create_dir_all(&session).unwrap();
        std::fs::write(session.join("0.json"), "{}").unwrap();
        let c = events.candidates(&session.join("0.json"), false);
        assert_eq!(c, events.candidates(&session, true));
        assert_eq!(c, events.candidates(&folder.join("oh"), true));
        assert_eq!(
            c,
            vec![Candidate {
                path: session,
                explicit: false
            }]
        );
        // A followed file is a candidate whatever its name, as when named.
        let c = events.candidates(&lone, false);
        assert_eq!(
            c,
            vec![Candidate {
                path: lone,
                explicit: true
            }]
        );
    }
}
