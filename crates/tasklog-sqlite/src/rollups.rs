//! The rollups (`cost_rollup`, `cost_daily`) and how to prove them.
//!
//! Both are kept incrementally by triggers, rebuilt set-based after bulk
//! loads and re-pricing, and must always equal a fresh aggregation of their
//! source: `cost_rollup` of `api_calls`, `cost_daily` of `cost_rollup`, and
//! `api_calls` holds exactly the `llm.call` records. [`differences`] runs
//! those fresh aggregations and lists every row where they disagree;
//! `tasklog verify` reports them. Migration 7 says why the arithmetic is
//! exact (integer tokens within ±2^53, costs on a 2^-30 USD grid).

use rusqlite::types::ValueRef;
use rusqlite::Connection;

/// The rollup rows of the calls matching `$where` (a condition on
/// `api_calls` with `?1`), in `cost_rollup`'s column order. One definition
/// for the bulk loader, re-pricing and the proof below.
macro_rules! cost_rollup_select {
    ($where:literal) => {
        concat!(
            "SELECT coalesce(date(timestamp), substr(timestamp, 1, 10)), task_id, coalesce(model, ''),
       coalesce(provider, ''), count(*), sum(coalesce(tokens_input, 0)), sum(coalesce(tokens_output, 0)),
       sum(coalesce(tokens_cached_read, 0)), sum(coalesce(tokens_cached_write, 0)),
       sum(round(coalesce(estimated_cost_usd, 0) * 1073741824.0) / 1073741824.0),
       sum(round(coalesce(actual_cost_usd, 0) * 1073741824.0) / 1073741824.0),
       sum(estimated_cost_usd IS NULL),
       sum(CASE WHEN estimated_cost_usd IS NULL THEN coalesce(tokens_total, 0) ELSE 0 END)
  FROM api_calls WHERE ",
            $where,
            " GROUP BY 1, 2, 3, 4"
        )
    };
}
pub(crate) use cost_rollup_select;

/// Each check: what it compares, the stored rows, the fresh rows.
const CHECKS: &[(&str, &str, &str)] = &[
    (
        "cost_rollup",
        "SELECT * FROM cost_rollup",
        cost_rollup_select!("1"),
    ),
    (
        "cost_daily",
        "SELECT * FROM cost_daily",
        "SELECT day, model, provider, sum(calls), sum(tokens_input), sum(tokens_output),
                sum(tokens_cached_read), sum(tokens_cached_write), sum(cost_usd), sum(actual_cost_usd),
                sum(unpriced_calls), sum(unpriced_tokens)
           FROM cost_rollup GROUP BY day, model, provider",
    ),
    (
        "api_calls",
        "SELECT call_id FROM api_calls",
        "SELECT record_id FROM records WHERE event = 'llm.call'",
    ),
    (
        "task_activity",
        "SELECT * FROM task_activity",
        crate::facts::task_activity_select!("1"),
    ),
];

/// Most differing rows listed per check; the count says how many more.
const LISTED: usize = 20;

/// Every row where a rollup differs from a fresh aggregation of its source.
pub fn differences(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut out = Vec::new();
    for (table, stored, fresh) in CHECKS {
        for (side, query) in [
            (
                "stored, not in a fresh aggregation",
                format!("{stored} EXCEPT {fresh}"),
            ),
            (
                "in a fresh aggregation, not stored",
                format!("{fresh} EXCEPT {stored}"),
            ),
        ] {
            let mut stmt = conn.prepare(&query)?;
            let columns = stmt.column_count();
            let mut rows = stmt.query([])?;
            let mut found = 0;
            while let Some(row) = rows.next()? {
                found += 1;
                if found <= LISTED {
                    let values: Vec<String> = (0..columns)
                        .map(|i| row.get_ref(i).map(show))
                        .collect::<rusqlite::Result<_>>()?;
                    out.push(format!("{table}: {side}: ({})", values.join(", ")));
                }
            }
            if found > LISTED {
                out.push(format!("{table}: {side}: {} more rows", found - LISTED));
            }
        }
    }
    Ok(out)
}

fn show(value: ValueRef<'_>) -> String {
    match value {
        ValueRef::Null => "NULL".into(),
        ValueRef::Integer(i) => i.to_string(),
        ValueRef::Real(f) => format!("{f:?}"),
        ValueRef::Text(t) => format!("{:?}", String::from_utf8_lossy(t)),
        ValueRef::Blob(b) => format!("<{} bytes>", b.len()),
    }
}
