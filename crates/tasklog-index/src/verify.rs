//! `tasklog verify`: proves the index equals the files, or lists every
//! difference.
//!
//! Each stream is re-read from byte 0 to its checkpoint and every line is
//! classified again; the `(offset, body)` pairs expected from the file are
//! compared one by one with the rows of `records`, and a content hash of
//! each side is reported. Complete lines after the checkpoint are lag.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use rusqlite::Connection;
use serde::Serialize;
use tasklog_format::{classify_entry, EntryKind};
use xxhash_rust::xxh3::Xxh3;

use crate::db::open_read_only;
use crate::error::{Error, Result};
use crate::tail::classify;

/// The comparison of one file with its rows.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    /// `<task>/<file>`, relative to the root.
    pub path: String,
    /// `stream` or `document`.
    pub kind: String,
    /// Length of the file now.
    pub file_bytes: u64,
    /// Bytes the checkpoint says were indexed.
    pub indexed_bytes: u64,
    /// Complete lines up to the checkpoint.
    pub lines: u64,
    /// Rows in `records` for the file.
    pub rows: u64,
    /// Quarantined lines up to the checkpoint.
    pub quarantined: u64,
    /// Hash of what the file says the rows should be.
    pub file_hash: String,
    /// Hash of the rows.
    pub index_hash: String,
    /// Every difference found; empty when equal.
    pub differences: Vec<String>,
}

/// The whole comparison.
#[derive(Debug, Clone, Serialize, Default)]
pub struct VerifyReport {
    /// One entry per file the index follows.
    pub files: Vec<FileReport>,
    /// Files on disk with content that the index does not know.
    pub unindexed: Vec<String>,
    /// Rows where a rollup (`cost_rollup`, `cost_daily`) or `api_calls`
    /// differs from a fresh aggregation of its source.
    pub derived: Vec<String>,
    /// Whether the index equals the files.
    pub equal: bool,
}

/// Compares the index at `db` with the files under `root`.
pub fn verify(root: &Path, db: &Path, line_limit: u64) -> Result<VerifyReport> {
    let conn = open_read_only(db)?;
    // One read transaction: the comparison sees a single committed state.
    conn.execute_batch("BEGIN")
        .map_err(|e| Error::sqlite(db, "starting read transaction", e))?;
    let files: Vec<(i64, String, String, i64)> = conn
        .prepare(r#"SELECT file_id, path, kind, "offset" FROM files ORDER BY path"#)
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(|e| Error::sqlite(db, "reading checkpoints", e))?;
    let mut report = VerifyReport::default();
    let known: BTreeSet<String> = files.iter().map(|f| f.1.clone()).collect();
    for (file_id, path, kind, offset) in files {
        let abs = root.join(&path);
        let file_report = if kind == "stream" {
            verify_stream(&conn, db, &abs, &path, file_id, offset as u64, line_limit)?
        } else {
            verify_document(&conn, db, &abs, &path)?
        };
        report.files.push(file_report);
    }
    report.unindexed = unindexed_files(root, &known);
    report.derived =
        crate::rollups::differences(&conn).map_err(|e| Error::sqlite(db, "checking rollups", e))?;
    report.equal = report.unindexed.is_empty()
        && report.derived.is_empty()
        && report.files.iter().all(|f| f.differences.is_empty());
    Ok(report)
}

fn verify_stream(
    conn: &Connection,
    db: &Path,
    abs: &Path,
    path: &str,
    file_id: i64,
    offset: u64,
    line_limit: u64,
) -> Result<FileReport> {
    let mut report = FileReport {
        path: path.to_owned(),
        kind: "stream".into(),
        file_bytes: 0,
        indexed_bytes: offset,
        lines: 0,
        rows: 0,
        quarantined: 0,
        file_hash: String::new(),
        index_hash: String::new(),
        differences: Vec::new(),
    };
    let mut index_hash = Xxh3::new();
    let mut stmt = conn
        .prepare(r#"SELECT "offset", body FROM records WHERE file_id = ?1 ORDER BY "offset""#)
        .map_err(|e| Error::sqlite(db, "reading records", e))?;
    let rows: Vec<(u64, String)> = stmt
        .query_map([file_id], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)))
        .and_then(|rows| rows.collect())
        .map_err(|e| Error::sqlite(db, "reading records", e))?;
    for (o, body) in &rows {
        index_hash.update(&o.to_le_bytes());
        index_hash.update(body.as_bytes());
    }
    report.rows = rows.len() as u64;
    report.index_hash = format!("{:016x}", index_hash.digest());

    let file = match File::open(abs) {
        Ok(f) => f,
        Err(e) => {
            report.differences.push(format!("file cannot be read: {e}"));
            return Ok(report);
        }
    };
    report.file_bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
    if report.file_bytes < offset {
        report.differences.push(format!(
            "file is {} bytes but {offset} bytes were indexed (truncated since)",
            report.file_bytes
        ));
    }
    let mut reader = BufReader::new(file);
    let mut pos = 0u64;
    let mut line_no = 0u64;
    let mut expected = Vec::new();
    let mut errors = Vec::new();
    let mut buf = Vec::new();
    let mut pending_lines = 0u64;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| Error::io(abs, "reading stream", e))?;
        if n == 0 || buf.last() != Some(&b'\n') {
            break; // end, or an incomplete last line (not a difference)
        }
        if pos >= offset {
            pending_lines += 1;
        } else {
            line_no += 1;
            // The indexer's framing: `\r\n` endings, a first-line mark.
            let (ranges, _) = tasklog_format::complete_lines(&buf, pos == 0);
            let range = ranges.first().cloned().unwrap_or(0..n - 1);
            classify(
                &buf[range.clone()],
                pos + range.start as u64,
                line_no,
                line_limit,
                "",
                &mut expected,
                &mut errors,
            );
        }
        pos += n as u64;
    }
    report.lines = line_no;
    report.quarantined = errors.len() as u64;
    let mut file_hash = Xxh3::new();
    for row in &expected {
        file_hash.update(&row.offset.to_le_bytes());
        file_hash.update(row.body.as_bytes());
    }
    report.file_hash = format!("{:016x}", file_hash.digest());
    if pending_lines > 0 {
        report.differences.push(format!(
            "{pending_lines} complete line(s) after byte {offset} not indexed yet"
        ));
    }
    let mut index_rows = rows.iter().peekable();
    let mut file_rows = expected.iter().peekable();
    let mut listed = 0;
    loop {
        let diff = match (file_rows.peek(), index_rows.peek()) {
            (None, None) => break,
            (Some(f), Some((o, body))) if f.offset == *o => {
                let d =
                    (f.body != *body).then(|| format!("byte {o}: row body differs from the file"));
                file_rows.next();
                index_rows.next();
                d
            }
            (Some(f), Some((o, _))) if f.offset < *o => {
                let d = format!(
                    "byte {} (line {}): in the file, missing from records",
                    f.offset, f.line
                );
                file_rows.next();
                Some(d)
            }
            (Some(f), None) => {
                let d = format!(
                    "byte {} (line {}): in the file, missing from records",
                    f.offset, f.line
                );
                file_rows.next();
                Some(d)
            }
            (_, Some((o, _))) => {
                let d = format!("byte {o}: in records, not a record in the file");
                index_rows.next();
                Some(d)
            }
        };
        if let Some(d) = diff {
            listed += 1;
            if listed <= 100 {
                report.differences.push(d);
            }
        }
    }
    if listed > 100 {
        report
            .differences
            .push(format!("... and {} more", listed - 100));
    }
    Ok(report)
}

