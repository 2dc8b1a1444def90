//! The PostgreSQL sink: the same ops as the SQLite sink, applied to one
//! host's rows in a shared database.
//!
//! A transaction's rows travel by one `COPY ... FROM STDIN` (text format)
//! and its checkpoint moves by one compare-and-set `UPDATE` that must find
//! every file at its expected offset and generation (`pending.rs`). Both
//! are held until the commit, or until a statement that reads or moves
//! `records` or a checkpoint (a rotation, a removed file), so order is kept.
//!
//! A lost connection is not fatal: the committer rolls back and replays
//! its batch, and `begin` reconnects (taking the host's lock again). A
//! COMMIT whose answer was lost is the one ambiguous case: each
//! transaction writes a fresh token to `indexer_state`, and after
//! reconnecting the sink reads it back to learn whether the commit landed.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use postgres::types::ToSql;
use postgres::{Client, Statement};

use super::pending::Pending;
use super::{lock, PgTarget};
use tasklog_tail::batch::{DocBatch, FileKey, FileKind, Op, Quarantine, StreamBatch};
use tasklog_tail::sink::{apply_op, Sink, SinkOps};
use tasklog_tail::state::StateKey;
use tasklog_tail::ShutdownFlag;
use tasklog_tail::{Error, Result};

/// Buffered COPY bytes that trigger a send before the commit, bounding the
/// memory a large batch holds.
const COPY_FLUSH_BYTES: usize = 8 << 20;

/// The `indexer_state` key of the commit token (see the module docs).
const COMMIT_TOKEN: &str = "commit_token";

pub(crate) struct PgSink {
    target: PgTarget,
    client: Option<Client>,
    statements: HashMap<&'static str, Statement>,
    /// `files.path` → `files.file_id` of this host. Reloaded after a
    /// rollback, since ids assigned inside it are gone.
    file_ids: HashMap<String, i64>,
    /// Rows and checkpoint moves not sent yet (`pending.rs`).
    pending: Pending,
    /// Tasks whose row exists (committed), and those this transaction
    /// added: `ensure_task` then costs no round trip.
    tasks: HashSet<String>,
    new_tasks: Vec<String>,
    in_tx: bool,
    /// The token of the open transaction (read back after a COMMIT whose
    /// answer was lost).
    token: u64,
    /// Which of the host's connections this is; shard 0 holds the host's
    /// advisory lock (see `shards.rs`).
    shard: usize,
    stop: ShutdownFlag,
}

impl PgSink {
    /// A sink over an open, migrated connection that holds the host's lock.
    pub(crate) fn new(
        target: PgTarget,
        client: Client,
        shard: usize,
        stop: ShutdownFlag,
    ) -> Result<PgSink> {
        let mut sink = PgSink {
            target,
            client: Some(client),
            statements: HashMap::new(),
            file_ids: HashMap::new(),
            pending: Pending::default(),
            tasks: HashSet::new(),
            new_tasks: Vec::new(),
            in_tx: false,
            token: first_token(),
            shard,
            stop,
        };
        sink.load_file_ids()?;
        Ok(sink)
    }

