//! The embedded SQLite sink: what each op does to the SQLite tables.
//!
//! Architecture Invariant: rows and the checkpoint of the file they came
//! from commit in the same transaction, and every checkpoint move is a
//! compare-and-set on the offset the reader started from (`files::check`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use rusqlite::{params, Connection, OptionalExtension};

use tasklog_tail::batch::{
    Column, DocBatch, DocContent, FileKey, Op, Quarantine, Row, StreamBatch,
};
use tasklog_tail::sink::{apply_op, Sink, SinkOps};
use tasklog_tail::state::StateKey;
use tasklog_tail::{Error, Result};

use crate::error::sqlite_error;
use crate::files;
use crate::state;

/// The embedded SQLite sink.
pub(crate) struct SqliteSink {
    conn: Connection,
    path: PathBuf,
    /// `files.path` → `files.file_id`, so inserts need no lookup. Reloaded
    /// after a rollback, since ids assigned inside it are gone.
    file_ids: HashMap<String, i64>,
    in_tx: bool,
}

/// Parameters of one inserted record: its batch's `file_id`, `task_id` and
/// `stream`, then the row's own columns ([`Row::COLUMNS`]).
const RECORD_PARAMS: usize = 3 + Row::COLUMNS.len();

/// Rows per multi-row INSERT. One statement execution opens a cursor on
/// `records` and on each of its (mostly partial) indexes; opening and
/// closing them for every row was a tenth of the committer's time (perf).
const ROWS_PER_INSERT: usize = 32;

/// `INSERT INTO records (...) VALUES (?,...), ...` for `rows` rows.
fn insert_records_sql(rows: usize) -> String {
    let columns: Vec<String> = ["file_id", "task_id", "stream"]
        .iter()
        .chain(Row::COLUMNS)
        .map(|c| format!("\"{c}\""))
        .collect();
    let one = format!("({})", vec!["?"; RECORD_PARAMS].join(","));
    format!(
        "INSERT INTO records ({}) VALUES {}",
        columns.join(", "),
        vec![one; rows].join(",")
    )
}

/// The two statements [`SqliteSink::insert_rows`] uses, built once.
static INSERT_MANY: LazyLock<String> = LazyLock::new(|| insert_records_sql(ROWS_PER_INSERT));
static INSERT_ONE: LazyLock<String> = LazyLock::new(|| insert_records_sql(1));

const INSERT_ERROR: &str = r#"INSERT OR IGNORE INTO ingest_errors
    (task_id, path, generation, "offset", length, line, reason, prefix, detected_at)
  VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"#;

/// Opens a file-level diagnostic, or opens again one that was resolved.
const OPEN_DIAGNOSTIC: &str = r#"INSERT INTO ingest_errors
    (task_id, path, generation, "offset", reason, prefix, detected_at, kind)
  VALUES (?1, ?2, ?3, ?4, ?5, '', ?6, 'file')
  ON CONFLICT (path, generation, "offset", reason) DO UPDATE
    SET resolved_at = NULL, detected_at = excluded.detected_at, kind = 'file'
    WHERE resolved_at IS NOT NULL"#;

const RESOLVE_DIAGNOSTICS: &str = r#"UPDATE ingest_errors SET resolved_at = ?2
  WHERE path = ?1 AND kind = 'file' AND resolved_at IS NULL"#;

impl SqliteSink {
    pub(crate) fn new(conn: Connection, path: &Path) -> Result<SqliteSink> {
        let mut sink = SqliteSink {
            conn,
            path: path.to_owned(),
            file_ids: HashMap::new(),
            in_tx: false,
        };
        sink.load_file_ids()?;
        Ok(sink)
    }

