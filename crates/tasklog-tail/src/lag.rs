//! How far behind a store is: bytes on disk after its checkpoints, by
//! task (`tasklog status` on either store).

use std::path::Path;

use serde::Serialize;

/// Lag of one task.
#[derive(Debug, Clone, Serialize)]
pub struct TaskLag {
    /// The task.
    pub task_id: String,
    /// Bytes on disk after the checkpoints.
    pub lag_bytes: u64,
}

/// Bytes on disk after the checkpoints `known` (path → dev, ino, offset),
/// by task, leaving out the tasks of `archived`: a stream whose identity
/// changed counts whole. Shared with the PostgreSQL index's status.
pub fn lag_from(
    root: &Path,
    known: &std::collections::HashMap<String, (u64, u64, u64)>,
    archived: &std::collections::HashSet<String>,
) -> std::collections::BTreeMap<String, u64> {
    use std::os::unix::fs::MetadataExt;
    let mut lag = std::collections::BTreeMap::new();
    let tasks = crate::discovery::task_folders(root).map_or_else(|_| Vec::new(), |l| l.tasks);
    for task in tasks.into_iter().filter(|t| !archived.contains(t)) {
        let Ok(entries) = std::fs::read_dir(root.join(&task)) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if !matches!(
                tasklog_format::classify_entry(name),
                tasklog_format::EntryKind::Stream(_)
            ) {
                continue;
            }
            let Ok(meta) = entry.metadata() else { continue };
            if !meta.is_file() {
                continue;
            }
            let done = match known.get(&format!("{task}/{name}")) {
                Some(&(dev, ino, offset)) if (dev, ino) == (meta.dev(), meta.ino()) => offset,
                _ => 0,
            };
            let behind = meta.len().saturating_sub(done);
            if behind > 0 {
                *lag.entry(task.clone()).or_default() += behind;
            }
        }
    }
    lag
}
