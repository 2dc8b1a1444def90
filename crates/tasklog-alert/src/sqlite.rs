//! The alert store on the SQLite index: the condition questions over the
//! index's tables, and the fired-alert log in its own table `alerts`,
//! created here (this crate's migration, `CREATE TABLE IF NOT EXISTS`, so
//! the core schema and its version stay untouched). At open the table is
//! filled from `<root>/.tasklog/alerts.jsonl`, so a rebuilt index still
//! knows every alert sent.

use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;
use rusqlite::{params, Connection, OptionalExtension};

use crate::alert::{Alert, Delivery, Entry, Observation, State};
use crate::error::{Error, Result};
use crate::rule::{Condition, Per, Rule};
use crate::store::{seconds_since, AlertStore, Clock};

/// The log table; the same shape on PostgreSQL.
const MIGRATION: &str = r#"
CREATE TABLE IF NOT EXISTS alerts (
    id           TEXT NOT NULL,      -- hash of rule, subject and window
    state        TEXT NOT NULL,      -- 'firing' or 'resolved'
    rule         TEXT NOT NULL,
    subject      TEXT NOT NULL,
    fired_at     TEXT NOT NULL,      -- the payload's ts
    host_id      TEXT NOT NULL,      -- the host that sends it
    payload      TEXT NOT NULL,      -- the alert as JSON
    delivery     TEXT NOT NULL,      -- 'pending' or 'delivered'
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT,
    updated_at   TEXT NOT NULL,
    delivered_at TEXT,
    PRIMARY KEY (id, state)
);
"#;

/// The alert store of a SQLite index.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
    db: PathBuf,
    root: PathBuf,
}

impl SqliteStore {
    /// Opens `db` for the alerter (read-write: the log table), creates the
    /// table and brings in the file log of `root`.
    pub fn open(db: &Path, root: &Path) -> Result<SqliteStore> {
        let err = |what| {
            let path = db.to_path_buf();
            move |source| Error::Sqlite { path, what, source }
        };
        let conn = Connection::open(db).map_err(err("opening"))?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(err("setting the busy timeout"))?;
        conn.execute_batch(MIGRATION)
            .map_err(err("creating the alerts table"))?;
        let mut store = SqliteStore {
            conn,
            db: db.to_path_buf(),
            root: root.to_path_buf(),
        };
        store.import_journal()?;
        Ok(store)
    }

    /// Opens `db` read-only to list the log (`tasklog alerts`); `None`
    /// when the index has no `alerts` table yet.
    pub fn entries_read_only(db: &Path) -> Result<Option<Vec<Entry>>> {
        let conn = tasklog_index::open_read_only(db)?;
        let exists: Option<i64> = conn
            .query_row(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alerts'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(|source| Error::Sqlite {
                path: db.to_path_buf(),
                what: "looking for the alerts table",
                source,
            })?;
        if exists.is_none() {
            return Ok(None);
        }
        read_entries(&conn, db, "1 = 1", []).map(Some)
    }

    fn err(&self, what: &'static str) -> impl FnOnce(rusqlite::Error) -> Error + '_ {
        move |source| Error::Sqlite {
            path: self.db.clone(),
            what,
            source,
        }
    }

    /// Rows for every message of the file log the table lacks (after a
    /// rebuild, or a crash between the two writes).
    fn import_journal(&mut self) -> Result<()> {
        let entries = crate::journal::read(&self.root)?;
        if entries.is_empty() {
            return Ok(());
        }
        let db = self.db.clone();
        let err = |what| {
            let path = db.clone();
            move |source| Error::Sqlite { path, what, source }
        };
        let tx = self
            .conn
            .transaction()
            .map_err(err("importing the file log"))?;
        for e in &entries {
            insert(&tx, &e.alert, &e.alert.ts).map_err(err("importing the file log"))?;
            if e.delivery == Delivery::Delivered {
                tx.execute(
                    "UPDATE alerts SET delivery = 'delivered', delivered_at = ?3, updated_at = ?3
                      WHERE id = ?1 AND state = ?2 AND delivery = 'pending'",
                    params![e.alert.id, e.alert.state.as_str(), e.delivered_at],
                )
                .map_err(err("importing the file log"))?;
            }
        }
        tx.commit().map_err(err("importing the file log"))
    }

    fn values(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<(String, f64, String)>> {
        let mut stmt = self
            .conn
            .prepare_cached(sql)
            .map_err(self.err("preparing a condition"))?;
        let rows = stmt
            .query_map(params, |r| {
                Ok((
                    r.get::<_, Option<String>>(0)?.unwrap_or_default(),
                    r.get::<_, Option<f64>>(1)?.unwrap_or(0.0),
                    r.get::<_, Option<String>>(2)?.unwrap_or_default(),
                ))
            })
            .map_err(self.err("asking a condition"))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.err("asking a condition"))
    }
}

