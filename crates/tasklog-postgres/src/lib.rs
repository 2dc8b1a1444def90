//! The shared tasklog store for many hosts: PostgreSQL's `Sink` (see
//! `sink.rs`), schema, status, verify and the reader the CLI uses for
//! `--db postgres://...` (issue 13, docs/POSTGRES.md). The reader and
//! committer are the core's (`tasklog-tail`).
//!
//! Several hosts ship into one database: every row carries `host_id`, and
//! each host's sidecar holds a session-level advisory lock on its host id
//! for as long as it ships, so a second sidecar of the same host exits at
//! once while other hosts ship concurrently. The exactly-once discipline is
//! SQLite's: rows and their file's checkpoint commit in one transaction,
//! the checkpoint moves by compare-and-set, and a unique index on
//! `(host_id, file_id, offset)` is the second guard.

mod answers;
mod documents;
mod live;
mod lock;
mod open;
mod pending;
mod pooler;
pub mod questions;
mod read;
mod schema;
mod secret;
mod sink;
mod status;
pub mod tls;
mod verify;

/// The PostgreSQL client this store is built on (for callers that read
/// with it directly, e.g. tests).
pub use postgres;

use std::time::Duration;

use postgres::Client;

use tasklog_tail::{Error, Result};

pub use answers::PgQuestions;
pub use open::OpenPostgres;
pub use read::{PgIndex, PgRows};
pub use secret::redact_url;
pub(crate) use sink::PgSink;
pub use status::{status_postgres, HostStatus, PgStatus};
pub use verify::verify_postgres;

/// Whether `s` names a PostgreSQL database (a libpq connection URL) rather
/// than a SQLite file.
pub fn is_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

/// A PostgreSQL database to ship into or read from, and the host this
/// process speaks for.
#[derive(Clone)]
pub struct PgTarget {
    config: postgres::Config,
    /// The TLS connector for the URL's `sslmode` and `sslrootcert`.
    tls: tls::Connector,
    /// The URL without its password, for messages and logs.
    display: String,
    host_id: String,
}

impl std::fmt::Debug for PgTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgTarget")
            .field("url", &self.display)
            .field("host_id", &self.host_id)
            .finish()
    }
}

/// How long one connection attempt may take before it counts as a failure
/// (and is retried with backoff by the sidecar).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl PgTarget {
    /// Parses a libpq URL (`postgres://user:password@host:port/db?sslmode=disable`).
    /// `sslmode` and `sslrootcert` (or `PGSSLMODE`, `PGSSLROOTCERT`) have
    /// libpq's meanings ([`tls`]). A password missing from the URL is taken from `PGPASSWORD`, else the
    /// password file (`PGPASSFILE`, else `~/.pgpass`, private only), as
    /// libpq does. `host_id` must be a valid task-id-like name.
    pub fn parse(url: &str, host_id: &str) -> Result<PgTarget> {
        let bad = |reason: String| Error::PgUrl {
            url: redact_url(url),
            reason,
        };
        let (mut config, tls) = tls::parse_url(url).map_err(bad)?;
        if config.get_password().is_none() {
            if let Some(password) = std::env::var("PGPASSWORD")
                .ok()
                .or_else(|| passfile_password(&config))
            {
                config.password(password);
            }
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        // A dead peer is noticed by keepalives instead of a write that
        // hangs until the kernel gives up.
        config.keepalives_idle(Duration::from_secs(30));
        validate_host_id(host_id)?;
        Ok(PgTarget {
            display: redact_url(url),
            config,
            tls,
            host_id: host_id.to_owned(),
        })
    }

    /// The URL without its password.
    pub fn display(&self) -> &str {
        &self.display
    }

    /// The host this process speaks for.
    pub fn host_id(&self) -> &str {
        &self.host_id
    }

    /// Opens a connection named after this process in `pg_stat_activity`
    /// (what another sidecar of the same host is told), and checks that
    /// the database stores UTF-8.
    pub(crate) fn connect(&self, role: &str) -> Result<Client> {
        let mut config = self.config.clone();
        config.application_name(&format!(
            "tasklog {role} host={} pid={}",
            self.host_id,
            std::process::id()
        ));
        let mut client = config.connect(self.tls.clone()).map_err(|e| {
            // A hostssl-only server answers a plain connection with "no
            // pg_hba.conf entry ... no encryption": say what to change.
            match e.as_db_error() {
                Some(db)
                    if config.get_ssl_mode() == postgres::config::SslMode::Disable
                        && db.message().contains("no encryption") =>
                {
                    Error::PgUnsupported {
                        server: self.display.clone(),
                        reason: format!(
                            "the server accepts only TLS connections and sslmode is disable: use sslmode=require, or verify-full with sslrootcert=CA-FILE (server: {})",
                            db.message()
                        ),
                    }
                }
                _ => self.error("connecting", e),
            }
        })?;
        let encoding: String = client
            .query_one("SHOW server_encoding", &[])
            .map_err(|e| self.error("reading the server encoding", e))?
            .get(0);
        if encoding != "UTF8" {
            return Err(Error::PgUnsupported {
                server: self.display.clone(),
                reason: format!(
                    "the database encoding is {encoding}; tasklog stores lines as UTF-8 text (create the database with ENCODING 'UTF8')"
                ),
            });
        }
        Ok(client)
    }

    pub(crate) fn error(&self, op: &'static str, source: postgres::Error) -> Error {
        let transient = is_transient(&source);
        Error::store(self.display.clone(), op, source, transient)
    }
}

/// The password file's password for the first host of `config`.
fn passfile_password(config: &postgres::Config) -> Option<String> {
    let host = match config.get_hosts().first()? {
        postgres::config::Host::Tcp(h) => h.clone(),
        postgres::config::Host::Unix(p) => p.display().to_string(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or_default();
    let database = config.get_dbname().unwrap_or(user);
    secret::from_passfile(&host, port, database, user)
}

/// A host id is a name like a task id (FORMAT.md 2): it is a key in every
/// table, shown in views and typed on command lines.
fn validate_host_id(host_id: &str) -> Result<()> {
    tasklog_format::TaskId::new(host_id)
        .map(drop)
        .map_err(|e| Error::BadHostId {
            host_id: host_id.to_owned(),
            reason: e.to_string(),
        })
}

/// Whether waiting may cure a PostgreSQL error: the connection is gone or
/// was refused, the server is starting or shutting down, out of resources,
/// or the transaction lost a serialization race. Wrong credentials, a
/// missing database or an SQL error are not cured by waiting.
fn is_transient(e: &postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.as_db_error() {
        Some(db) => {
            let code = db.code().code();
            code.starts_with("08")
                || code.starts_with("53")
                || matches!(
                    code,
                    // 57014: a statement timeout (a DBA's `statement_timeout`)
                    // or a cancel; the committer retries in smaller
                    // transactions (issue 22).
                    "57P01" | "57P02" | "57P03" | "57014" | "40001" | "40P01" | "55P03"
                )
        }
        // No answer from the server at all (refused, reset, timed out) is
        // an I/O error; a bad configuration or TLS request is not, and
        // neither is a certificate the connector refused (an I/O error
        // that carries a TLS verdict).
        None => std::error::Error::source(e).is_some_and(|s| {
            s.downcast_ref::<std::io::Error>().is_some() && !tls::is_tls_verdict(s)
        }),
    }
}
