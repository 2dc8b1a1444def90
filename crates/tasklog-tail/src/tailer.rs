//! The reader side of the sidecar: discovers task folders, reads what is
//! new since each checkpoint, and sends it to the committer.
//!
//! The reader keeps an in-memory copy of every checkpoint, advanced as soon
//! as a batch is sent; the committer applies batches in order, and each
//! batch names the checkpoint it expects, so a mismatch aborts instead of
//! indexing a line twice.

mod diagnostics;
mod open;

pub use open::Loaded;
mod read;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tasklog_format::{classify_entry, EntryKind, RESULT_DOC};

use crate::batch::{FileKey, FileKind, Op, Quarantine};
use crate::checkpoint::Checkpoint;
use crate::discovery::{self, Folder};
use crate::error::{Error, Result};
use crate::options::IndexOptions;
use crate::shards::Committers;
use crate::shutdown::Shutdown;
use crate::state::StateKey;

/// Counters of what one indexer did, for summaries and progress bars.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// Task folders seen.
    pub tasks: u64,
    /// Lines indexed into `records`.
    pub records: u64,
    /// Lines or documents quarantined into `ingest_errors`.
    pub quarantined: u64,
    /// Document versions read.
    pub documents: u64,
    /// Bytes of stream content read.
    pub bytes: u64,
    /// Files that started a new generation (truncated, replaced, rewritten).
    pub rotations: u64,
    /// Files that disappeared.
    pub removed: u64,
    /// Entries of the root that are not task folders (ignored).
    pub ignored: u64,
}

/// The sidecar's reader: owns the checkpoints and feeds the committer.
pub struct Tailer {
    root: PathBuf,
    options: IndexOptions,
    /// By path (`task/file`), ordered so one task's files are a range.
    checkpoints: BTreeMap<String, Checkpoint>,
    /// Open file-level diagnostics (`ingest_errors` of kind `file`), by
    /// path: reported once per reason, resolved when they no longer hold.
    /// Loaded at open, so a condition fixed while nothing ran resolves too.
    diagnostics: BTreeMap<String, String>,
    /// Sealed tasks whose incomplete tails were already reported.
    sealed_reported: BTreeSet<String>,
    /// Tasks whose `result.json` exists.
    sealed: BTreeSet<String>,
    /// Tasks whose `tasks` row this process has already ensured.
    registered: BTreeSet<String>,
    /// Tasks moved (or being moved) to a monthly archive: not indexed
    /// back, their folders left alone (see `archive.rs`). Loaded at open:
    /// `archive` and `unarchive` hold the writer lock, so they never run
    /// while a tailer does.
    archived: BTreeSet<String>,
    committer: Option<Committers>,
    /// Scratch for stream reads, kept between them (see `tail::read_stream`).
    read_buf: Vec<u8>,
    /// The decoder of the compressed stream being read, kept between its
    /// batches (see `compressed.rs`).
    gz_cursor: Option<crate::compressed::Cursor>,
    /// Backfill or live: decides how much one read may take.
    mode: RunMode,
    /// Secondary indexes are dropped until `finish`.
    bulk: bool,
    /// Checked between files and batches, so a long reconcile or a stream
    /// that never goes idle stops within one batch of a request.
    shutdown: Shutdown,
    stats: Stats,
    /// What the store runs beside its sinks (SQLite: the WAL thread and
    /// the writer lock file), finished after the committers.
    companion: Option<Box<dyn Companion>>,
}

/// What a store runs beside its sinks for as long as a tailer does: kept
/// by the tailer, finished after its committers, dropped with it.
pub trait Companion: Send {
    /// Stops it, after the last commit.
    fn finish(self: Box<Self>);
}

impl std::fmt::Debug for Tailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tailer")
            .field("root", &self.root)
            .field("files", &self.checkpoints.len())
            .finish()
    }
}

/// Which kind of run this is; decides how long a failing database is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunMode {
    /// `tasklog index`: give up after a while and report.
    Once,
    /// `tasklog watch`: retry until shutdown.
    Watch,
}

impl RunMode {
    /// How long an unwritable or unreachable database is retried.
    pub fn retry_for(self) -> Option<Duration> {
        match self {
            RunMode::Once => Some(Duration::from_secs(30)),
            RunMode::Watch => None,
        }
    }
}

