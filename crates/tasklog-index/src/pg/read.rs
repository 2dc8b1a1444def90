//! Reading a PostgreSQL index: what `tasklog query`, `tasks`, `cost` and
//! `status` run with `--db postgres://...`.

use postgres::types::Type;
use postgres::{Client, SimpleQueryMessage};
use serde_json::Value;

use super::{schema, PgTarget};
use crate::error::Result;

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
    /// build can read. `host_id` is the local host (for `verify` and
    /// `status`).
    pub fn open(target: &PgTarget) -> Result<PgIndex> {
        let mut client = target.connect("reader")?;
        schema::check(&mut client, target)?;
        Ok(PgIndex {
            target: target.clone(),
            client,
        })
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
