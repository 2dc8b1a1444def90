//! `tasklog alerts`: the fired-alert log (fired and pending messages), and
//! `tasklog alerts test NAME`, a test message through a rule's destination.
//! Also the one place `watch` and `serve` start the alerter from.

use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde_json::{json, Value};
use tasklog_alert::{Alerter, AlerterOptions, DeliveryState, StoreTarget};

use crate::cli::Format;
use crate::config::Config;
use crate::output::Rows;
use crate::Outcome;

#[derive(Debug, Args)]
pub struct AlertsArgs {
    #[command(subcommand)]
    pub action: Option<AlertsAction>,
    /// Output format [default: table on a terminal, jsonl in a pipe]
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Only messages not delivered yet.
    #[arg(long)]
    pub pending: bool,
}

#[derive(Debug, Subcommand)]
pub enum AlertsAction {
    /// Send a test alert through rule NAME's destination now (exit 0 delivered, 2 failed).
    ///
    /// The message has `"test": true`, the subject `test` and a new id each
    /// time; it is not recorded in the fired-alert log.
    Test {
        /// The rule's `name` in the config.
        name: String,
    },
}

/// The index the alerter and `tasklog alerts` use: the sink's PostgreSQL
/// when there is one, else the SQLite file.
fn target(config: &Config, sink: Option<&str>) -> StoreTarget {
    match tasklog_index::postgres_url(&config.db, config.sink(sink)) {
        Some(url) => StoreTarget::Postgres(url.to_owned()),
        None => StoreTarget::Sqlite(config.db.clone()),
    }
}

fn host_id(config: &Config) -> String {
    config.local_host_id().unwrap_or_else(|_| "local".into())
}

/// Starts the alerter beside a sidecar when the config has rules.
/// `TASKLOG_ALERT_INTERVAL_MS` sets the time between passes (1000).
pub fn start(config: &Config, sink: Option<&str>) -> Result<Option<Alerter>> {
    let interval = std::env::var("TASKLOG_ALERT_INTERVAL_MS")
        .ok()
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.parse::<u64>()
                .with_context(|| format!("environment variable TASKLOG_ALERT_INTERVAL_MS={v:?}"))
        })
        .transpose()?
        .unwrap_or(1000)
        .max(10);
    let options = AlerterOptions {
        root: config.root.clone(),
        target: target(config, sink),
        host_id: host_id(config),
        rules: config.alerts.clone(),
        interval: Duration::from_millis(interval),
    };
    Ok(Alerter::start(options)?)
}

/// How long a stopping sidecar waits for a delivery in flight.
pub const STOP_WITHIN: Duration = Duration::from_secs(2);

pub fn run(config: &Config, args: AlertsArgs) -> Result<Outcome> {
    if let Some(AlertsAction::Test { name }) = args.action {
        let rule = config
            .alerts
            .iter()
            .find(|r| r.name == name)
            .ok_or_else(|| tasklog_alert::Error::NoSuchRule(name.clone()))?;
        let alert = tasklog_alert::send_test(rule, &host_id(config))?;
        crate::output::print_json(&alert)?;
        return Ok(Outcome::Success);
    }
    let entries = tasklog_alert::list(&config.root, &target(config, None))?;
    let columns = [
        "id",
        "rule",
        "state",
        "subject",
        "value",
        "threshold",
        "unit",
        "ts",
        "delivery",
        "attempts",
        "last_error",
        "delivered_at",
        "host_id",
        "text",
    ];
    let rows = Rows {
        columns: columns.iter().map(|c| (*c).to_owned()).collect(),
        rows: entries
            .into_iter()
            .filter(|e| !args.pending || e.delivery == DeliveryState::Pending)
            .map(|e| {
                let a = e.alert;
                vec![
                    json!(a.id),
                    json!(a.rule),
                    json!(a.state.as_str()),
                    json!(a.subject),
                    json!(a.value),
                    json!(a.threshold),
                    json!(a.unit),
                    json!(a.ts),
                    json!(match e.delivery {
                        DeliveryState::Pending => "pending",
                        DeliveryState::Delivered => "delivered",
                    }),
                    json!(e.attempts),
                    e.last_error.map_or(Value::Null, Value::from),
                    e.delivered_at.map_or(Value::Null, Value::from),
                    json!(a.host_id),
                    json!(a.text),
                ]
            })
            .collect(),
    };
    if rows.rows.is_empty() {
        return Ok(Outcome::NothingFound);
    }
    crate::output::print(&rows, crate::output::resolve(args.format))?;
    Ok(Outcome::Success)
}

/// `report` (a status) as JSON with `alert_destinations` added: what the
/// alerter of this root last wrote, `null` when it never ran.
pub fn with_destinations(config: &Config, report: &impl serde::Serialize) -> Result<Value> {
    let mut value = serde_json::to_value(report)?;
    if let Some(map) = value.as_object_mut() {
        map.insert(
            "alert_destinations".into(),
            serde_json::to_value(tasklog_alert::read_status(&config.root))?,
        );
    }
    Ok(value)
}

/// The alert destinations' lines of `tasklog status`.
pub fn print_destinations(config: &Config) -> Result<()> {
    if config.alerts.is_empty() {
        return Ok(());
    }
    let Some(report) = tasklog_alert::read_status(&config.root) else {
        outln!(
            "alerts:          {} rule(s), no alerter has run",
            config.alerts.len()
        );
        return Ok(());
    };
    outln!(
        "alerts:          {} rule(s), status of {} by host {}{}",
        config.alerts.len(),
        report.updated_at,
        report.host_id,
        match report.alerter_restarts {
            0 => String::new(),
            n => format!(", alerter restarted {n} time(s) after a panic"),
        }
    );
    for d in &report.destinations {
        outln!(
            "  {}: breaker {}, {} delivered, {} pending, {} failed attempt(s){}",
            d.destination,
            serde_json::to_value(d.state)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            d.delivered,
            d.pending,
            d.failed_attempts,
            d.last_error
                .as_deref()
                .map(|e| format!(", last error: {e}"))
                .unwrap_or_default()
        );
    }
    Ok(())
}
