//! Rows as JSON, and the time arguments the API accepts.

use rusqlite::types::ValueRef;
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

/// Runs a cached statement and writes its rows straight into a JSON array
/// of objects, without building a tree: a task page has thousands of rows,
/// and allocating a map per row cost more than the query. Columns named in
/// `json` hold JSON text and are embedded as written when valid. Stops
/// after `max` rows; the flag says whether more were there.
pub fn json_rows(
    conn: &Connection,
    sql: &str,
    params: impl Params,
    json: &[&str],
    max: usize,
) -> rusqlite::Result<(String, bool)> {
    let mut stmt = conn.prepare_cached(sql)?;
    let keys: Vec<String> = stmt.column_names().map(quote).collect();
    let embed: Vec<bool> = stmt.column_names().map(|c| json.contains(&c)).collect();
    let mut rows = stmt.query(params)?;
    let mut out = String::from("[");
    let mut n = 0;
    while let Some(row) = rows.next()? {
        if n == max {
            out.push(']');
            return Ok((out, true));
        }
        if n > 0 {
            out.push(',');
        }
        out.push('{');
        for (i, key) in keys.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(key);
            out.push(':');
            write_value(&mut out, row.get_ref(i)?, embed[i]);
        }
        out.push('}');
        n += 1;
    }
    out.push(']');
    Ok((out, false))
}

/// A JSON string literal.
pub fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

fn write_value(out: &mut String, v: ValueRef<'_>, embed: bool) {
    use std::fmt::Write as _;
    match v {
        ValueRef::Null => out.push_str("null"),
        ValueRef::Integer(i) => {
            let _ = write!(out, "{i}");
        }
        ValueRef::Real(f) => {
            out.push_str(&serde_json::to_string(&f).unwrap_or_else(|_| "null".into()))
        }
        ValueRef::Text(t) => {
            let text = String::from_utf8_lossy(t);
            let valid = embed && serde_json::from_str::<serde::de::IgnoredAny>(&text).is_ok();
            if valid {
                out.push_str(text.trim());
            } else {
                out.push_str(&quote(&text));
            }
        }
        ValueRef::Blob(_) => out.push_str(&json_value(v).to_string()),
    }
}

/// A `since`/`until` argument in the canonical record form
/// (`YYYY-MM-DDTHH:MM:SS.ffffffZ`), which compares as text with `records.ts`.
///
/// Accepts what SQLite's date functions read (`2026-11-22`,
/// `2026-11-22T10:00:00Z`, `2026-11-22T12:00:00+02:00`), `now`, `today`,
/// `yesterday`, and a duration before now (`90m`, `24h`, `7d`, `2w`).
pub fn parse_time(conn: &Connection, arg: &str) -> Result<String, ApiError> {
    let s = arg.trim();
    let (value, modifier) = match s {
        "now" => ("now".to_owned(), "+0 seconds".to_owned()),
        "today" => ("now".to_owned(), "start of day".to_owned()),
        "yesterday" => ("now".to_owned(), "-1 day".to_owned()),
        _ => match duration_seconds(s) {
            Some(secs) => ("now".to_owned(), format!("-{secs} seconds")),
            None => (s.to_owned(), "+0 seconds".to_owned()),
        },
    };
    let sql = if s == "yesterday" {
        "SELECT strftime('%Y-%m-%dT%H:%M:%f', ?1, 'start of day', ?2) || '000Z'"
    } else {
        "SELECT strftime('%Y-%m-%dT%H:%M:%f', ?1, ?2) || '000Z'"
    };
    let looks_like_time =
        value == "now" || s.as_bytes().first().is_some_and(u8::is_ascii_digit) && s.contains('-');
    let parsed: Option<String> = if looks_like_time {
        conn.query_row(sql, (&value, &modifier), |r| r.get(0))?
    } else {
        None
    };
    parsed.ok_or_else(|| {
        ApiError::bad_request(format!(
            "cannot read {arg:?} as a time: use RFC 3339 (2026-11-22T10:00:00Z), a UTC date \
             (2026-11-22), a duration before now (90m, 24h, 7d, 2w), now, today or yesterday"
        ))
    })
}

/// `90m` -> 5400; units s, m, h, d, w.
fn duration_seconds(s: &str) -> Option<u64> {
    let unit = s.chars().last()?;
    let n: u64 = s[..s.len() - unit.len_utf8()].parse().ok()?;
    let scale = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        'w' => 604_800,
        _ => return None,
    };
    n.checked_mul(scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_as_json_text() {
        let conn = Connection::open_in_memory().expect("memory db");
        let (text, more) = json_rows(
            &conn,
            "SELECT 1 AS a, 'x\"y' AS b, '{\"k\": [1]}' AS j, 'not json' AS j2, NULL AS n, 2.5 AS r
             UNION ALL SELECT 2, '', '[]', '{', NULL, 1.0",
            [],
            &["j", "j2"],
            1,
        )
        .expect("rows");
        assert!(more);
        let v: Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(
            v,
            serde_json::json!([{"a": 1, "b": "x\"y", "j": {"k": [1]}, "j2": "not json", "n": null, "r": 2.5}])
        );
    }

    #[test]
    fn times() {
        let conn = Connection::open_in_memory().expect("memory db");
        let ok = |s: &str| parse_time(&conn, s).expect(s);
        assert_eq!(ok("2026-11-22"), "2026-11-22T00:00:00.000000Z");
        assert_eq!(
            ok("2026-11-22T12:00:00+02:00"),
            "2026-11-22T10:00:00.000000Z"
        );
        assert!(ok("7d") < ok("now"));
        assert!(ok("yesterday") < ok("today"));
        for bad in ["", "42", "last week", "2026-13-45", "7 parsecs", "x-1"] {
            assert!(parse_time(&conn, bad).is_err(), "{bad}");
        }
    }
}
