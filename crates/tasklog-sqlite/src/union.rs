//! `--archives`: one read-only connection on which the same SQL sees the
//! main database and every monthly archive as one index.
//!
//! Each archive is attached read-only, and every table and view with a
//! task (`task_id`, or `file_events`' path) gets a TEMP view of the same
//! name over `main.x UNION ALL a0.x UNION ALL ...`; TEMP names come first
//! in SQLite's name resolution, so `SELECT count(*) FROM records` counts
//! the union. An archive's row counts only when the main database marks
//! its task `archived` in that archive's month (`archived_tasks`,
//! migration 8): a task whose move a crash interrupted is counted from the
//! main database alone, and a stale copy nowhere (see `archive.rs`).
//! `cost_daily` (no task column) is summed again from the union of
//! `cost_rollup`. Full-text search (`records_fts`) is not unioned.
//!
//! SQLite attaches a bounded number of databases to one connection (125
//! in this build, `.cargo/config.toml`); past it, opening fails with
//! [`Error::TooManyArchives`] instead of leaving months out.

use std::path::{Path, PathBuf};

use rusqlite::Connection;

use crate::archive::{archive_path, Month};
use crate::db::{file_uri, open_read_only, restrict_to_queries};
use tasklog_tail::{Error, Result};

/// The months with archived tasks, and their archive files.
pub fn archives(db: &Path) -> Result<Vec<(Month, PathBuf)>> {
    let conn = open_read_only(db)?;
    list(&conn, db)
}

fn list(conn: &Connection, db: &Path) -> Result<Vec<(Month, PathBuf)>> {
    // A database older than migration 8 has no archives.
    let months: Vec<String> = match conn.prepare(
        "SELECT DISTINCT month FROM archived_tasks WHERE state = 'archived' ORDER BY month",
    ) {
        Ok(mut s) => s
            .query_map([], |r| r.get(0))
            .and_then(|rows| rows.collect())
            .map_err(|e| crate::error::sqlite_error(db, "listing archives", e))?,
        Err(_) => Vec::new(),
    };
    months
        .iter()
        .map(|m| {
            let month = Month::parse(m)?;
            let path = archive_path(db, &month);
            Ok((month, path))
        })
        .collect()
}

/// [`crate::open_query_connection`] over the main database and every archive.
pub fn open_query_connection_with_archives(db: &Path) -> Result<Connection> {
    let conn = open_read_only(db)?;
    let archives = list(&conn, db)?;
    let limit = conn
        .limit(rusqlite::limits::Limit::SQLITE_LIMIT_ATTACHED)
        .map_err(|e| crate::error::sqlite_error(db, "reading the attach limit", e))?
        .max(0) as usize;
    if archives.len() > limit {
        return Err(Error::TooManyArchives {
            path: db.to_owned(),
            archives: archives.len(),
            limit,
        });
    }
    for (i, (month, path)) in archives.iter().enumerate() {
        if !path.exists() {
            return Err(Error::ArchiveMissing {
                path: path.clone(),
                month: month.to_string(),
            });
        }
        conn.execute(&format!("ATTACH ?1 AS a{i}"), [file_uri(path, "mode=ro")])
            .map_err(|e| crate::error::sqlite_error(path, "attaching archive", e))?;
    }
    if !archives.is_empty() {
        // TEMP views are a write to the temp schema only; the files stay
        // read-only by their open flags.
        conn.pragma_update(None, "query_only", false)
            .map_err(|e| crate::error::sqlite_error(db, "preparing the union", e))?;
        let months: Vec<&Month> = archives.iter().map(|(m, _)| m).collect();
        union_views(&conn, &months)
            .map_err(|e| crate::error::sqlite_error(db, "creating the union views", e))?;
        conn.pragma_update(None, "query_only", true)
            .map_err(|e| crate::error::sqlite_error(db, "setting query_only", e))?;
    }
    restrict_to_queries(conn, db)
}

/// How a table's rows name their task, or `None` for one without a task.
fn task_column(conn: &Connection, name: &str) -> rusqlite::Result<Option<&'static str>> {
    if name == "file_events" {
        return Ok(Some("substr(path, 1, instr(path, '/') - 1)"));
    }
    let has: bool = conn.query_row(
        "SELECT count(*) > 0 FROM main.pragma_table_info(?1) WHERE name = 'task_id'",
        [name],
        |r| r.get(0),
    )?;
    Ok(has.then_some("task_id"))
}

/// The columns of table or view `name` in attached database `schema`, in
/// order; none when it has no such relation.
fn columns(conn: &Connection, schema: &str, name: &str) -> rusqlite::Result<Vec<String>> {
    conn.prepare("SELECT name FROM pragma_table_info(?1, ?2) ORDER BY cid")?
        .query_map([name, schema], |r| r.get(0))?
        .collect()
}

fn union_views(conn: &Connection, months: &[&Month]) -> rusqlite::Result<()> {
    let names: Vec<String> = conn
        .prepare(
            "SELECT name FROM main.sqlite_master WHERE type IN ('table', 'view')
               AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'records_fts%'
               AND name <> 'archived_tasks' ORDER BY name",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for name in &names {
        let Some(task) = task_column(conn, name)? else {
            continue;
        };
        let main_columns = columns(conn, "main", name)?;
        let mut sql = format!("CREATE TEMP VIEW \"{name}\" AS SELECT * FROM main.\"{name}\"");
        for (i, month) in months.iter().enumerate() {
            // An archive made by an older build has the main database's
            // columns up to its own schema version: a relation it lacks
            // adds no rows, a column it lacks reads NULL.
            let archived = columns(conn, &format!("a{i}"), name)?;
            if archived.is_empty() {
                continue;
            }
            let select: Vec<String> = main_columns
                .iter()
                .map(|c| {
                    if archived.contains(c) {
                        format!("\"{c}\"")
                    } else {
                        format!("NULL AS \"{c}\"")
                    }
                })
                .collect();
            // `month` was parsed as YYYY-MM: safe to write into the SQL.
            sql.push_str(&format!(
                " UNION ALL SELECT {} FROM a{i}.\"{name}\" WHERE {task} IN
                   (SELECT task_id FROM main.archived_tasks WHERE state = 'archived' AND month = '{month}')",
                select.join(", ")
            ));
        }
        conn.execute_batch(&sql)?;
    }
    // The daily rollup has no task: summed again from the union of the
    // per-task rollup (exact: both are on the same 2^-30 USD grid).
    let sums: Vec<String> = conn
        .prepare("SELECT name FROM main.pragma_table_info('cost_daily') ORDER BY cid")?
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?
        .into_iter()
        .filter(|c| !matches!(c.as_str(), "day" | "model" | "provider"))
        .map(|c| format!("sum(\"{c}\") AS \"{c}\""))
        .collect();
    conn.execute_batch(&format!(
        "CREATE TEMP VIEW cost_daily AS SELECT day, model, provider, {} FROM cost_rollup GROUP BY day, model, provider",
        sums.join(", ")
    ))
}
