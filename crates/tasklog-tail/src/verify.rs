//! `tasklog verify`, the files' side: what each file holds, compared with
//! the rows a store hands over, and the report both stores return.
//!
//! Each stream is re-read from byte 0 to its checkpoint and every line is
//! classified again; the `(offset, body)` pairs expected from the file are
//! compared one by one with the rows of `records`, and a content hash of
//! each side is reported. Complete lines after the checkpoint are lag.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::Serialize;
use tasklog_format::{classify_entry, EntryKind};
use xxhash_rust::xxh3::Xxh3;

use crate::batch::Row;
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

impl VerifyReport {
    /// Whether nothing differs: no unindexed file, no derived difference,
    /// no file difference.
    pub fn is_equal(&self) -> bool {
        self.unindexed.is_empty()
            && self.derived.is_empty()
            && self.files.iter().all(|f| f.differences.is_empty())
    }
}

/// Compares the stream at `abs` (indexed up to `offset`) with `rows`, its
/// `(offset, body)` rows in the index in file order.
pub fn stream_report(
    abs: &Path,
    path: &str,
    offset: u64,
    line_limit: u64,
    rows: Vec<(u64, String)>,
) -> Result<FileReport> {
    stream_report_refusing(abs, path, offset, line_limit, rows, &BTreeSet::new())
}

/// [`stream_report`] for a store that refuses some valid lines (the
/// PostgreSQL index quarantines a value its server refuses): the lines at
/// the `refused` offsets count as quarantined, not as missing rows.
pub fn stream_report_refusing(
    abs: &Path,
    path: &str,
    offset: u64,
    line_limit: u64,
    rows: Vec<(u64, String)>,
    refused: &BTreeSet<u64>,
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
    let mut side = match file_rows(source, shown, offset, line_limit) {
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
    if !refused.is_empty() {
        let before = side.rows.len();
        side.rows.retain(|r| !refused.contains(&r.offset));
        side.quarantined += (before - side.rows.len()) as u64;
    }
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

/// Compares the document at `abs` with `body`, its indexed version (if
/// any). Shared with the PostgreSQL index's verify.
pub fn document_report(abs: &Path, path: &str, body: Option<String>) -> FileReport {
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
pub fn unindexed_files(
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
