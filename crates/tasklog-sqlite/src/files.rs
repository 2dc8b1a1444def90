//! The `files` table: one checkpoint row per followed file, in the same
//! database as its rows so both commit in one transaction. Every read and
//! write of the table is here: the reader loads the checkpoints at open;
//! the sink registers files, compare-and-sets and moves checkpoints, and
//! forgets files that are gone.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};

use tasklog_tail::batch::{DocBatch, FileKey, FileKind, StreamBatch};
use tasklog_tail::checkpoint::Checkpoint;
use tasklog_tail::{Error, Result};

/// Every checkpoint, by path (`task/file`).
pub(crate) fn load(conn: &Connection, db: &Path) -> Result<BTreeMap<String, Checkpoint>> {
    let failed = |e| crate::error::sqlite_error(db, "loading checkpoints", e);
    let mut stmt = conn
        .prepare(
            r#"SELECT path, task_id, name, kind, coalesce(dev, 0), coalesce(ino, 0), generation, "offset",
                      line_count, coalesce(anchor_hash, 0), coalesce(size, 0), coalesce(mtime_ns, 0) FROM files"#,
        )
        .map_err(failed)?;
    let rows = stmt
        .query_map([], |r| {
            let kind = if r.get::<_, String>(3)? == "document" {
                FileKind::Document
            } else {
                FileKind::Stream
            };
            Ok(Checkpoint {
                key: FileKey {
                    path: r.get(0)?,
                    task_id: r.get(1)?,
                    name: r.get(2)?,
                    kind,
                },
                dev: r.get::<_, i64>(4)? as u64,
                ino: r.get::<_, i64>(5)? as u64,
                generation: r.get::<_, i64>(6)? as u64,
                offset: r.get::<_, i64>(7)? as u64,
                line_count: r.get::<_, i64>(8)? as u64,
                anchor: r.get(9)?,
                size: r.get::<_, i64>(10)? as u64,
                mtime_ns: r.get(11)?,
            })
        })
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(failed)?;
    Ok(rows
        .into_iter()
        .map(|cp| (cp.key.path.clone(), cp))
        .collect())
}

/// `files.path` → `files.file_id`: what the sink needs to insert rows
/// without a lookup. Reloaded after a rollback, since ids assigned inside
/// it are gone.
pub(crate) fn load_ids(conn: &Connection) -> rusqlite::Result<HashMap<String, i64>> {
    let mut stmt = conn.prepare("SELECT path, file_id FROM files")?;
    let ids = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?
        .collect::<rusqlite::Result<HashMap<_, _>>>()?;
    Ok(ids)
}

/// Adds the row of a file seen for the first time; returns its id.
pub(crate) fn register(conn: &Connection, key: &FileKey, now: &str) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "INSERT INTO files (path, task_id, name, kind, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
         RETURNING file_id",
    )?
    .query_row(
        params![key.path, key.task_id, key.name, key.kind.as_str(), now],
        |r| r.get(0),
    )
}

/// The compare-and-set: the row must still hold the offset and generation
/// the reader started from, or nothing of the batch is applied.
pub(crate) fn check(
    conn: &Connection,
    db: &Path,
    file_id: i64,
    key: &FileKey,
    offset: u64,
    generation: u64,
) -> Result<()> {
    let found: Option<(i64, i64)> = conn
        .prepare_cached(r#"SELECT "offset", generation FROM files WHERE file_id = ?1"#)
        .and_then(|mut s| {
            s.query_row([file_id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(|e| crate::error::sqlite_error(db, "reading checkpoint", e))?;
    match found {
        Some((o, g)) if o as u64 == offset && g as u64 == generation => Ok(()),
        _ => Err(Error::CheckpointConflict {
            path: key.path.clone(),
            expected: offset,
        }),
    }
}

/// Moves a stream's checkpoint past the lines of `b`.
pub(crate) fn advance_stream(
    conn: &Connection,
    file_id: i64,
    b: &StreamBatch,
    now: &str,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        r#"UPDATE files SET "offset" = ?2, line_count = ?3, anchor_hash = ?4, dev = ?5, ino = ?6,
               generation = ?7, updated_at = ?8, mtime_ns = ?9, size = ?2 WHERE file_id = ?1"#,
    )?
    .execute(params![
        file_id,
        b.new_offset as i64,
        b.new_line_count as i64,
        b.anchor,
        b.dev as i64,
        b.ino as i64,
        b.generation as i64,
        now,
        b.mtime_ns
    ])
    .map(drop)
}

/// Records the identity, size and hash of the document version just read.
pub(crate) fn advance_document(
    conn: &Connection,
    file_id: i64,
    d: &DocBatch,
    now: &str,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        r#"UPDATE files SET dev = ?2, ino = ?3, size = ?4, mtime_ns = ?5, anchor_hash = ?6, "offset" = ?4, updated_at = ?7
           WHERE file_id = ?1"#,
    )?
    .execute(params![
        file_id,
        d.dev as i64,
        d.ino as i64,
        d.size as i64,
        d.mtime_ns,
        d.hash,
        now
    ])
    .map(drop)
}

/// Drops the row of a file that is gone.
pub(crate) fn forget(conn: &Connection, file_id: i64) -> rusqlite::Result<()> {
    conn.prepare_cached("DELETE FROM files WHERE file_id = ?1")?
        .execute([file_id])
        .map(drop)
}
