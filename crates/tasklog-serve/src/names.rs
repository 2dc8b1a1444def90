//! Names from URLs: checked with the writer's rules before anything looks
//! them up, then resolved to a document or stream of the task.
//!
//! The router hands over percent-decoded segments, so `%2F`, `%2e%2e` and
//! `%00` arrive as `/`, `..` and NUL and are refused here like any other
//! bad name. The lookup is in the index (`documents`, `files`), never in a
//! path built from the name.

use rusqlite::{Connection, OptionalExtension};
use tasklog_format::{DocName, TaskId};

use crate::error::ApiError;

/// A task id, checked.
pub fn task_id(raw: &str) -> Result<String, ApiError> {
    TaskId::new(raw)
        .map(|t| t.as_str().to_owned())
        .map_err(|e| ApiError::bad_request(e.to_string()))
}

/// What a `{name}` of `/logs/{name}` resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// `<task>/<name>.json`
    Document(String),
    /// `<task>/<name>.jsonl`, with its `files.file_id`.
    Stream(String, i64),
}

/// Which kinds a name may resolve to: a `.json` suffix means a document,
/// `.jsonl` a stream, none either.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wanted {
    Document,
    Stream,
    Either,
}

/// Resolves `raw` for `task`: the document or stream of that name, else
/// the one of that name behind a numeric ordering prefix (`01-input`).
/// Documents win over streams, exact names over prefixed ones.
pub fn resolve(conn: &Connection, task: &str, raw: &str) -> Result<Entry, ApiError> {
    let (stem, wanted) = if let Some(s) = raw.strip_suffix(".jsonl") {
        (s, Wanted::Stream)
    } else if let Some(s) = raw.strip_suffix(".json") {
        (s, Wanted::Document)
    } else {
        (raw, Wanted::Either)
    };
    let name = DocName::new(stem).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let name = name.as_str();
    let documents: Vec<String> = if wanted == Wanted::Stream {
        Vec::new()
    } else {
        names(
            conn,
            "SELECT name FROM documents WHERE task_id = ?1 ORDER BY name",
            task,
        )?
    };
    let streams: Vec<String> = if wanted == Wanted::Document {
        Vec::new()
    } else {
        names(
            conn,
            "SELECT name FROM files WHERE task_id = ?1 AND kind = 'stream' ORDER BY name",
            task,
        )?
    };
    let exact = |n: &String| n == name;
    let prefixed = |n: &String| strip_order_prefix(n) == Some(name);
    let found = documents
        .iter()
        .find(|n| exact(n))
        .map(|n| (true, n))
        .or_else(|| streams.iter().find(|n| exact(n)).map(|n| (false, n)))
        .or_else(|| documents.iter().find(|n| prefixed(n)).map(|n| (true, n)))
        .or_else(|| streams.iter().find(|n| prefixed(n)).map(|n| (false, n)));
    match found {
        Some((true, n)) => Ok(Entry::Document(n.clone())),
        Some((false, n)) => {
            let id: Option<i64> = conn
                .prepare_cached(
                    "SELECT file_id FROM files WHERE task_id = ?1 AND name = ?2 AND kind = 'stream'",
                )?
                .query_row((task, n), |r| r.get(0))
                .optional()?;
            id.map(|id| Entry::Stream(n.clone(), id))
                .ok_or_else(|| ApiError::not_found(format!("task {task:?} has no stream {n:?}")))
        }
        None => Err(ApiError::not_found(format!(
            "task {task:?} has no document or stream named {raw:?}"
        ))),
    }
}

fn names(conn: &Connection, sql: &str, task: &str) -> Result<Vec<String>, ApiError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map([task], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// `02-webhook-flow` -> `webhook-flow`: one or more ASCII digits and a dash.
fn strip_order_prefix(name: &str) -> Option<&str> {
    let digits = name.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    name[digits..]
        .strip_prefix('-')
        .filter(|rest| !rest.is_empty())
}

/// The task `task` names: its id, or a prefix of exactly one id (404 when
/// none, 400 naming the candidates when several).
pub fn require_task(conn: &Connection, task: &str) -> Result<String, ApiError> {
    let ids = conn
        .prepare_cached(tasklog_index::TASK_IDS_STARTING)?
        .query_map([task], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    match tasklog_index::match_task_id(task, ids) {
        tasklog_index::TaskIdMatch::One(id) => Ok(id),
        tasklog_index::TaskIdMatch::None => Err(ApiError::not_found(format!(
            "no task {task:?} in the index"
        ))),
        tasklog_index::TaskIdMatch::Ambiguous(ids) => Err(ApiError::bad_request(format!(
            "task id prefix {task:?} is ambiguous: it starts {} (give more of the id)",
            ids.join(", ")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_prefixes() {
        assert_eq!(strip_order_prefix("02-webhook-flow"), Some("webhook-flow"));
        assert_eq!(strip_order_prefix("1-x"), Some("x"));
        assert_eq!(strip_order_prefix("metadata"), None);
        assert_eq!(strip_order_prefix("02-"), None);
        assert_eq!(strip_order_prefix("02input"), None);
    }

    #[test]
    fn hostile_task_ids_are_refused() {
        for bad in ["..", ".", "a/b", "a\0b", "", ".hidden", &"x".repeat(256)] {
            let e = task_id(bad).expect_err(bad);
            assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST, "{bad}");
        }
        assert_eq!(task_id("gh-450").ok().as_deref(), Some("gh-450"));
    }
}
