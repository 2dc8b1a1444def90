//! What the CLI sees of PostgreSQL in a build without the `postgres`
//! feature: the same names as `tasklog_index::pg`, where a `postgres://`
//! URL is recognized and refused with one message, and nothing past that
//! refusal can exist (the types are empty enums).

use std::path::Path;

use tasklog_index::{Error, IndexOptions, Result, RunMode, Shutdown, Tailer, VerifyReport};

/// The one message of a build without PostgreSQL.
const WITHOUT: &str = "this tasklog was built without PostgreSQL support (cargo feature `postgres`); use a SQLite --db FILE, or a build with the feature";

/// Whether `s` names a PostgreSQL database (so that it is refused with
/// [`WITHOUT`], not taken for a file name).
pub fn is_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

/// A URL for messages: without this build's parser, everything between
/// the scheme and the first `@` and the whole query are hidden.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let rest = rest.split_once('@').map_or(rest, |(_, host)| host);
    let rest = rest.split_once('?').map_or(rest, |(path, _)| path);
    format!("{scheme}://***@{rest}")
}

/// A PostgreSQL database; none can be named in this build.
#[derive(Debug, Clone)]
pub enum PgTarget {}

impl PgTarget {
    /// Refuses every URL with [`WITHOUT`].
    pub fn parse(url: &str, _host_id: &str) -> Result<PgTarget> {
        let server = url.split_once('@').map_or(url, |(_, at)| at).to_owned();
        Err(Error::PgUnsupported {
            server,
            reason: WITHOUT.to_owned(),
        })
    }

    /// Never called: there is no target.
    pub fn display(&self) -> &str {
        match *self {}
    }

    /// Never called: there is no target.
    pub fn host_id(&self) -> &str {
        match *self {}
    }
}

/// A PostgreSQL index; none can be opened in this build.
#[derive(Debug)]
pub enum PgIndex {}

/// A result set of a PostgreSQL index.
#[derive(Debug)]
pub struct PgRows {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows of JSON values.
    pub rows: Vec<Vec<serde_json::Value>>,
}

impl PgIndex {
    /// Never called: there is no target.
    pub fn open(target: &PgTarget, _only_host: Option<&str>) -> Result<PgIndex> {
        match *target {}
    }

    /// Never called: there is no index.
    pub fn query_with(&mut self, _sql: &str, _params: &[Option<&str>]) -> Result<PgRows> {
        match *self {}
    }
}

/// The CLI's PostgreSQL statements (unused in this build: no index
/// can be opened to run them on).
pub mod questions {
    /// See `tasklog_postgres::questions::TASKS`.
    pub const TASKS: &str = "";
    /// See `tasklog_postgres::questions::COST_BY_TASK_DAY`.
    pub const COST_BY_TASK_DAY: &str = "";
    /// See `tasklog_postgres::questions::COST_BY_DAY`.
    pub const COST_BY_DAY: &str = "";
    /// See `tasklog_postgres::questions::COST_BY_CALL`.
    pub const COST_BY_CALL: &str = "";
}

/// Never called: there is no target.
pub fn verify_postgres(_root: &Path, target: &PgTarget, _line_limit: u64) -> Result<VerifyReport> {
    match *target {}
}

/// Opening a sidecar into PostgreSQL; never called in this build.
pub trait OpenPostgres: Sized {
    /// Never called: there is no target.
    fn open_postgres(
        root: &Path,
        target: &PgTarget,
        options: IndexOptions,
        mode: RunMode,
        shutdown: Shutdown,
    ) -> Result<Self>;
}

impl OpenPostgres for Tailer {
    fn open_postgres(
        _root: &Path,
        target: &PgTarget,
        _options: IndexOptions,
        _mode: RunMode,
        _shutdown: Shutdown,
    ) -> Result<Tailer> {
        match *target {}
    }
}
