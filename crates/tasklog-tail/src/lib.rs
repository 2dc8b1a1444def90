//! The tasklog core: discovers task folders, tails their streams and
//! documents from checkpoints, and commits what it reads through a store's
//! [`Sink`](sink::Sink), exactly once.
//!
//! The files are the truth; a store is a disposable index. Every complete
//! line reaches a store once, because a batch's rows and the checkpoints
//! of its files commit in one transaction, each checkpoint guarded by a
//! compare-and-set on the offset the reader started from. This crate names
//! neither rusqlite nor the PostgreSQL client: a store (`tasklog-sqlite`,
//! `tasklog-postgres`) opens its database, loads what it holds into a
//! [`Loaded`] and hands its sinks to [`Tailer::assemble`].
//!
//! ```
//! use std::path::Path;
//! use tasklog_tail::sink::Sink;
//! use tasklog_tail::{batch::Op, IndexOptions, Loaded, Result, RunMode, Shutdown, Tailer};
//!
//! /// A store that keeps nothing: every batch commits at once.
//! struct Nowhere;
//!
//! impl Sink for Nowhere {
//!     fn begin(&mut self) -> Result<()> { Ok(()) }
//!     fn apply(&mut self, _op: &Op, _now: &str) -> Result<()> { Ok(()) }
//!     fn commit(&mut self) -> Result<()> { Ok(()) }
//!     fn rollback(&mut self) {}
//! }
//!
//! let root = std::env::temp_dir().join("tasklog-tail-doc");
//! std::fs::create_dir_all(&root).unwrap();
//! let mut tailer = Tailer::assemble(&root, IndexOptions::default(), RunMode::Once,
//!     vec![Nowhere], Loaded::default(), Shutdown::new())?;
//! tailer.reconcile_all(&mut |_| {})?;
//! let stats = tailer.finish()?;
//! assert_eq!(stats.records, 0);
//! # Ok::<(), tasklog_tail::Error>(())
//! ```

pub mod batch;
pub mod checkpoint;
mod committer;
mod compressed;
mod discovery;
mod error;
mod gzip;
pub mod lag;
mod options;
pub mod prices;
pub mod questions;
mod shards;
mod shutdown;
pub mod sink;
pub mod state;
mod store;
mod tail;
mod tailer;
pub mod verify;
mod watch;

pub use committer::{format_chain, is_transient};
pub use error::{CommitterStop, Error, PriceProblem, Result};
pub use options::IndexOptions;
pub use prices::{Price, PriceTable, DEFAULT_PRICES};
pub use questions::{
    match_task_id, search_terms, CostKey, CostQuery, ExportSection, Questions, SearchQuery, Table,
    TaskFilter, TaskIdMatch, TaskPart, TaskSort,
};
pub use shutdown::{Shutdown, ShutdownFlag};
pub use store::{Capability, StoreKind};
pub use tailer::{Companion, Loaded, RunMode, Stats, Tailer};
pub use watch::{watch, ROOT_POLL};
