//! The alert store on a shared PostgreSQL index: the same questions as on
//! SQLite, over every host's rows (a budget is the fleet's), and the same
//! `alerts` table, created by this crate under an advisory lock. Many hosts
//! evaluate the same rules; `INSERT ... ON CONFLICT DO NOTHING` on
//! (id, state) lets exactly one of them claim, and so send, each message.

use std::path::{Path, PathBuf};

use jiff::Timestamp;
use postgres::types::ToSql;
use postgres::Client;

use crate::alert::{Alert, Delivery, Entry, Observation, State};
use crate::error::{Error, Result};
use crate::rule::{Condition, Per, Rule};
use crate::store::{seconds_since, AlertStore, Clock};

/// The advisory lock key of this migration (any constant of our own).
const MIGRATION_LOCK: i64 = 0x7461_736b_616c_7274;

const MIGRATION: &str = r#"
CREATE TABLE IF NOT EXISTS alerts (
    id           text NOT NULL,
    state        text NOT NULL,
    rule         text NOT NULL,
    subject      text NOT NULL,
    fired_at     text NOT NULL,
    host_id      text NOT NULL,
    payload      text NOT NULL,
    delivery     text NOT NULL,
    attempts     bigint NOT NULL DEFAULT 0,
    last_error   text,
    updated_at   text NOT NULL,
    delivered_at text,
    PRIMARY KEY (id, state)
);
-- task.json as JSON, or NULL when it is not JSON (a cast would fail the
-- whole question).
CREATE OR REPLACE FUNCTION tasklog_alert_json(doc text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN doc::jsonb;
EXCEPTION WHEN others THEN
    RETURN NULL;
END $$;
"#;

/// The alert store of a PostgreSQL index.
pub struct PgStore {
    client: Client,
    url: String,
    root: PathBuf,
    host_id: String,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("host_id", &self.host_id)
            .finish()
    }
}

fn err(what: &'static str) -> impl FnOnce(postgres::Error) -> Error {
    move |source| Error::Postgres { what, source }
}

/// Connects to `url` (a password missing from it comes from `PGPASSWORD`;
/// `sslmode` and `sslrootcert` as for every PostgreSQL connection of
/// tasklog, `tasklog_postgres::tls`).
pub fn connect(url: &str) -> Result<Client> {
    let (mut config, tls) =
        tasklog_index::pg::tls::parse_url(url).map_err(|reason| Error::PgUrl {
            url: tasklog_index::pg::redact_url(url),
            reason,
        })?;
    if config.get_password().is_none() {
        if let Ok(password) = std::env::var("PGPASSWORD") {
            config.password(password);
        }
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(std::time::Duration::from_secs(5));
    }
    config.application_name("tasklog alerts");
    config.connect(tls).map_err(err("connecting"))
}

impl PgStore {
    /// Connects, creates the table once for the fleet, and brings in this
    /// host's file log.
    pub fn open(url: &str, root: &Path, host_id: &str) -> Result<PgStore> {
        let mut client = connect(url)?;
        let mut tx = client.transaction().map_err(err("migrating"))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .map_err(err("locking the migration"))?;
        tx.batch_execute(MIGRATION)
            .map_err(err("creating the alerts table"))?;
        tx.commit().map_err(err("migrating"))?;
        let mut store = PgStore {
            client,
            url: url.to_owned(),
            root: root.to_path_buf(),
            host_id: host_id.to_owned(),
        };
        for e in crate::journal::read(root)? {
            store.claim(&e.alert, &e.alert.ts)?;
            if e.delivery == Delivery::Delivered {
                let at = e.delivered_at.clone().unwrap_or_default();
                store.delivered(&e.alert.id, e.alert.state, &at)?;
            }
        }
        Ok(store)
    }

    /// The whole log of the index at `url` (`tasklog alerts`).
    pub fn entries_at(url: &str) -> Result<Vec<Entry>> {
        let mut client = connect(url)?;
        let exists: bool = client
            .query_one("SELECT to_regclass('alerts') IS NOT NULL", &[])
            .map_err(err("looking for the alerts table"))?
            .get(0);
        if !exists {
            return Ok(Vec::new());
        }
        read_entries(&mut client, "true", &[])
    }

