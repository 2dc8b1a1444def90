//! What a PostgreSQL transaction holds back until it commits: the rows of
//! its stream batches (sent by one COPY) and their checkpoint moves (sent
//! by one UPDATE). Two statements per transaction instead of two per file
//! batch: with a hundred busy files, round trips were most of a commit.
//!
//! Order is kept where it matters. The sink sends what is held before any
//! statement that reads or moves `records` or a checkpoint (a rotation, a
//! removed file), and before COMMIT. Several batches of one file in one
//! transaction become one move, from the first batch's expected checkpoint
//! to the last batch's new one; a batch that does not start where the
//! previous one ended is a checkpoint conflict, as it would be in the
//! database.
//!
//! A value the server refuses (issue 22: `1e-20000` overflows `numeric` in
//! the generated `doc`; any data exception, SQLSTATE class 22) must not stop
//! the host. The COPY runs after a savepoint; when the server refuses a
//! row, its error names the COPY line, the transaction goes back to the
//! savepoint, that row leaves the COPY for `ingest_errors` (as SQLite's
//! path quarantines a bad line) and the rest is sent again. The
//! quarantine rows and the checkpoint moves commit together, so a restart
//! neither ships the row nor quarantines it twice.

use std::collections::HashMap;

use postgres::types::ToSql;
use postgres::Client;

use super::PgTarget;
use tasklog_tail::batch::{copy_escape, Quarantine, Row, StreamBatch};
use tasklog_tail::{Error, Result};

/// One file's checkpoint move: compare-and-set from `expected_*`.
struct Move {
    file_id: i64,
    path: String,
    expected_offset: i64,
    expected_generation: i64,
    offset: i64,
    line_count: i64,
    anchor: i64,
    dev: i64,
    ino: i64,
    generation: i64,
    mtime_ns: i64,
}

/// Parameters of one move in the UPDATE's VALUES list.
const MOVE_PARAMS: usize = 10;

/// Moves per UPDATE statement (PostgreSQL allows 65,535 parameters).
const MOVES_PER_STATEMENT: usize = 1000;

/// Where one COPY line came from, to quarantine it if the server refuses
/// it. Plain numbers, so that holding a row allocates nothing.
#[derive(Clone, Copy)]
struct Source {
    /// Where the line starts in the COPY buffer.
    start: usize,
    /// Its batch in [`Pending::files`].
    file: usize,
    offset: i64,
    line: i64,
    length: i64,
}

/// The file of a batch whose rows are held: (task id, path, generation).
type FileOfRows = (String, String, i64);

/// The held-back rows and moves of the open transaction.
#[derive(Default)]
pub(super) struct Pending {
    copy: Vec<u8>,
    /// One per line of `copy`, in order.
    sources: Vec<Source>,
    /// One per batch with rows held.
    files: Vec<FileOfRows>,
    moves: Vec<Move>,
    by_file: HashMap<i64, usize>,
}

/// The field of `body` in a COPY line: after the batch's four columns.
const BODY_FIELD: usize = 4 + body_column();

const fn body_column() -> usize {
    let mut i = 0;
    while i < Row::COLUMNS.len() {
        let c = Row::COLUMNS[i].as_bytes();
        if c.len() == 4 && c[0] == b'b' && c[1] == b'o' && c[2] == b'd' && c[3] == b'y' {
            return i;
        }
        i += 1;
    }
    panic!("Row has a body column")
}

/// The savepoint a COPY goes back to when the server refuses a row.
const SAVEPOINT: &str = "tasklog_copy";

/// Refused rows one COPY may quarantine before the batch is given up on
/// (then the error stops the commit as before): each costs a COPY again.
const MAX_REFUSED: usize = 1000;

impl Pending {
    /// Bytes of COPY text held.
    pub(super) fn copy_bytes(&self) -> usize {
        self.copy.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.copy.is_empty() && self.moves.is_empty()
    }

    pub(super) fn clear(&mut self) {
        self.copy.clear();
        self.sources.clear();
        self.files.clear();
        self.moves.clear();
        self.by_file.clear();
    }

