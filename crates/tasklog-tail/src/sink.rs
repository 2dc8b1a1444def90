//! Where batches land: the `Sink` seam every store implements.
//!
//! Architecture Invariant: rows and the checkpoint of the file they came
//! from commit in the same transaction, and every checkpoint move is a
//! compare-and-set on the offset the reader started from. A crash at any
//! instant leaves either both or neither. A unique index on
//! `(file_id, offset)` is the second guard.
//!
//! A sink implements [`Sink`] (the transaction) and [`SinkOps`] (what each
//! kind of op does to its tables); [`apply_op`] maps ops to those steps once
//! for every sink. The SQLite sink (crate `tasklog-sqlite`) and the
//! PostgreSQL sink (crate `tasklog-postgres`) implement them; the reader
//! and the thread driver do not change.

use crate::batch::{DocBatch, FileKey, Op, Quarantine, StreamBatch};
use crate::error::Result;
use crate::state::StateKey;

/// What a database does for each kind of op. [`apply_op`] decides which
/// of these an op runs and in what order (a task's row before its files'
/// rows), once for every sink.
pub trait SinkOps {
    /// Adds the `tasks` row of a task folder, when missing.
    fn ensure_task(&mut self, task_id: &str, now: &str) -> Result<()>;
    /// Removes the `tasks` row of a folder that is gone.
    fn remove_task(&mut self, task_id: &str) -> Result<()>;
    /// New lines of a stream, with the compare-and-set of its checkpoint.
    fn apply_stream(&mut self, b: &StreamBatch, now: &str) -> Result<()>;
    /// A document's new state.
    fn apply_document(&mut self, d: &DocBatch, now: &str) -> Result<()>;
    /// A file that is gone: its rows move out, its checkpoint goes.
    fn apply_gone(
        &mut self,
        key: &FileKey,
        expected_offset: u64,
        expected_generation: u64,
        now: &str,
    ) -> Result<()>;
    /// Quarantined lines.
    fn insert_errors(
        &mut self,
        key: &FileKey,
        generation: u64,
        errors: &[Quarantine],
        now: &str,
    ) -> Result<()>;
    /// Starts (`true`) or ends a bulk load.
    fn bulk(&mut self, start: bool) -> Result<()>;
    /// Opens a file-level diagnostic (or opens a resolved one again).
    fn open_diagnostic(
        &mut self,
        task_id: &str,
        path: &str,
        generation: u64,
        offset: u64,
        reason: &str,
        now: &str,
    ) -> Result<()>;
    /// Resolves the open file-level diagnostics of `path`.
    fn resolve_diagnostics(&mut self, path: &str, now: &str) -> Result<()>;
    /// Sets a key of `indexer_state`.
    fn set_state(&mut self, key: StateKey, value: &str) -> Result<()>;
}

/// Applies one op through a sink's [`SinkOps`]: the one place that says
/// what each op does.
pub fn apply_op(sink: &mut impl SinkOps, op: &Op, now: &str) -> Result<()> {
    match op {
        Op::Task { task_id } => sink.ensure_task(task_id, now),
        Op::TaskGone { task_id } => sink.remove_task(task_id),
        Op::Stream(b) => {
            sink.ensure_task(&b.key.task_id, now)?;
            sink.apply_stream(b, now)
        }
        Op::Document(d) => {
            sink.ensure_task(&d.key.task_id, now)?;
            sink.apply_document(d, now)
        }
        Op::Gone {
            key,
            expected_offset,
            expected_generation,
        } => sink.apply_gone(key, *expected_offset, *expected_generation, now),
        Op::Errors {
            key,
            generation,
            errors,
        } => {
            sink.ensure_task(&key.task_id, now)?;
            sink.insert_errors(key, *generation, errors, now)
        }
        Op::Bulk(start) => sink.bulk(*start),
        Op::Diagnostic {
            task_id,
            path,
            generation,
            offset,
            reason,
        } => sink.open_diagnostic(task_id, path, *generation, *offset, reason, now),
        Op::Resolved { path } => sink.resolve_diagnostics(path, now),
        Op::State { key, value } => sink.set_state(*key, value),
    }
}

/// A transactional destination for batches.
pub trait Sink {
    /// Opens a transaction.
    fn begin(&mut self) -> Result<()>;
    /// Applies one op inside the open transaction.
    fn apply(&mut self, op: &Op, now: &str) -> Result<()>;
    /// Commits the open transaction.
    fn commit(&mut self) -> Result<()>;
    /// Abandons the open transaction (and any state derived from it).
    fn rollback(&mut self);
}