    fn err(&self, op: &'static str) -> impl Fn(rusqlite::Error) -> Error + '_ {
        move |e| sqlite_error(&self.path, op, e)
    }

    fn load_file_ids(&mut self) -> Result<()> {
        self.file_ids = files::load_ids(&self.conn).map_err(self.err("loading checkpoints"))?;
        Ok(())
    }

    fn file_id(&mut self, key: &FileKey, now: &str) -> Result<i64> {
        if let Some(&id) = self.file_ids.get(&key.path) {
            return Ok(id);
        }
        let id = files::register(&self.conn, key, now).map_err(self.err("registering file"))?;
        self.file_ids.insert(key.path.clone(), id);
        Ok(id)
    }

    /// Moves a generation's rows to `superseded_records`, and counts the
    /// task's facts again without them.
    fn supersede(
        &self,
        task_id: &str,
        file_id: i64,
        generation: u64,
        reason: &str,
        path: &str,
        now: &str,
    ) -> Result<()> {
        let tx = &self.conn;
        tx.prepare_cached(
            r#"INSERT INTO superseded_records (file_id, generation, task_id, stream, "offset", body, reason, superseded_at)
               SELECT file_id, ?2, task_id, stream, "offset", body, ?3, ?4 FROM records WHERE file_id = ?1"#,
        )
        .and_then(|mut s| s.execute(params![file_id, generation as i64, reason, now]))
        .map_err(self.err("superseding rows"))?;
        tx.prepare_cached("DELETE FROM records WHERE file_id = ?1")
            .and_then(|mut s| s.execute([file_id]))
            .map_err(self.err("superseding rows"))?;
        crate::facts::recount(tx, task_id).map_err(self.err("counting task facts"))?;
        tx.prepare_cached(
            "INSERT INTO file_events (path, at, event, detail) VALUES (?1, ?2, ?3, ?4)",
        )
        .and_then(|mut s| {
            s.execute(params![
                path,
                now,
                reason,
                format!("generation {generation} ended")
            ])
        })
        .map_err(self.err("recording file event"))?;
        Ok(())
    }

    /// Inserts a batch's rows, [`ROWS_PER_INSERT`] per statement.
    fn insert_rows(&self, file_id: i64, b: &StreamBatch) -> Result<()> {
        let failed = |e| sqlite_error(&self.path, "inserting records", e);
        let mut chunks = b.rows.chunks_exact(ROWS_PER_INSERT);
        if chunks.len() > 0 {
            let mut stmt = self.conn.prepare_cached(&INSERT_MANY).map_err(failed)?;
            for chunk in &mut chunks {
                for (i, r) in chunk.iter().enumerate() {
                    bind_record(&mut stmt, i * RECORD_PARAMS, file_id, &b.key, r)
                        .map_err(failed)?;
                }
                stmt.raw_execute().map_err(failed)?;
            }
        }
        let mut stmt = self.conn.prepare_cached(&INSERT_ONE).map_err(failed)?;
        for r in chunks.remainder() {
            bind_record(&mut stmt, 0, file_id, &b.key, r).map_err(failed)?;
            stmt.raw_execute().map_err(failed)?;
        }
        Ok(())
    }

    /// Copies the current version of a document into `document_history`.
    fn archive_document(&self, key: &FileKey, now: &str) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO document_history (task_id, name, version, body, content_hash, updated_at, superseded_at)
                 SELECT task_id, name, version, body, content_hash, updated_at, ?3 FROM documents
                 WHERE task_id = ?1 AND name = ?2",
            )
            .and_then(|mut s| s.execute(params![key.task_id, key.name, now]))
            .map_err(self.err("keeping document history"))?;
        Ok(())
    }

    /// Keeps the `tasks` row in step with `task.json` and `result.json`.
    fn on_document_changed(&self, key: &FileKey, body: &str) -> Result<()> {
        if key.name == tasklog_format::TASK_DOC {
            self.conn
                .prepare_cached(TASK_FROM_DOCUMENT)
                .and_then(|mut s| s.execute(params![key.task_id, body]))
                .map_err(self.err("updating task"))?;
        } else if key.name == tasklog_format::RESULT_DOC {
            self.conn
                .prepare_cached("UPDATE tasks SET sealed = 1 WHERE task_id = ?1")
                .and_then(|mut s| s.execute([&key.task_id]))
                .map_err(self.err("sealing task"))?;
        }
        Ok(())
    }
}

/// Copies the reference designs' task columns out of `task.json`.
const TASK_FROM_DOCUMENT: &str = r#"
UPDATE tasks SET
    document       = ?2,
    session_id     = json_extract(?2, '$.session_id'),
    detected_at    = coalesce(json_extract(?2, '$.detected_at'), json_extract(?2, '$.created_at')),
    source         = json_extract(?2, '$.source'),
    issue_number   = json_extract(?2, '$.issue_number'),
    issue_url      = json_extract(?2, '$.issue_url'),
    title          = json_extract(?2, '$.title'),
    description    = json_extract(?2, '$.description'),
    priority       = json_extract(?2, '$.priority'),
    labels         = json_extract(?2, '$.labels'),
    assigned_at    = json_extract(?2, '$.assigned_at'),
    started_at     = coalesce(json_extract(?2, '$.started_at'), json_extract(?2, '$.active_at'), json_extract(?2, '$.running_at')),
    completed_at   = json_extract(?2, '$.completed_at'),
    failed_at      = json_extract(?2, '$.failed_at'),
    status         = json_extract(?2, '$.status'),
    failure_reason = json_extract(?2, '$.failure_reason'),
    pr_number      = json_extract(?2, '$.pr_number'),
    pr_url         = json_extract(?2, '$.pr_url'),
    commits        = json_extract(?2, '$.commits'),
    created_at     = json_extract(?2, '$.created_at'),
    updated_at     = json_extract(?2, '$.updated_at')
