//! Rows as JSON, and the time arguments the API accepts.

use rusqlite::{Connection, Params};
use serde_json::{Map, Value};
pub use tasklog_index::json_value;

use crate::error::ApiError;

/// Runs a cached statement and returns its rows as objects keyed by column.
/// Columns named in `json` hold JSON text and are embedded as JSON.
pub fn objects(
    conn: &Connection,
    sql: &str,
    params: impl Params,
    json: &[&str],
) -> rusqlite::Result<Vec<Map<String, Value>>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let columns: Vec<String> = stmt.column_names().map(str::to_owned).collect();
    let embed: Vec<bool> = columns.iter().map(|c| json.contains(&c.as_str())).collect();
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let mut object = Map::with_capacity(columns.len());
        for (i, name) in columns.iter().enumerate() {
            let mut value = json_value(row.get_ref(i)?);
            if embed[i] {
                if let Some(parsed) = value.as_str().and_then(|s| serde_json::from_str(s).ok()) {
                    value = parsed;
                }
            }
            object.insert(name.clone(), value);
        }
        out.push(object);
    }
    Ok(out)
}

/// A JSON string literal.
pub fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// A `since`/`until` parameter as the canonical instant the records
/// hold: the CLI's one parser (`tasklog_index::parse_time`), so the server
/// and `--since` read a time alike whichever store answers; 400 naming the
/// accepted forms otherwise.
pub fn parse_time(arg: &str) -> Result<String, ApiError> {
    tasklog_index::parse_time(arg).map_err(|e| ApiError::bad_request(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(
            parse_time("2026-11-22").expect("date"),
            "2026-11-22T00:00:00.000000Z"
        );
        assert_eq!(
            parse_time("last week").expect_err("bad").status,
            axum::http::StatusCode::BAD_REQUEST
        );
    }
}
