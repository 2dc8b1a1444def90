//! `tasklog verify` on SQLite: proves the index equals the files, or lists
//! every difference.
//!
//! Each stream is re-read from byte 0 to its checkpoint and every line is
//! classified again (the core's `verify`); the `(offset, body)` pairs
//! expected from the file are compared one by one with the rows of
//! `records`, and a content hash of each side is reported.

use std::collections::BTreeSet;
use std::path::Path;

use rusqlite::Connection;
use tasklog_tail::verify::{
    document_report, stream_report, unindexed_files, FileReport, VerifyReport,
};
use tasklog_tail::{Error, Result};

use crate::db::open_read_only;
use crate::error::sqlite_error;

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
        .map_err(|e| sqlite_error(db, "reading archived tasks", e))
}

fn archived_tasks_present(
    conn: &Connection,
    db: &Path,
    tasks: &BTreeSet<String>,
) -> Result<BTreeSet<String>> {
    let all: BTreeSet<String> = conn
        .prepare("SELECT task_id FROM tasks")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(|e| sqlite_error(db, "reading tasks", e))?;
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
        .map_err(|e| sqlite_error(db, "starting read transaction", e))?;
    let files: Vec<(i64, String, String, String, i64)> = conn
        .prepare(r#"SELECT file_id, path, task_id, kind, "offset" FROM files ORDER BY path"#)
        .and_then(|mut s| {
            s.query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(|e| sqlite_error(db, "reading checkpoints", e))?;
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
        crate::rollups::differences(conn).map_err(|e| sqlite_error(db, "checking rollups", e))?,
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

/// `(offset, body)` of a file's rows in `records`, in file order.
fn index_rows(conn: &Connection, db: &Path, file_id: i64) -> Result<Vec<(u64, String)>> {
    let failed = |e| sqlite_error(db, "reading records", e);
    let mut stmt = conn
        .prepare(r#"SELECT "offset", body FROM records WHERE file_id = ?1 ORDER BY "offset""#)
        .map_err(failed)?;
    let rows = stmt
        .query_map([file_id], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)))
        .and_then(|rows| rows.collect())
        .map_err(failed)?;
    Ok(rows)
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
        .map_err(|e| sqlite_error(db, "reading documents", e))?;
    Ok(document_report(abs, path, body))
}