WHERE task_id = ?1 AND json_valid(?2) AND json_type(?2) = 'object'
"#;

impl SinkOps for SqliteSink {
    fn ensure_task(&mut self, task_id: &str, now: &str) -> Result<()> {
        self.conn
            .prepare_cached("INSERT OR IGNORE INTO tasks (task_id, first_seen_at) VALUES (?1, ?2)")
            .and_then(|mut s| s.execute(params![task_id, now]))
            .map_err(self.err("registering task"))?;
        Ok(())
    }

    fn insert_errors(
        &mut self,
        key: &FileKey,
        generation: u64,
        errors: &[Quarantine],
        now: &str,
    ) -> Result<()> {
        let mut stmt = self
            .conn
            .prepare_cached(INSERT_ERROR)
            .map_err(self.err("quarantining"))?;
        for q in errors {
            stmt.execute(params![
                key.task_id,
                key.path,
                generation as i64,
                q.offset as i64,
                q.length.map(|l| l as i64),
                q.line.map(|l| l as i64),
                q.reason,
                q.prefix,
                now
            ])
            .map_err(|e| sqlite_error(&self.path, "quarantining", e))?;
        }
        Ok(())
    }

    fn apply_stream(&mut self, b: &StreamBatch, now: &str) -> Result<()> {
        let file_id = self.file_id(&b.key, now)?;
        files::check(
            &self.conn,
            &self.path,
            file_id,
            &b.key,
            b.expected_offset,
            b.expected_generation,
        )?;
        if let Some(rotation) = &b.rotation {
            self.supersede(
                &b.key.task_id,
                file_id,
                b.expected_generation,
                rotation.reason,
                &b.key.path,
                now,
            )?;
        }
        self.insert_rows(file_id, b)?;
        if let Some(first) = b.rows.first() {
            // The batch's figures join its task's facts in this transaction.
            self.conn
                .prepare_cached(crate::facts::ADD_BATCH)
                .and_then(|mut s| s.execute(params![file_id, first.offset as i64]))
                .map_err(self.err("adding to task facts"))?;
        }
        self.insert_errors(&b.key, b.generation, &b.errors, now)?;
        files::advance_stream(&self.conn, file_id, b, now)
            .map_err(self.err("moving checkpoint"))?;
        Ok(())
    }