fn insert(conn: &Connection, alert: &Alert, at: &str) -> rusqlite::Result<usize> {
    let payload = serde_json::to_string(alert).unwrap_or_default();
    conn.execute(
        "INSERT INTO alerts (id, state, rule, subject, fired_at, host_id, payload, delivery, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', ?8)
         ON CONFLICT (id, state) DO NOTHING",
        params![
            alert.id,
            alert.state.as_str(),
            alert.rule,
            alert.subject,
            alert.ts,
            alert.host_id,
            payload,
            at
        ],
    )
}

fn read_entries(
    conn: &Connection,
    db: &Path,
    filter: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<Entry>> {
    let err = |source| Error::Sqlite {
        path: db.to_path_buf(),
        what: "reading the alert log",
        source,
    };
    let sql = format!(
        "SELECT payload, delivery, attempts, last_error, delivered_at FROM alerts
          WHERE {filter} ORDER BY fired_at, rowid"
    );
    let mut stmt = conn.prepare(&sql).map_err(err)?;
    let rows = stmt
        .query_map(params, |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
            ))
        })
        .map_err(err)?;
    let mut out = Vec::new();
    for row in rows {
        let (payload, delivery, attempts, last_error, delivered_at) = row.map_err(err)?;
        // A payload this version cannot read is skipped, not fatal: the
        // log is written by this crate only.
        let Ok(alert) = serde_json::from_str::<Alert>(&payload) else {
            continue;
        };
        out.push(Entry {
            alert,
            delivery: if delivery == "delivered" {
                Delivery::Delivered
            } else {
                Delivery::Pending
            },
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            last_error,
            delivered_at,
        });
    }
    Ok(out)
}

