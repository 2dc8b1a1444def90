//! Reading a PostgreSQL index: what `tasklog query`, `tasks`, `cost` and
//! `status` run with `--db postgres://...`.

use postgres::types::Type;
use postgres::{Client, SimpleQueryMessage};
use serde_json::Value;

use super::{schema, PgTarget};
use tasklog_tail::Result;

/// A read-only connection to a PostgreSQL index.
pub struct PgIndex {
    target: PgTarget,
    client: Client,
}

/// A result set: column names and rows of JSON values.
#[derive(Debug, Default)]
pub struct PgRows {
    /// Column names, in order.
    pub columns: Vec<String>,
    /// One JSON value per column.
    pub rows: Vec<Vec<Value>>,
}

impl std::fmt::Debug for PgIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgIndex")
            .field("target", &self.target)
            .finish()
    }
}

impl PgIndex {
    /// Connects and checks that the database holds a tasklog index this
    /// build can read. With `only_host`, every table and view of the index
    /// shows that host's rows alone: a temporary view of the same name,
    /// filtered on `host_id`, hides each (PostgreSQL looks up relations in
    /// the session's temporary schema first), so any SQL is narrowed.
    pub fn open(target: &PgTarget, only_host: Option<&str>) -> Result<PgIndex> {
        let mut client = target.connect("reader")?;
        schema::check(&mut client, target)?;
        client
            .batch_execute("SET standard_conforming_strings = on")
            .map_err(|e| target.error("configuring the session", e))?;
        if let Some(host) = only_host {
            narrow(&mut client, target, host)?;
        }
        Ok(PgIndex {
            target: target.clone(),
            client,
        })
    }

    /// [`PgIndex::query`] with `$1`, `$2`, ... replaced by `params` as SQL
    /// literals (`NULL` for `None`), for the CLI's own statements.
    pub fn query_with(&mut self, sql: &str, params: &[Option<&str>]) -> Result<PgRows> {
        let text = bind_literals(sql, params);
        self.query(&text)
    }

    /// Ends any one statement after `limit` (`statement_timeout`), so a
    /// question asked of a server cannot hold its connection for long.
    pub fn limit_statements(&mut self, limit: std::time::Duration) -> Result<()> {
        let ms = limit.as_millis().max(1);
        self.client
            .batch_execute(&format!("SET statement_timeout = {ms}"))
            .map_err(|e| self.target.error("setting the statement time limit", e))
    }

    /// The database this reads.
    pub fn target(&self) -> &PgTarget {
        &self.target
    }

    /// Runs one statement in a READ ONLY transaction (so that `tasklog
    /// query` cannot write, whatever the SQL says) and collects its rows.
    ///
    /// The statement is prepared first, which refuses more than one
    /// statement and gives the column types; it then runs through the
    /// simple query protocol, whose values are PostgreSQL's own text form of
    /// every type (dates, intervals, numerics included), turned into JSON by
    /// column type.
    pub fn query(&mut self, sql: &str) -> Result<PgRows> {
        let target = self.target.clone();
        let err = |op| {
            let target = target.clone();
            move |e| target.error(op, e)
        };
        let stmt = self
            .client
            .prepare(sql)
            .map_err(err("preparing the query"))?;
        let types: Vec<Type> = stmt.columns().iter().map(|c| c.type_().clone()).collect();
        let columns = stmt.columns().iter().map(|c| c.name().to_owned()).collect();
        self.client
            .batch_execute("BEGIN READ ONLY")
            .map_err(err("starting a read-only transaction"))?;
        let result = self.client.simple_query(sql);
        let _ = self.client.batch_execute("ROLLBACK");
        let messages = result.map_err(err("running the query"))?;
        let mut rows = Vec::new();
        for message in messages {
            if let SimpleQueryMessage::Row(row) = message {
                rows.push(
                    (0..row.len())
                        .map(|i| cell(row.get(i), types.get(i)))
                        .collect(),
                );
            }
        }
        Ok(PgRows { columns, rows })
    }
}

/// One value of PostgreSQL's text output as JSON, by its column's type:
/// booleans and numbers as JSON's, json and jsonb parsed, the rest (text,
/// dates, times, intervals) as strings, NULL as null.
fn cell(text: Option<&str>, ty: Option<&Type>) -> Value {
    let Some(text) = text else {
        return Value::Null;
    };
    let parsed = match ty {
        Some(&Type::BOOL) => Some(Value::Bool(text == "t")),
        Some(&Type::INT2 | &Type::INT4 | &Type::INT8 | &Type::OID) => {
            text.parse::<i64>().ok().map(Value::from)
        }
        Some(&Type::FLOAT4 | &Type::FLOAT8) => text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number),
        // An integral numeric (a sum of bigints) as an integer when it fits,
        // else as a double, as SQLite's sums read.
        Some(&Type::NUMERIC) => text.parse::<i64>().ok().map(Value::from).or_else(|| {
            text.parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
        }),
        Some(&Type::JSON | &Type::JSONB) => serde_json::from_str(text).ok(),
        _ => None,
    };
    parsed.unwrap_or_else(|| Value::String(text.to_owned()))
}

/// `s` as a standard-conforming SQL string literal.
pub(crate) fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Hides every relation of the index that has a `host_id` column behind a
/// temporary view of the same name showing `host`'s rows alone.
fn narrow(client: &mut Client, target: &PgTarget, host: &str) -> Result<()> {
    let err = |e| target.error("narrowing to one host", e);
    let relations: Vec<String> = client
        .query(
            "SELECT c.table_name::text FROM information_schema.columns c
              WHERE c.table_schema = current_schema() AND c.column_name = 'host_id'
              ORDER BY 1",
            &[],
        )
        .map_err(err)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let schema: String = client
        .query_one("SELECT current_schema()::text", &[])
        .map_err(err)?
        .get(0);
    let mut sql = String::new();
    for name in relations {
        sql.push_str(&format!(
            "CREATE TEMP VIEW {q} AS SELECT * FROM {s}.{q} WHERE host_id = {h};\n",
            q = quote_ident(&name),
            s = quote_ident(&schema),
            h = quote_literal(host)
        ));
    }
    client.batch_execute(&sql).map_err(err)
}

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// `sql` with each `$n` (n from 1 to `params.len()`) replaced by its
/// parameter as a literal, in one pass (a value holding `$2` stays as is).
fn bind_literals(sql: &str, params: &[Option<&str>]) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let digits = rest[at + 1..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count();
        let n: Option<usize> = rest[at + 1..at + 1 + digits].parse().ok();
        match n.filter(|n| (1..=params.len()).contains(n)) {
            Some(n) => {
                out.push_str(&params[n - 1].map_or_else(|| "NULL".to_owned(), quote_literal));
                rest = &rest[at + 1 + digits..];
            }
            None => {
                out.push('$');
                rest = &rest[at + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_bound_in_one_pass_and_quoted() {
        let sql = "SELECT $1::text, $2, $10, $3 WHERE x = $2 AND y = $";
        assert_eq!(
            bind_literals(sql, &[Some("it's"), Some("$1"), None]),
            "SELECT 'it''s'::text, '$1', $10, NULL WHERE x = '$1' AND y = $"
        );
    }
}
