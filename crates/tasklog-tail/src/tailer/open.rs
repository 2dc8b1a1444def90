//! Assembling a tailer over a store's sinks: a store opens its database
//! and loads what it holds (`Loaded`), then the same committers and
//! reader run for every store (SQLite: `tasklog-sqlite`; PostgreSQL:
//! `tasklog-postgres`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use super::{Companion, RunMode, Stats, Tailer};
use crate::checkpoint::Checkpoint;
use crate::committer::CommitPolicy;
use crate::error::Result;
use crate::options::IndexOptions;
use crate::shards::Committers;
use crate::shutdown::Shutdown;
use crate::sink::Sink;

/// What a sink's database says before the reader starts.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Every checkpoint, by path (`task/file`).
    pub checkpoints: BTreeMap<String, Checkpoint>,
    /// Tasks that already have their `tasks` row.
    pub registered: BTreeSet<String>,
    /// Tasks moved to a monthly archive (SQLite only): left alone.
    pub archived: BTreeSet<String>,
    /// Open file-level diagnostics, path → reason.
    pub diagnostics: BTreeMap<String, String>,
}

/// Ops queued per connection when several commit in parallel: while one
/// sends its COPY, the reader keeps feeding the others.
const SHARD_CHANNEL_CAPACITY: usize = 32;

/// The least age at which `tasklog index` commits a batch: large
/// transactions are what a backfill wants, and nobody waits on freshness.
const ONCE_BATCH_INTERVAL: Duration = Duration::from_secs(1);

impl Tailer {
    /// Starts a committer over each of `sinks` (connections to one
    /// database, opened by a store); the rest is the same for every kind
    /// of sink. `shutdown` stops the reader and the committers.
    pub fn assemble<S: Sink + Send + 'static>(
        root: &Path,
        options: IndexOptions,
        mode: RunMode,
        sinks: Vec<S>,
        loaded: Loaded,
        shutdown: Shutdown,
    ) -> Result<Tailer> {
        // A backfill keeps every connection fed; a live sidecar keeps the
        // queue short, since every op waiting in it is latency.
        let channel = match (sinks.len(), mode) {
            (1, _) | (_, RunMode::Watch) => crate::committer::CHANNEL_CAPACITY,
            (_, RunMode::Once) => SHARD_CHANNEL_CAPACITY,
        };
        let committer = Committers::spawn(
            sinks,
            CommitPolicy {
                batch_rows: options.batch_rows,
                batch_interval: match mode {
                    // A backfill has no reader waiting: commit by size.
                    RunMode::Once => options.batch_interval.max(ONCE_BATCH_INTERVAL),
                    RunMode::Watch => options.batch_interval,
                },
                retry_for: mode.retry_for(),
                channel,
            },
            shutdown.flag(),
        )?;
        Ok(Tailer {
            // Absolute, because inotify reports absolute paths: with a root
            // given relative (`--root logs`) no event matched it, and new
            // folders and lines waited for the reconcile (issue 22).
            root: std::path::absolute(root).unwrap_or_else(|_| root.to_owned()),
            options,
            checkpoints: loaded.checkpoints,
            diagnostics: loaded.diagnostics,
            sealed_reported: BTreeSet::new(),
            sealed: BTreeSet::new(),
            registered: loaded.registered,
            archived: loaded.archived,
            committer: Some(committer),
            read_buf: Vec::new(),
            gz_cursor: None,
            mode,
            bulk: false,
            shutdown,
            stats: Stats::default(),
            companion: None,
        })
    }

    /// Keeps what the store runs beside its sinks until [`Tailer::finish`].
    pub fn with_companion(mut self, companion: Box<dyn Companion>) -> Tailer {
        self.companion = Some(companion);
        self
    }
}
