//! Result sets read from the index, as every data command prints them:
//! column names and rows of JSON values. One way to run a statement into
//! [`Rows`] for `query` and the commands built on the views.

use crate::pg::PgIndex;
use anyhow::{Context, Result};
use rusqlite::{Connection, Params};
use serde_json::Value;
use tasklog_index::{json_value, Capability};

use crate::config::Config;

/// A result set: column names and rows of JSON values.
#[derive(Debug, Default)]
pub struct Rows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

/// Runs one statement with `params` and collects its rows.
pub fn collect(conn: &Connection, sql: &str, params: impl Params) -> Result<Rows> {
    let mut stmt = conn.prepare_cached(sql).context("invalid SQL")?;
    let columns: Vec<String> = stmt.column_names().map(str::to_owned).collect();
    let n = columns.len();
    let mut out = Rows {
        columns,
        rows: Vec::new(),
    };
    let mut rows = stmt.query(params).context("query failed")?;
    while let Some(row) = rows.next().context("query failed")? {
        out.rows.push(
            (0..n)
                .map(|i| row.get_ref(i).map(json_value))
                .collect::<Result<_, _>>()?,
        );
    }
    Ok(out)
}

/// The message for a task the index does not know.
pub fn unknown_task(task: &str) {
    errln!(
        "tasklog: no task {task:?} in the index (run `tasklog index`, or check the name with `tasklog tasks`)"
    );
}

/// The index a read command asks: the SQLite file of `--db`, or the
/// PostgreSQL database a `postgres://` `--db` names (narrowed to
/// `--host-id` when given).
pub enum Index {
    /// The embedded index.
    Sqlite(Connection),
    /// A shared PostgreSQL index (docs/POSTGRES.md).
    Postgres(Box<PgIndex>),
}

impl Index {
    /// Opens the index `config.db` names, read-only; with `archives`, a
    /// SQLite index together with its monthly archives (RETENTION.md).
    pub fn open(config: &Config, archives: bool) -> Result<Index> {
        match config.db_url() {
            Some(url) => {
                if archives {
                    crate::cmd::archive::require_sqlite(config, "... --archives")?;
                }
                let target = config.pg_target(url)?;
                let index = PgIndex::open(&target, config.host_id.as_deref())?;
                Ok(Index::Postgres(Box::new(index)))
            }
            None => Ok(Index::Sqlite(crate::cmd::archive::open_for_queries(
                config, archives,
            )?)),
        }
    }
}

impl Index {
    /// Opens the index for a question about one task: on PostgreSQL,
    /// narrowed to one host (`--host-id`, else this machine's), since two
    /// hosts may both have the task.
    pub fn open_for_task(config: &Config) -> Result<Index> {
        match config.db_url() {
            Some(url) => {
                let target = config.pg_target(url)?;
                let index = PgIndex::open(&target, Some(target.host_id()))?;
                Ok(Index::Postgres(Box::new(index)))
            }
            None => Index::open(config, false),
        }
    }

    /// Runs a statement with one parameter, `?1` (written `$1` on
    /// PostgreSQL), on either index.
    pub fn collect_one(&mut self, sql: &str, param: &str) -> Result<Rows> {
        match self {
            Index::Sqlite(conn) => collect(conn, sql, [param]),
            Index::Postgres(pg) => pg_collect(pg, &sql.replace("?1", "$1"), &[Some(param)]),
        }
    }

    /// The task `task` names: its id, or a prefix of exactly one id
    /// (`tasklog_index::match_task_id`); `None` when no task matches, an
    /// error listing the candidates when several do.
    pub fn resolve_task(&mut self, task: &str) -> Result<Option<String>> {
        let ids: Vec<String> = self
            .collect_one(tasklog_index::TASK_IDS_STARTING, task)?
            .rows
            .into_iter()
            .filter_map(|r| r.into_iter().next()?.as_str().map(str::to_owned))
            .collect();
        match tasklog_index::match_task_id(task, ids) {
            tasklog_index::TaskIdMatch::One(id) => Ok(Some(id)),
            tasklog_index::TaskIdMatch::None => Ok(None),
            tasklog_index::TaskIdMatch::Ambiguous(ids) => bail!(
                "task id prefix {task:?} is ambiguous: it starts {}{} (give more of the id)",
                ids.join(", "),
                if ids.len() >= 10 { ", ..." } else { "" }
            ),
        }
    }
}

/// Runs one of the CLI's PostgreSQL statements with `$n` parameters.
pub fn pg_collect(pg: &mut PgIndex, sql: &str, params: &[Option<&str>]) -> Result<Rows> {
    let rows = pg.query_with(sql, params)?;
    Ok(Rows {
        columns: rows.columns,
        rows: rows.rows,
    })
}

/// Fails plainly, with the one message of `store.rs`, when the store
/// `--db` names lacks what `command` needs.
pub fn require(config: &Config, capability: Capability, command: &str) -> Result<()> {
    Ok(config.store_kind().require(capability, command)?)
}
