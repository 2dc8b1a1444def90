//! Exactly-once imports across crashes: an intent recorded before the
//! appends, and a replay that skips what a crashed run already wrote.
//!
//! One file's import appends records to up to three streams (the verbatim
//! `source`, `events`, the source's `-open` stream) and then rewrites
//! `import.json`. A crash (or `kill -9`) between the two would leave records
//! that `import.json` does not know about, and the next run would append
//! them again. So, before appending anything, the importer writes
//! `import.json` with a [`Pending`] intent: the source prefix it is about to
//! import and the length of every stream it may append to. A run that finds
//! an intent re-imports exactly that prefix from the state recorded with it
//! (the parsers are deterministic, so it plans the same records in the same
//! order), counts the complete lines each stream gained past its recorded
//! length (the writer appends whole lines only), skips that many of the
//! planned records of that stream, writes the rest, and commits.
//!
//! Documents (`source.json`, `task.json`, `result.json`) are replaced
//! whole, so writing them again is harmless; the only record a replay can
//! repeat is the `result` event that each import restates anyway.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::model::Format;

/// An import that was started and not yet recorded as done.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Pending {
    /// The source file.
    pub path: String,
    /// Its format.
    pub format: Option<Format>,
    /// Bytes of the source being imported (a prefix of the file).
    pub bytes: u64,
    /// xxh3-64 of those bytes, in hex.
    pub xxh3: String,
    /// Byte length of each stream the import may append to, before it
    /// appended anything (0 for a stream it deletes first).
    pub streams: BTreeMap<String, u64>,
    /// The source at `path` was found rewritten: the task's imported
    /// streams are being removed so that it can be imported again from its
    /// start (import/rewrite.rs). A run that finds this finishes the
    /// removal first.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub reset: bool,
}

/// Appends through [`Appender::append`] skip the records a crashed run
/// already wrote, stream by stream; and, for tests, a run can be made to
/// stop dead after a number of records.
#[derive(Debug, Default)]
pub(crate) struct Appender {
    /// Records still to skip, per stream.
    skip: BTreeMap<String, u64>,
    /// Records written by this process so far (for the crash hook).
    written: u64,
    /// Abort the process after this many records (`TASKLOG_IMPORT_ABORT_AFTER`).
    abort_after: Option<u64>,
}

impl Appender {
    /// An appender that skips nothing.
    pub(crate) fn new(abort_after: Option<u64>, written: u64) -> Appender {
        Appender {
            skip: BTreeMap::new(),
            written,
            abort_after,
        }
    }

    /// Skips, per stream, the complete lines written past `pending`'s
    /// recorded lengths (streams in `dir`, named `<stream>.jsonl`).
    pub(crate) fn resume(&mut self, dir: &Path, pending: &Pending) -> std::io::Result<()> {
        for (stream, offset) in &pending.streams {
            let n = lines_after(&dir.join(format!("{stream}.jsonl")), *offset)?;
            if n > 0 {
                self.skip.insert(stream.clone(), n);
            }
        }
        Ok(())
    }

    /// Writes one record with `write`, unless a crashed run already did.
    pub(crate) fn append<E>(
        &mut self,
        stream: &str,
        write: impl FnOnce() -> Result<(), E>,
    ) -> Result<(), E> {
        if let Some(n) = self.skip.get_mut(stream).filter(|n| **n > 0) {
            *n -= 1;
            return Ok(());
        }
        write()?;
        self.written += 1;
        if self.abort_after.is_some_and(|limit| self.written >= limit) {
            // Testing hook: die like `kill -9` would, between two appends.
            std::process::abort();
        }
        Ok(())
    }

    /// Records written by this process so far.
    pub(crate) fn written(&self) -> u64 {
        self.written
    }
}

/// The crash hook's limit, from the environment (tests only).
pub(crate) fn abort_after_from_env() -> Option<u64> {
    std::env::var("TASKLOG_IMPORT_ABORT_AFTER")
        .ok()
        .and_then(|v| v.parse().ok())
}

/// Newline-terminated lines of `path` after byte `offset` (0 when the file
/// is missing, or shorter than `offset`: it was deleted and started over,
/// which only an `-open` stream is, and its offset is then 0).
fn lines_after(path: &Path, offset: u64) -> std::io::Result<u64> {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let len = file.metadata()?.len();
    if len <= offset {
        return Ok(0);
    }
    std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(offset))?;
    let mut count = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(count);
        }
        count += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
    }
}

/// Length of a stream file now (0 when missing).
pub(crate) fn stream_len(dir: &Path, stream: &str) -> u64 {
    std::fs::metadata(dir.join(format!("{stream}.jsonl"))).map_or(0, |m| m.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resumed_appender_skips_what_was_written_after_the_offsets() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("events.jsonl"), "{}\n{}\n{}\n").unwrap();
        let pending = Pending {
            streams: [("events".to_owned(), 3), ("source".to_owned(), 0)].into(),
            ..Pending::default()
        };
        let mut a = Appender::new(None, 0);
        a.resume(dir.path(), &pending).unwrap();
        let mut done = Vec::new();
        for i in 0..4 {
            a.append("events", || -> Result<(), ()> {
                done.push(i);
                Ok(())
            })
            .unwrap();
        }
        assert_eq!(done, vec![2, 3], "two lines past byte 3 were written");
        assert_eq!(a.written(), 2);
    }
}