    pub(super) fn err(&self, op: &'static str) -> impl Fn(postgres::Error) -> Error + '_ {
        move |e| self.target.error(op, e)
    }

    /// The connection, reconnecting (and re-taking the host's lock) when
    /// the last one was lost.
    pub(super) fn client(&mut self) -> Result<&mut Client> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            if self.in_tx {
                // Never carry on a transaction on a new connection: its
                // statements so far died with the old one.
                return Err(Error::io(
                    self.target.display(),
                    "connection lost inside a transaction",
                    std::io::ErrorKind::ConnectionAborted.into(),
                ));
            }
            self.client = None;
            self.statements.clear();
            let mut client = self.target.connect(&role(self.shard))?;
            if self.shard == 0 {
                lock::acquire(&mut client, &self.target)?;
            }
            super::schema::check(&mut client, &self.target)?;
            tracing::info!(server = self.target.display(), "reconnected to PostgreSQL");
            self.client = Some(client);
            self.load_file_ids()?;
        }
        Ok(self.client.as_mut().expect("connected above"))
    }

    /// A prepared statement of this connection.
    pub(super) fn stmt(&mut self, sql: &'static str) -> Result<Statement> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let prepared = self.client()?.prepare(sql);
        let s = prepared.map_err(self.err("preparing a statement"))?;
        self.statements.insert(sql, s.clone());
        Ok(s)
    }

    pub(super) fn exec(
        &mut self,
        op: &'static str,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64> {
        let stmt = self.stmt(sql)?;
        let result = self.client()?.execute(&stmt, params);
        result.map_err(self.err(op))
    }

    fn load_file_ids(&mut self) -> Result<()> {
        let host = self.target.host_id().to_owned();
        let Some(client) = self.client.as_mut() else {
            return Ok(());
        };
        let rows = client
            .query(
                "SELECT path, file_id FROM files WHERE host_id = $1",
                &[&host],
            )
            .map_err(|e| self.target.error("loading checkpoints", e))?;
        self.file_ids = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        Ok(())
    }

    /// This connection's key of the commit token in `indexer_state`.
    fn token_key(&self) -> String {
        format!("{COMMIT_TOKEN}_{}", self.shard)
    }

    pub(super) fn host(&self) -> String {
        self.target.host_id().to_owned()
    }

    pub(super) fn file_id(&mut self, key: &FileKey, now: &str) -> Result<i64> {
        if let Some(&id) = self.file_ids.get(&key.path) {
            return Ok(id);
        }
        let host = self.host();
        let stmt = self.stmt(
            "INSERT INTO files (host_id, path, task_id, name, kind, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
             RETURNING file_id",
        )?;
        let row = self.client()?.query_one(
            &stmt,
            &[
                &host,
                &key.path,
                &key.task_id,
                &key.name,
                &key.kind.as_str(),
                &now,
            ],
        );
        let id: i64 = row.map_err(self.err("registering file"))?.get(0);
        self.file_ids.insert(key.path.clone(), id);
        Ok(id)
    }

    /// Sends the held-back checkpoint moves and rows.
    fn flush_pending(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let target = self.target.clone();
        let now = tasklog_format::now_rfc3339();
        let mut pending = std::mem::take(&mut self.pending);
        let (host, in_tx) = (self.host(), self.in_tx);
        let result = pending.send(self.client()?, &target, &now, &host, in_tx);
        self.pending = pending;
        result
    }

    /// Moves the rows of a file's ended generation to `superseded_records`.
    fn supersede(
        &mut self,
        file_id: i64,
        generation: u64,
        reason: &str,
        path: &str,
        now: &str,
    ) -> Result<()> {
        self.flush_pending()?;
        let host = self.host();
        let generation = generation as i64;
        self.exec(
            "superseding rows",
            r#"WITH gone AS (DELETE FROM records WHERE host_id = $1 AND file_id = $2
                             RETURNING task_id, stream, "offset", body)
               INSERT INTO superseded_records (host_id, file_id, generation, task_id, stream, "offset", body, reason, superseded_at)
               SELECT $1, $2, $3, task_id, stream, "offset", body, $4, $5 FROM gone"#,
            &[&host, &file_id, &generation, &reason, &now],
        )?;
        let detail = format!("generation {generation} ended");
        self.exec(
            "recording file event",
            "INSERT INTO file_events (host_id, path, at, event, detail) VALUES ($1, $2, $3, $4, $5)",
            &[&host, &path, &now, &reason, &detail],
        )?;
        Ok(())
    }

    fn check(&mut self, file_id: i64, key: &FileKey, offset: u64, generation: u64) -> Result<()> {
        let stmt = self.stmt(
            r#"SELECT 1 FROM files WHERE file_id = $1 AND "offset" = $2 AND generation = $3"#,
        )?;
        let found = self
            .client()?
            .query_opt(&stmt, &[&file_id, &(offset as i64), &(generation as i64)]);
        match found.map_err(self.err("reading checkpoint"))? {
            Some(_) => Ok(()),
            None => Err(Error::CheckpointConflict {
                path: key.path.clone(),
                expected: offset,
            }),
        }
    }

    fn put_state(&mut self, key: &str, value: &str) -> Result<()> {
        let host = self.host();
        self.exec(
            "recording indexer state",
            "INSERT INTO indexer_state (host_id, key, value) VALUES ($1, $2, $3)
             ON CONFLICT (host_id, key) DO UPDATE SET value = excluded.value",
            &[&host, &key, &value],
        )
        .map(drop)
    }

    /// After a COMMIT whose answer was lost: reconnects (with backoff, until
    /// shutdown) and reads the host's commit token back. True when the
    /// transaction of `token` committed.
    fn confirm(&mut self, token: u64) -> Result<bool> {
        self.client = None;
        let started = Instant::now();
        let mut backoff = Duration::from_millis(50);
        loop {
            match self.read_token() {
                Ok(found) => {
                    let landed = found.as_deref() == Some(token.to_string().as_str());
                    tracing::info!(
                        landed,
                        waited_ms = started.elapsed().as_millis() as u64,
                        "learned the outcome of a commit whose answer was lost"
                    );
                    return Ok(landed);
                }
                Err(e) if tasklog_tail::is_transient(&e) && !self.stop.is_set() => {
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "PostgreSQL unreachable after a commit; waiting to learn whether it landed");
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn read_token(&mut self) -> Result<Option<String>> {
        let host = self.host();
        let stmt = self.stmt("SELECT value FROM indexer_state WHERE host_id = $1 AND key = $2")?;
        let key = self.token_key();
        let row = self.client()?.query_opt(&stmt, &[&host, &key]);
        Ok(row
            .map_err(self.err("reading the commit token"))?
            .and_then(|r| r.get(0)))
    }
}

impl SinkOps for PgSink {
    fn ensure_task(&mut self, task_id: &str, now: &str) -> Result<()> {
        if self.tasks.contains(task_id) || self.new_tasks.iter().any(|t| t == task_id) {
            return Ok(());
        }
        self.new_tasks.push(task_id.to_owned());
        let host = self.host();
        self.exec(
            "registering task",
            "INSERT INTO tasks (host_id, task_id, first_seen_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            &[&host, &task_id, &now],
        )
        .map(drop)
    }

    fn insert_errors(
        &mut self,
        key: &FileKey,
        generation: u64,
        errors: &[Quarantine],
        now: &str,
    ) -> Result<()> {
        let host = self.host();
        for q in errors {
            let (offset, length, line) = (
                q.offset as i64,
                q.length.map(|l| l as i64),
                q.line.map(|l| l as i64),
            );
            self.exec(
                "quarantining",
                r#"INSERT INTO ingest_errors (host_id, task_id, path, generation, "offset", length, line, reason, prefix, detected_at)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING"#,
                &[&host, &key.task_id, &key.path, &(generation as i64), &offset, &length, &line, &q.reason, &q.prefix, &now],
            )?;
        }
        Ok(())
    }

    fn apply_stream(&mut self, b: &StreamBatch, now: &str) -> Result<()> {
        let file_id = self.file_id(&b.key, now)?;
        if let Some(rotation) = &b.rotation {
            // The old generation's rows move out before the new one's are
            // held (supersede sends what is held first).
            self.supersede(
                file_id,
                b.expected_generation,
                rotation.reason,
                &b.key.path,
                now,
            )?;
        }
        let host = self.host();
        self.pending.add(&host, file_id, b)?;
        if self.pending.copy_bytes() >= COPY_FLUSH_BYTES {
            self.flush_pending()?;
        }
        self.insert_errors(&b.key, b.generation, &b.errors, now)
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
        self.check(file_id, key, expected_offset, expected_generation)?;
        match key.kind {
            FileKind::Stream => {
                self.supersede(file_id, expected_generation, "deleted", &key.path, now)?
            }
            FileKind::Document => {
                self.archive_document(key, now)?;
                let host = self.host();
                self.exec(
                    "removing document",
                    "DELETE FROM documents WHERE host_id = $1 AND task_id = $2 AND name = $3",
                    &[&host, &key.task_id, &key.name],
                )?;
            }
        }
        self.exec(
            "removing checkpoint",
            "DELETE FROM files WHERE file_id = $1",
            &[&file_id],
        )?;
        self.file_ids.remove(&key.path);
        Ok(())
    }

    /// Bulk loads into an empty `records` (a new database's first
    /// backfill) drop the secondary indexes and build them at the end; a
    /// table holding rows (other hosts') keeps them.
    fn bulk(&mut self, start: bool) -> Result<()> {
        if start {
            let stmt = self.stmt("SELECT NOT EXISTS (SELECT 1 FROM records)")?;
            let empty: bool = self
                .client()?
                .query_one(&stmt, &[])
                .map_err(self.err("starting bulk load"))?
                .get(0);
            if !empty {
                tracing::info!("records is not empty: the bulk load keeps its indexes");
                return Ok(());
            }
            for (name, _) in super::schema::SECONDARY_INDEXES {
                let sql = format!("DROP INDEX IF EXISTS {name}");
                let result = self.client()?.batch_execute(&sql);
                result.map_err(self.err("starting bulk load"))?;
            }
            Ok(())
        } else {
            self.flush_pending()?;
            let target = self.target.clone();
            super::schema::ensure_indexes(self.client()?, &target)
        }
    }

    fn remove_task(&mut self, task_id: &str) -> Result<()> {
        self.tasks.remove(task_id);
        self.new_tasks.retain(|t| t != task_id);
        let host = self.host();
        self.exec(
            "removing task",
            "DELETE FROM tasks WHERE host_id = $1 AND task_id = $2",
            &[&host, &task_id],
        )
        .map(drop)
    }

    fn apply_document(&mut self, d: &DocBatch, now: &str) -> Result<()> {
        self.store_document(d, now)
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
        let host = self.host();
        self.exec(
            "recording diagnostic",
            r#"INSERT INTO ingest_errors (host_id, task_id, path, generation, "offset", reason, prefix, detected_at, kind)
               VALUES ($1, $2, $3, $4, $5, $6, '', $7, 'file')
               ON CONFLICT (host_id, path, generation, "offset", reason) DO UPDATE
                  SET resolved_at = NULL, detected_at = excluded.detected_at, kind = 'file'
                  WHERE ingest_errors.resolved_at IS NOT NULL"#,
            &[&host, &task_id, &path, &(generation as i64), &(offset as i64), &reason, &now],
        )
        .map(drop)
    }

    fn resolve_diagnostics(&mut self, path: &str, now: &str) -> Result<()> {
        let host = self.host();
        self.exec(
            "resolving diagnostic",
            "UPDATE ingest_errors SET resolved_at = $3
              WHERE host_id = $1 AND path = $2 AND kind = 'file' AND resolved_at IS NULL",
            &[&host, &path, &now],
        )
        .map(drop)
    }

    fn set_state(&mut self, key: StateKey, value: &str) -> Result<()> {
        self.put_state(key.as_str(), value)
    }
}

impl Sink for PgSink {
    fn begin(&mut self) -> Result<()> {
        let result = self.client()?.batch_execute("BEGIN");
        result.map_err(self.err("beginning transaction"))?;
        self.in_tx = true;
        self.token = self.token.wrapping_add(1);
        Ok(())
    }

    fn apply(&mut self, op: &Op, now: &str) -> Result<()> {
        apply_op(self, op, now)
    }

    fn commit(&mut self) -> Result<()> {
        self.flush_pending()?;
        let now = tasklog_format::now_rfc3339();
        self.put_state(StateKey::LastCommitAt.as_str(), &now)?;
        let token = self.token;
        self.put_state(&self.token_key(), &token.to_string())?;
        let result = self.client()?.batch_execute("COMMIT");
        self.in_tx = false;
        let landed = match result {
            Ok(()) => Ok(()),
            Err(e) if super::is_transient(&e) => {
                tracing::warn!(error = %e, "the answer to COMMIT was lost");
                if self.confirm(token)? {
                    Ok(())
                } else {
                    Err(self.target.error("committing", e))
                }
            }
            Err(e) => Err(self.target.error("committing", e)),
        };
        if landed.is_ok() {
            self.tasks.extend(self.new_tasks.drain(..));
        }
        landed
    }

    fn rollback(&mut self) {
        self.pending.clear();
        self.new_tasks.clear();
        if self.in_tx {
            if let Some(client) = self.client.as_mut() {
                if client.batch_execute("ROLLBACK").is_err() {
                    self.client = None;
                }
            }
            self.in_tx = false;
        }
        if self.client.as_ref().is_some_and(Client::is_closed) {
            self.client = None;
        }
        if let Err(e) = self.load_file_ids() {
            tracing::warn!(error = %e, "reloading file ids after rollback");
            self.client = None;
        }
    }
}

/// The name a connection of the sidecar gives itself (its shard included,
/// so that a stale session of shard 0 is told from the other shards).
pub(super) fn role(shard: usize) -> String {
    format!("sidecar shard={shard}")
}

/// A starting token unlikely to repeat across restarts of this host.
fn first_token() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ (u64::from(std::process::id()) << 40)
}
