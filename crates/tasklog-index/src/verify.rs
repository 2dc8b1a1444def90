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

use crate::batch::Row;
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

/// Compares the index at `db` with the files under `root`. Tasks moved to
/// a monthly archive are not this database's: their folders are skipped
/// (`--archives`, [`verify_with_archives`], compares them).
pub fn verify(root: &Path, db: &Path, line_limit: u64) -> Result<VerifyReport> {
    let conn = open_read_only(db)?;
    let archived = archived_tasks(&conn, db, None)?;
    let mut report = VerifyReport::default();
    let mut known = BTreeSet::new();
    verify_db(&conn, db, root, line_limit, None, &mut report, &mut known)?;
    report.unindexed = unindexed_files(root, &known, &archived);
    report.equal = report.is_equal();
    Ok(report)
}

/// [`verify`] of the union of the main database and every monthly archive:
/// the main database's files, then each archive's files of the tasks the
/// main database marks as archived there; every file on disk must be
/// known to exactly one of them.
pub fn verify_with_archives(root: &Path, db: &Path, line_limit: u64) -> Result<VerifyReport> {
    let conn = open_read_only(db)?;
    let mut report = VerifyReport::default();
    let mut known = BTreeSet::new();
    verify_db(&conn, db, root, line_limit, None, &mut report, &mut known)?;
    let mut counted: BTreeSet<String> = BTreeSet::new();
    for (month, path) in crate::union::archives(db)? {
        if !path.exists() {
            return Err(Error::ArchiveMissing {
                path,
                month: month.to_string(),
            });
        }
        let tasks = archived_tasks(&conn, db, Some(month.as_str()))?;
        let archive = open_read_only(&path)?;
        let present = archived_tasks_present(&archive, &path, &tasks)?;
        for task in tasks.difference(&present) {
            report.derived.push(format!(
                "{task}: archived in {month} but missing from {}",
                path.display()
            ));
        }
        verify_db(
            &archive,
            &path,
            root,
            line_limit,
            Some(&tasks),
            &mut report,
            &mut known,
        )?;
        counted.extend(tasks);
    }
    // Paths known twice (a task in two databases) would be counted twice.
    let mut seen = BTreeSet::new();
    for f in &report.files {
        if !seen.insert(f.path.clone()) {
            report
                .derived
                .push(format!("{}: indexed in more than one database", f.path));
        }
    }
    report.unindexed = unindexed_files(root, &known, &BTreeSet::new());
    report.equal = report.is_equal();
    Ok(report)
}

impl VerifyReport {
    fn is_equal(&self) -> bool {
        self.unindexed.is_empty()
            && self.derived.is_empty()
            && self.files.iter().all(|f| f.differences.is_empty())
    }
}

/// Tasks the main database marks as archived (in `month`, or any), and
/// those being moved (their folders are not unindexed either).
fn archived_tasks(conn: &Connection, db: &Path, month: Option<&str>) -> Result<BTreeSet<String>> {
    let sql = match month {
        Some(_) => "SELECT task_id FROM archived_tasks WHERE state = 'archived' AND month = ?1",
        None => "SELECT task_id FROM archived_tasks WHERE state = 'archived' AND ?1 IS NULL",
    };
    // A database older than migration 8 (read-only opens do not migrate)
    // has archived nothing.
    let Ok(mut stmt) = conn.prepare(sql) else {
        return Ok(BTreeSet::new());
    };
    stmt.query_map([month], |r| r.get(0))
        .and_then(|rows| rows.collect())
        .map_err(|e| Error::sqlite(db, "reading archived tasks", e))
}

fn archived_tasks_present(
    conn: &Connection,
    db: &Path,
    tasks: &BTreeSet<String>,
) -> Result<BTreeSet<String>> {
    let all: BTreeSet<String> = conn
        .prepare("SELECT task_id FROM tasks")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(|e| Error::sqlite(db, "reading tasks", e))?;
    Ok(all.intersection(tasks).cloned().collect())
}

