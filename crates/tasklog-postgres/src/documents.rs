//! Documents on PostgreSQL: a changed `*.json` becomes the current version
//! (the previous one kept in `document_history`), and `task.json` and
//! `result.json` keep the host's `tasks` row in step, as the SQLite sink
//! does.

use super::sink::PgSink;
use tasklog_tail::batch::{DocBatch, DocContent, FileKey};
use tasklog_tail::sink::SinkOps;
use tasklog_tail::Result;

impl PgSink {
    /// A document's new state (`SinkOps::apply_document`).
    pub(super) fn store_document(&mut self, d: &DocBatch, now: &str) -> Result<()> {
        let file_id = self.file_id(&d.key, now)?;
        let host = self.host();
        match &d.content {
            DocContent::Invalid(q) => {
                self.insert_errors(&d.key, 1, std::slice::from_ref(q), now)?
            }
            DocContent::Body { body, updated_at } => {
                let hash = format!("{:016x}", d.hash as u64);
                let stmt = self.stmt("SELECT version, content_hash FROM documents WHERE host_id = $1 AND task_id = $2 AND name = $3")?;
                let current = self
                    .client()?
                    .query_opt(&stmt, &[&host, &d.key.task_id, &d.key.name])
                    .map_err(self.err("reading document"))?
                    .map(|r| (r.get::<_, i64>(0), r.get::<_, String>(1)));
                if current.as_ref().is_none_or(|(_, h)| *h != hash) {
                    let version = current.as_ref().map_or(1, |(v, _)| v + 1);
                    if current.is_some() {
                        self.archive_document(&d.key, now)?;
                    }
                    self.exec(
                        "storing document",
                        "INSERT INTO documents (host_id, task_id, name, file_id, version, body, content_hash, size, updated_at, indexed_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                         ON CONFLICT (host_id, task_id, name) DO UPDATE SET file_id = excluded.file_id, version = excluded.version,
                            body = excluded.body, content_hash = excluded.content_hash, size = excluded.size,
                            updated_at = excluded.updated_at, indexed_at = excluded.indexed_at",
                        &[&host, &d.key.task_id, &d.key.name, &file_id, &version, body, &hash, &(d.size as i64), updated_at, &now],
                    )?;
                    self.on_document_changed(&d.key, body)?;
                }
            }
        }
        self.exec(
            "moving checkpoint",
            r#"UPDATE files SET dev = $2, ino = $3, size = $4, mtime_ns = $5, anchor_hash = $6, "offset" = $4, updated_at = $7
               WHERE file_id = $1"#,
            &[&file_id, &(d.dev as i64), &(d.ino as i64), &(d.size as i64), &d.mtime_ns, &d.hash, &now],
        )
        .map(drop)
    }

    pub(super) fn archive_document(&mut self, key: &FileKey, now: &str) -> Result<()> {
        let host = self.host();
        self.exec(
            "keeping document history",
            "INSERT INTO document_history (host_id, task_id, name, version, body, content_hash, updated_at, superseded_at)
             SELECT host_id, task_id, name, version, body, content_hash, updated_at, $4 FROM documents
              WHERE host_id = $1 AND task_id = $2 AND name = $3",
            &[&host, &key.task_id, &key.name, &now],
        )
        .map(drop)
    }

    /// Keeps the `tasks` row in step with `task.json` and `result.json`.
    fn on_document_changed(&mut self, key: &FileKey, body: &str) -> Result<()> {
        let host = self.host();
        if key.name == tasklog_format::TASK_DOC {
            self.exec(
                "updating task",
                TASK_FROM_DOCUMENT,
                &[&host, &key.task_id, &body],
            )?;
        } else if key.name == tasklog_format::RESULT_DOC {
            self.exec(
                "sealing task",
                "UPDATE tasks SET sealed = 1 WHERE host_id = $1 AND task_id = $2",
                &[&host, &key.task_id],
            )?;
        }
        Ok(())
    }
}

/// Copies the reference designs' task columns out of `task.json` (the
/// SQLite sink's statement, in PostgreSQL's JSON operators).
const TASK_FROM_DOCUMENT: &str = r#"
UPDATE tasks SET
    document       = $3,
    session_id     = j ->> 'session_id',
    detected_at    = coalesce(j ->> 'detected_at', j ->> 'created_at'),
    source         = j ->> 'source',
    issue_number   = tasklog_int(j -> 'issue_number'),
    issue_url      = j ->> 'issue_url',
    title          = j ->> 'title',
    description    = j ->> 'description',
    priority       = tasklog_int(j -> 'priority'),
    labels         = j ->> 'labels',
    assigned_at    = j ->> 'assigned_at',
    started_at     = coalesce(j ->> 'started_at', j ->> 'active_at', j ->> 'running_at'),
    completed_at   = j ->> 'completed_at',
    failed_at      = j ->> 'failed_at',
    status         = j ->> 'status',
    failure_reason = j ->> 'failure_reason',
    pr_number      = tasklog_int(j -> 'pr_number'),
    pr_url         = j ->> 'pr_url',
    commits        = j ->> 'commits',
    created_at     = j ->> 'created_at',
    updated_at     = j ->> 'updated_at'
FROM (SELECT tasklog_jsonb($3) AS j) AS d
WHERE host_id = $1 AND task_id = $2 AND jsonb_typeof(d.j) = 'object'
"#;
