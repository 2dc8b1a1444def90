//! Compressing many sealed tasks with two `/proc` scans per batch: one
//! before any copy (who holds a stream open for writing now), one after
//! every copy of the batch and before any rename (who opened one while it
//! was copied). A scan visits every descriptor of every process (a
//! `readlink` and a `stat` each), which made a scan per task and per
//! stream most of the time of compressing the tasks of a thousand
//! imported sessions (docs/IMPORT.md §18). The guarantees are those of one
//! stream at a time: every check still runs after the copy, under the
//! lock, before the rename.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use rustix::fs;

use super::{busy, file_id, CompressedStream, Prepared, TaskDir};
use crate::error::Result;
use crate::open_writers::{open_for_writing, FileId};
use crate::writer::Writer;

/// Most streams copied before the second scan: each holds its lock and a
/// descriptor until its rename, and an appender waits for the lock.
const STREAMS_PER_BATCH: usize = 64;

/// Most bytes copied before the second scan (the time a lock is held).
const BYTES_PER_BATCH: u64 = 256 << 20;

/// A sealed task's folder and its plain streams, listed through a handle.
pub(super) struct Listed {
    task_id: String,
    dir: PathBuf,
    handle: TaskDir,
    streams: Vec<(String, fs::Stat)>,
}

impl Listed {
    /// Opens sealed task `task_id` and lists its plain streams, by name;
    /// removes the temp files a crash left in it.
    pub(super) fn open(writer: &Writer, task_id: &str) -> Result<Listed> {
        let dir = writer.sealed_task_dir(task_id)?;
        let handle = TaskDir::open(writer.root(), &dir, true)?;
        let mut names = handle.stream_names()?;
        names.sort();
        let streams = names
            .into_iter()
            .filter_map(|n| handle.stat(&n).map(|s| (n, s)))
            .collect();
        Ok(Listed {
            task_id: task_id.to_owned(),
            dir,
            handle,
            streams,
        })
    }

    /// The identities of its streams, for a scan.
    pub(super) fn ids(&self) -> Vec<FileId> {
        self.streams.iter().map(|(_, s)| file_id(s)).collect()
    }

    /// What compressing would do, changing nothing.
    pub(super) fn dry_run(
        &self,
        quiet: Duration,
        writers: &HashMap<FileId, u32>,
    ) -> Vec<CompressedStream> {
        self.streams
            .iter()
            .map(|(name, stat)| self.report(name, stat, busy(stat, quiet, writers), 0))
            .collect()
    }

    fn report(
        &self,
        name: &str,
        stat: &fs::Stat,
        skipped: Option<String>,
        compressed_bytes: u64,
    ) -> CompressedStream {
        if let Some(reason) = &skipped {
            tracing::info!(path = %self.dir.join(name).display(), reason, "compress: left plain");
        }
        CompressedStream {
            path: format!("{}/{name}", self.task_id),
            bytes: u64::try_from(stat.st_size).unwrap_or(0),
            compressed_bytes,
            skipped,
        }
    }
}

/// One task of a batch: its streams' outcomes so far (by position), or
/// the error that stopped it.
struct Pending {
    listed: Listed,
    done: Vec<Option<CompressedStream>>,
    prepared: Vec<(usize, Prepared)>,
    failed: Option<crate::Error>,
}

impl Writer {
    /// [`Writer::compress_sealed`] for many tasks at once, with two scans
    /// of `/proc` per batch of streams instead of one per task and one per
    /// stream. Returns each task's streams, or why that task was not
    /// compressed (not sealed, a link, an I/O error), in the order given;
    /// one task's error leaves the others' results standing.
    pub fn compress_sealed_many<'a>(
        &self,
        task_ids: &[&'a str],
        quiet: Duration,
    ) -> Vec<(&'a str, Result<Vec<CompressedStream>>)> {
        let mut results: Vec<(&'a str, Option<Result<Vec<CompressedStream>>>)> =
            task_ids.iter().map(|t| (*t, None)).collect();
        let mut listed = Vec::new();
        for (i, task_id) in task_ids.iter().enumerate() {
            let opened = Listed::open(self, task_id)
                .and_then(|l| l.handle.remove_stale_temp_files().map(|()| l));
            match opened {
                Ok(l) => listed.push((i, l)),
                Err(e) => results[i].1 = Some(Err(e)),
            }
        }
        let ids: Vec<FileId> = listed.iter().flat_map(|(_, l)| l.ids()).collect();
        let writers_before = open_for_writing(&ids);
        let mut batch: Vec<(usize, Pending)> = Vec::new();
        let (mut streams, mut bytes) = (0usize, 0u64);
        for (i, l) in listed {
            let mut task = Pending {
                done: vec![None; l.streams.len()],
                listed: l,
                prepared: Vec::new(),
                failed: None,
            };
            for (k, (name, stat)) in task.listed.streams.iter().enumerate() {
                if let Some(reason) = busy(stat, quiet, &writers_before) {
                    task.done[k] = Some(task.listed.report(name, stat, Some(reason), 0));
                    continue;
                }
                match task.listed.handle.begin_compress(name, quiet) {
                    Ok(Ok(p)) => {
                        streams += 1;
                        bytes += p.read;
                        task.prepared.push((k, p));
                    }
                    Ok(Err(reason)) => {
                        task.done[k] = Some(task.listed.report(name, stat, Some(reason), 0));
                    }
                    Err(e) => {
                        task.failed = Some(e);
                        break;
                    }
                }
            }
            batch.push((i, task));
            if streams >= STREAMS_PER_BATCH || bytes >= BYTES_PER_BATCH {
                finish(std::mem::take(&mut batch), &mut results);
                (streams, bytes) = (0, 0);
            }
        }
        finish(batch, &mut results);
        results
            .into_iter()
            .map(|(t, r)| (t, r.unwrap_or_else(|| Ok(Vec::new()))))
            .collect()
    }
}

/// The second half of a batch: one scan after every copy, then each
/// prepared stream checked again and renamed (or left plain).
fn finish(
    batch: Vec<(usize, Pending)>,
    results: &mut [(&str, Option<Result<Vec<CompressedStream>>>)],
) {
    let ids: Vec<FileId> = batch
        .iter()
        .flat_map(|(_, t)| t.prepared.iter().map(|(_, p)| file_id(&p.before)))
        .collect();
    let writers_after = open_for_writing(&ids);
    for (i, mut task) in batch {
        let prepared = std::mem::take(&mut task.prepared);
        if let Some(e) = task.failed.take() {
            for (_, p) in prepared {
                task.listed.handle.abandon(p);
            }
            results[i].1 = Some(Err(e));
            continue;
        }
        let mut failed = None;
        for (k, p) in prepared {
            if failed.is_some() {
                task.listed.handle.abandon(p);
                continue;
            }
            match task.listed.handle.finish_compress(p, &writers_after) {
                Ok(outcome) => {
                    let (name, stat) = &task.listed.streams[k];
                    let (skipped, n) = match outcome {
                        Ok(n) => (None, n),
                        Err(reason) => (Some(reason), 0),
                    };
                    task.done[k] = Some(task.listed.report(name, stat, skipped, n));
                }
                Err(e) => failed = Some(e),
            }
        }
        results[i].1 = Some(match failed {
            Some(e) => Err(e),
            None => Ok(task.done.into_iter().flatten().collect()),
        });
    }
}
