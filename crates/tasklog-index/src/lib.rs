//! The tasklog sidecar, as one crate to depend on: the core
//! (`tasklog-tail`: discovery, tailing, checkpoints, committer, the `Sink`
//! trait) and the stores (`tasklog-sqlite`; `tasklog-postgres` as
//! [`pg`], behind the `postgres` cargo feature, on by default).
//!
//! The files are the truth; the database is a disposable index that can be
//! deleted and rebuilt. Every complete line of every stream reaches the
//! `records` table exactly once, because rows and the checkpoint of their
//! file commit in one transaction, guarded by a compare-and-set.
//!
//! ```no_run
//! use std::path::Path;
//! use tasklog_index::{IndexOptions, OpenSqlite, RunMode, Tailer};
//!
//! let mut indexer = Tailer::open(Path::new("logs"), Path::new("index.db"), IndexOptions::default(), RunMode::Once)?;
//! indexer.reconcile_all(&mut |_| {})?;
//! let stats = indexer.finish()?;
//! println!("{} records", stats.records);
//! # Ok::<(), tasklog_index::Error>(())
//! ```

mod store;
mod time_arg;

pub use store::{
    db_shown, local_host_id, open_questions, open_tailer, postgres_url, shipping_into,
    ships_to_postgres, store_kind, store_status, store_verify, Hosts, Reading, StatusReport,
};
pub use tasklog_tail::lag::TaskLag;
pub use tasklog_tail::questions::cost::whole_day;
pub use tasklog_tail::questions::live::{TranscriptPage, FEED_COLUMNS, TRANSCRIPT_COLUMNS};
pub use tasklog_tail::verify::{FileReport, VerifyReport};
pub use tasklog_tail::{
    format_chain, match_task_id, search_terms, watch, Capability, CommitterStop, CostKey,
    CostQuery, Error, ExportSection, IndexOptions, Price, PriceProblem, PriceTable, Questions,
    Result, RunMode, SearchQuery, Shutdown, Stats, StoreKind, Table, Tailer, TaskFilter,
    TaskIdMatch, TaskPart, TaskSort, DEFAULT_PRICES, ROOT_POLL,
};
pub use time_arg::{parse_time, BadTime, TIME_FORMS};

pub use tasklog_sqlite::{
    archive_month, archive_path, archived_among, archives, as_sqlite, drop_archived, fts_query,
    json_value, months_to_archive, open_for_writing, open_query_connection,
    open_query_connection_with_archives, open_read_only, status, unarchive_month, verify,
    verify_with_archives, Diagnostic, Month, MoveReport, OpenSqlite, SqliteQuestions, Status,
    WriterLock, COST_BY_CALL, COST_BY_DAY, COST_BY_TASK_DAY, SCHEMA_VERSION, TASKS,
    TASK_IDS_STARTING, TASK_SORTS, TASK_SUMMARY,
};

/// The PostgreSQL store (crate `tasklog-postgres`).
#[cfg(feature = "postgres")]
pub use tasklog_postgres as pg;
#[cfg(feature = "postgres")]
pub use tasklog_postgres::{OpenPostgres, PgStatus};