impl AlertStore for SqliteStore {
    fn observe(&mut self, rule: &Rule, now: Timestamp) -> Result<Vec<Observation>> {
        let clock = Clock::new(now);
        let rows = match &rule.condition {
            Condition::CostOver { usd, per } => match per {
                Per::Day => self.values(
                    "SELECT day, sum(cost_usd), day FROM cost_daily WHERE day = ?1
                      GROUP BY day HAVING sum(cost_usd) > ?2",
                    params![clock.today, usd],
                )?,
                Per::Model => self.values(
                    "SELECT model, sum(cost_usd), day FROM cost_daily WHERE day = ?1 AND model <> ''
                      GROUP BY model HAVING sum(cost_usd) > ?2",
                    params![clock.today, usd],
                )?,
                Per::Task => self.values(
                    "SELECT task_id, sum(cost_usd), '' FROM cost_rollup
                      GROUP BY task_id HAVING sum(cost_usd) > ?1",
                    params![usd],
                )?,
                Per::Project => self.values(
                    "SELECT p, sum(cost), '' FROM (
                        SELECT CASE WHEN json_valid(t.document) THEN json_extract(t.document, '$.project') END AS p,
                               (SELECT sum(c.cost_usd) FROM cost_rollup c WHERE c.task_id = t.task_id) AS cost
                          FROM tasks t)
                      WHERE p IS NOT NULL AND p <> '' GROUP BY p HAVING sum(cost) > ?1",
                    params![usd],
                )?,
            },
            Condition::TaskFailed => self.values(
                "SELECT task_id, 1.0, '' FROM tasks WHERE lower(status) = 'failed'",
                [],
            )?,
            Condition::ToolFailures { count, window } => {
                let (start, end) = clock.window(window.as_secs());
                self.values(
                    "SELECT task_id, count(*), ?1 FROM records
                      WHERE event = 'tool.fail' AND ts_source <> 'indexed' AND ts >= ?1 AND ts < ?2
                      GROUP BY task_id HAVING count(*) >= ?3",
                    params![start, end, *count as i64],
                )?
            }
            Condition::Stalled { after } => {
                let cutoff = clock.before(after.as_secs());
                let mut rows = self.values(
                    "SELECT t.task_id, 0.0, max(r.ts) FROM tasks t JOIN records r ON r.task_id = t.task_id
                      WHERE lower(t.status) = 'running' AND t.sealed = 0 AND r.ts_source <> 'indexed'
                      GROUP BY t.task_id HAVING max(r.ts) < ?1",
                    params![cutoff],
                )?;
                for row in &mut rows {
                    row.1 = seconds_since(&row.2, now).round();
                }
                rows
            }
            Condition::Quarantined { count } => self.values(
                "SELECT task_id, count(*), '' FROM ingest_errors WHERE kind = 'line'
                  GROUP BY task_id HAVING count(*) >= ?1",
                params![*count as i64],
            )?,
            Condition::Unpriced => self.values(
                "SELECT model, sum(unpriced_calls), '' FROM cost_daily
                  GROUP BY model HAVING sum(unpriced_tokens) > 0",
                [],
            )?,
            Condition::Lag { .. } => Vec::new(),
        };
        Ok(rows
            .into_iter()
            .map(|(subject, value, window)| Observation {
                subject,
                value,
                window,
            })
            .collect())
    }

    fn resolved(&mut self, rule: &Rule, alert: &Alert) -> Result<bool> {
        let sql = match rule.condition {
            Condition::TaskFailed => {
                "SELECT EXISTS (SELECT 1 FROM tasks WHERE task_id = ?1
                    AND status IS NOT NULL AND lower(status) <> 'failed' AND ?2 = ?2)"
            }
            Condition::Stalled { .. } => {
                "SELECT EXISTS (SELECT 1 FROM tasks t WHERE t.task_id = ?1
                    AND ((t.status IS NOT NULL AND lower(t.status) <> 'running') OR t.sealed <> 0
                         OR EXISTS (SELECT 1 FROM records r WHERE r.task_id = t.task_id
                                     AND r.ts_source <> 'indexed' AND r.ts > ?2)))"
            }
            Condition::Lag { .. } => return Ok(true),
            _ => return Ok(false),
        };
        self.conn
            .query_row(sql, params![alert.subject, alert.window], |r| r.get(0))
            .map_err(self.err("asking whether an alert resolved"))
    }

    fn lag_bytes(&mut self) -> Result<Option<u64>> {
        Ok(Some(tasklog_index::status(&self.root, &self.db)?.lag_bytes))
    }

    fn claim(&mut self, alert: &Alert, at: &str) -> Result<bool> {
        Ok(insert(&self.conn, alert, at).map_err(self.err("recording an alert"))? == 1)
    }

    fn attempted(&mut self, id: &str, state: State, error: &str, at: &str) -> Result<()> {
        self.conn
            .execute(
                "UPDATE alerts SET attempts = attempts + 1, last_error = ?3, updated_at = ?4
                  WHERE id = ?1 AND state = ?2",
                params![id, state.as_str(), error, at],
            )
            .map_err(self.err("noting a failed attempt"))?;
        Ok(())
    }

    fn delivered(&mut self, id: &str, state: State, at: &str) -> Result<()> {
        self.conn
            .execute(
                "UPDATE alerts SET delivery = 'delivered', delivered_at = ?3, updated_at = ?3
                  WHERE id = ?1 AND state = ?2",
                params![id, state.as_str(), at],
            )
            .map_err(self.err("marking an alert delivered"))?;
        Ok(())
    }

    fn pending(&mut self, host: &str, stale_before: &str, at: &str) -> Result<Vec<Entry>> {
        // One SQLite index has one sidecar; a row of another host id (the
        // host was renamed) is taken over once it is stale.
        self.conn
            .execute(
                "UPDATE alerts SET host_id = ?1, updated_at = ?3
                  WHERE delivery = 'pending' AND host_id <> ?1 AND updated_at < ?2",
                params![host, stale_before, at],
            )
            .map_err(self.err("taking over stale alerts"))?;
        read_entries(
            &self.conn,
            &self.db,
            "delivery = 'pending' AND host_id = ?1",
            params![host],
        )
    }

    fn fired(&mut self, rule: &str, subject: &str) -> Result<Vec<Alert>> {
        let entries = read_entries(
            &self.conn,
            &self.db,
            "rule = ?1 AND subject = ?2 AND state = 'firing'",
            params![rule, subject],
        )?;
        Ok(entries.into_iter().map(|e| e.alert).collect())
    }

    fn open(&mut self, rule: &str) -> Result<Vec<Alert>> {
        let entries = read_entries(
            &self.conn,
            &self.db,
            "rule = ?1 AND state = 'firing'
             AND NOT EXISTS (SELECT 1 FROM alerts r WHERE r.id = alerts.id AND r.state = 'resolved')",
            params![rule],
        )?;
        Ok(entries.into_iter().map(|e| e.alert).collect())
    }

    fn entries(&mut self) -> Result<Vec<Entry>> {
        read_entries(&self.conn, &self.db, "1 = 1", [])
    }
}