    /// Holds a stream batch: its rows, and its checkpoint move merged with
    /// the file's earlier move in this transaction.
    pub(super) fn add(&mut self, host: &str, file_id: i64, b: &StreamBatch) -> Result<()> {
        let new = Move {
            file_id,
            path: b.key.path.clone(),
            expected_offset: b.expected_offset as i64,
            expected_generation: b.expected_generation as i64,
            offset: b.new_offset as i64,
            line_count: b.new_line_count as i64,
            anchor: b.anchor,
            dev: b.dev as i64,
            ino: b.ino as i64,
            generation: b.generation as i64,
            mtime_ns: b.mtime_ns,
        };
        match self.by_file.get(&file_id) {
            Some(&i) => {
                let held = &mut self.moves[i];
                if (held.offset, held.generation) != (new.expected_offset, new.expected_generation)
                {
                    return Err(Error::CheckpointConflict {
                        path: new.path,
                        expected: b.expected_offset,
                    });
                }
                *held = Move {
                    expected_offset: held.expected_offset,
                    expected_generation: held.expected_generation,
                    ..new
                };
            }
            None => {
                self.by_file.insert(file_id, self.moves.len());
                self.moves.push(new);
            }
        }
        if !b.rows.is_empty() {
            self.files.push((
                b.key.task_id.clone(),
                b.key.path.clone(),
                b.generation as i64,
            ));
        }
        for r in &b.rows {
            self.sources.push(Source {
                start: self.copy.len(),
                file: self.files.len() - 1,
                offset: r.offset() as i64,
                line: r.line() as i64,
                length: r.body().len() as i64,
            });
            copy_row(
                &mut self.copy,
                host,
                file_id,
                &b.key.task_id,
                &b.key.name,
                r,
            );
        }
        Ok(())
    }

    /// Sends the moves, then the rows. A move that finds another
    /// checkpoint than it expects fails the transaction. Inside a
    /// transaction (`in_tx`), rows the server refuses are quarantined and
    /// the rest sent (see the module doc).
    pub(super) fn send(
        &mut self,
        client: &mut Client,
        target: &PgTarget,
        now: &String,
        host: &str,
        in_tx: bool,
    ) -> Result<()> {
        for chunk in self.moves.chunks(MOVES_PER_STATEMENT) {
            let moved = client
                .execute(&update_sql(chunk.len()), &move_params(chunk, now))
                .map_err(|e| target.error("moving checkpoints", e))?;
            if moved as usize != chunk.len() {
                return Err(conflict(client, target, chunk));
            }
        }
        let mut refused = Vec::new();
        while !self.copy.is_empty() {
            if in_tx {
                client
                    .batch_execute(&format!("SAVEPOINT {SAVEPOINT}"))
                    .map_err(|e| target.error("copying records", e))?;
            }
            let copy = &self.copy;
            let sent = client.copy_in(copy_sql().as_str()).and_then(|mut writer| {
                // A failed write is the connection's; `finish` reports
                // it, or the server's own error about the data.
                let _ = std::io::Write::write_all(&mut writer, copy);
                writer.finish()
            });
            let e = match sent {
                Ok(_) => break,
                Err(e) => e,
            };
            let line = refused_line(&e).filter(|&n| in_tx && n <= self.sources.len());
            let (Some(line), true) = (line, refused.len() < MAX_REFUSED) else {
                return Err(target.error("copying records", e));
            };
            client
                .batch_execute(&format!("ROLLBACK TO SAVEPOINT {SAVEPOINT}"))
                .map_err(|e| target.error("copying records", e))?;
            let (source, text) = self.remove_line(line - 1);
            let db = e.as_db_error();
            let reason = format!(
                "PostgreSQL refused the value (SQLSTATE {}): {}",
                db.map_or("", |d| d.code().code()),
                db.map_or_else(|| e.to_string(), |d| d.message().to_owned())
            );
            let (task_id, path, generation) = &self.files[source.file];
            tracing::warn!(path = %path, offset = source.offset, line = source.line, "{reason}; the line is quarantined");
            // Its first bytes, as COPY text (tabs between values are raw:
            // those inside a value are escaped).
            let body = text
                .split(|&b| b == b'\t')
                .nth(BODY_FIELD)
                .unwrap_or_default();
            let prefix = body[..body.len().min(Quarantine::PREFIX_LEN)]
                .escape_ascii()
                .to_string();
            refused.push((
                task_id.clone(),
                path.clone(),
                *generation,
                source,
                reason,
                prefix,
            ));
        }
        // After the COPY: a ROLLBACK TO would have undone them.
        for (task_id, path, generation, q, reason, prefix) in &refused {
            client
                .execute(
                    r#"INSERT INTO ingest_errors (host_id, task_id, path, generation, "offset", length, line, reason, prefix, detected_at)
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING"#,
                    &[&host, task_id, path, generation, &q.offset, &q.length, &q.line, reason, prefix, now],
                )
                .map_err(|e| target.error("quarantining", e))?;
        }
        self.clear();
        Ok(())
    }

