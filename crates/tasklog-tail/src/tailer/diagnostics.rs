//! File-level diagnostics: a stream or document that cannot be read, a
//! symbolic link where a file or a task folder should be.
//!
//! Unlike a quarantined line, which is history (its bytes stay in the file),
//! such a diagnostic describes the file as it is now. Each is recorded once
//! per reason as an `ingest_errors` row of kind `file`, and resolved
//! (`resolved_at`) as soon as the indexer finds the condition gone: the file
//! read, removed, or the folder became a real folder or vanished.

use std::collections::BTreeMap;

use super::Tailer;
use crate::batch::{FileKey, Op};
use crate::checkpoint::Checkpoint;
use crate::discovery::SYMLINK_FOLDER;
use crate::error::Result;

impl Tailer {
    /// Records that `path` cannot be indexed, once per reason.
    fn open_diagnostic(
        &mut self,
        task_id: &str,
        path: &str,
        generation: u64,
        offset: u64,
        reason: String,
    ) -> Result<()> {
        if self.diagnostics.get(path) == Some(&reason) {
            return Ok(());
        }
        // A different cause replaces the old one: the old one no longer holds.
        self.resolve(path)?;
        tracing::warn!(path, %reason, "not indexed");
        self.stats.quarantined += 1;
        self.diagnostics.insert(path.to_owned(), reason.clone());
        self.send(Op::Diagnostic {
            task_id: task_id.to_owned(),
            path: path.to_owned(),
            generation,
            offset,
            reason,
        })
    }

    /// A stream or document that exists but cannot be read.
    pub(super) fn report_unusable(
        &mut self,
        key: &FileKey,
        cp: &Checkpoint,
        reason: String,
    ) -> Result<()> {
        self.open_diagnostic(&key.task_id, &key.path, cp.generation, cp.offset, reason)
    }

    /// A symbolic link named like a task folder.
    pub(super) fn report_folder_symlink(&mut self, name: &str) -> Result<()> {
        self.open_diagnostic(name, name, 1, 0, SYMLINK_FOLDER.to_owned())
    }

    /// Reports the symbolic links of a full listing of the root, and
    /// resolves folder-level diagnostics of names that are no longer links.
    pub(super) fn folder_diagnostics(&mut self, symlinks: &[String]) -> Result<()> {
        for name in symlinks {
            self.report_folder_symlink(name)?;
        }
        let stale: Vec<String> = self
            .diagnostics
            .keys()
            .filter(|p| !p.contains('/') && symlinks.binary_search(p).is_err())
            .cloned()
            .collect();
        for path in stale {
            self.resolve(&path)?;
        }
        Ok(())
    }

    /// The diagnostics of `path` no longer hold.
    pub(super) fn resolve(&mut self, path: &str) -> Result<()> {
        if self.diagnostics.remove(path).is_none() {
            return Ok(());
        }
        tracing::info!(path, "diagnostic no longer holds; marked resolved");
        self.send(Op::Resolved {
            path: path.to_owned(),
        })
    }

    /// Resolves the diagnostics of a task's files that are no longer in
    /// its folder (`seen`: the task's files found by the listing).
    pub(super) fn resolve_vanished<V>(
        &mut self,
        task_id: &str,
        seen: &BTreeMap<String, V>,
    ) -> Result<()> {
        let gone: Vec<String> = self
            .task_diagnostics(task_id)
            .filter(|p| !seen.contains_key(*p))
            .cloned()
            .collect();
        for path in gone {
            self.resolve(&path)?;
        }
        Ok(())
    }

    /// Resolves every diagnostic of a task folder that is gone.
    pub(super) fn resolve_task(&mut self, task_id: &str) -> Result<()> {
        let paths: Vec<String> = self.task_diagnostics(task_id).cloned().collect();
        for path in paths {
            self.resolve(&path)?;
        }
        self.resolve(task_id)
    }

    /// Paths of a task's files with open diagnostics (`task/…`, a range of
    /// the ordered map, as for checkpoints).
    fn task_diagnostics<'a>(&'a self, task_id: &str) -> impl Iterator<Item = &'a String> + 'a {
        self.diagnostics
            .range(format!("{task_id}/")..format!("{task_id}0"))
            .map(|(p, _)| p)
    }
}