/// Compares the files of one database (of `only` these tasks, when given)
/// and its rollups, adding to `report` and to `known` (paths compared).
fn verify_db(
    conn: &Connection,
    db: &Path,
    root: &Path,
    line_limit: u64,
    only: Option<&BTreeSet<String>>,
    report: &mut VerifyReport,
    known: &mut BTreeSet<String>,
) -> Result<()> {
    // One read transaction: the comparison sees a single committed state.
    conn.execute_batch("BEGIN")
        .map_err(|e| Error::sqlite(db, "starting read transaction", e))?;
    let files: Vec<(i64, String, String, String, i64)> = conn
        .prepare(r#"SELECT file_id, path, task_id, kind, "offset" FROM files ORDER BY path"#)
        .and_then(|mut s| {
            s.query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(|e| Error::sqlite(db, "reading checkpoints", e))?;
    for (file_id, path, task, kind, offset) in files {
        if only.is_some_and(|o| !o.contains(&task)) {
            continue;
        }
        known.insert(path.clone());
        let abs = root.join(&path);
        let file_report = if kind == "stream" {
            verify_stream(conn, db, &abs, &path, file_id, offset as u64, line_limit)?
        } else {
            verify_document(conn, db, &abs, &path)?
        };
        report.files.push(file_report);
    }
    report.derived.extend(
        crate::rollups::differences(conn).map_err(|e| Error::sqlite(db, "checking rollups", e))?,
    );
    let _ = conn.execute_batch("COMMIT");
    Ok(())
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
    stream_report(
        abs,
        path,
        offset,
        line_limit,
        index_rows(conn, db, file_id)?,
    )
}

/// Compares the stream at `abs` (indexed up to `offset`) with `rows`, its
/// `(offset, body)` rows in the index in file order. Shared with the
/// PostgreSQL index's verify.
pub(crate) fn stream_report(
    abs: &Path,
    path: &str,
    offset: u64,
    line_limit: u64,
    rows: Vec<(u64, String)>,
) -> Result<FileReport> {
    let mut report = FileReport {
        path: path.to_owned(),
        kind: "stream".into(),
        file_bytes: 0,
        indexed_bytes: offset,
        lines: 0,
        rows: rows.len() as u64,
        quarantined: 0,
        file_hash: String::new(),
        index_hash: digest(rows.iter().map(|(o, body)| (*o, body.as_str()))),
        differences: Vec::new(),
    };
    // The plain file is the stream while it exists; otherwise its `.gz`
    // (see `compressed.rs`), read through the decoder.
    let gz = crate::compressed::gz_path(abs);
    let (source, shown): (Box<dyn std::io::Read>, &Path) = match File::open(abs) {
        Ok(f) => (Box::new(f), abs),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && gz.exists() => {
            match crate::compressed::open_decoder(&gz) {
                Ok(d) => (Box::new(d), &gz),
                Err(e) => {
                    report
                        .differences
                        .push(format!("{}: cannot be read: {e}", gz.display()));
                    return Ok(report);
                }
            }
        }
        Err(e) => {
            report.differences.push(format!("file cannot be read: {e}"));
            return Ok(report);
        }
    };
    let side = match file_rows(source, shown, offset, line_limit) {
        Ok(side) => side,
        // A corrupt `.gz` is a difference to report, not a reason to stop.
        Err(e) => {
            let cause = std::error::Error::source(&e).map(|c| format!(": {c}"));
            report
                .differences
                .push(format!("{e}{}", cause.unwrap_or_default()));
            return Ok(report);
        }
    };
    report.file_bytes = side.bytes;
    if report.file_bytes < offset {
        report.differences.push(format!(
            "file is {} bytes but {offset} bytes were indexed (truncated since)",
            report.file_bytes
        ));
    }
    report.lines = side.lines;
    report.quarantined = side.quarantined;
    report.file_hash = digest(side.rows.iter().map(|r| (r.offset, r.body.as_str())));
    if side.pending_lines > 0 {
        report.differences.push(format!(
            "{} complete line(s) after byte {offset} not indexed yet",
            side.pending_lines
        ));
    }
    report.differences.extend(compare(&side.rows, &rows));
    Ok(report)
}

/// `(offset, body)` of a file's rows in `records`, in file order.
fn index_rows(conn: &Connection, db: &Path, file_id: i64) -> Result<Vec<(u64, String)>> {
    let failed = |e| Error::sqlite(db, "reading records", e);
    let mut stmt = conn
        .prepare(r#"SELECT "offset", body FROM records WHERE file_id = ?1 ORDER BY "offset""#)
        .map_err(failed)?;
    let rows = stmt
        .query_map([file_id], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)))
        .and_then(|rows| rows.collect())
        .map_err(failed)?;
    Ok(rows)
}

/// A content hash of `(offset, body)` pairs, for the report.
fn digest<'a>(rows: impl Iterator<Item = (u64, &'a str)>) -> String {
    let mut hash = Xxh3::new();
    for (offset, body) in rows {
        hash.update(&offset.to_le_bytes());
        hash.update(body.as_bytes());
    }
    format!("{:016x}", hash.digest())
}

/// What the file says the rows should be, read again from byte 0.
struct FileSide {
    /// The rows its lines up to the checkpoint make.
    rows: Vec<Row>,
    /// Complete lines up to the checkpoint.
    lines: u64,
    /// Of those, quarantined.
    quarantined: u64,
    /// Complete lines after the checkpoint (lag, not a difference in kind).
    pending_lines: u64,
    /// Bytes in the file (decompressed, for a `.gz`).
    bytes: u64,
}

