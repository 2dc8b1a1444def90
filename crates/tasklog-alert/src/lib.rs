//! Alerts for tasklog: `[[alert]]` rules from the config, evaluated over the
//! index (SQLite or a shared PostgreSQL) while the sidecar runs, sent once
//! to a webhook or a command, with a log of every message fired.
//!
//! One job, in four parts: the rules (`rule.rs`, checked at load), the
//! questions each condition asks an index (`store.rs` and its `sqlite.rs`
//! and `postgres.rs` implementations), delivery with retries and a circuit
//! breaker per destination (`deliver.rs`), and the alerter thread that ties
//! them together (`engine.rs`). Every message has a stable id (rule,
//! subject and window hashed) and is recorded as pending, in the index and
//! in `<root>/.tasklog/alerts.jsonl`, before it is sent: a crash resends
//! the same id, never a new one. See docs/ALERTS.md.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config: toml::Table = toml::from_str(r#"
//!     [[alert]]
//!     name = "failed"
//!     when = "task_failed"
//!     command = "cat >> /tmp/failed-tasks.jsonl"
//! "#)?;
//! let tables = config["alert"].as_array().cloned().unwrap_or_default();
//! let rules = tasklog_alert::parse_rules(&tables)?;
//! let alerter = tasklog_alert::Alerter::start(tasklog_alert::AlerterOptions {
//!     root: "/var/log/tasks".into(),
//!     target: tasklog_alert::StoreTarget::Sqlite("/var/lib/tasklog/index.db".into()),
//!     host_id: "build-01".into(),
//!     rules,
//!     interval: std::time::Duration::from_secs(1),
//! })?;
//! # drop(alerter);
//! # Ok(()) }
//! ```

pub use alert::{alert_id, Alert, Delivery as DeliveryState, Entry, Observation, State};
pub use deliver::{BreakerState, DestinationStatus};
pub use engine::{
    open_store, read_status, send_test, status_path, Alerter, AlerterOptions, DestinationsReport,
    StoreTarget,
};
pub use error::{Error, Result};
pub use journal::path as journal_path;
#[cfg(feature = "postgres")]
pub use postgres::PgStore;
pub use rule::{parse_rules, Condition, Delivery, Destination, Per, Rule};
pub use sqlite::SqliteStore;
pub use store::AlertStore;

mod alert;
mod deliver;
mod engine;
mod error;
mod journal;
#[cfg(feature = "postgres")]
mod postgres;
mod rule;
mod sqlite;
mod store;

/// Every message the log under `root` and the index `target` know, oldest
/// first: the index's table when it has one, else the file
/// (`tasklog alerts`; the index is only read).
pub fn list(root: &std::path::Path, target: &StoreTarget) -> Result<Vec<Entry>> {
    match target {
        StoreTarget::Sqlite(db) if db.exists() => match SqliteStore::entries_read_only(db)? {
            Some(entries) => Ok(entries),
            None => journal::read(root),
        },
        StoreTarget::Sqlite(_) => journal::read(root),
        #[cfg(feature = "postgres")]
        StoreTarget::Postgres(url) => PgStore::entries_at(url),
        #[cfg(not(feature = "postgres"))]
        StoreTarget::Postgres(_) => Err(Error::NoPostgres),
    }
}