fn verify_document(conn: &Connection, db: &Path, abs: &Path, path: &str) -> Result<FileReport> {
    let (task, name) = path.split_once('/').unwrap_or((path, ""));
    let name = name.strip_suffix(".json").unwrap_or(name);
    let body: Option<String> = conn
        .query_row(
            "SELECT body FROM documents WHERE task_id = ?1 AND name = ?2",
            [task, name],
            |r| r.get(0),
        )
        .map(Some)
        .or_else(|e| {
            if e == rusqlite::Error::QueryReturnedNoRows {
                Ok(None)
            } else {
                Err(e)
            }
        })
        .map_err(|e| Error::sqlite(db, "reading documents", e))?;
    let mut report = FileReport {
        path: path.to_owned(),
        kind: "document".into(),
        file_bytes: 0,
        indexed_bytes: body.as_ref().map_or(0, |b| b.len() as u64),
        lines: 0,
        rows: u64::from(body.is_some()),
        quarantined: 0,
        file_hash: String::new(),
        index_hash: body
            .as_ref()
            .map(|b| format!("{:016x}", xxhash_rust::xxh3::xxh3_64(b.as_bytes())))
            .unwrap_or_default(),
        differences: Vec::new(),
    };
    match std::fs::read(abs) {
        Ok(bytes) => {
            report.file_bytes = bytes.len() as u64;
            report.file_hash = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&bytes));
            let json = tasklog_format::strip_byte_order_mark(&bytes);
            let valid = tasklog_format::validate_document(json).is_ok();
            match (&body, valid) {
                (Some(b), true) if b.as_bytes() != json => report
                    .differences
                    .push("indexed body differs from the file".into()),
                (None, true) => report
                    .differences
                    .push("valid document not in documents".into()),
                (_, false) => report.quarantined = 1,
                _ => {}
            }
        }
        Err(e) => report.differences.push(format!("file cannot be read: {e}")),
    }
    Ok(report)
}

/// Stream files with at least one complete line, and documents, that have no checkpoint.
fn unindexed_files(root: &Path, known: &BTreeSet<String>) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(root) else {
        return out;
    };
    for task in tasks.flatten() {
        let Some(task_name) = task.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if task_name.starts_with('.') || tasklog_format::TaskId::new(&task_name).is_err() {
            continue;
        }
        if !task.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            continue;
        }
        let Ok(entries) = std::fs::read_dir(task.path()) else {
            continue;
        };
        for entry in entries.flatten() {
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if !entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
                continue;
            }
            let rel = format!("{task_name}/{name}");
            let has_content = match classify_entry(&name) {
                EntryKind::Stream(_) => {
                    std::fs::read(entry.path()).is_ok_and(|b| b.contains(&b'\n'))
                }
                EntryKind::Document(_) => true,
                EntryKind::Ignored => false,
            };
            if has_content && !known.contains(&rel) {
                out.push(rel);
            }
        }
    }
    out.sort();
    out
}
