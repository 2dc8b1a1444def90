//! The embedded tasklog store: one SQLite file per log root.
//!
//! Schema and migrations, the views of the query surface, the SQLite
//! [`Sink`](tasklog_tail::sink::Sink) (rows and checkpoints in one
//! transaction), WAL upkeep off the committer thread, bulk loads, monthly
//! archives and their union, prices, `status` and `verify`, and the
//! SQL of its questions. The reader and committer are the core's
//! (`tasklog-tail`); this crate opens the database and hands them a sink.
//!
//! ```no_run
//! use std::path::Path;
//! use tasklog_sqlite::OpenSqlite;
//! use tasklog_tail::{IndexOptions, RunMode, Tailer};
//!
//! let mut indexer = Tailer::open(Path::new("logs"), Path::new("index.db"), IndexOptions::default(), RunMode::Once)?;
//! indexer.reconcile_all(&mut |_| {})?;
//! let stats = indexer.finish()?;
//! println!("{} records", stats.records);
//! # Ok::<(), tasklog_tail::Error>(())
//! ```

mod answers;
mod archive;
mod bulk;
mod db;
mod error;
mod facts;
mod files;
mod live;
mod open;
mod prices;
mod questions;
mod rollups;
mod schema;
mod sink;
mod state;
mod status;
mod union;
mod verify;
mod wal;

pub use answers::{fts_query, SqliteQuestions};
pub use archive::{
    archive_month, archive_path, archived_among, drop_archived, months_to_archive, unarchive_month,
    Month, MoveReport,
};
pub use db::{open_for_writing, open_query_connection, open_read_only, WriterLock};
pub use error::as_sqlite;
pub use open::OpenSqlite;
pub use questions::{
    json_value, COST_BY_CALL, COST_BY_DAY, COST_BY_TASK_DAY, TASKS, TASK_IDS_STARTING, TASK_SORTS,
    TASK_SUMMARY,
};
pub use schema::SCHEMA_VERSION;
pub use status::{status, Diagnostic, Status};
pub use tasklog_tail::{match_task_id, TaskIdMatch};
pub use union::{archives, open_query_connection_with_archives};
pub use verify::{verify, verify_with_archives};
