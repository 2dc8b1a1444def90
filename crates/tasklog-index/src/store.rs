//! Which store a database names, and opening it: the one place that looks
//! at how `--db` (or `--sink`) is spelled. A `postgres://` or
//! `postgresql://` URL is the shared PostgreSQL store; anything else is a
//! SQLite file. Callers get the core's [`Questions`] to read, a
//! [`Tailer`] to index, and the status and verify reports, without
//! naming a store; a build without the `postgres` feature refuses a URL
//! here with one message.

use std::path::Path;

use tasklog_tail::{
    verify::VerifyReport, Error, IndexOptions, Questions, Result, RunMode, Shutdown, StoreKind,
    Tailer,
};

#[cfg(not(feature = "postgres"))]
const WITHOUT: &str = "this tasklog was built without PostgreSQL support (cargo feature `postgres`); use a SQLite --db FILE, or a build with the feature";

/// Whether `s` names a PostgreSQL database rather than a SQLite file.
fn is_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

/// The PostgreSQL URL `db` is, if it is one.
fn url(db: &Path) -> Option<&str> {
    db.to_str().filter(|s| is_url(s))
}

/// The kind of store `db` names.
pub fn store_kind(db: &Path) -> StoreKind {
    match url(db) {
        Some(_) => StoreKind::Postgres,
        None => StoreKind::Sqlite,
    }
}

/// `db` for messages and logs: a URL without its password.
pub fn db_shown(db: &Path) -> String {
    match url(db) {
        Some(u) => redact(u),
        None => db.display().to_string(),
    }
}

#[cfg(feature = "postgres")]
fn redact(url: &str) -> String {
    tasklog_postgres::redact_url(url)
}

/// Without this build's URL parser: everything between the scheme and the
/// first `@`, and the whole query, are hidden.
#[cfg(not(feature = "postgres"))]
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let rest = rest.split_once('@').map_or(rest, |(_, host)| host);
    let rest = rest.split_once('?').map_or(rest, |(path, _)| path);
    format!("{scheme}://***@{rest}")
}

/// This machine's host id: `given` (`--host-id`, `TASKLOG_HOST_ID`,
/// `[sink] host_id`), else the host name.
pub fn local_host_id(given: Option<&str>) -> Result<String> {
    if let Some(id) = given {
        return Ok(id.to_owned());
    }
    let path = "/proc/sys/kernel/hostname";
    let name = std::fs::read_to_string(path)
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map_err(|e| {
            Error::io(
                path,
                "reading the host name (set --host-id or TASKLOG_HOST_ID)",
                e,
            )
        })?;
    Ok(name.trim().to_owned())
}

/// Which hosts' rows a reader of a shared store sees (SQLite has one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hosts {
    /// The host given, else every host (lists and reports).
    GivenOrAll,
    /// The host given, else this machine's (questions about one task,
    /// which two hosts may both have).
    GivenOrLocal,
}

/// How to open a reader.
#[derive(Debug, Clone)]
pub struct Reading {
    /// The host id given (`--host-id`), if any.
    pub host_id: Option<String>,
    /// Whose rows.
    pub hosts: Hosts,
    /// A SQLite index together with its monthly archives (RETENTION.md).
    pub archives: bool,
    /// Longest one statement may run on PostgreSQL (the server's bound on
    /// every question; SQLite's is the caller's progress handler). `None`:
    /// the server's own setting.
    pub statement_timeout: Option<std::time::Duration>,
}

/// Opens the questions of the store `db` names, read-only.
pub fn open_questions(db: &Path, reading: &Reading) -> Result<Box<dyn Questions + Send>> {
    match url(db) {
        Some(u) => {
            if reading.archives {
                StoreKind::Postgres
                    .require(tasklog_tail::Capability::Archives, "... --archives")?;
            }
            open_pg_questions(u, reading)
        }
        None => {
            let conn = if reading.archives {
                tasklog_sqlite::open_query_connection_with_archives(db)?
            } else {
                tasklog_sqlite::open_query_connection(db)?
            };
            Ok(Box::new(tasklog_sqlite::SqliteQuestions::new(
                conn,
                db.display().to_string(),
            )))
        }
    }
}

#[cfg(feature = "postgres")]
fn open_pg_questions(url: &str, reading: &Reading) -> Result<Box<dyn Questions + Send>> {
    let target =
        tasklog_postgres::PgTarget::parse(url, &local_host_id(reading.host_id.as_deref())?)?;
    let only = match reading.hosts {
        Hosts::GivenOrAll => reading.host_id.clone(),
        Hosts::GivenOrLocal => Some(target.host_id().to_owned()),
    };
    let mut index = tasklog_postgres::PgIndex::open(&target, only.as_deref())?;
    if let Some(limit) = reading.statement_timeout {
        index.limit_statements(limit)?;
    }
    Ok(Box::new(tasklog_postgres::PgQuestions::new(index)))
}

#[cfg(not(feature = "postgres"))]
fn open_pg_questions(url: &str, _reading: &Reading) -> Result<Box<dyn Questions + Send>> {
    Err(without(url))
}

#[cfg(not(feature = "postgres"))]
fn without(url: &str) -> Error {
    Error::PgUnsupported {
        server: redact(url),
        reason: WITHOUT.to_owned(),
    }
}

/// Where a sidecar ships: `sink` (a URL: `--sink`, `TASKLOG_SINK`,
/// `[sink] url`) when given, else the store `db` names. Refuses a `sink`
/// that is not a PostgreSQL URL.
fn sink_target<'a>(db: &'a Path, sink: Option<&'a str>) -> Result<Option<&'a str>> {
    match sink {
        Some(s) if is_url(s) => Ok(Some(s)),
        Some(other) => Err(Error::PgUrl {
            url: redact(other),
            reason: "--sink takes a postgres:// or postgresql:// URL (leave --sink out to index into the SQLite file of --db)".into(),
        }),
        None => Ok(url(db)),
    }
}

