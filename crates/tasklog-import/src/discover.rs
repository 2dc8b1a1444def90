//! Finding the files to import: files as given, folders walked.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A file to import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The file.
    pub path: PathBuf,
    /// Named on the command line (a mismatch is an error), rather than
    /// found in a folder (a mismatch is skipped).
    pub explicit: bool,
}

/// Lists the files to import: files as given, folders walked (sorted; only
/// `.jsonl`, `.json` and `.traj` files; hidden entries skipped). An
/// OpenHands session's `events` folder is one source, and each line of
/// OpenHands evaluation output (`output.jsonl`) is one (assemble.rs). Claude
/// Code sub-agent files (`agent-*`) come after the other files, so a
/// session's main transcript is imported before its sidechains.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<Candidate>> {
    let mut explicit = Vec::new();
    let mut walked = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path, "reading source", e))?;
        if crate::assemble::is_openhands_events(path) {
            explicit.push(path.clone()); // one session, read as one document
        } else if meta.is_dir() {
            walk(path, &mut walked)?;
        } else if let Some(lines) = crate::assemble::eval_sources(path) {
            explicit.extend(lines); // one session per line (assemble.rs)
        } else {
            explicit.push(path.clone());
        }
    }
    walked.sort_by_key(|p| (is_agent_file(p), p.clone()));
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (path, explicit) in explicit
        .into_iter()
        .map(|p| (p, true))
        .chain(walked.into_iter().map(|p| (p, false)))
    {
        let key = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if seen.insert(key) {
            out.push(Candidate { path, explicit });
        }
    }
    Ok(out)
}

pub(crate) fn is_agent_file(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("agent-"))
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, "listing folder", e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, "listing folder", e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let Ok(meta) = std::fs::metadata(&path) else {
            continue; // a dangling symlink: nothing to read
        };
        if meta.is_dir() && crate::assemble::is_openhands_events(&path) {
            out.push(path); // an OpenHands session: one source (assemble.rs)
        } else if meta.is_dir() {
            walk(&path, out)?;
        } else if [".jsonl", ".json", ".traj"]
            .iter()
            .any(|e| name.ends_with(e))
        {
            match crate::assemble::eval_sources(&path) {
                Some(lines) => out.extend(lines),
                None => out.push(path),
            }
        }
    }
    Ok(())
}
