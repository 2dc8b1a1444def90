//! The index's error type. Variants carry the path they concern; a
//! store's own errors arrive boxed in [`Error::Store`], so the core
//! names neither rusqlite nor the PostgreSQL client.

use std::path::PathBuf;

/// Everything that can go wrong while indexing or querying.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A store failed (SQLite or PostgreSQL: the database, the connection
    /// or a statement). The store decides, when it builds the error,
    /// whether waiting may cure it.
    #[error("{at}: {op}")]
    Store {
        /// The database file, or the database URL with its password removed.
        at: String,
        /// What was being done.
        op: &'static str,
        /// The store's own error (`rusqlite::Error`, `postgres::Error`).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
        /// Whether waiting may cure it: busy, locked, full, unreachable
        /// (see the stores' classification).
        transient: bool,
    },
    /// A `postgres://` URL that cannot be used.
    #[error("{url}: invalid PostgreSQL URL: {reason}")]
    PgUrl {
        /// The URL, password removed.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The PostgreSQL database cannot hold a tasklog index, or a command
    /// cannot work on one.
    #[error("{server}: {reason}")]
    PgUnsupported {
        /// The database URL, password removed.
        server: String,
        /// Why, and what to do instead.
        reason: String,
    },
    /// A host id that is not a valid name.
    #[error("host id {host_id:?}: {reason} (set --host-id, TASKLOG_HOST_ID or [sink] host_id)")]
    BadHostId {
        /// The host id given.
        host_id: String,
        /// Why it is refused.
        reason: String,
    },
    /// Another sidecar of the same host ships into the same database.
    #[error("{server}: another tasklog sidecar of host {host_id:?} is already shipping into this database ({holder}); stop it, or give this one another --host-id")]
    PgAlreadyShipping {
        /// The database URL, password removed.
        server: String,
        /// The host both claim to be.
        host_id: String,
        /// Who holds the host's advisory lock, from `pg_stat_activity`.
        holder: String,
    },
    /// A file system operation failed.
    #[error("{path}: {op}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The database was written by a newer tasklog.
    #[error("{path}: schema version {found} is newer than this tasklog supports ({supported}); upgrade tasklog or index into a new database")]
    NewerSchema {
        /// The database file.
        path: PathBuf,
        /// Version found in the database.
        found: i64,
        /// Newest version this build knows.
        supported: i64,
    },
    /// Another indexer holds the database.
    #[error("{path}: another tasklog indexer is already running on this database (lock file {lock} is held; a reader of a database without its -wal and -shm files holds it too, for as long as it reads)")]
    AlreadyRunning {
        /// The database file.
        path: PathBuf,
        /// The lock file.
        lock: PathBuf,
    },
    /// The database does not exist (read-only commands never create it).
    #[error("{path}: no index database here yet; create it with `tasklog index` (or keep `tasklog watch` running)")]
    NoDatabase {
        /// The database file.
        path: PathBuf,
    },
    /// A reader cannot read the database with the access it has: names the
    /// file and the access that is missing.
    #[error("{path}: {missing}")]
    ReadAccess {
        /// The file or folder the access is missing on.
        path: PathBuf,
        /// Which access is missing, and what would fix it.
        missing: String,
    },
    /// A checkpoint did not match what the indexer expected: another process
    /// wrote the index, or a bug. The transaction was rolled back.
    #[error("{path}: checkpoint moved underneath the indexer (expected offset {expected}); nothing was committed, restart to resume from the stored checkpoints")]
    CheckpointConflict {
        /// The file whose checkpoint conflicted.
        path: String,
        /// The offset the indexer expected to find.
        expected: u64,
    },
    /// A price file is not the TOML shape of `config/prices.toml`.
    #[error("{path}: invalid price table")]
    PriceFile {
        /// The price file (`built-in` for the compiled-in table).
        path: PathBuf,
        /// The TOML parser's error, with line and column.
        #[source]
        source: toml::de::Error,
    },
    /// One entry of a price file is unusable.
    #[error("{path}: price of model {model:?} from {effective_from:?}: {problem}")]
    PriceEntry {
        /// The price file.
        path: PathBuf,
        /// The entry's model name.
        model: String,
        /// The entry's first day.
        effective_from: String,
        /// What is wrong with it.
        problem: PriceProblem,
    },
    /// Shutdown was requested while the database could not be written
    /// (locked by another process, say): the open batch was rolled back
    /// with its checkpoints, so its lines are read again at the next start.
    #[error("stopped on request with {uncommitted_ops} operation(s) not committed; they are read again from the files at the next start")]
    ShuttingDown {
        /// Ops of the abandoned batch.
        uncommitted_ops: usize,
    },
    /// `--month` is not a month written `YYYY-MM`.
    #[error("--month {month:?}: expected a month written YYYY-MM (e.g. 2025-10)")]
    BadMonth {
        /// What was given.
        month: String,
    },
    /// More archives than SQLite can attach to one connection.
    #[error("{path}: {archives} monthly archives, but SQLite attaches at most {limit} databases to one connection; unarchive or merge older months, or query an archive alone with --db")]
    TooManyArchives {
        /// The main database.
        path: PathBuf,
        /// Archives the main database lists.
        archives: usize,
        /// SQLite's limit in this build.
        limit: usize,
    },
    /// The main database lists archived tasks of a month whose archive
    /// database is not there.
    #[error("{path}: the archive of {month} is missing, but the index lists tasks archived there; restore the file (or run `tasklog unarchive --month {month}` after restoring it)")]
    ArchiveMissing {
        /// Where the archive should be.
        path: PathBuf,
        /// Its month.
        month: String,
    },
    /// A command needs a capability the store does not have (see
    /// `store.rs`: the one message for every such refusal).
    #[error("tasklog {command} needs a SQLite index (--db FILE), not {store}: {why}; {instead} (docs/POSTGRES.md)")]
    Unsupported {
        /// The command, as typed.
        command: String,
        /// The store's name.
        store: &'static str,
        /// Why the store cannot.
        why: &'static str,
        /// What to do instead.
        instead: &'static str,
    },
    /// The indexer's writer thread stopped.
    #[error("the index writer thread stopped: {cause}")]
    CommitterStopped {
        /// Why.
        cause: CommitterStop,
    },
}

/// What is wrong with a price entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PriceProblem {
    /// `name` is empty.
    #[error("the name is empty")]
    EmptyName,
    /// `effective_from` is not `YYYY-MM-DD`.
    #[error("effective_from must be a date written YYYY-MM-DD")]
    BadDay,
    /// A price is negative or not a number.
    #[error("{0} must be a non-negative number of USD per million tokens")]
    BadPrice(&'static str),
}

/// Why the committer thread is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CommitterStop {
    /// `finish` already stopped it.
    #[error("it was already finished")]
    Finished,
    /// It returned without an error of its own (its channel closed).
    #[error("it exited")]
    Exited,
    /// It panicked.
    #[error("it panicked")]
    Panicked,
    /// A flush failed; the flush's caller got that error.
    #[error("a flush failed")]
    FlushFailed,
}

impl Error {
    /// A store's error, with the place (file or URL) and the operation.
    pub fn store(
        at: impl Into<String>,
        op: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
        transient: bool,
    ) -> Error {
        Error::Store {
            at: at.into(),
            op,
            source: Box::new(source),
            transient,
        }
    }

    /// A file system error, with the path and the operation.
    pub fn io(path: impl Into<PathBuf>, op: &'static str, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            op,
            source,
        }
    }
}

/// Shorthand for results with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
