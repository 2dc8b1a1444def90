//! Monthly archives: moving the index rows of the tasks that finished in
//! one month into `archive/<db stem>-YYYY-MM.db` beside the database, and
//! back.
//!
//! An archive is a complete index of its tasks: the same migrations, the
//! same views, the derived tables filled by the same triggers (only the
//! source tables are copied; inserting `records` there fills `api_calls`,
//! the rollups, search and the worker tables, and deleting them here
//! empties ours). So `sqlite3`, Python or `tasklog --db <archive> query`
//! read it alone.
//!
//! Two SQLite files cannot commit together, so the move is three
//! transactions per chunk of tasks, its progress in `archived_tasks` of the
//! main database (migration 8), which `--archives` readers follow
//! (`union.rs`): an archive's rows of a task count only once the main
//! database says `archived`.
//!
//! 1. main: the tasks are marked `moving` (their rows still count here);
//! 2. archive: any earlier copy of them is deleted and the rows copied in;
//! 3. main: their rows are deleted and the mark becomes `archived`.
//!
//! A crash between any two leaves each task counted once (here before 3,
//! from the archive after), and running the command again redoes 2 and 3.
//! `unarchive` copies the rows back and drops the mark in one transaction
//! of the main database, then deletes the archive's copy; a copy a crash
//! left behind belongs to no marked task, counts nowhere, and is deleted
//! by the next `archive` or `unarchive` of that month.
//!
//! Both take the database's writer lock: they never run beside a sidecar
//! (`tasklog watch` runs them between two runs of its loop). The sidecar
//! skips archived tasks (see `Tailer::open`); their checkpoints travel
//! with their rows, so an unarchived task is followed from where it was.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection};

use crate::db::{open_for_writing, WriterLock};
use tasklog_tail::{Error, Result};

/// A month written `YYYY-MM`, checked.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Month(String);

impl Month {
    /// Parses `YYYY-MM` (month 01 to 12).
    pub fn parse(s: &str) -> Result<Month> {
        let b = s.as_bytes();
        let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
        let ok = b.len() == 7
            && digits(0..4)
            && b[4] == b'-'
            && digits(5..7)
            && matches!(s[5..7].parse::<u8>(), Ok(1..=12));
        match ok {
            true => Ok(Month(s.to_owned())),
            false => Err(Error::BadMonth {
                month: s.to_owned(),
            }),
        }
    }

    /// The month as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `archive/<db stem>-YYYY-MM.db` beside the database.
pub fn archive_path(db: &Path, month: &Month) -> PathBuf {
    let stem = db.file_stem().and_then(|s| s.to_str()).unwrap_or("index");
    db.parent()
        .unwrap_or(Path::new(""))
        .join("archive")
        .join(format!("{stem}-{month}.db"))
}

/// What one `archive` or `unarchive` did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MoveReport {
    /// The month.
    pub month: String,
    /// The archive database.
    pub archive: PathBuf,
    /// Tasks moved.
    pub tasks: u64,
    /// Their rows of `records`.
    pub records: u64,
}

/// One source table and how its rows name their task. The derived tables
/// are left to the triggers of each database.
struct Moved {
    table: &'static str,
    /// SQL naming the row's task (`t.` is the row).
    task: &'static str,
    /// The rowid column, left for the receiving database to assign.
    id: Option<&'static str>,
    /// Whether `file_id` points into `files` (renumbered through `path`).
    file_id: bool,
}

/// In insertion order: `files` before the rows that point into it, and
/// `records` in their order (the worker triggers look at earlier rows).
const MOVED: &[Moved] = &[
    Moved {
        table: "tasks",
        task: "t.task_id",
        id: None,
        file_id: false,
    },
    Moved {
        table: "files",
        task: "t.task_id",
        id: Some("file_id"),
        file_id: false,
    },
    Moved {
        table: "documents",
        task: "t.task_id",
        id: None,
        file_id: true,
    },
    Moved {
        table: "document_history",
        task: "t.task_id",
        id: Some("history_id"),
        file_id: false,
    },
    Moved {
        table: "file_events",
        task: "substr(t.path, 1, instr(t.path, '/') - 1)",
        id: Some("event_id"),
        file_id: false,
    },
    Moved {
        table: "ingest_errors",
        task: "t.task_id",
        id: Some("error_id"),
        file_id: false,
    },
    Moved {
        table: "superseded_records",
        task: "t.task_id",
        id: Some("record_id"),
        file_id: true,
    },
    Moved {
        table: "records",
        task: "t.task_id",
        id: Some("record_id"),
        file_id: true,
    },
];

/// Tasks per round of the three transactions: bounded transactions, and
/// progress a crash does not undo.
const CHUNK: usize = 200;