    fn values(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<(String, f64, String)>> {
        let rows = self
            .client
            .query(sql, params)
            .map_err(err("asking a condition"))?;
        Ok(rows
            .iter()
            .map(|r| {
                (
                    r.get::<_, Option<String>>(0).unwrap_or_default(),
                    r.get::<_, Option<f64>>(1).unwrap_or(0.0),
                    r.get::<_, Option<String>>(2).unwrap_or_default(),
                )
            })
            .collect())
    }
}

fn read_entries(
    client: &mut Client,
    filter: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Entry>> {
    let sql = format!(
        "SELECT payload, delivery, attempts, last_error, delivered_at FROM alerts
          WHERE {filter} ORDER BY fired_at, id, state"
    );
    let rows = client
        .query(sql.as_str(), params)
        .map_err(err("reading the alert log"))?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let alert = serde_json::from_str::<Alert>(r.get::<_, &str>(0)).ok()?;
            Some(Entry {
                alert,
                delivery: if r.get::<_, &str>(1) == "delivered" {
                    Delivery::Delivered
                } else {
                    Delivery::Pending
                },
                attempts: u32::try_from(r.get::<_, i64>(2)).unwrap_or(u32::MAX),
                last_error: r.get(3),
                delivered_at: r.get(4),
            })
        })
        .collect())
}

