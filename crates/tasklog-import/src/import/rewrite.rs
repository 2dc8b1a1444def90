//! A source rewritten since its import (what was imported is no longer its
//! beginning: edited, cut and written again, replaced by another session
//! of the same name) is imported again from its start, with the rest of
//! its task (issue 22: before, it was skipped for good, said only in the
//! report). The task's streams are append-only, so its imported streams
//! are removed and written anew: the index moves the old rows to
//! `superseded_records` and indexes the new ones, each once.
//!
//! Crash-safe in three steps, each finished by the next run if a crash
//! stops it:
//! 1. `import.json` gets a reset intent ([`Pending::reset`]) beside the old
//!    record, which still names every stream the importer wrote;
//! 2. those streams (plain or gzipped) are removed, the folder fsynced;
//! 3. `import.json` becomes an empty record (no sources, no keys), and the
//!    source is imported as new, under the usual intent (journal.rs).
//!
//! A run that finds a reset intent redoes steps 2 and 3 before anything
//! else (removing again is harmless), so no line of the old import can be
//! mistaken for one of the new. The task's other sources (a Claude Code
//! session's sub-agent files) are imported again right after.

use super::*;

impl Importer {
    /// Steps 1 and 2 for `task`, whose record is `state`, on finding
    /// `path` rewritten. Returns the empty record to import into, and the
    /// task's other sources to import again afterwards.
    pub(super) fn begin_reimport(
        &mut self,
        task: &Task,
        state: &ImportState,
        path: &str,
        imported: &[u8],
        format: Format,
    ) -> std::result::Result<(ImportState, Vec<PathBuf>), tasklog_writer::Error> {
        let mut marked = state.clone();
        marked.pending = Some(Pending {
            path: path.to_owned(),
            format: Some(format),
            bytes: imported.len() as u64,
            xxh3: fingerprint(imported),
            streams: Default::default(),
            reset: true,
        });
        save_state(task, &mut marked)?;
        let others = state
            .sources
            .iter()
            .filter(|s| s.path != path)
            .map(|s| PathBuf::from(&s.path))
            .collect();
        Ok((self.reset_task(task, state, &[])?, others))
    }

    /// Steps 2 and 3: removes the streams `state` says the importer wrote,
    /// and `begun` (those an interrupted import had started), and records
    /// an empty import. Also the recovery of a reset intent.
    pub(super) fn reset_task(
        &mut self,
        task: &Task,
        state: &ImportState,
        begun: &[String],
    ) -> std::result::Result<ImportState, tasklog_writer::Error> {
        let mut streams: Vec<String> = vec![EVENTS_STREAM.to_owned()];
        streams.extend(begun.iter().cloned());
        for s in state.sources.iter().filter(|s| s.kind == "jsonl") {
            streams.push(s.name.clone());
        }
        for s in &state.sources {
            streams.push(open_stream(&s.name));
        }
        for stream in &streams {
            for file in [format!("{stream}.jsonl"), format!("{stream}.jsonl.gz")] {
                retire(task.dir(), &file).map_err(|source| tasklog_writer::Error::Io {
                    path: task.dir().join(&file),
                    op: "removing a stream of a rewritten import",
                    source,
                })?;
            }
        }
        let dir = task.dir();
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|source| tasklog_writer::Error::Io {
                path: dir.to_owned(),
                op: "syncing the folder of a rewritten import",
                source,
            })?;
        // The old keys no longer stand for anything written: a resumed
        // session's replayed calls must be written again here.
        if let Some(keys) = self.claude_keys.as_mut() {
            for key in state.seen.iter().chain(state.open.keys()) {
                keys.remove(key);
            }
        }
        let mut fresh = ImportState::default();
        fresh.first_imported_at = state.first_imported_at.clone();
        save_state(task, &mut fresh)?;
        Ok(fresh)
    }

    /// Imports the other sources of a task that was just imported again,
    /// as the run that first imported them did (they are new to its empty
    /// record), then removes the streams retired by the reset. Their
    /// reports go to the log; the rewritten source's report is the one
    /// returned. The retired files go last: until every stream of the task
    /// is written anew, each keeps its old inode from being handed to the
    /// new file of the same name (see [`retire`]); a sub-agent's streams
    /// are written only here.
    pub(super) fn finish_reimport(&mut self, task_dir: &Path, others: Vec<PathBuf>) {
        for path in others.into_iter().filter(|p| p.exists()) {
            if let Some(cache) = self.stat_cache.as_mut() {
                cache.remove(&path.display().to_string());
            }
            let report = self.import_file(&Candidate {
                path,
                explicit: false,
            });
            tracing::info!(
                path = %report.path.display(),
                action = ?report.action,
                reason = report.reason.as_deref().unwrap_or(""),
                "imported again with its rewritten session"
            );
        }
        purge_retired(task_dir);
    }
}

/// The prefix of a stream file the importer has taken out of its task but
/// not yet removed (a dot-file: readers and the index ignore it).
const RETIRED: &str = ".retired-";

/// Takes stream file `file` out of the task folder `dir` by renaming it to
/// a dot-file, removed by [`purge_retired`] once every stream of the task
/// is written again ([`Importer::finish_reimport`]). Removing it at once would let the file system give the new
/// stream file the old one's inode number; a new file with the old inode,
/// at least as long, whose last 256 bytes before the index's checkpoint
/// happen to match (an open call written again, whose line ends the same)
/// would pass for the old stream and its new lines would never be read.
/// A file that is not there is fine (a run that crashed after retiring it).
pub(super) fn retire(dir: &Path, file: &str) -> std::io::Result<()> {
    match std::fs::rename(dir.join(file), dir.join(format!("{RETIRED}{file}"))) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Removes the stream files [`retire`] set aside in `dir` (best effort:
/// one left behind is an ignored dot-file, removed by the next import that
/// retires a stream of the task).
fn purge_retired(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(RETIRED) {
            if let Err(e) = std::fs::remove_file(entry.path()) {
                tracing::debug!(path = %entry.path().display(), error = %e, "removing a retired stream");
            }
        }
    }
}