/// The PostgreSQL database a sidecar with this `sink` ships into (the
/// sink, else a URL `db`), for the crates that open their own connection
/// to it (the alerter).
pub fn postgres_url<'a>(db: &'a Path, sink: Option<&'a str>) -> Option<&'a str> {
    sink.or(url(db))
}

/// Whether a sidecar with this `sink` ships into PostgreSQL.
pub fn ships_to_postgres(db: &Path, sink: Option<&str>) -> bool {
    sink.is_some() || url(db).is_some()
}

/// Where a sidecar ships, for messages: the URL without its password, or
/// the SQLite file.
pub fn shipping_into(db: &Path, sink: Option<&str>) -> Result<String> {
    Ok(match sink_target(db, sink)? {
        Some(u) => redact(u),
        None => db.display().to_string(),
    })
}

/// Opens the sidecar's reader over the store it ships into. On
/// PostgreSQL an unreachable server is waited for (with backoff) until
/// `shutdown`.
pub fn open_tailer(
    root: &Path,
    db: &Path,
    sink: Option<&str>,
    host_id: Option<&str>,
    options: IndexOptions,
    mode: RunMode,
    shutdown: Shutdown,
) -> Result<Tailer> {
    use tasklog_sqlite::OpenSqlite;
    match sink_target(db, sink)? {
        Some(u) => open_pg_tailer(root, u, host_id, options, mode, shutdown),
        None => Tailer::open_with(root, db, options, mode, shutdown),
    }
}

#[cfg(feature = "postgres")]
fn open_pg_tailer(
    root: &Path,
    url: &str,
    host_id: Option<&str>,
    options: IndexOptions,
    mode: RunMode,
    shutdown: Shutdown,
) -> Result<Tailer> {
    use tasklog_postgres::OpenPostgres;
    let target = tasklog_postgres::PgTarget::parse(url, &local_host_id(host_id)?)?;
    tracing::info!(
        server = target.display(),
        host_id = target.host_id(),
        "shipping into PostgreSQL"
    );
    Tailer::open_postgres(root, &target, options, mode, shutdown)
}

#[cfg(not(feature = "postgres"))]
fn open_pg_tailer(
    _root: &Path,
    url: &str,
    _host_id: Option<&str>,
    _options: IndexOptions,
    _mode: RunMode,
    _shutdown: Shutdown,
) -> Result<Tailer> {
    Err(without(url))
}

/// The health report of a store (`tasklog status`): its shape is the
/// store's (one SQLite file with its WAL; many hosts of a shared
/// database), so it is a report per store rather than a question.
#[derive(Debug, serde::Serialize)]
#[serde(untagged)]
pub enum StatusReport {
    /// A SQLite index.
    Sqlite(tasklog_sqlite::Status),
    /// A PostgreSQL index: every host, and this host's lag. An unreachable
    /// server is in the report (`error`), not an `Err`.
    #[cfg(feature = "postgres")]
    Postgres(tasklog_postgres::PgStatus),
}

/// The status of the store `db` names, for the files under `root`.
pub fn store_status(root: &Path, db: &Path, host_id: Option<&str>) -> Result<StatusReport> {
    match url(db) {
        #[cfg(feature = "postgres")]
        Some(u) => {
            let target = tasklog_postgres::PgTarget::parse(u, &local_host_id(host_id)?)?;
            Ok(StatusReport::Postgres(tasklog_postgres::status_postgres(
                root, &target,
            )))
        }
        #[cfg(not(feature = "postgres"))]
        Some(u) => {
            let _ = host_id;
            Err(without(u))
        }
        None => Ok(StatusReport::Sqlite(tasklog_sqlite::status(root, db)?)),
    }
}

/// `tasklog verify`: the index against the files under `root` (on
/// PostgreSQL, this host's rows; `archives`: SQLite's monthly archives too).
pub fn store_verify(
    root: &Path,
    db: &Path,
    host_id: Option<&str>,
    line_limit: u64,
    archives: bool,
) -> Result<VerifyReport> {
    match url(db) {
        Some(u) => {
            if archives {
                StoreKind::Postgres
                    .require(tasklog_tail::Capability::Archives, "verify --archives")?;
            }
            verify_pg(root, u, host_id, line_limit)
        }
        None if archives => tasklog_sqlite::verify_with_archives(root, db, line_limit),
        None => tasklog_sqlite::verify(root, db, line_limit),
    }
}

#[cfg(feature = "postgres")]
fn verify_pg(
    root: &Path,
    url: &str,
    host_id: Option<&str>,
    line_limit: u64,
) -> Result<VerifyReport> {
    let target = tasklog_postgres::PgTarget::parse(url, &local_host_id(host_id)?)?;
    tasklog_postgres::verify_postgres(root, &target, line_limit)
}

#[cfg(not(feature = "postgres"))]
fn verify_pg(
    _root: &Path,
    url: &str,
    _host_id: Option<&str>,
    _line_limit: u64,
) -> Result<VerifyReport> {
    Err(without(url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_urls_name_postgres() {
        assert_eq!(store_kind(Path::new("index.db")), StoreKind::Sqlite);
        assert_eq!(
            store_kind(Path::new("postgres://h/db")),
            StoreKind::Postgres
        );
        assert_eq!(
            store_kind(Path::new("postgresql://h/db")),
            StoreKind::Postgres
        );
        assert!(db_shown(Path::new("postgres://u:secret@h/db"))
            .find("secret")
            .is_none());
        assert!(shipping_into(Path::new("x.db"), Some("x.db")).is_err());
    }
}
