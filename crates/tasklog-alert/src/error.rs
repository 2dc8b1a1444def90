//! The crate's one error type: every variant says where (the rule and key,
//! the file, the database) and what failed.

use std::path::PathBuf;

/// What can go wrong loading rules, keeping the fired-alert log or sending.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A `[[alert]]` table is wrong; names the rule (or its position) and the key.
    #[error("[[alert]] {rule}: key `{key}`: {message}")]
    Rule {
        /// The rule's name, or `#N` (1-based) when it has none.
        rule: String,
        /// The offending key.
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// No rule has this name (`tasklog alerts test NAME`).
    #[error("no [[alert]] named {0:?}")]
    NoSuchRule(String),
    /// The fired-alert log's file could not be read or appended.
    #[error("{}: {what}", path.display())]
    Journal {
        /// The file.
        path: PathBuf,
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The SQLite index refused a statement of the alert store.
    #[error("{}: alert store: {what}", path.display())]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// The statement's purpose.
        what: &'static str,
        /// The cause.
        #[source]
        source: rusqlite::Error,
    },
    /// The PostgreSQL index refused a statement of the alert store.
    #[cfg(feature = "postgres")]
    #[error("PostgreSQL alert store: {what}")]
    Postgres {
        /// The statement's purpose.
        what: &'static str,
        /// The cause.
        #[source]
        source: postgres::Error,
    },
    /// A PostgreSQL URL that cannot be used (bad `sslmode`, unreadable
    /// `sslrootcert`, ...); the URL is shown without its password.
    #[cfg(feature = "postgres")]
    #[error("{url}: {reason}")]
    PgUrl {
        /// The URL, redacted.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A `postgres://` index in a build without the `postgres` feature.
    #[error("this build has no PostgreSQL support (the `postgres` feature)")]
    NoPostgres,
    /// The index could not report its lag.
    #[error("index status")]
    Index(#[from] tasklog_index::Error),
    /// A delivery failed (one attempt).
    #[error("{destination}: {message}")]
    Delivery {
        /// The destination as shown in status (no secrets).
        destination: String,
        /// What happened.
        message: String,
    },
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
