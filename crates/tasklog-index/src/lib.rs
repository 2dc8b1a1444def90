//! The tasklog sidecar: keeps a SQLite index of every task folder current.
//!
//! The files are the truth; the database is a disposable index that can be
//! deleted and rebuilt. Every complete line of every stream reaches the
//! `records` table exactly once, because rows and the checkpoint of their
//! file commit in one transaction, guarded by a compare-and-set.
//!
//! ```no_run
//! use std::path::Path;
//! use tasklog_index::{Tailer, IndexOptions, RunMode};
//!
//! let mut indexer = Tailer::open(Path::new("logs"), Path::new("index.db"), IndexOptions::default(), RunMode::Once)?;
//! indexer.reconcile_all(&mut |_| {})?;
//! let stats = indexer.finish()?;
//! println!("{} records", stats.records);
//! # Ok::<(), tasklog_index::Error>(())
//! ```

mod archive;
mod batch;
mod bulk;
mod committer;
mod compressed;
mod db;
mod discovery;
mod error;
mod facts;
mod files;
mod options;
pub mod pg;
mod prices;
mod questions;
mod rollups;
mod schema;
mod shards;
mod shutdown;
mod sink;
mod state;
mod status;
mod tail;
mod tailer;
mod union;
mod verify;
mod wal;
mod watch;

pub use archive::{
    archive_month, archive_path, archived_among, drop_archived, months_to_archive, unarchive_month,
    Month, MoveReport,
};
pub use db::{open_for_writing, open_query_connection, open_read_only, WriterLock};
pub use error::{CommitterStop, Error, PriceProblem, Result};
pub use options::IndexOptions;
pub use prices::{Price, PriceTable, DEFAULT_PRICES};
pub use questions::{
    json_value, match_task_id, TaskIdMatch, COST_BY_CALL, COST_BY_DAY, COST_BY_TASK_DAY, TASKS,
    TASK_IDS_STARTING, TASK_SORTS, TASK_SUMMARY,
};
pub use schema::SCHEMA_VERSION;
pub use shutdown::Shutdown;
pub use status::{status, Diagnostic, Status, TaskLag};
pub use tailer::{RunMode, Stats, Tailer};
pub use union::{archives, open_query_connection_with_archives};
pub use verify::{verify, verify_with_archives, FileReport, VerifyReport};
pub use watch::watch;
