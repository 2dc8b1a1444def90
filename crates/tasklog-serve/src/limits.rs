//! Bounds on one question: time, rows and bytes, end to end.
//!
//! Why each bound sits where it does: the time limit is a progress handler
//! (it interrupts SQLite between virtual-machine steps, so a recursive CTE
//! or a huge sort stops); `SQLITE_LIMIT_LENGTH` on the connection makes a
//! single value larger than the limit an error inside SQLite
//! (`printf('%.*c', 2e9, 'x')`, `randomblob(1e9)`), before it is ever
//! allocated in full; the answer is written as JSON text straight from the
//! rows, on a blocking thread, and stops at a byte budget, so neither a
//! tree of values nor the serialization runs on the request thread or grows
//! without end. A semaphore lets only a few such questions run at once, so
//! the worst case is a known multiple of the budgets.
//!
//! The request body has a deadline of its own ([`body_deadline`]): the
//! whole body must arrive within `body_timeout`, so a client that trickles
//! a body (or never ends it) costs one connection for that long, never
//! more.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::limits::Limit;
use rusqlite::types::ValueRef;
use rusqlite::Connection;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::AppState;
use crate::vitals::Vitals;

/// Largest request body read (axum's default body limit): the only bodies
/// this server takes are small JSON questions.
pub const MAX_BODY_BYTES: usize = 2 << 20;

/// Virtual-machine steps between two looks at the clock.
const PROGRESS_STEPS: i32 = 1000;

/// The bounds of one question.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Longest the statement may run (conversion included).
    pub timeout: Duration,
    /// Most rows in the answer.
    pub rows: usize,
    /// Most bytes of JSON in the answer; the rows that fit are sent.
    pub bytes: usize,
    /// Largest single value (text or blob) SQLite may build.
    pub value_bytes: usize,
}

/// Reads the request body in full within the body time, before any
/// handler runs: `408` (and the connection closed) when it is late, `413`
/// when it is larger than [`MAX_BODY_BYTES`]. A request without a body
/// passes at once.
pub async fn body_deadline(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return closing(ApiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            message: format!("the request body is larger than {MAX_BODY_BYTES} bytes"),
        });
    }
    let (parts, body) = request.into_parts();
    let limit = state.options.body_timeout;
    let read = axum::body::to_bytes(body, MAX_BODY_BYTES);
    let bytes = match tokio::time::timeout(limit, read).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) => {
            // Past the limit (a chunked body; a declared length is
            // checked before reading) or a broken connection.
            return closing(ApiError::bad_request(format!(
                "reading the request body: {e}"
            )));
        }
        Err(_) => {
            Vitals::count(&state.options.vitals.body_timeouts);
            return closing(ApiError {
                status: StatusCode::REQUEST_TIMEOUT,
                message: format!(
                    "the request body did not arrive within {} ms",
                    limit.as_millis()
                ),
            });
        }
    };
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// An error answer after which the connection is closed: the rest of the
/// body may still be on its way and must not be read as the next request.
fn closing(e: ApiError) -> Response {
    let mut response = e.into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// A connection's clock: interrupts the running statement once `timeout`
/// has passed. Returns the deadline.
pub fn install_deadline(conn: &mut Connection, timeout: Duration) -> Result<Instant, ApiError> {
    let deadline = Instant::now() + timeout;
    conn.progress_handler(PROGRESS_STEPS, Some(move || Instant::now() > deadline))
        .map_err(|e| ApiError::internal(format!("installing the time limit: {e}")))?;
    Ok(deadline)
}

/// The error for a failed statement: "stopped" when its time ran out.
pub fn stopped(e: rusqlite::Error, deadline: Instant, timeout: Duration) -> ApiError {
    if Instant::now() > deadline {
        ApiError::bad_request(format!(
            "query stopped: it ran past its time limit of {} ms",
            timeout.as_millis()
        ))
    } else {
        ApiError::bad_request(format!("SQL: {e}"))
    }
}

/// Runs `f` on a connection of its own whose statements stop after
/// `timeout`, on a blocking thread, holding one of the question permits:
/// search (`raw=1` passes FTS5 syntax through) is as costly as user SQL.
pub async fn bounded<T, F>(state: &Arc<AppState>, timeout: Duration, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&Connection, &dyn Fn(rusqlite::Error) -> ApiError) -> Result<T, ApiError>
        + Send
        + 'static,
{
    let permit = state.question_permit(timeout).await?;
    let db = state.options.db.clone();
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let mut conn = tasklog_index::open_query_connection(&db)?;
        let deadline = install_deadline(&mut conn, timeout)?;
        f(&conn, &|e| stopped(e, deadline, timeout))
    })
    .await
    .map_err(|e| ApiError::internal(format!("question task failed: {e}")))?
}

