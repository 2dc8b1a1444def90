//! The `indexer_state` table: small facts about the indexer that
//! `tasklog status` reports and that must survive a restart. Every key is
//! here, with who writes it; nothing else names them.

/// A key of `indexer_state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateKey {
    /// `inotify`, `inotify+polling` or `polling` (the watch loop).
    WatchMode,
    /// Task folders with an inotify watch (the watch loop).
    Watches,
    /// Task folders polled instead (the watch loop).
    PolledTasks,
    /// The watching process (the watch loop).
    WatcherPid,
    /// When the last batch committed (the sink, in that batch).
    LastCommitAt,
    /// Since when a reader keeps the WAL from being copied back (the WAL
    /// checkpointer).
    WalReaderSince,
    /// Fingerprint of the installed price table (re-pricing).
    PricesHash,
    /// The indexes and triggers a bulk load suspended, as JSON (bulk.rs).
    BulkLoad,
}

impl StateKey {
    /// The key as stored.
    pub const fn as_str(self) -> &'static str {
        match self {
            StateKey::WatchMode => "watch_mode",
            StateKey::Watches => "watches",
            StateKey::PolledTasks => "polled_tasks",
            StateKey::WatcherPid => "watcher_pid",
            StateKey::LastCommitAt => "last_commit_at",
            StateKey::WalReaderSince => "wal_reader_since",
            StateKey::PricesHash => "prices_hash",
            StateKey::BulkLoad => "bulk_load",
        }
    }
}