/// Classifies every complete line of `file` as the indexer would, with
/// the indexer's framing (`\r\n` endings, a first-line byte order mark).
fn file_rows(
    file: impl std::io::Read,
    abs: &Path,
    offset: u64,
    line_limit: u64,
) -> Result<FileSide> {
    let mut reader = BufReader::new(file);
    let mut side = FileSide {
        rows: Vec::new(),
        lines: 0,
        quarantined: 0,
        pending_lines: 0,
        bytes: 0,
    };
    let mut errors = Vec::new();
    let mut pos = 0u64;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| Error::io(abs, "reading stream", e))?;
        side.bytes += n as u64;
        if n == 0 || buf.last() != Some(&b'\n') {
            break; // end, or an incomplete last line (not a difference)
        }
        if pos >= offset {
            side.pending_lines += 1;
        } else {
            side.lines += 1;
            let (ranges, _) = tasklog_format::complete_lines(&buf, pos == 0);
            let range = ranges.first().cloned().unwrap_or(0..n - 1);
            classify(
                &buf[range.clone()],
                pos + range.start as u64,
                side.lines,
                line_limit,
                "",
                &mut side.rows,
                &mut errors,
            );
        }
        pos += n as u64;
    }
    side.quarantined = errors.len() as u64;
    Ok(side)
}

/// Most differences listed per file; a count says how many more.
const LISTED: usize = 100;

/// Walks the file's rows and the index's rows in offset order, naming
/// every row that is missing, extra or different.
fn compare(file: &[Row], index: &[(u64, String)]) -> Vec<String> {
    let mut out = Vec::new();
    let mut found = 0;
    let (mut fi, mut xi) = (0, 0);
    while fi < file.len() || xi < index.len() {
        let (row, indexed) = (file.get(fi), index.get(xi));
        let diff = match (row, indexed) {
            (Some(row), Some((o, body))) if row.offset == *o => {
                fi += 1;
                xi += 1;
                (row.body != *body).then(|| format!("byte {o}: row body differs from the file"))
            }
            (Some(row), next) if next.is_none_or(|(o, _)| row.offset < *o) => {
                fi += 1;
                Some(format!(
                    "byte {} (line {}): in the file, missing from records",
                    row.offset, row.line
                ))
            }
            (_, Some((o, _))) => {
                xi += 1;
                Some(format!("byte {o}: in records, not a record in the file"))
            }
            (_, None) => break, // both ends reached (the loop condition)
        };
        if let Some(d) = diff {
            found += 1;
            if found <= LISTED {
                out.push(d);
            }
        }
    }
    if found > LISTED {
        out.push(format!("... and {} more", found - LISTED));
    }
    out
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
    Ok(document_report(abs, path, body))
}

/// Compares the document at `abs` with `body`, its indexed version (if
/// any). Shared with the PostgreSQL index's verify.
pub(crate) fn document_report(abs: &Path, path: &str, body: Option<String>) -> FileReport {
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
    report
}

/// Whether a `.gz` holds a complete line (an unreadable one counts: it
/// must be reported, not hidden).
fn compressed_has_line(gz: &Path) -> bool {
    let Ok(mut reader) = crate::compressed::open_decoder(gz) else {
        return true;
    };
    let mut line = Vec::new();
    std::io::BufRead::read_until(&mut reader, b'\n', &mut line)
        .map_or(true, |_| line.ends_with(b"\n"))
}

/// Stream files with at least one complete line, and documents, that have no checkpoint.
pub(crate) fn unindexed_files(
    root: &Path,
    known: &BTreeSet<String>,
    archived: &BTreeSet<String>,
) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(root) else {
        return out;
    };
    for task in tasks.flatten() {
        let Some(task_name) = task.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if task_name.starts_with('.')
            || tasklog_format::TaskId::new(&task_name).is_err()
            || archived.contains(&task_name)
        {
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
            let (has_content, logical) = match classify_entry(&name) {
                EntryKind::Stream(_) => (
                    std::fs::read(entry.path()).is_ok_and(|b| b.contains(&b'\n')),
                    rel.clone(),
                ),
                EntryKind::Document(_) => (true, rel.clone()),
                // A compressed stream is known under its plain name.
                EntryKind::Ignored => match tasklog_format::compressed_stream(&name) {
                    Some(stem) => (
                        compressed_has_line(&entry.path()),
                        format!("{task_name}/{stem}.jsonl"),
                    ),
                    None => (false, rel.clone()),
                },
            };
            if has_content && !known.contains(&logical) {
                out.push(rel);
            }
        }
    }
    out.sort();
    out
}