/// The sealed tasks of the main database that are not archived, with the
/// month each finished in: `completed_at` of `result.json` in UTC (SQLite's
/// date functions apply its offset), else the file's mtime. One definition
/// for `archive --month` and the months `[retention] archive_after` picks.
macro_rules! finished_tasks {
    () => {
        "SELECT t.task_id AS task_id,
                coalesce(CASE WHEN json_type(d.body, '$.completed_at') = 'text'
                              THEN strftime('%Y-%m', json_extract(d.body, '$.completed_at')) END,
                         strftime('%Y-%m', d.updated_at)) AS month
           FROM main.tasks t
           JOIN main.documents d ON d.task_id = t.task_id AND d.name = 'result'
          WHERE t.task_id NOT IN (SELECT task_id FROM main.archived_tasks WHERE state = 'archived')"
    };
}

const TASKS_OF_MONTH: &str = concat!(
    "SELECT task_id FROM (",
    finished_tasks!(),
    ") WHERE month = ?1 ORDER BY task_id"
);

/// The months before `before` (a `YYYY-MM`) in which tasks of the main
/// database finished: what `[retention] archive_after` archives.
pub fn months_to_archive(db: &Path, before: &Month) -> Result<Vec<Month>> {
    let conn = crate::db::open_read_only(db)?;
    let months: Vec<String> = conn
        .prepare(concat!(
            "SELECT DISTINCT month FROM (",
            finished_tasks!(),
            ") WHERE month < ?1 ORDER BY month"
        ))
        .and_then(|mut s| s.query_map([before.as_str()], |r| r.get(0))?.collect())
        .map_err(|e| crate::error::sqlite_error(db, "listing months to archive", e))?;
    // A month SQLite computed from a strange date is skipped, not archived.
    Ok(months.iter().filter_map(|m| Month::parse(m).ok()).collect())
}

/// Of `tasks`, those the main database marks as archived (or moving), by month.
pub fn archived_among(db: &Path, tasks: &[String]) -> Result<Vec<(String, Month)>> {
    if !db.exists() {
        return Ok(Vec::new());
    }
    let conn = crate::db::open_read_only(db)?;
    let mut found = Vec::new();
    let Ok(mut stmt) = conn.prepare("SELECT month FROM archived_tasks WHERE task_id = ?1") else {
        return Ok(found); // older than migration 8: nothing archived
    };
    for task in tasks {
        let month: Option<String> = stmt
            .query_row([task], |r| r.get(0))
            .map(Some)
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                e => Err(e),
            })
            .map_err(|e| crate::error::sqlite_error(db, "reading archived tasks", e))?;
        if let Some(m) = month.and_then(|m| Month::parse(&m).ok()) {
            found.push((task.clone(), m));
        }
    }
    Ok(found)
}

/// Forgets archived tasks whose folders are about to be removed (`prune`):
/// the mark goes first (the archive's rows then count nowhere), then the
/// archive's rows. Rows of a task still `moving` are in the main database,
/// which the sidecar empties when the folder goes.
pub fn drop_archived(db: &Path, month: &Month, tasks: &[String]) -> Result<()> {
    let (_lock, conn, path) = open_both(db, month, true)?;
    fill_set(&conn, tasks).map_err(|e| crate::error::sqlite_error(db, "listing tasks", e))?;
    conn.execute(
        "DELETE FROM main.archived_tasks WHERE task_id IN (SELECT task_id FROM temp.move_set)",
        [],
    )
    .map_err(|e| crate::error::sqlite_error(db, "unmarking archived tasks", e))?;
    drop_leftovers(&conn, &path, month)
}

