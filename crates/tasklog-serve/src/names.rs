//! Names from URLs: checked with the writer's rules before anything looks
//! them up, then resolved to a document or stream of the task.
//!
//! The router hands over percent-decoded segments, so `%2F`, `%2e%2e` and
//! `%00` arrive as `/`, `..` and NUL and are refused here like any other
//! bad name. The lookup is in the index (`documents`, `files`), never in a
//! path built from the name.

use tasklog_format::{DocName, TaskId};
use tasklog_index::Questions;

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
    /// `<task>/<name>.jsonl`
    Stream(String),
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
pub fn resolve(index: &mut dyn Questions, task: &str, raw: &str) -> Result<Entry, ApiError> {
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
        index.documents(task)?.texts(0)
    };
    let streams: Vec<String> = if wanted == Wanted::Document {
        Vec::new()
    } else {
        index.streams(task)?.texts(0)
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
        Some((false, n)) => Ok(Entry::Stream(n.clone())),
        None => Err(ApiError::not_found(format!(
            "task {task:?} has no document or stream named {raw:?}"
        ))),
    }
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
pub fn require_task(index: &mut dyn Questions, task: &str) -> Result<String, ApiError> {
    match index.resolve_task(task)? {
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
