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

/// Most threads copying a batch: gzip is CPU-bound, and more would only
/// compete with the agents and the indexer for the disk.
const MAX_THREADS: usize = 4;

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
            bytes: stat_len(stat),
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
            streams += l.streams.len();
            bytes += l.streams.iter().map(|(_, s)| stat_len(s)).sum::<u64>();
            batch.push((i, Pending::new(l)));
            if streams >= STREAMS_PER_BATCH || bytes >= BYTES_PER_BATCH {
                prepare(&mut batch, quiet, &writers_before);
                finish(std::mem::take(&mut batch), &mut results);
                (streams, bytes) = (0, 0);
            }
        }
        prepare(&mut batch, quiet, &writers_before);
        finish(batch, &mut results);
        results
            .into_iter()
            .map(|(t, r)| (t, r.unwrap_or_else(|| Ok(Vec::new()))))
            .collect()
    }
}

fn stat_len(stat: &fs::Stat) -> u64 {
    u64::try_from(stat.st_size).unwrap_or(0)
}

impl Pending {
    fn new(listed: Listed) -> Pending {
        Pending {
            done: vec![None; listed.streams.len()],
            listed,
            prepared: Vec::new(),
            failed: None,
        }
    }

    /// The first half for this task's streams: each locked, checked quiet
    /// and copied into its fsynced temp `.gz` (`TaskDir::begin_compress`).
    fn prepare(&mut self, quiet: Duration, writers_before: &HashMap<FileId, u32>) {
        for (k, (name, stat)) in self.listed.streams.iter().enumerate() {
            if let Some(reason) = busy(stat, quiet, writers_before) {
                self.done[k] = Some(self.listed.report(name, stat, Some(reason), 0));
                continue;
            }
            match self.listed.handle.begin_compress(name, quiet) {
                Ok(Ok(p)) => self.prepared.push((k, p)),
                Ok(Err(reason)) => {
                    self.done[k] = Some(self.listed.report(name, stat, Some(reason), 0));
                }
                Err(e) => {
                    self.failed = Some(e);
                    break;
                }
            }
        }
    }
}

/// The copies of a batch, its tasks shared among one thread per core:
/// gzip is the cost of compressing (about 12 ms of CPU per 345 KB task),
/// and the tasks are independent (each stream has its own lock, temp file
/// and checks), so on two cores the batch takes about half the time.
fn prepare(batch: &mut [(usize, Pending)], quiet: Duration, writers: &HashMap<FileId, u32>) {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(MAX_THREADS)
        .min(batch.len());
    if threads <= 1 {
        for (_, task) in batch.iter_mut() {
            task.prepare(quiet, writers);
        }
        return;
    }
    let per_thread = batch.len().div_ceil(threads);
    std::thread::scope(|scope| {
        for part in batch.chunks_mut(per_thread) {
            scope.spawn(move || {
                for (_, task) in part {
                    task.prepare(quiet, writers);
                }
            });
        }
    });
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