    /// Takes line `i` (0-based) out of the COPY buffer: its source and
    /// its text (without the newline).
    fn remove_line(&mut self, i: usize) -> (Source, Vec<u8>) {
        let source = self.sources.remove(i);
        let end = self
            .sources
            .get(i)
            .map_or(self.copy.len(), |next| next.start);
        let len = end - source.start;
        let mut text: Vec<u8> = self.copy.drain(source.start..end).collect();
        text.pop();
        for later in &mut self.sources[i..] {
            later.start -= len;
        }
        (source, text)
    }
}

/// The 1-based COPY line of a value the server refused: a data exception
/// (SQLSTATE class 22, e.g. 22003 numeric overflow, 22P02 invalid text,
/// 22021 bad encoding, 22P05 untranslatable character) whose context names
/// `COPY records, line N`.
fn refused_line(e: &postgres::Error) -> Option<usize> {
    let db = e.as_db_error()?;
    if !db.code().code().starts_with("22") {
        return None;
    }
    let context = db.where_()?;
    let rest = &context[context.find("COPY records, line ")? + "COPY records, line ".len()..];
    let digits = rest.split(|c: char| !c.is_ascii_digit()).next()?;
    digits.parse().ok().filter(|&n| n > 0)
}

/// The move that did not find its expected checkpoint, as an error.
fn conflict(client: &mut Client, target: &PgTarget, moves: &[Move]) -> Error {
    for m in moves {
        let found = client.query_opt(
            r#"SELECT 1 FROM files WHERE file_id = $1 AND "offset" = $2 AND generation = $3"#,
            &[&m.file_id, &m.expected_offset, &m.expected_generation],
        );
        match found {
            Ok(Some(_)) => continue,
            Ok(None) => {
                return Error::CheckpointConflict {
                    path: m.path.clone(),
                    expected: m.expected_offset as u64,
                }
            }
            Err(e) => return target.error("reading checkpoints", e),
        }
    }
    Error::CheckpointConflict {
        path: moves.first().map_or_else(String::new, |m| m.path.clone()),
        expected: moves.first().map_or(0, |m| m.expected_offset as u64),
    }
}

/// `UPDATE files ... FROM (VALUES ...)` for `n` moves: each row must still
/// hold its expected offset and generation.
fn update_sql(n: usize) -> String {
    let values: Vec<String> = (0..n)
        .map(|i| {
            let p: Vec<String> = (1..=MOVE_PARAMS)
                .map(|k| format!("${}::bigint", i * MOVE_PARAMS + k))
                .collect();
            format!("({}, ${}::text)", p.join(", "), n * MOVE_PARAMS + 1)
        })
        .collect();
    format!(
        r#"UPDATE files f SET "offset" = v.new_offset, size = v.new_offset, line_count = v.line_count,
               anchor_hash = v.anchor, dev = v.dev, ino = v.ino, generation = v.generation,
               mtime_ns = v.mtime_ns, updated_at = v.now
          FROM (VALUES {}) AS v(file_id, expected_offset, expected_generation, new_offset, line_count,
                                anchor, dev, ino, generation, mtime_ns, now)
         WHERE f.file_id = v.file_id AND f."offset" = v.expected_offset AND f.generation = v.expected_generation"#,
        values.join(", ")
    )
}

fn move_params<'a>(moves: &'a [Move], now: &'a String) -> Vec<&'a (dyn ToSql + Sync)> {
    let mut params: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(moves.len() * MOVE_PARAMS + 1);
    for m in moves {
        params.extend([
            &m.file_id as &(dyn ToSql + Sync),
            &m.expected_offset,
            &m.expected_generation,
            &m.offset,
            &m.line_count,
            &m.anchor,
            &m.dev,
            &m.ino,
            &m.generation,
            &m.mtime_ns,
        ]);
    }
    params.push(now);
    params
}

/// `COPY records (...) FROM STDIN`: the batch's columns, then the row's.
fn copy_sql() -> String {
    let columns: Vec<String> = ["host_id", "file_id", "task_id", "stream"]
        .iter()
        .chain(Row::COLUMNS)
        .map(|c| format!("\"{c}\""))
        .collect();
    format!("COPY records ({}) FROM STDIN", columns.join(", "))
}

/// One COPY text line of a record.
fn copy_row(out: &mut Vec<u8>, host: &str, file_id: i64, task_id: &str, stream: &str, r: &Row) {
    copy_escape(host, out);
    let _ = std::io::Write::write_fmt(out, format_args!("\t{file_id}\t"));
    copy_escape(task_id, out);
    out.push(b'\t');
    copy_escape(stream, out);
    r.copy_text(out);
    out.push(b'\n');
}