/// [`query_json`]'s answer from a store other than SQLite (PostgreSQL): a
/// query (`SELECT`, `WITH`, `VALUES`, `TABLE`) is read as a subquery with a
/// row limit one past `bounds.rows`, so the server never holds more rows
/// than it may send; any other statement runs as written, in the store's
/// read-only transaction (which refuses what writes, with its own message).
/// The reader's `statement_timeout` bounds its time; the JSON is cut at
/// `bounds.bytes` as SQLite's is.
pub fn query_json_of(
    index: &mut dyn tasklog_index::Questions,
    sql: &str,
    bounds: Bounds,
) -> Result<String, ApiError> {
    let started = Instant::now();
    let statement = sql.trim().trim_end_matches(';');
    let first_word = statement
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let limited = match first_word.as_str() {
        "select" | "with" | "values" | "table" => format!(
            "SELECT * FROM ({statement}\n) AS query LIMIT {}",
            bounds.rows + 1
        ),
        _ => statement.to_owned(),
    };
    let table = index
        .query(&limited)
        .map_err(|e| ApiError::bad_request(format!("SQL: {}", tasklog_index::format_chain(&e))))?;
    let mut out = String::from("{\"columns\":");
    out.push_str(&serde_json::to_string(&table.columns).unwrap_or_else(|_| "[]".into()));
    out.push_str(",\"rows\":[");
    let mut truncated_by = None;
    for (n, row) in table.rows.iter().enumerate() {
        if n == bounds.rows {
            truncated_by = Some("rows");
            break;
        }
        let text = serde_json::to_string(row).unwrap_or_else(|_| "[]".into());
        if out.len() + text.len() + 64 > bounds.bytes {
            truncated_by = Some("bytes");
            break;
        }
        if n > 0 {
            out.push(',');
        }
        out.push_str(&text);
    }
    let _ = write!(
        out,
        "],\"truncated\":{},\"truncated_by\":{},\"elapsed_ms\":{}}}",
        truncated_by.is_some(),
        truncated_by.map_or("null".to_owned(), |b| format!("\"{b}\"")),
        started.elapsed().as_millis()
    );
    Ok(out)
}

