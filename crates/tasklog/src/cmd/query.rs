//! `tasklog query SQL`: read-only SQL, enforced by SQLite.

use anyhow::{Context, Result};
use clap::Args;
use serde_json::Value;

use crate::cli::Format;
use crate::config::Config;
use crate::output::{self, Rows};
use crate::Outcome;

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The SQL to run (one statement). Writes, ATTACH and state-changing PRAGMAs fail.
    pub sql: String,
    /// Output format [default: table on a terminal, jsonl otherwise]
    #[arg(long, value_enum)]
    pub format: Option<Format>,
}

pub fn run(config: &Config, args: QueryArgs) -> Result<Outcome> {
    let conn = tasklog_index::open_query_connection(&config.db)?;
    let rows = run_sql(&conn, &args.sql)?;
    let found = !rows.rows.is_empty();
    output::print(&rows, output::resolve(args.format))?;
    Ok(if found {
        Outcome::Success
    } else {
        Outcome::NotFound
    })
}

/// Runs one statement and collects its rows as JSON values.
pub fn run_sql(conn: &rusqlite::Connection, sql: &str) -> Result<Rows> {
    let mut stmt = conn.prepare(sql).context("invalid SQL")?;
    let columns: Vec<String> = stmt.column_names().map(str::to_owned).collect();
    let n = columns.len();
    let mut out = Rows {
        columns,
        rows: Vec::new(),
    };
    let mut rows = stmt.query([]).context("query failed")?;
    while let Some(row) = rows.next().context("query failed")? {
        let mut values = Vec::with_capacity(n);
        for i in 0..n {
            values.push(match row.get_ref(i)? {
                rusqlite::types::ValueRef::Null => Value::Null,
                rusqlite::types::ValueRef::Integer(v) => v.into(),
                rusqlite::types::ValueRef::Real(v) => v.into(),
                rusqlite::types::ValueRef::Text(t) => {
                    String::from_utf8_lossy(t).into_owned().into()
                }
                rusqlite::types::ValueRef::Blob(b) => format!(
                    "x'{}'",
                    b.iter().map(|x| format!("{x:02x}")).collect::<String>()
                )
                .into(),
            });
        }
        out.rows.push(values);
    }
    Ok(out)
}