impl Tailer {
    /// The log root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// What this indexer has done so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Bytes of stream content on disk after the checkpoints, over every
    /// task folder (known or new): the work a full reconcile has ahead.
    pub fn pending_bytes(&self) -> u64 {
        let Ok(tasks) = self.list_tasks() else {
            return 0;
        };
        let mut total = 0;
        for task in tasks.into_iter().filter(|t| !self.archived.contains(t)) {
            let Ok(entries) = std::fs::read_dir(self.root.join(&task)) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                let Some(name) = name.to_str() else { continue };
                // A compressed stream (`X.jsonl.gz`, the stream unless `X.jsonl`
                // is there too) counts its decompressed bytes, which its
                // checkpoint counts: a root of compressed imported sessions is a
                // large backfill too, and gets the bulk load.
                let (stream, len) = match name.strip_suffix(tasklog_format::COMPRESSED_SUFFIX) {
                    Some(plain) if !self.root.join(&task).join(plain).exists() => (
                        plain,
                        crate::compressed::decompressed_len(&entry.path()).unwrap_or(0),
                    ),
                    Some(_) => continue,
                    None => (name, entry.metadata().map(|m| m.len()).unwrap_or(0)),
                };
                if !matches!(classify_entry(stream), EntryKind::Stream(_)) {
                    continue;
                }
                let done = self
                    .checkpoints
                    .get(&format!("{task}/{stream}"))
                    .map_or(0, |cp| cp.offset);
                total += len.saturating_sub(done);
            }
        }
        total
    }

    fn send(&mut self, op: Op) -> Result<()> {
        match &mut self.committer {
            Some(c) => c.send(op),
            None => Err(Error::CommitterStopped {
                cause: crate::error::CommitterStop::Finished,
            }),
        }
    }

    /// Commits everything read so far and waits until it is durable in the database.
    pub fn flush(&mut self) -> Result<()> {
        match &mut self.committer {
            Some(c) => c.flush(),
            None => Ok(()),
        }
    }

    /// Drops the secondary indexes until [`Tailer::finish`] rebuilds them:
    /// for a large backfill, where building them once beats maintaining
    /// them row by row. Readers see a slower but correct database meanwhile.
    pub fn begin_bulk(&mut self) -> Result<()> {
        self.bulk = true;
        self.send(Op::Bulk(true))
    }

    /// Commits and stops the committer thread.
    pub fn finish(mut self) -> Result<Stats> {
        if self.bulk {
            self.send(Op::Bulk(false))?;
        }
        if let Some(c) = self.committer.take() {
            c.finish()?;
        }
        if let Some(c) = self.companion.take() {
            c.finish();
        }
        Ok(self.stats.clone())
    }

    /// The handle that stops this indexer: the reader between files and
    /// batches, the committer between retries (see `shutdown.rs`).
    pub fn shutdown(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// Fails with [`Error::ShuttingDown`] once a stop was requested; the
    /// reader's long loops call it between steps.
    fn check_shutdown(&self) -> Result<()> {
        match self.shutdown.is_requested() {
            true => Err(Error::ShuttingDown { uncommitted_ops: 0 }),
            false => Ok(()),
        }
    }

    /// Records a key of `indexer_state` (shown by `tasklog status`).
    pub(crate) fn set_state(&mut self, key: StateKey, value: String) -> Result<()> {
        self.send(Op::State { key, value })
    }

    /// Lists the task folders under the root, sorted. Entries that are not
    /// task folders (stray files, dotfiles, symlinks, bad names) are skipped.
    pub fn list_tasks(&self) -> Result<Vec<String>> {
        discovery::task_folders(&self.root).map(|l| l.tasks)
    }

    /// Lists the task folders, counts what was skipped, and reports every
    /// symbolic link named like a task folder by name (see `discovery`).
    pub(crate) fn survey_root(&mut self) -> Result<Vec<String>> {
        let listing = discovery::task_folders(&self.root)?;
        self.stats.ignored += listing.skipped;
        self.folder_diagnostics(&listing.symlinks)?;
        Ok(listing.tasks)
    }

    /// Reconciles every task folder with its checkpoints, and forgets files
    /// of task folders that disappeared.
    pub fn reconcile_all(&mut self, progress: &mut dyn FnMut(&Stats)) -> Result<()> {
        let tasks = self.survey_root()?;
        self.reconcile_listed(&tasks, progress)
    }

    /// [`Tailer::reconcile_all`] over a listing the caller already made
    /// (the watcher lists once, watches the folders, then reconciles them).
    pub fn reconcile_listed(
        &mut self,
        tasks: &[String],
        progress: &mut dyn FnMut(&Stats),
    ) -> Result<()> {
        let present: BTreeSet<&str> = tasks.iter().map(String::as_str).collect();
        let vanished: BTreeSet<String> = self
            .checkpoints
            .values()
            .filter(|cp| !present.contains(cp.key.task_id.as_str()))
            .filter(|cp| !self.archived.contains(&cp.key.task_id))
            .map(|cp| cp.key.task_id.clone())
            .collect();
        for task in vanished {
            self.task_gone(&task)?;
        }
        for task in tasks {
            self.check_shutdown()?;
            self.reconcile_task(task)?;
            progress(&self.stats);
        }
        Ok(())
    }

    /// Reconciles one task folder: every stream read to its end, every
    /// changed document read, vanished files dropped.
    /// A name that is no task folder (any more) has its rows removed, so
    /// a folder renamed to a dotted or invalid name, or replaced by a
    /// symbolic link, leaves nothing behind.
    pub fn reconcile_task(&mut self, task_id: &str) -> Result<()> {
        if self.archived.contains(task_id) {
            return Ok(());
        }
        match discovery::classify_folder(&self.root, task_id) {
            Folder::Task => self.resolve(task_id)?,
            Folder::Symlink => {
                self.task_gone(task_id)?;
                return self.report_folder_symlink(task_id);
            }
            Folder::NotTask => {
                self.resolve(task_id)?;
                return self.task_gone(task_id);
            }
        }
        let dir = self.root.join(task_id);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => {
                return self.task_gone(task_id);
            }
            Err(e) => return Err(Error::io(&dir, "listing task folder", e)),
        };
        self.stats.tasks += 1;
        self.register_task(task_id)?;
        let mut seen = BTreeMap::new();
        let mut sealed = false;
        for entry in entries {
            let Ok(entry) = entry else { continue };
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some((kind, stem, name)) = entry_key(name) else {
                continue;
            };
            sealed |= kind == FileKind::Document && stem == RESULT_DOC;
            let path = format!("{task_id}/{name}");
            seen.insert(
                path.clone(),
                FileKey {
                    path,
                    task_id: task_id.to_owned(),
                    name: stem.to_owned(),
                    kind,
                },
            );
        }
        let vanished: Vec<String> = self
            .task_checkpoints(task_id)
            .filter(|cp| !seen.contains_key(&cp.key.path))
            .map(|cp| cp.key.path.clone())
            .collect();
        for path in vanished {
            self.file_gone(&path)?;
        }
        self.resolve_vanished(task_id, &seen)?;
        // Documents first, so a task row carries its status before its records arrive.
        let (docs, streams): (Vec<FileKey>, Vec<FileKey>) = seen
            .into_values()
            .partition(|k| k.kind == FileKind::Document);
        for key in docs {
            self.refresh_document(key)?;
        }
        for key in streams {
            self.drain_stream(key)?;
        }
        if sealed {
            self.sealed.insert(task_id.to_owned());
            self.report_incomplete_tails(task_id)?;
        } else {
            self.sealed.remove(task_id);
        }
        Ok(())
    }

    /// Reads at most one batch of the file `path` names; returns whether
    /// there may be more. Paths that are not task files are no-ops.
    pub fn read_hinted(&mut self, path: &Path) -> Result<bool> {
        let rel = path.strip_prefix(&self.root).unwrap_or(path);
        let mut parts = rel.components().map(|c| c.as_os_str().to_str());
        let (Some(Some(task)), Some(Some(file)), None) = (parts.next(), parts.next(), parts.next())
        else {
            return Ok(false);
        };
        // One lstat: a hint queued before its folder was replaced by a
        // symbolic link must not read through the link (the folder's own
        // event removes its rows).
        if discovery::classify_folder(&self.root, task) != Folder::Task
            || self.archived.contains(task)
        {
            return Ok(false);
        }
        let Some((kind, stem, file)) = entry_key(file) else {
            return Ok(false);
        };
        let key = FileKey {
            path: format!("{task}/{file}"),
            task_id: task.to_owned(),
            name: stem.to_owned(),
            kind,
        };
        self.register_task(task)?;
        match kind {
            FileKind::Stream => self.read_stream_once(&key),
            FileKind::Document => {
                let sealing = stem == RESULT_DOC;
                self.refresh_document(key)?;
                if sealing && self.root.join(task).join(&*file).exists() {
                    self.sealed.insert(task.to_owned());
                    self.report_incomplete_tails(task)?;
                }
                Ok(false)
            }
        }
    }

    /// Whether the task has its final result (`result.json`).
    pub fn is_sealed(&self, task_id: &str) -> bool {
        self.sealed.contains(task_id)
    }

    /// The options this indexer runs with.
    pub fn options(&self) -> &IndexOptions {
        &self.options
    }

    fn task_gone(&mut self, task_id: &str) -> Result<()> {
        let paths: Vec<String> = self
            .task_checkpoints(task_id)
            .map(|cp| cp.key.path.clone())
            .collect();
        let had_files = !paths.is_empty();
        for path in paths {
            self.file_gone(&path)?;
        }
        self.resolve_task(task_id)?;
        self.sealed.remove(task_id);
        // The folder is gone, so is its row: the index stays what a rebuild
        // from the files would give. Names never registered (a stray file
        // of the root, a dotted folder) cost the database nothing.
        if self.registered.remove(task_id) || had_files {
            self.send(Op::TaskGone {
                task_id: task_id.to_owned(),
            })?;
        }
        Ok(())
    }

    /// A sealed task's streams should all end in a newline; a partial last
    /// line will now never complete, so it is reported (once).
    fn report_incomplete_tails(&mut self, task_id: &str) -> Result<()> {
        let streams: Vec<Checkpoint> = self
            .task_checkpoints(task_id)
            .filter(|cp| cp.key.kind == FileKind::Stream)
            .cloned()
            .collect();
        for cp in streams {
            let Ok(meta) = std::fs::metadata(self.root.join(&cp.key.path)) else {
                continue;
            };
            if meta.len() > cp.offset
                && self
                    .sealed_reported
                    .insert(format!("{}@{}", cp.key.path, cp.offset))
            {
                let length = meta.len() - cp.offset;
                self.stats.quarantined += 1;
                self.send(Op::Errors {
                    key: cp.key.clone(),
                    generation: cp.generation,
                    errors: vec![Quarantine {
                        offset: cp.offset,
                        length: Some(length),
                        line: Some(cp.line_count + 1),
                        reason: format!("incomplete last line ({length} bytes without a newline) in a sealed task"),
                        prefix: String::new(),
                    }],
                })?;
            }
        }
        Ok(())
    }

    /// Makes sure the task has its `tasks` row; sent once per process, so
    /// polling idle folders costs the database nothing.
    fn register_task(&mut self, task_id: &str) -> Result<()> {
        if self.registered.contains(task_id) {
            return Ok(());
        }
        self.send(Op::Task {
            task_id: task_id.to_owned(),
        })?;
        self.registered.insert(task_id.to_owned());
        Ok(())
    }

    /// The checkpoints of one task: a range of the ordered map (paths are
    /// `task/file`, and `'0'` is the character after `'/'`), so per-task
    /// work does not grow with the number of tasks.
    fn task_checkpoints<'a>(&'a self, task_id: &str) -> impl Iterator<Item = &'a Checkpoint> + 'a {
        self.checkpoints
            .range(format!("{task_id}/")..format!("{task_id}0"))
            .map(|(_, cp)| cp)
    }
}

/// What a task folder entry is to the indexer: its kind, stem and the file
/// name its checkpoint is kept under. A compressed stream `X.jsonl.gz` is
/// the stream `X.jsonl` (one key, so both files present count once).
fn entry_key(name: &str) -> Option<(FileKind, &str, std::borrow::Cow<'_, str>)> {
    match classify_entry(name) {
        EntryKind::Stream(stem) => Some((FileKind::Stream, stem, name.into())),
        EntryKind::Document(stem) => Some((FileKind::Document, stem, name.into())),
        EntryKind::Ignored => tasklog_format::compressed_stream(name)
            .map(|stem| (FileKind::Stream, stem, format!("{stem}.jsonl").into())),
    }
}