impl AlertStore for PgStore {
    fn observe(&mut self, rule: &Rule, now: Timestamp) -> Result<Vec<Observation>> {
        let clock = Clock::new(now);
        let rows = match &rule.condition {
            Condition::CostOver { usd, per } => match per {
                Per::Day => self.values(
                    "SELECT day, sum(cost_usd)::float8, day FROM cost_daily WHERE day = $1
                      GROUP BY day HAVING sum(cost_usd)::float8 > $2",
                    &[&clock.today, usd],
                )?,
                Per::Model => self.values(
                    "SELECT model, sum(cost_usd)::float8, min(day) FROM cost_daily WHERE day = $1 AND model <> ''
                      GROUP BY model HAVING sum(cost_usd)::float8 > $2",
                    &[&clock.today, usd],
                )?,
                Per::Task => self.values(
                    "SELECT task_id, sum(cost_usd)::float8, '' FROM cost_rollup
                      GROUP BY task_id HAVING sum(cost_usd)::float8 > $1",
                    &[usd],
                )?,
                Per::Project => self.values(
                    "SELECT p, sum(c.cost_usd)::float8, '' FROM (
                        SELECT host_id, task_id, tasklog_alert_json(document) ->> 'project' AS p FROM tasks) t
                      JOIN cost_rollup c ON c.host_id = t.host_id AND c.task_id = t.task_id
                      WHERE p IS NOT NULL AND p <> '' GROUP BY p HAVING sum(c.cost_usd)::float8 > $1",
                    &[usd],
                )?,
            },
            Condition::TaskFailed => self.values(
                "SELECT DISTINCT task_id, 1.0::float8, '' FROM tasks WHERE lower(status) = 'failed'",
                &[],
            )?,
            Condition::ToolFailures { count, window } => {
                let (start, end) = clock.window(window.as_secs());
                let count = *count as i64;
                self.values(
                    "SELECT task_id, count(*)::float8, $1::text FROM records
                      WHERE event = 'tool.fail' AND ts_source <> 'indexed' AND ts >= $1 AND ts < $2
                      GROUP BY task_id HAVING count(*) >= $3",
                    &[&start, &end, &count],
                )?
            }
            Condition::Stalled { after } => {
                let cutoff = clock.before(after.as_secs());
                let mut rows = self.values(
                    "SELECT t.task_id, 0.0::float8, max(r.ts) FROM tasks t
                      JOIN records r ON r.host_id = t.host_id AND r.task_id = t.task_id
                      WHERE lower(t.status) = 'running' AND t.sealed = 0 AND r.ts_source <> 'indexed'
                      GROUP BY t.task_id HAVING max(r.ts) < $1",
                    &[&cutoff],
                )?;
                for row in &mut rows {
                    row.1 = seconds_since(&row.2, now).round();
                }
                rows
            }
            Condition::Quarantined { count } => {
                let count = *count as i64;
                self.values(
                    "SELECT task_id, count(*)::float8, '' FROM ingest_errors WHERE kind = 'line'
                      GROUP BY task_id HAVING count(*) >= $1",
                    &[&count],
                )?
            }
            Condition::Unpriced => self.values(
                "SELECT model, sum(unpriced_calls)::float8, '' FROM cost_daily
                  GROUP BY model HAVING sum(unpriced_tokens) > 0",
                &[],
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
                "SELECT EXISTS (SELECT 1 FROM tasks WHERE task_id = $1
                    AND status IS NOT NULL AND lower(status) <> 'failed' AND $2::text = $2::text)"
            }
            Condition::Stalled { .. } => {
                "SELECT EXISTS (SELECT 1 FROM tasks t WHERE t.task_id = $1
                    AND ((t.status IS NOT NULL AND lower(t.status) <> 'running') OR t.sealed <> 0
                         OR EXISTS (SELECT 1 FROM records r WHERE r.host_id = t.host_id
                                     AND r.task_id = t.task_id
                                     AND r.ts_source <> 'indexed' AND r.ts > $2)))"
            }
            Condition::Lag { .. } => return Ok(true),
            _ => return Ok(false),
        };
        Ok(self
            .client
            .query_one(sql, &[&alert.subject, &alert.window])
            .map_err(err("asking whether an alert resolved"))?
            .get(0))
    }

    fn lag_bytes(&mut self) -> Result<Option<u64>> {
        let target = tasklog_index::pg::PgTarget::parse(&self.url, &self.host_id)?;
        Ok(tasklog_index::pg::status_postgres(&self.root, &target).lag_bytes)
    }

    fn claim(&mut self, alert: &Alert, at: &str) -> Result<bool> {
        let payload = serde_json::to_string(alert).unwrap_or_default();
        let n = self
            .client
            .execute(
                "INSERT INTO alerts (id, state, rule, subject, fired_at, host_id, payload, delivery, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8)
                 ON CONFLICT (id, state) DO NOTHING",
                &[
                    &alert.id,
                    &alert.state.as_str(),
                    &alert.rule,
                    &alert.subject,
                    &alert.ts,
                    &alert.host_id,
                    &payload,
                    &at,
                ],
            )
            .map_err(err("recording an alert"))?;
        Ok(n == 1)
    }

    fn attempted(&mut self, id: &str, state: State, error: &str, at: &str) -> Result<()> {
        self.client
            .execute(
                "UPDATE alerts SET attempts = attempts + 1, last_error = $3, updated_at = $4
                  WHERE id = $1 AND state = $2",
                &[&id, &state.as_str(), &error, &at],
            )
            .map_err(err("noting a failed attempt"))?;
        Ok(())
    }

    fn delivered(&mut self, id: &str, state: State, at: &str) -> Result<()> {
        self.client
            .execute(
                "UPDATE alerts SET delivery = 'delivered', delivered_at = $3, updated_at = $3
                  WHERE id = $1 AND state = $2 AND delivery = 'pending'",
                &[&id, &state.as_str(), &at],
            )
            .map_err(err("marking an alert delivered"))?;
        Ok(())
    }

    fn pending(&mut self, host: &str, stale_before: &str, at: &str) -> Result<Vec<Entry>> {
        // A host that claimed and then vanished: after a while another
        // takes its messages over (one UPDATE: one taker).
        self.client
            .execute(
                "UPDATE alerts SET host_id = $1, updated_at = $3
                  WHERE delivery = 'pending' AND host_id <> $1 AND updated_at < $2",
                &[&host, &stale_before, &at],
            )
            .map_err(err("taking over stale alerts"))?;
        read_entries(
            &mut self.client,
            "delivery = 'pending' AND host_id = $1",
            &[&host],
        )
    }

    fn fired(&mut self, rule: &str, subject: &str) -> Result<Vec<Alert>> {
        let entries = read_entries(
            &mut self.client,
            "rule = $1 AND subject = $2 AND state = 'firing'",
            &[&rule, &subject],
        )?;
        Ok(entries.into_iter().map(|e| e.alert).collect())
    }

    fn open(&mut self, rule: &str) -> Result<Vec<Alert>> {
        let entries = read_entries(
            &mut self.client,
            "rule = $1 AND state = 'firing'
             AND NOT EXISTS (SELECT 1 FROM alerts r WHERE r.id = alerts.id AND r.state = 'resolved')",
            &[&rule],
        )?;
        Ok(entries.into_iter().map(|e| e.alert).collect())
    }

    fn entries(&mut self) -> Result<Vec<Entry>> {
        read_entries(&mut self.client, "true", &[])
    }
}