    fn apply_document(&mut self, d: &DocBatch, now: &str) -> Result<()> {
        let file_id = self.file_id(&d.key, now)?;
        match &d.content {
            DocContent::Invalid(q) => {
                self.insert_errors(&d.key, 1, std::slice::from_ref(q), now)?;
            }
            DocContent::Body { body, updated_at } => {
                let hash = format!("{:016x}", d.hash as u64);
                let current: Option<(i64, String)> = self
                    .conn
                    .prepare_cached("SELECT version, content_hash FROM documents WHERE task_id = ?1 AND name = ?2")
                    .and_then(|mut s| s.query_row([&d.key.task_id, &d.key.name], |r| Ok((r.get(0)?, r.get(1)?))).optional())
                    .map_err(self.err("reading document"))?;
                let changed = current.as_ref().is_none_or(|(_, h)| *h != hash);
                if changed {
                    let version = current.as_ref().map_or(1, |(v, _)| v + 1);
                    if current.is_some() {
                        self.archive_document(&d.key, now)?;
                    }
                    self.conn
                        .prepare_cached(
                            "INSERT OR REPLACE INTO documents (task_id, name, file_id, version, body, content_hash, size, updated_at, indexed_at)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                        )
                        .and_then(|mut s| {
                            s.execute(params![d.key.task_id, d.key.name, file_id, version, body, hash, d.size as i64, updated_at, now])
                        })
                        .map_err(self.err("storing document"))?;
                    self.on_document_changed(&d.key, body)?;
                }
            }
        }
        files::advance_document(&self.conn, file_id, d, now)
            .map_err(self.err("moving checkpoint"))?;
        Ok(())
    }

    fn apply_gone(
        &mut self,
        key: &FileKey,
        expected_offset: u64,
        expected_generation: u64,
        now: &str,
    ) -> Result<()> {
        let Some(&file_id) = self.file_ids.get(&key.path) else {
            return Ok(());
        };
        files::check(
            &self.conn,
            &self.path,
            file_id,
            key,
            expected_offset,
            expected_generation,
        )?;
        match key.kind {
            tasklog_tail::batch::FileKind::Stream => self.supersede(
                &key.task_id,
                file_id,
                expected_generation,
                "deleted",
                &key.path,
                now,
            )?,
            tasklog_tail::batch::FileKind::Document => {
                self.archive_document(key, now)?;
                self.conn
                    .prepare_cached("DELETE FROM documents WHERE task_id = ?1 AND name = ?2")
                    .and_then(|mut s| s.execute([&key.task_id, &key.name]))
                    .map_err(self.err("removing document"))?;
            }
        }
        files::forget(&self.conn, file_id).map_err(self.err("removing checkpoint"))?;
        self.file_ids.remove(&key.path);
        Ok(())
    }

    fn remove_task(&mut self, task_id: &str) -> Result<()> {
        self.conn
            .prepare_cached("DELETE FROM tasks WHERE task_id = ?1")
            .and_then(|mut s| s.execute([task_id]))
            .map_err(self.err("removing task"))?;
        self.conn
            .prepare_cached("DELETE FROM task_activity WHERE task_id = ?1")
            .and_then(|mut s| s.execute([task_id]))
            .map(drop)
            .map_err(self.err("removing task"))
    }

    fn bulk(&mut self, start: bool) -> Result<()> {
        if start {
            crate::bulk::begin(&self.conn).map_err(self.err("starting bulk load"))
        } else {
            crate::bulk::ensure(&self.conn).map_err(self.err("ending bulk load"))
        }
    }

    fn open_diagnostic(
        &mut self,
        task_id: &str,
        path: &str,
        generation: u64,
        offset: u64,
        reason: &str,
        now: &str,
    ) -> Result<()> {
        self.conn
            .prepare_cached(OPEN_DIAGNOSTIC)
            .and_then(|mut s| {
                s.execute(params![
                    task_id,
                    path,
                    generation as i64,
                    offset as i64,
                    reason,
                    now
                ])
            })
            .map(drop)
            .map_err(self.err("recording diagnostic"))
    }

    fn resolve_diagnostics(&mut self, path: &str, now: &str) -> Result<()> {
        self.conn
            .prepare_cached(RESOLVE_DIAGNOSTICS)
            .and_then(|mut s| s.execute(params![path, now]))
            .map(drop)
            .map_err(self.err("resolving diagnostic"))
    }

    fn set_state(&mut self, key: StateKey, value: &str) -> Result<()> {
        state::set(&self.conn, key, value).map_err(self.err("recording indexer state"))
    }
}

impl Sink for SqliteSink {
    fn begin(&mut self) -> Result<()> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(self.err("beginning transaction"))?;
        self.in_tx = true;
        Ok(())
    }

    fn apply(&mut self, op: &Op, now: &str) -> Result<()> {
        apply_op(self, op, now)
    }

    fn commit(&mut self) -> Result<()> {
        let now = tasklog_format::now_rfc3339();
        state::set(&self.conn, StateKey::LastCommitAt, &now).map_err(self.err("committing"))?;
        self.conn
            .execute_batch("COMMIT")
            .map_err(self.err("committing"))?;
        self.in_tx = false;
        Ok(())
    }

    fn rollback(&mut self) {
        if self.in_tx {
            let _ = self.conn.execute_batch("ROLLBACK");
            self.in_tx = false;
        }
        if let Err(e) = self.load_file_ids() {
            tracing::warn!(error = %e, "reloading file ids after rollback");
        }
    }
}

/// Binds one record row's parameters, the first at `base + 1`.
fn bind_record(
    stmt: &mut rusqlite::Statement<'_>,
    base: usize,
    file_id: i64,
    key: &FileKey,
    r: &Row,
) -> rusqlite::Result<()> {
    stmt.raw_bind_parameter(base + 1, file_id)?;
    stmt.raw_bind_parameter(base + 2, &key.task_id)?;
    stmt.raw_bind_parameter(base + 3, &key.name)?;
    for (i, value) in r.values().into_iter().enumerate() {
        let at = base + 4 + i;
        match value {
            Column::Null => stmt.raw_bind_parameter(at, rusqlite::types::Null)?,
            // Offsets and line numbers are SQLite's 64-bit integers.
            Column::U64(n) => stmt.raw_bind_parameter(
                at,
                i64::try_from(n)
                    .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?,
            )?,
            Column::Int(n) => stmt.raw_bind_parameter(at, n)?,
            Column::Real(x) => stmt.raw_bind_parameter(at, x)?,
            Column::Text(t) => stmt.raw_bind_parameter(at, t)?,
        }
    }
    Ok(())
}
