//! The cost report's statement, composed once for both dialects: which
//! source answers (the per-task daily rollup, the daily rollup, or the
//! calls themselves), the task facts joined for `project` / `agent`, the
//! grouping and the order. Each store gives its dialect ([`CostDialect`]:
//! its three source statements and how it sums); the sources' SQL stays
//! beside each store's answers.

use super::{CostKey, CostQuery};

/// The day of a canonical instant at midnight UTC (`2026-11-22` of
/// `2026-11-22T00:00:00.000000Z`); `None` for any other instant.
pub fn whole_day(ts: &str) -> Option<&str> {
    ts.strip_suffix("T00:00:00.000000Z")
}

/// What differs between SQLite and PostgreSQL in the cost report.
#[derive(Debug, Clone, Copy)]
pub struct CostDialect {
    /// Rows per (day, task, model, provider), bounded by whole days (`?1`/`$1`, `?2`/`$2`).
    pub by_task_day: &'static str,
    /// Rows per (day, model, provider), whole days.
    pub by_day: &'static str,
    /// One row per call, bounded by instants.
    pub by_call: &'static str,
    /// Whether rows carry `host_id` (a task is keyed by host and id).
    pub hosts: bool,
    /// What makes a sum of integers read as an integer (PostgreSQL's is numeric).
    pub int_cast: &'static str,
    /// A rounded sum of reals (`{}` is the column).
    pub round6: &'static str,
}

/// The two statements of a report and their two bounds (days or instants,
/// NULL for open).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostSql {
    /// The grouped report.
    pub report: String,
    /// The unpriced calls by model.
    pub unpriced: String,
    /// The lower bound.
    pub lo: Option<String>,
    /// The upper bound.
    pub hi: Option<String>,
}

impl CostDialect {
    fn sum(&self, column: &str) -> String {
        format!("sum({column}){}", self.int_cast)
    }

    fn round(&self, column: &str) -> String {
        self.round6.replace("{}", &format!("sum({column})"))
    }

    /// The statements answering `q`.
    pub fn compose(&self, q: &CostQuery) -> CostSql {
        let days = (
            q.since.as_deref().map(whole_day),
            q.until.as_deref().map(whole_day),
        );
        let (source, lo, hi) = match days {
            (None | Some(Some(_)), None | Some(Some(_))) => (
                // Per task needs the per-task rollup; the rest read the
                // per-day one, tens of rows a day.
                if q.by.iter().any(|k| k.per_task()) {
                    self.by_task_day
                } else {
                    self.by_day
                },
                days.0.flatten().map(str::to_owned),
                days.1.flatten().map(str::to_owned),
            ),
            _ => (self.by_call, q.since.clone(), q.until.clone()),
        };
        // Project and agent are facts of the task each row belongs to, the
        // same the task list shows (`task_facts`): the rows are joined to
        // their task inside a subquery, so that the sums outside see the
        // cost columns only.
        let facts: Vec<String> =
            q.by.iter()
                .filter(|k| k.task_fact())
                .map(|k| format!("t.{c} AS {c}", c = k.column()))
                .collect();
        let source = if facts.is_empty() {
            source.to_owned()
        } else {
            let on = if self.hosts {
                "t.host_id = calls.host_id AND t.task_id = calls.task_id"
            } else {
                "t.task_id = calls.task_id"
            };
            format!(
                "SELECT calls.*, {} FROM ({source}) AS calls LEFT JOIN task_facts t ON {on}",
                facts.join(", ")
            )
        };
        // Two hosts may both have a task of that name: the host is a column
        // of its own before the task, never folded into its name.
        let mut select = Vec::new();
        for k in &q.by {
            if self.hosts && *k == CostKey::Task {
                select.push("host_id".to_owned());
            }
            let c = k.column();
            select.push(format!("coalesce(nullif({c}, ''), '(none)') AS {c}"));
        }
        let keys: Vec<String> = (1..=select.len()).map(|i| i.to_string()).collect();
        let keys = keys.join(", ");
        // Days in calendar order (a report over time); the rest costliest first.
        let order = if q.by.first() == Some(&CostKey::Day) {
            format!("1, sum(cost_usd) DESC, {keys}")
        } else {
            format!("sum(cost_usd) DESC, {keys}")
        };
        let sums = [
            format!("{} AS calls", self.sum("calls")),
            format!("{} AS tokens_input", self.sum("tokens_input")),
            format!("{} AS tokens_output", self.sum("tokens_output")),
            format!("{} AS tokens_cached_read", self.sum("tokens_cached_read")),
            format!("{} AS tokens_cached_write", self.sum("tokens_cached_write")),
            format!("{} AS cost_usd", self.round("cost_usd")),
            format!("{} AS unpriced_calls", self.sum("unpriced_calls")),
            format!("{} AS unpriced_tokens", self.sum("unpriced_tokens")),
        ]
        .join(", ");
        let report = format!(
            "SELECT {}, {sums} FROM ({source}) AS grouped GROUP BY {keys} ORDER BY {order}",
            select.join(", ")
        );
        let unpriced = format!(
            "SELECT coalesce(nullif(model, ''), '(none)') AS model, {} AS unpriced_calls,
                    {} AS unpriced_tokens
               FROM ({source}) AS grouped WHERE unpriced_calls > 0 GROUP BY 1 ORDER BY 1",
            self.sum("unpriced_calls"),
            self.sum("unpriced_tokens")
        );
        CostSql {
            report,
            unpriced,
            lo,
            hi,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: CostDialect = CostDialect {
        by_task_day: "TASKDAY",
        by_day: "DAY",
        by_call: "CALL",
        hosts: false,
        int_cast: "",
        round6: "round({}, 6)",
    };

    fn q(by: &[CostKey], since: Option<&str>, until: Option<&str>) -> CostQuery {
        CostQuery {
            by: by.to_vec(),
            since: since.map(str::to_owned),
            until: until.map(str::to_owned),
        }
    }

    #[test]
    fn whole_days_read_rollups_and_instants_read_calls() {
        let day = "2026-11-22T00:00:00.000000Z";
        let s = D.compose(&q(&[CostKey::Model], Some(day), None));
        assert!(s.report.contains("FROM (DAY)"), "{}", s.report);
        assert_eq!(s.lo.as_deref(), Some("2026-11-22"));
        let s = D.compose(&q(&[CostKey::Task], Some(day), None));
        assert!(s.report.contains("FROM (TASKDAY)"), "{}", s.report);
        let s = D.compose(&q(
            &[CostKey::Model],
            Some("2026-11-22T10:00:00.000000Z"),
            None,
        ));
        assert!(s.report.contains("FROM (CALL)"), "{}", s.report);
        assert_eq!(s.lo.as_deref(), Some("2026-11-22T10:00:00.000000Z"));
    }

    #[test]
    fn hosts_key_tasks_apart_and_facts_are_joined() {
        let pg = CostDialect { hosts: true, ..D };
        let s = pg.compose(&q(&[CostKey::Task], None, None));
        assert!(s
            .report
            .starts_with("SELECT host_id, coalesce(nullif(task_id"));
        assert!(s.report.contains("GROUP BY 1, 2"));
        let s = pg.compose(&q(&[CostKey::Project], None, None));
        assert!(s.report.contains("t.project AS project"));
        assert!(s.report.contains("t.host_id = calls.host_id"));
    }
}
