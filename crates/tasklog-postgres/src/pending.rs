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

use std::collections::HashMap;

use postgres::types::ToSql;
use postgres::Client;

use super::PgTarget;
use tasklog_tail::batch::{copy_escape, Row, StreamBatch};
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

/// The held-back rows and moves of the open transaction.
#[derive(Default)]
pub(super) struct Pending {
    copy: Vec<u8>,
    moves: Vec<Move>,
    by_file: HashMap<i64, usize>,
}

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
        for r in &b.rows {
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
    /// checkpoint than it expects fails the transaction.
    pub(super) fn send(
        &mut self,
        client: &mut Client,
        target: &PgTarget,
        now: &String,
    ) -> Result<()> {
        for chunk in self.moves.chunks(MOVES_PER_STATEMENT) {
            let moved = client
                .execute(&update_sql(chunk.len()), &move_params(chunk, now))
                .map_err(|e| target.error("moving checkpoints", e))?;
            if moved as usize != chunk.len() {
                return Err(conflict(client, target, chunk));
            }
        }
        if !self.copy.is_empty() {
            let copy = &self.copy;
            client
                .copy_in(copy_sql().as_str())
                .and_then(|mut writer| {
                    // A failed write is the connection's; `finish` reports
                    // it, or the server's own error about the data.
                    let _ = std::io::Write::write_all(&mut writer, copy);
                    writer.finish()
                })
                .map_err(|e| target.error("copying records", e))?;
        }
        self.clear();
        Ok(())
    }
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
