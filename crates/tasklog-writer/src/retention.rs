//! Retention: removing whole task folders whose work is finished.
//!
//! Only sealed tasks (with `result.json`) are candidates, and their age is
//! the age of `result.json`: a task still being written is never removed.
//! The index follows on its next reconcile (rows move to
//! `superseded_records`, documents to `document_history`), so nothing the
//! index held is silently lost.

use std::path::Path;
use std::time::{Duration, SystemTime};

use tasklog_format::{TaskId, RESULT_DOC};

use crate::error::{Error, Result};
use crate::writer::Writer;

/// A sealed task old enough to remove.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Expired {
    /// The task id (its folder name).
    pub task_id: String,
    /// When `result.json` was last written.
    pub sealed_at: String,
    /// Bytes in the folder.
    pub bytes: u64,
}

impl Writer {
    /// Sealed tasks whose `result.json` is older than `age`, oldest first.
    pub fn expired_tasks(&self, age: Duration) -> Result<Vec<Expired>> {
        let root = self.root();
        let cutoff = SystemTime::now()
            .checked_sub(age)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let entries =
            std::fs::read_dir(root).map_err(|e| Error::io(root, "listing log root", e))?;
        let mut expired = Vec::new();
        for entry in entries.flatten() {
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            // Real folders with valid names only: never follow a symlink out of the root.
            if TaskId::new(&name).is_err() || !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let result = entry.path().join(format!("{RESULT_DOC}.json"));
            let Ok(sealed) = std::fs::symlink_metadata(&result).and_then(|m| m.modified()) else {
                continue;
            };
            if sealed <= cutoff {
                expired.push((
                    sealed,
                    Expired {
                        task_id: name,
                        sealed_at: tasklog_format::rfc3339_at(sealed),
                        bytes: folder_bytes(&entry.path()),
                    },
                ));
            }
        }
        expired.sort_by_key(|(sealed, _)| *sealed);
        Ok(expired.into_iter().map(|(_, e)| e).collect())
    }

    /// Removes one sealed task folder. Refuses a task that is not sealed.
    pub fn remove_sealed(&self, task_id: &str) -> Result<()> {
        let dir = self.sealed_task_dir(task_id)?;
        std::fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, "removing task folder", e))
    }

    /// The folder of a sealed task: a real folder (not a symbolic link)
    /// holding `result.json`. What `prune` and `compress` may touch.
    pub(crate) fn sealed_task_dir(&self, task_id: &str) -> Result<std::path::PathBuf> {
        let id = TaskId::new(task_id)?;
        let dir = self.root().join(id.file_name());
        let meta = std::fs::symlink_metadata(&dir)
            .map_err(|e| Error::io(&dir, "reading task folder", e))?;
        if meta.file_type().is_symlink() {
            return Err(Error::Symlink { path: dir });
        }
        if !dir.join(format!("{RESULT_DOC}.json")).is_file() {
            return Err(Error::NotSealed { path: dir });
        }
        Ok(dir)
    }
}

fn folder_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}
