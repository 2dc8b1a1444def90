//! The SQL of the questions people ask of the index, shared by the CLI's
//! read commands (`tasklog tasks`, `tasklog cost`) and `tasklog serve`'s
//! API, so that both answer the same question the same way; and the one
//! conversion of an SQLite value to JSON that every reader prints.

use rusqlite::types::ValueRef;
use serde_json::Value;

/// One row per task: the facts of the `task_facts` view (migration 9;
/// their precedence is in docs/FORMAT.md section 11) with model calls,
/// tokens and cost from the rollup, in the board's column order. `$where`
/// filters the tasks (`f.` is the view), `$tail` orders and pages them
/// (`q.` is the row).
macro_rules! task_rows {
    ($where:literal, $tail:literal) => {
        concat!(
            "SELECT * FROM (SELECT f.task_id, f.title, f.status, f.started_at, f.finished_at, f.duration_ms,
       f.last_activity_at, f.project, f.git_branch, f.agent, f.models, f.error_count,
       coalesce(sum(c.calls), 0) AS llm_calls,
       coalesce(sum(c.tokens_input + c.tokens_output), 0) AS tokens,
       round(coalesce(sum(c.cost_usd), 0), 6) AS cost_usd,
       coalesce(sum(c.unpriced_calls), 0) AS unpriced_calls,
       f.sealed
  FROM task_facts f
  LEFT JOIN cost_rollup c ON c.task_id = f.task_id
 WHERE ",
            $where,
            "
 GROUP BY f.task_id) q",
            $tail
        )
    };
}

/// Tasks, by default those started last first. Parameters, each may be
/// NULL but the limit and offset: `?1` status (of the facts' vocabulary),
/// `?2` since, `?3` until (canonical times, on `started_at`; a task whose
/// start is unknown matches neither), `?4` text in the id or title
/// (case-insensitive for ASCII), `?5` limit (-1: none), `?6` offset, `?7`
/// agent, `?8` project, `?9` one model among `models`, `?10` 1: only tasks
/// with errors, `?11` sort key (`started`, `last_activity`, `cost`,
/// `duration`; NULL: `started`), `?12` order (`asc`; else descending).
/// Unknown values sort last in either order, then the task id.
pub const TASKS: &str = task_rows!(
    "(?1 IS NULL OR f.status = ?1)
   AND (?2 IS NULL OR f.started_at >= ?2)
   AND (?3 IS NULL OR f.started_at < ?3)
   AND (?4 IS NULL OR instr(lower(f.task_id), lower(?4)) > 0 OR instr(lower(coalesce(f.title, '')), lower(?4)) > 0)
   AND (?7 IS NULL OR f.agent = ?7)
   AND (?8 IS NULL OR f.project = ?8)
   AND (?9 IS NULL OR instr(',' || coalesce(f.models, '') || ',', ',' || ?9 || ',') > 0)
   AND (coalesce(?10, 0) = 0 OR f.error_count > 0)",
    "
 ORDER BY CASE ?11 WHEN 'cost' THEN q.cost_usd WHEN 'duration' THEN q.duration_ms
                   WHEN 'last_activity' THEN q.last_activity_at ELSE q.started_at END IS NULL,
          CASE WHEN ?12 = 'asc' THEN
               CASE ?11 WHEN 'cost' THEN q.cost_usd WHEN 'duration' THEN q.duration_ms
                        WHEN 'last_activity' THEN q.last_activity_at ELSE q.started_at END END ASC,
          CASE WHEN ?12 IS NOT 'asc' THEN
               CASE ?11 WHEN 'cost' THEN q.cost_usd WHEN 'duration' THEN q.duration_ms
                        WHEN 'last_activity' THEN q.last_activity_at ELSE q.started_at END END DESC,
          q.task_id
 LIMIT ?5 OFFSET ?6"
);

/// The [`TASKS`] row of task `?1`, by primary key (the list's filters
/// would make SQLite read every task).
pub const TASK_SUMMARY: &str = task_rows!("f.task_id = ?1", "");

/// The sort keys of [`TASKS`] (`?11`), as the CLI and the API name them.
pub const TASK_SORTS: &[&str] = &["started", "last_activity", "cost", "duration"];

