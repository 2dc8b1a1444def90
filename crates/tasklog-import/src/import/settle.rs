//! Compressing the tasks of sessions that went quiet: an imported task is
//! a copy that only the importer appends to, so once its session has been
//! left alone for a while (every source file unchanged for
//! [`Importer::compress_after`], default [`DEFAULT_COMPRESS_AFTER`]) and
//! the task is sealed, its streams are gzipped as `tasklog compress`
//! would (same crash-safe steps, the same stream for the index). This is
//! what keeps the disk of imported sessions near 3x the source by default
//! (docs/IMPORT.md §18). A session resumed later is made plain again before
//! anything is appended (apply.rs); the index reads the plain file as a new
//! generation (its old rows move to `superseded_records`), which is why the
//! quiet time is a day and not minutes.

use std::time::{Duration, SystemTime};

use tasklog_writer::CompressedStream;

use super::*;
use crate::report::error_chain;

/// How long every source of a sealed imported task stays unchanged before
/// the task is compressed, unless told otherwise.
pub const DEFAULT_COMPRESS_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

impl Importer {
    /// Compress the streams of a sealed imported task once all of its
    /// sources have been unchanged this long ([`Importer::compress_if_quiet`]);
    /// `None` never compresses.
    pub fn compress_after(&mut self, quiet: Option<Duration>) {
        self.compress_after = quiet;
    }

    /// Whether a source last modified at `modified` has been quiet long
    /// enough for its task to be compressed (a cheap test before
    /// [`Importer::compress_if_quiet`], which reads the task's record).
    pub(crate) fn compress_due(&self, modified: Option<SystemTime>) -> bool {
        match (self.compress_after, modified) {
            (Some(quiet), Some(t)) => t.elapsed().unwrap_or_default() >= quiet,
            _ => false,
        }
    }

    /// Compresses the task that `source` (a file imported by this importer,
    /// or found unchanged) was imported into, when the task is sealed and
    /// every source of it is older than [`Importer::compress_after`].
    /// Returns the streams it compressed (empty when none were due). Best
    /// effort: a stream being written, or an error, leaves the task plain,
    /// said in the log; the import itself has succeeded either way. Call it
    /// after a pass over the sources, not between two files of one session
    /// (a sub-agent file imported next would make the task plain again).
    pub fn compress_if_quiet(&mut self, source: &Path) -> Vec<CompressedStream> {
        let Some(quiet) = self.compress_after else {
            return Vec::new();
        };
        let Some(task_id) = self.task_of(source) else {
            return Vec::new();
        };
        if self.compressed.contains(&task_id) {
            return Vec::new();
        }
        match self.compress_task(&task_id, quiet) {
            Ok(Some(done)) => {
                if done.iter().all(|s| s.skipped.is_none()) {
                    self.compressed.insert(task_id);
                }
                done
            }
            Ok(None) => Vec::new(),
            Err(e) => {
                tracing::warn!(task = %task_id, error = %error_chain(&e), "compressing a quiet imported task");
                Vec::new()
            }
        }
    }

    /// The task a source was imported into, as this importer saw it.
    fn task_of(&self, source: &Path) -> Option<String> {
        let path = std::path::absolute(source).unwrap_or_else(|_| source.to_owned());
        self.stat_cache
            .as_ref()
            .and_then(|cache| cache.get(&path.display().to_string()))
            .and_then(|hit| hit.task.clone())
    }

    /// [`Importer::compress_if_quiet`] for every source of a pass, in one
    /// batch (`Writer::compress_sealed_many`: two scans of `/proc` for all
    /// of them, not two per task). Returns how many tasks had streams
    /// compressed, their bytes and the bytes of their `.gz` files.
    pub fn compress_quiet(&mut self, sources: &[&Path]) -> (u64, u64, u64) {
        let Some(quiet) = self.compress_after else {
            return (0, 0, 0);
        };
        let mut due: Vec<String> = Vec::new();
        for source in sources {
            let Some(task_id) = self.task_of(source) else {
                continue;
            };
            if self.compressed.contains(&task_id) || due.contains(&task_id) {
                continue;
            }
            match self.is_due(&task_id, quiet) {
                Ok(true) => due.push(task_id),
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(task = %task_id, error = %error_chain(&e), "compressing a quiet imported task");
                }
            }
        }
        let ids: Vec<&str> = due.iter().map(String::as_str).collect();
        // The streams were written by this importer: the sources' quiet
        // time is what decides, not the streams' own.
        let outcomes = self.writer.compress_sealed_many(&ids, Duration::ZERO);
        let mut totals = (0, 0, 0);
        for (task_id, outcome) in outcomes {
            match outcome {
                Ok(done) => {
                    totals.0 += u64::from(done.iter().any(|s| s.compressed_bytes > 0));
                    totals.1 += done.iter().map(|s| s.bytes).sum::<u64>();
                    totals.2 += done.iter().map(|s| s.compressed_bytes).sum::<u64>();
                    if done.iter().all(|s| s.skipped.is_none()) {
                        self.compressed.insert(task_id.to_owned());
                    }
                }
                Err(e) => {
                    tracing::warn!(task = %task_id, error = %error_chain(&e), "compressing a quiet imported task");
                }
            }
        }
        totals
    }

    /// Whether `task_id` is due: sealed, no import pending, and every
    /// source unchanged for `quiet`.
    fn is_due(
        &self,
        task_id: &str,
        quiet: Duration,
    ) -> std::result::Result<bool, tasklog_writer::Error> {
        let task = self.writer.task(task_id)?;
        if !task.dir().join("result.json").exists() {
            return Ok(false);
        }
        let Ok(state) = read_state(&task) else {
            return Ok(false); // reported when its source is imported
        };
        if state.pending.is_some() {
            return Ok(false);
        }
        let now = SystemTime::now();
        Ok(state.sources.iter().all(|s| {
            // A source that is gone (cleaned up by its agent) is quiet.
            crate::assemble::source_stat(std::path::Path::new(&s.path))
                .map(|(_, modified)| modified)
                .map_or(true, |t| now.duration_since(t).unwrap_or_default() >= quiet)
        }))
    }

    /// `None` when the task is not due (not sealed, an import pending, or
    /// a source changed within `quiet`).
    fn compress_task(
        &self,
        task_id: &str,
        quiet: Duration,
    ) -> std::result::Result<Option<Vec<CompressedStream>>, tasklog_writer::Error> {
        if !self.is_due(task_id, quiet)? {
            return Ok(None);
        }
        // The streams were written by this importer moments ago: the
        // sources' quiet time is what decides, not the streams' own.
        let done = self
            .writer
            .compress_sealed(task_id, Duration::ZERO, false)?;
        let bytes: u64 = done.iter().map(|s| s.bytes).sum();
        let packed: u64 = done.iter().map(|s| s.compressed_bytes).sum();
        if packed > 0 {
            tracing::debug!(
                task = task_id,
                bytes,
                compressed_bytes = packed,
                "compressed a quiet imported task"
            );
        }
        Ok(Some(done))
    }
}