/// Moves the tasks that finished in `month` into its archive; `progress`
/// hears (tasks moved, tasks to move) after each round.
pub fn archive_month(
    db: &Path,
    month: &Month,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<MoveReport> {
    let (_lock, conn, path) = open_both(db, month, true)?;
    let fail = |op| move |e| crate::error::sqlite_error(db, op, e);
    drop_leftovers(&conn, &path, month)?;
    let tasks: Vec<String> = conn
        .prepare(TASKS_OF_MONTH)
        .and_then(|mut s| s.query_map([month.as_str()], |r| r.get(0))?.collect())
        .map_err(fail("listing the month's tasks"))?;
    let mut report = MoveReport {
        month: month.to_string(),
        archive: path.clone(),
        tasks: 0,
        records: 0,
    };
    let now = tasklog_format::now_rfc3339();
    for chunk in tasks.chunks(CHUNK) {
        fill_set(&conn, chunk).map_err(fail("listing tasks to move"))?;
        // 1: the intent, in the main database.
        conn.execute(
            "INSERT OR IGNORE INTO main.archived_tasks (task_id, month, state, updated_at)
             SELECT task_id, ?1, 'moving', ?2 FROM temp.move_set",
            params![month.as_str(), now],
        )
        .map_err(fail("marking tasks as moving"))?;
        // 2: the copy, in the archive.
        let records = in_transaction(&conn, |c| {
            delete_set(c, "arch")?;
            c.execute_batch("INSERT OR REPLACE INTO arch.prices SELECT * FROM main.prices")?;
            copy_set(c, "main", "arch")
        })
        .map_err(|e| crate::error::sqlite_error(&path, "copying tasks into the archive", e))?;
        // 3: the rows leave the main database as the mark says they moved.
        in_transaction(&conn, |c| {
            delete_set(c, "main")?;
            c.execute(
                "UPDATE main.archived_tasks SET state = 'archived', updated_at = ?1
                  WHERE task_id IN (SELECT task_id FROM temp.move_set)",
                [&now],
            )
        })
        .map_err(fail("removing archived tasks"))?;
        report.tasks += chunk.len() as u64;
        report.records += records;
        progress(report.tasks, tasks.len() as u64);
        tracing::info!(month = %month, tasks = report.tasks, "archived");
    }
    Ok(report)
}

/// Moves the archived tasks of `month` back into the main database;
/// `progress` as for [`archive_month`].
pub fn unarchive_month(
    db: &Path,
    month: &Month,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<MoveReport> {
    let path = archive_path(db, month);
    let mut report = MoveReport {
        month: month.to_string(),
        archive: path.clone(),
        tasks: 0,
        records: 0,
    };
    let (_lock, conn, _) = open_both(db, month, false)?;
    let fail = |op| move |e| crate::error::sqlite_error(db, op, e);
    // Tasks still `moving` have their rows here: only the mark goes.
    conn.execute(
        "DELETE FROM main.archived_tasks WHERE month = ?1 AND state = 'moving'",
        [month.as_str()],
    )
    .map_err(fail("unmarking moving tasks"))?;
    let tasks: Vec<String> = conn
        .prepare("SELECT task_id FROM main.archived_tasks WHERE month = ?1 ORDER BY task_id")
        .and_then(|mut s| s.query_map([month.as_str()], |r| r.get(0))?.collect())
        .map_err(fail("listing archived tasks"))?;
    for chunk in tasks.chunks(CHUNK) {
        fill_set(&conn, chunk).map_err(fail("listing tasks to move"))?;
        // One transaction of the main database: the rows are back and the
        // mark is gone together; the archive's copy then counts nowhere.
        let records = in_transaction(&conn, |c| {
            delete_set(c, "main")?;
            let n = copy_set(c, "arch", "main")?;
            c.execute(
                "DELETE FROM main.archived_tasks WHERE task_id IN (SELECT task_id FROM temp.move_set)",
                [],
            )?;
            Ok(n)
        })
        .map_err(fail("copying tasks back from the archive"))?;
        report.tasks += chunk.len() as u64;
        report.records += records;
        progress(report.tasks, tasks.len() as u64);
        tracing::info!(month = %month, tasks = report.tasks, "unarchived");
    }
    drop_leftovers(&conn, &path, month)?;
    Ok(report)
}

/// Takes the writer lock, opens (migrating) the main database and attaches
/// the month's archive as `arch`, created when `create`.
fn open_both(db: &Path, month: &Month, create: bool) -> Result<(WriterLock, Connection, PathBuf)> {
    // Nothing to move out of an index that does not exist: never create one.
    if !db.exists() {
        return Err(Error::NoDatabase {
            path: db.to_owned(),
        });
    }
    let lock = WriterLock::acquire(db)?;
    let path = archive_path(db, month);
    if !create && !path.exists() {
        let conn = open_for_writing(db)?;
        let marked: i64 = conn
            .query_row(
                "SELECT count(*) FROM archived_tasks WHERE month = ?1 AND state = 'archived'",
                [month.as_str()],
                |r| r.get(0),
            )
            .map_err(|e| crate::error::sqlite_error(db, "reading archived tasks", e))?;
        if marked > 0 {
            return Err(Error::ArchiveMissing {
                path,
                month: month.to_string(),
            });
        }
    }
    // Created and migrated by the same code as any index.
    drop(open_for_writing(&path)?);
    let conn = open_for_writing(db)?;
    conn.execute("ATTACH ?1 AS arch", [crate::db::file_uri(&path, "mode=rw")])
        .map_err(|e| crate::error::sqlite_error(&path, "attaching the archive", e))?;
    conn.execute_batch("CREATE TEMP TABLE move_set (task_id TEXT PRIMARY KEY)")
        .map_err(|e| crate::error::sqlite_error(db, "preparing the move", e))?;
    Ok((lock, conn, path))
}

/// Deletes the archive's rows of tasks the main database does not mark as
/// archived there (left by an interrupted `unarchive`, or a copy whose
/// move was undone).
fn drop_leftovers(conn: &Connection, path: &Path, month: &Month) -> Result<()> {
    in_transaction(conn, |c| {
        c.execute("DELETE FROM temp.move_set", [])?;
        c.execute(
            "INSERT INTO temp.move_set SELECT task_id FROM arch.tasks
              WHERE task_id NOT IN (SELECT task_id FROM main.archived_tasks WHERE month = ?1)",
            [month.as_str()],
        )?;
        delete_set(c, "arch")
    })
    .map(drop)
    .map_err(|e| crate::error::sqlite_error(path, "removing leftover copies", e))
}

fn in_transaction<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    conn.execute_batch("BEGIN")?;
    match f(conn) {
        Ok(v) => {
            conn.execute_batch("COMMIT")?;
            Ok(v)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

fn fill_set(conn: &Connection, tasks: &[String]) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM temp.move_set", [])?;
    let mut insert = conn.prepare_cached("INSERT OR IGNORE INTO temp.move_set VALUES (?1)")?;
    for t in tasks {
        insert.execute([t])?;
    }
    Ok(())
}

/// Deletes every source row of the tasks in `temp.move_set` from `schema`
/// (its triggers remove the derived rows).
fn delete_set(conn: &Connection, schema: &str) -> rusqlite::Result<usize> {
    let mut n = 0;
    for m in MOVED.iter().rev() {
        let task = m.task.replace("t.", "");
        n += conn.execute(
            &format!(
                "DELETE FROM {schema}.{} WHERE {task} IN (SELECT task_id FROM temp.move_set)",
                m.table
            ),
            [],
        )?;
    }
    // Not a source table: the sink keeps it (facts.rs).
    conn.execute(
        &format!(
            "DELETE FROM {schema}.task_activity WHERE task_id IN (SELECT task_id FROM temp.move_set)"
        ),
        [],
    )?;
    Ok(n)
}

/// Copies every source row of the tasks in `temp.move_set` from `src` to
/// `dst`; returns the number of `records` rows.
fn copy_set(conn: &Connection, src: &str, dst: &str) -> rusqlite::Result<u64> {
    let mut records = 0;
    for m in MOVED {
        let columns: Vec<String> = conn
            .prepare(&format!(
                "SELECT name FROM {src}.pragma_table_info('{}')",
                m.table
            ))?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let columns: Vec<&String> = columns
            .iter()
            .filter(|c| Some(c.as_str()) != m.id)
            .collect();
        let names: Vec<String> = columns.iter().map(|c| format!("\"{c}\"")).collect();
        let values: Vec<String> = columns
            .iter()
            .map(|c| match c.as_str() {
                "file_id" if m.file_id => "coalesce(df.file_id, t.file_id)".to_owned(),
                c => format!("t.\"{c}\""),
            })
            .collect();
        let join = if m.file_id {
            format!(
                "LEFT JOIN {src}.files sf ON sf.file_id = t.file_id LEFT JOIN {dst}.files df ON df.path = sf.path"
            )
        } else {
            String::new()
        };
        let n = conn.execute(
            &format!(
                "INSERT INTO {dst}.{table} ({names}) SELECT {values} FROM {src}.{table} t {join}
                  WHERE {task} IN (SELECT task_id FROM temp.move_set) ORDER BY t.rowid",
                table = m.table,
                names = names.join(", "),
                values = values.join(", "),
                task = m.task,
            ),
            [],
        )?;
        if m.table == "records" {
            records = n as u64;
        }
    }
    // The aggregate the sink keeps is counted again from the copied rows
    // (their record ids are new).
    crate::facts::count_set(conn, dst)?;
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_checked() {
        for good in ["2025-10", "1999-01", "2026-12"] {
            assert!(Month::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "2025-13",
            "2025-00",
            "2025-1",
            "25-10",
            "2025/10",
            "2025-10-01",
            "",
            "abcd-ef",
        ] {
            assert!(Month::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_archive_sits_beside_the_database() {
        let m = Month::parse("2025-10").expect("month");
        assert_eq!(
            archive_path(Path::new("/x/index.db"), &m),
            Path::new("/x/archive/index-2025-10.db")
        );
        assert_eq!(
            archive_path(Path::new("logs.db"), &m),
            Path::new("archive/logs-2025-10.db")
        );
    }
}
