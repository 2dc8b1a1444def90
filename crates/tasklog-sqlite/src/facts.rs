//! A task's facts (issue 20): the per-task aggregate of its records that
//! the `task_facts` view (migration 9) reads, how the sink keeps it, and
//! how `tasklog verify` proves it.
//!
//! The view derives title, status, times, project, branch, agent, models
//! and error count from the task's documents and this aggregate, with the
//! precedence of docs/FORMAT.md section 11. Only the aggregate is stored:
//! the documents are one row each, but a task's records can be millions,
//! and the task list must not read them. The sink adds each batch's
//! figures in the transaction that inserts the batch, and counts a task
//! again from its records when rows of one of its files are superseded
//! (rare: truncation, rotation, deletion), so the aggregate always equals
//! a fresh count of the rows the index holds; `tasklog verify` compares
//! the two (`rollups.rs`).

use rusqlite::{params, Connection};

/// The aggregate rows of the records matching `$where` (a condition on
/// `records`), one per task, in `task_activity`'s column order. A record
/// has a source time unless its `ts` is the indexing time (`ts_source` =
/// `indexed`) or not a time SQLite reads; times are normalized to UTC
/// with milliseconds so that text order is time order. A record counts as
/// an error when it is a `tool.fail`, carries an `error` (a string, or
/// any value but null and false), has the status `error` / `failed` /
/// `failure` (except the task's own `task.status` and `result` records,
/// which set the status instead), or the severity `error` / `critical`.
/// `ended` counts `session.end` records (a TAC-8 session that ended);
/// `session_start` is the first `session.start` record the index read
/// (its branch is a fact, migration 11).
/// One definition for the sink, migration 11's fill and the proof below.
macro_rules! task_activity_select {
    ($where:literal) => {
        concat!(
            "SELECT task_id, records, first_at, last_at, errors, status_record,
       (SELECT r.status FROM records r WHERE r.record_id = a.status_record) AS status, ended,
       session_start
  FROM (SELECT task_id, count(*) AS records,
               min(CASE WHEN ts_source <> 'indexed' THEN strftime('%Y-%m-%dT%H:%M:%fZ', ts) END) AS first_at,
               max(CASE WHEN ts_source <> 'indexed' THEN strftime('%Y-%m-%dT%H:%M:%fZ', ts) END) AS last_at,
               sum(CASE WHEN event IS 'tool.fail'
                   OR error IS NOT NULL
                   OR (instr(body, '\"error\"') > 0 AND coalesce(json_type(body, '$.error') NOT IN ('null', 'false'), 0))
                   OR (status IN ('error', 'failed', 'failure') AND coalesce(event, '') NOT IN ('task.status', 'result'))
                   OR severity IN ('error', 'critical') THEN 1 ELSE 0 END) AS errors,
               max(CASE WHEN event = 'task.status' AND status IS NOT NULL THEN record_id END) AS status_record,
               sum(CASE WHEN event = 'session.end' THEN 1 ELSE 0 END) AS ended,
               min(CASE WHEN event = 'session.start' THEN record_id END) AS session_start
          FROM records WHERE ",
            $where,
            " GROUP BY task_id) a"
        )
    };
}
pub(crate) use task_activity_select;

/// Adds the figures of one file's rows from byte `?2` on (the batch just
/// inserted; `?1` its `file_id`) to its task's aggregate. Times widen, a
/// newer `task.status` row (a larger `record_id`) replaces the older.
pub(crate) const ADD_BATCH: &str = concat!(
    "INSERT INTO task_activity ",
    task_activity_select!("file_id = ?1 AND \"offset\" >= ?2"),
    "
 WHERE true
 ON CONFLICT (task_id) DO UPDATE SET
    records = records + excluded.records,
    first_at = min(coalesce(excluded.first_at, first_at), coalesce(first_at, excluded.first_at)),
    last_at = max(coalesce(excluded.last_at, last_at), coalesce(last_at, excluded.last_at)),
    errors = errors + excluded.errors,
    status = CASE WHEN excluded.status_record > coalesce(status_record, 0) THEN excluded.status ELSE status END,
    status_record = CASE WHEN excluded.status_record > coalesce(status_record, 0)
                         THEN excluded.status_record ELSE status_record END,
    ended = ended + excluded.ended,
    session_start = min(coalesce(session_start, excluded.session_start),
                        coalesce(excluded.session_start, session_start))"
);

/// Counts task `?1` again from its records (after rows were superseded).
pub(crate) const RECOUNT_TASK: [&str; 2] = [
    "DELETE FROM task_activity WHERE task_id = ?1",
    concat!(
        "INSERT INTO task_activity ",
        task_activity_select!("task_id = ?1")
    ),
];

/// Counts a task again (see [`RECOUNT_TASK`]).
pub(crate) fn recount(conn: &Connection, task_id: &str) -> rusqlite::Result<()> {
    for sql in RECOUNT_TASK {
        conn.prepare_cached(sql)?.execute(params![task_id])?;
    }
    Ok(())
}

/// Counts again, in database `schema`, the tasks of `temp.move_set`
/// (archive.rs: after their rows were copied there).
pub(crate) fn count_set(conn: &Connection, schema: &str) -> rusqlite::Result<()> {
    let select = task_activity_select!("task_id IN (SELECT task_id FROM temp.move_set)")
        .replace("FROM records", &format!("FROM {schema}.records"));
    conn.execute(
        &format!(
            "DELETE FROM {schema}.task_activity WHERE task_id IN (SELECT task_id FROM temp.move_set)"
        ),
        [],
    )?;
    conn.execute(&format!("INSERT INTO {schema}.task_activity {select}"), [])?;
    Ok(())
}