/// Runs `sql` under `bounds` and returns the answer of `POST /api/query`
/// as JSON text: `{"columns": [...], "rows": [[...]], "truncated": bool,
/// "truncated_by": "rows"|"bytes"|null, "elapsed_ms": n}`.
pub fn query_json(conn: &mut Connection, sql: &str, bounds: Bounds) -> Result<String, ApiError> {
    let value_limit = i32::try_from(bounds.value_bytes).unwrap_or(i32::MAX).max(1);
    conn.set_limit(Limit::SQLITE_LIMIT_LENGTH, value_limit)
        .map_err(|e| ApiError::internal(format!("limiting value sizes: {e}")))?;
    let started = Instant::now();
    let deadline = install_deadline(conn, bounds.timeout)?;
    let conn = &*conn;
    let stop = |e| stopped(e, deadline, bounds.timeout);
    let mut stmt = conn.prepare(sql).map_err(stop)?;
    let columns: Vec<String> = stmt.column_names().map(str::to_owned).collect();
    let mut out = String::from("{\"columns\":");
    out.push_str(&serde_json::to_string(&columns).unwrap_or_else(|_| "[]".into()));
    out.push_str(",\"rows\":[");
    let header = out.len();
    let mut rows = stmt.query([]).map_err(stop)?;
    let mut n = 0usize;
    let mut truncated_by = None;
    while let Some(row) = rows.next().map_err(stop)? {
        if n == bounds.rows {
            truncated_by = Some("rows");
            break;
        }
        let mark = out.len();
        if n > 0 {
            out.push(',');
        }
        out.push('[');
        let budget = header + bounds.bytes;
        let mut fits = true;
        for i in 0..columns.len() {
            if i > 0 {
                out.push(',');
            }
            fits = write_value(&mut out, row.get_ref(i).map_err(stop)?, budget);
            if !fits {
                break;
            }
            if Instant::now() > deadline {
                return Err(stopped(
                    rusqlite::Error::InvalidQuery,
                    deadline,
                    bounds.timeout,
                ));
            }
        }
        out.push(']');
        if !fits || out.len() > budget {
            out.truncate(mark);
            truncated_by = Some("bytes");
            break;
        }
        n += 1;
    }
    let by = truncated_by.map_or("null".to_owned(), |b| format!("\"{b}\""));
    let _ = write!(
        out,
        "],\"truncated\":{},\"truncated_by\":{by},\"elapsed_ms\":{}}}",
        truncated_by.is_some(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    Ok(out)
}

/// Appends one value as JSON; false (and a partial write the caller
/// removes) when `out` would pass `budget` bytes.
fn write_value(out: &mut String, v: ValueRef<'_>, budget: usize) -> bool {
    match v {
        ValueRef::Null => out.push_str("null"),
        ValueRef::Integer(i) => {
            let _ = write!(out, "{i}");
        }
        ValueRef::Real(f) if f.is_finite() => {
            let _ = write!(out, "{f:?}");
        }
        ValueRef::Real(_) => out.push_str("null"),
        ValueRef::Text(t) => {
            // Escaping at most doubles ASCII, six-fold for control bytes;
            // the check before is cheap and the one after exact.
            if out.len() + t.len() + 2 > budget {
                return false;
            }
            let text = String::from_utf8_lossy(t);
            match serde_json::to_string(&text) {
                Ok(s) => out.push_str(&s),
                Err(_) => out.push_str("null"),
            }
        }
        ValueRef::Blob(b) => {
            // As `tasklog query` shows blobs: x'<hex>'.
            if out.len() + 2 * b.len() + 5 > budget {
                return false;
            }
            out.push_str("\"x'");
            for byte in b {
                let _ = write!(out, "{byte:02x}");
            }
            out.push_str("'\"");
        }
    }
    out.len() <= budget
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds() -> Bounds {
        Bounds {
            timeout: Duration::from_secs(5),
            rows: 3,
            bytes: 1000,
            value_bytes: 1 << 20,
        }
    }

    fn ask(sql: &str, bounds: Bounds) -> Result<serde_json::Value, ApiError> {
        let mut conn = Connection::open_in_memory().expect("memory db");
        let text = query_json(&mut conn, sql, bounds)?;
        Ok(serde_json::from_str(&text).expect("valid JSON"))
    }

    #[test]
    fn values_rows_and_bytes() {
        let v = ask(
            "SELECT 1 AS a, 'x\"y' AS b, x'00ff' AS c, NULL AS d, 2.5 AS e",
            bounds(),
        )
        .expect("answer");
        assert_eq!(v["columns"], serde_json::json!(["a", "b", "c", "d", "e"]));
        assert_eq!(
            v["rows"],
            serde_json::json!([[1, "x\"y", "x'00ff'", null, 2.5]])
        );
        assert_eq!(v["truncated"], false);
        let many = ask(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n LIMIT 10) SELECT i FROM n",
            bounds(),
        )
        .expect("answer");
        assert_eq!(many["rows"], serde_json::json!([[1], [2], [3]]));
        assert_eq!(many["truncated_by"], "rows");
        let wide = ask(
            "SELECT printf('%.*c', 400, 'x') UNION ALL SELECT printf('%.*c', 400, 'y') \
             UNION ALL SELECT printf('%.*c', 400, 'z')",
            bounds(),
        )
        .expect("answer");
        assert_eq!(wide["rows"].as_array().map(Vec::len), Some(2));
        assert_eq!(wide["truncated_by"], "bytes");
    }

    #[test]
    fn a_huge_value_is_an_error_not_an_allocation() {
        for sql in [
            "SELECT printf('%.*c', 2000000000, 'x')",
            "SELECT randomblob(1000000000)",
            "SELECT zeroblob(1000000000)",
        ] {
            let e = ask(sql, bounds()).expect_err(sql);
            assert_eq!(e.status, 400, "{sql}: {e:?}");
            assert!(e.message.contains("too big"), "{sql}: {}", e.message);
        }
    }

    #[test]
    fn a_runaway_is_stopped() {
        let mut b = bounds();
        b.timeout = Duration::from_millis(100);
        let started = Instant::now();
        let e = ask(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n) SELECT count(*) FROM n",
            b,
        )
        .expect_err("stopped");
        assert!(e.message.contains("time limit"), "{}", e.message);
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
