//! Tunables of the indexer, with the defaults documented in config/tasklog.toml.

use std::path::PathBuf;
use std::time::Duration;

/// How the indexer reads and commits.
#[derive(Debug, Clone)]
pub struct IndexOptions {
    /// Longest line indexed; longer lines are quarantined and skipped
    /// without being held in memory.
    pub line_limit: u64,
    /// Rows per transaction at most.
    pub batch_rows: usize,
    /// How long a batch may stay open before it commits; bounds freshness.
    pub batch_interval: Duration,
    /// How often `watch` reconciles everything from disk, events or not.
    pub reconcile_interval: Duration,
    /// How often `watch` polls task folders it could not watch.
    pub poll_interval: Duration,
    /// Most task folders watched with inotify; the rest are polled.
    pub max_watches: usize,
    /// Whether `watch` asks inotify for hints at all. Off on filesystems
    /// whose events are missing or partial (NFS, SMB, FUSE, some overlay
    /// roots): every task folder is then polled every `poll_interval`, and
    /// the root is listed every [`ROOT_POLL`](crate::ROOT_POLL) for new
    /// folders.
    pub inotify: bool,
    /// A price table overriding the built-in one.
    pub prices: Option<PathBuf>,
    /// How long one database call waits for another process's write lock
    /// before the committer holds its batch and retries (with backoff, and
    /// a look at the shutdown request between tries). Short, so a stop
    /// request is answered within about this long.
    pub busy_timeout: Duration,
}

impl Default for IndexOptions {
    fn default() -> Self {
        IndexOptions {
            line_limit: 16 * 1024 * 1024,
            batch_rows: 20_000,
            batch_interval: Duration::from_millis(5),
            reconcile_interval: Duration::from_secs(30),
            poll_interval: Duration::from_millis(500),
            max_watches: 8192,
            inotify: true,
            prices: None,
            busy_timeout: Duration::from_millis(1000),
        }
    }
}