/// Task ids equal to `?1` or starting with it, the equal one first, at
/// most 11 (enough to name ten candidates of an ambiguous prefix). The
/// same text runs on PostgreSQL with `$1` for `?1`. The core's
/// `match_task_id` decides.
pub const TASK_IDS_STARTING: &str = "SELECT task_id FROM tasks
 WHERE substr(task_id, 1, length(CAST(?1 AS TEXT))) = CAST(?1 AS TEXT)
 ORDER BY task_id <> CAST(?1 AS TEXT), task_id LIMIT 11";

/// Cost rows of one shape, from the per-task daily rollup, bounded by
/// whole UTC days (`?1` first day, `?2` day after the last; NULL: open).
pub const COST_BY_TASK_DAY: &str =
    "SELECT day, task_id, model, provider, calls, tokens_input, tokens_output,
        tokens_cached_read, tokens_cached_write, cost_usd, unpriced_calls, unpriced_tokens
   FROM cost_rollup WHERE (?1 IS NULL OR day >= ?1) AND (?2 IS NULL OR day < ?2)";

/// The same shape summed over tasks (tens of rows a day), whole days.
pub const COST_BY_DAY: &str =
    "SELECT day, '' AS task_id, model, provider, calls, tokens_input, tokens_output,
        tokens_cached_read, tokens_cached_write, cost_usd, unpriced_calls, unpriced_tokens
   FROM cost_daily WHERE (?1 IS NULL OR day >= ?1) AND (?2 IS NULL OR day < ?2)";

/// The same shape from the calls themselves, for bounds inside a day
/// (`?1`, `?2`: canonical times).
pub const COST_BY_CALL: &str = "SELECT date(timestamp) AS day, task_id, coalesce(model, '') AS model,
        coalesce(provider, '') AS provider, 1 AS calls, coalesce(tokens_input, 0) AS tokens_input,
        coalesce(tokens_output, 0) AS tokens_output, coalesce(tokens_cached_read, 0) AS tokens_cached_read,
        coalesce(tokens_cached_write, 0) AS tokens_cached_write, coalesce(estimated_cost_usd, 0) AS cost_usd,
        estimated_cost_usd IS NULL AS unpriced_calls,
        CASE WHEN estimated_cost_usd IS NULL THEN coalesce(tokens_total, 0) ELSE 0 END AS unpriced_tokens
   FROM api_calls WHERE (?1 IS NULL OR timestamp >= ?1) AND (?2 IS NULL OR timestamp < ?2)";

/// One SQLite value as JSON: integers and reals as numbers, text as
/// strings, blobs as `x'..'` text (what `tasklog query` prints).
pub fn json_value(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => i.into(),
        ValueRef::Real(f) => f.into(),
        ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned().into(),
        ValueRef::Blob(b) => format!(
            "x'{}'",
            b.iter().map(|x| format!("{x:02x}")).collect::<String>()
        )
        .into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tasklog_tail::{match_task_id, TaskIdMatch};

    fn ids_starting(ids: &[&str], given: &str) -> Vec<String> {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE tasks (task_id TEXT PRIMARY KEY)")
            .unwrap();
        for id in ids {
            conn.execute("INSERT INTO tasks VALUES (?1)", [id]).unwrap();
        }
        let mut stmt = conn.prepare(TASK_IDS_STARTING).unwrap();
        let rows = stmt.query_map([given], |r| r.get(0)).unwrap();
        rows.collect::<rusqlite::Result<_>>().unwrap()
    }

    #[test]
    fn a_unique_prefix_names_its_task() {
        let ids = ["gh-450", "gh-451", "gh-4", "task-abc123", "%x"];
        let cases: &[(&str, TaskIdMatch)] = &[
            ("task", TaskIdMatch::One("task-abc123".into())),
            ("gh-4", TaskIdMatch::One("gh-4".into())),
            ("gh-450", TaskIdMatch::One("gh-450".into())),
            (
                "gh-45",
                TaskIdMatch::Ambiguous(vec!["gh-450".into(), "gh-451".into()]),
            ),
            ("nope", TaskIdMatch::None),
            ("", TaskIdMatch::None),
            ("%", TaskIdMatch::One("%x".into())),
            ("_", TaskIdMatch::None),
        ];
        for (given, want) in cases {
            let got = match_task_id(given, ids_starting(&ids, given));
            assert_eq!(&got, want, "{given:?}");
        }
    }
}
