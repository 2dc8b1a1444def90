//! The questions people ask of an index, as types, and the one trait every
//! store answers them through ([`Questions`]). The CLI's read commands and
//! `tasklog serve` ask through it and nothing else, so no caller matches on
//! the store; each store's SQL (both dialects) sits beside its
//! implementation (`tasklog-sqlite/src/answers.rs`,
//! `tasklog-postgres/src/answers.rs`).
//!
//! Answers are [`Table`]s (column names and rows of JSON values) rather than
//! one struct per question, on purpose: the shape is dynamic where it
//! matters (a cost report has one column per grouping key, PostgreSQL adds
//! `host_id` where two hosts may share a task id, `query` is any SQL), every
//! caller prints or serializes rows generically (`output.rs` as a table,
//! CSV or JSON; the server as JSON objects), and the parity tests compare
//! ordered values column by column. Column names and order are the
//! contract (docs/board: the facts columns of `tasks`); each method's doc
//! names them.

pub mod cost;
pub mod live;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::Result;
use crate::store::{Capability, StoreKind};

/// An answer: column names and rows of JSON values (integers and reals as
/// numbers, text as strings, NULL as null).
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct Table {
    /// Column names, in order.
    pub columns: Vec<String>,
    /// One value per column.
    pub rows: Vec<Vec<Value>>,
}

impl Table {
    /// The position of column `name`.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// The first row's first value as an integer (a count, an id).
    pub fn integer(&self) -> Option<i64> {
        let v = self.rows.first()?.first()?;
        v.as_i64().or_else(|| v.as_bool().map(i64::from))
    }

    /// The first row's first two values as (text, integer): a place
    /// `(ts, record_id)`; `None` when there is no row or they are not.
    pub fn text_and_integer(&self) -> Option<(String, i64)> {
        let row = self.rows.first()?;
        Some((row.first()?.as_str()?.to_owned(), row.get(1)?.as_i64()?))
    }

    /// Column `i` of every row, as text (rows where it is not text left out).
    pub fn texts(&self, i: usize) -> Vec<String> {
        self.rows
            .iter()
            .filter_map(|r| r.get(i)?.as_str().map(str::to_owned))
            .collect()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The rows as JSON objects keyed by column; columns named in `json`
    /// hold JSON text and are embedded as JSON when they parse.
    pub fn objects(&self, json: &[&str]) -> Vec<Map<String, Value>> {
        self.rows
            .iter()
            .map(|row| {
                self.columns
                    .iter()
                    .zip(row)
                    .map(|(c, v)| {
                        let v = match v {
                            Value::String(s) if json.contains(&c.as_str()) => {
                                serde_json::from_str(s).unwrap_or_else(|_| v.clone())
                            }
                            _ => v.clone(),
                        };
                        (c.clone(), v)
                    })
                    .collect()
            })
            .collect()
    }

    /// Removes column `name` (and its values) when present.
    pub fn drop_column(&mut self, name: &str) {
        if let Some(i) = self.column(name) {
            self.columns.remove(i);
            for row in &mut self.rows {
                if i < row.len() {
                    row.remove(i);
                }
            }
        }
    }
}

/// What orders the task list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TaskSort {
    /// When the task started (the default).
    #[default]
    Started,
    /// The task's latest known time.
    LastActivity,
    /// Cost in USD.
    Cost,
    /// Duration from start to finish.
    Duration,
}

impl TaskSort {
    /// Every sort, in the order the docs list them.
    pub const ALL: [TaskSort; 4] = [
        TaskSort::Started,
        TaskSort::LastActivity,
        TaskSort::Cost,
        TaskSort::Duration,
    ];

    /// The name the CLI and the API use (`sort=`).
    pub fn key(self) -> &'static str {
        match self {
            TaskSort::Started => "started",
            TaskSort::LastActivity => "last_activity",
            TaskSort::Cost => "cost",
            TaskSort::Duration => "duration",
        }
    }

    /// The sort named `key`.
    pub fn parse(key: &str) -> Option<TaskSort> {
        TaskSort::ALL.into_iter().find(|s| s.key() == key)
    }
}

/// Which tasks, in which order (`tasklog tasks`, `GET /api/tasks`; the
/// board's contract). Times are canonical instants
/// (`2026-11-22T10:00:00.000000Z`) on `started_at`; a task whose start is
/// unknown matches neither bound. Text filters compare whole values but
/// `text` (a substring of the id or title, ASCII case-insensitive).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskFilter {
    /// A status of the facts' vocabulary (or a source's own, kept as is).
    pub status: Option<String>,
    /// Started at or after.
    pub since: Option<String>,
    /// Started before.
    pub until: Option<String>,
    /// A substring of the task id or title.
    pub text: Option<String>,
    /// The agent.
    pub agent: Option<String>,
    /// The project.
    pub project: Option<String>,
    /// One model among the task's models.
    pub model: Option<String>,
    /// Only tasks with at least one error.
    pub errors: bool,
    /// The order; unknown values last in either direction, then the id.
    pub sort: TaskSort,
    /// Smallest (earliest) first instead of largest first.
    pub ascending: bool,
    /// At most this many rows.
    pub limit: Option<u64>,
    /// Rows skipped first.
    pub offset: u64,
}

/// A grouping key of the cost report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CostKey {
    /// `gen_ai.request.model`.
    Model,
    /// The UTC day of the call.
    Day,
    /// The task folder (on PostgreSQL with `host_id` as a column of its own before it).
    Task,
    /// `gen_ai.provider.name`.
    Provider,
    /// The task's project.
    Project,
    /// The agent that ran the task.
    Agent,
}

impl CostKey {
    /// The column the key is (and its name in the answer).
    pub fn column(self) -> &'static str {
        match self {
            CostKey::Model => "model",
            CostKey::Day => "day",
            CostKey::Task => "task_id",
            CostKey::Provider => "provider",
            CostKey::Project => "project",
            CostKey::Agent => "agent",
        }
    }

    /// The key a person names (`task` or `task_id` for the task).
    pub fn parse(name: &str) -> Option<CostKey> {
        Some(match name.trim() {
            "model" => CostKey::Model,
            "day" => CostKey::Day,
            "task" | "task_id" => CostKey::Task,
            "provider" => CostKey::Provider,
            "project" => CostKey::Project,
            "agent" => CostKey::Agent,
            _ => return None,
        })
    }

    /// Keys that need each row's task (the per-task rollup or the calls).
    pub fn per_task(self) -> bool {
        matches!(self, CostKey::Task | CostKey::Project | CostKey::Agent)
    }

    /// Keys that are facts of the row's task (joined from `tasks`).
    pub fn task_fact(self) -> bool {
        matches!(self, CostKey::Project | CostKey::Agent)
    }
}

/// A cost report: grouped by one or two keys over calls in `[since,
/// until)` (canonical instants; whole UTC days read the daily rollups).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostQuery {
    /// One or two keys.
    pub by: Vec<CostKey>,
    /// Calls at or after.
    pub since: Option<String>,
    /// Calls before.
    pub until: Option<String>,
}

/// A full-text search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    /// What was typed: with `raw` the store's own query syntax (FTS5's,
    /// PostgreSQL's `websearch_to_tsquery`), else words and "quoted
    /// phrases" that must all occur ([`search_terms`]).
    pub text: String,
    /// Pass `text` to the store's query language.
    pub raw: bool,
    /// Only this task.
    pub task: Option<String>,
    /// At most this many results.
    pub limit: u64,
}

/// The sections of `tasklog export` (and their `kind` in JSON Lines).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportSection {
    /// The task's documents: name, version, updated_at, body.
    Documents,
    /// Every record: stream, offset, line, ts, event, body.
    Records,
    /// The `tool_calls` view's rows of the task.
    ToolCalls,
    /// The `api_calls` rows of the task.
    ApiCalls,
    /// Quarantined lines and file diagnostics.
    IngestErrors,
}

impl ExportSection {
    /// Every section, in the order of the document.
    pub const ALL: [ExportSection; 5] = [
        ExportSection::Documents,
        ExportSection::Records,
        ExportSection::ToolCalls,
        ExportSection::ApiCalls,
        ExportSection::IngestErrors,
    ];

    /// The section's key in the JSON document.
    pub fn name(self) -> &'static str {
        match self {
            ExportSection::Documents => "documents",
            ExportSection::Records => "records",
            ExportSection::ToolCalls => "tool_calls",
            ExportSection::ApiCalls => "api_calls",
            ExportSection::IngestErrors => "ingest_errors",
        }
    }

    /// The `kind` of its lines in JSON Lines.
    pub fn kind(self) -> &'static str {
        match self {
            ExportSection::Documents => "document",
            ExportSection::Records => "record",
            ExportSection::ToolCalls => "tool_call",
            ExportSection::ApiCalls => "api_call",
            ExportSection::IngestErrors => "ingest_error",
        }
    }
}

/// The parts of a task's page beside its timeline (`GET /api/tasks/{id}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskPart {
    /// `tool_calls` of the task: id, span_id, tool_name, status, input,
    /// output, error, duration_ms, started_at, completed_at.
    ToolCalls,
    /// `logic_flow` rows of its decisions: flow_id, timestamp,
    /// decision_point, function_name, decision_input, decision_output,
    /// decision_reason, duration_ms.
    Decisions,
    /// `conversations` blocks of its messages: conversation_id,
    /// message_index, block_index, timestamp, role, content_type, content,
    /// tool_name, tool_input, tool_output, tool_success.
    Conversation,
    /// Its quarantined lines and file diagnostics, resolved ones too: path,
    /// line, offset, reason, prefix, detected_at.
    Quarantined,
    /// Its errors, each with the record its transcript item starts at
    /// (failed tool calls at their `tool.start`), in time order: record_id,
    /// at, ts, event, name, error. Failed tool calls, failed model calls,
    /// error-level system events, records carrying an `error`.
    Errors,
    /// Its sizes in one row: records, tool_calls (`tool.start` records).
    Counts,
}

impl TaskPart {
    /// Every part, in the order of the page.
    pub const ALL: [TaskPart; 4] = [
        TaskPart::ToolCalls,
        TaskPart::Decisions,
        TaskPart::Conversation,
        TaskPart::Quarantined,
    ];
}

/// What a task id given by a person names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskIdMatch {
    /// This task: the id itself, or the one id the prefix starts.
    One(String),
    /// No task.
    None,
    /// A prefix of several ids (at most ten of them, sorted).
    Ambiguous(Vec<String>),
}

/// Resolves `given` against the ids equal to it or starting with it (the
/// equal one first, at most 11): an exact id wins, else a prefix of exactly
/// one id names it. The one resolver of every command and route that takes
/// a task id.
pub fn match_task_id(given: &str, ids: Vec<String>) -> TaskIdMatch {
    if given.is_empty() {
        return TaskIdMatch::None;
    }
    match ids.as_slice() {
        [] => TaskIdMatch::None,
        [first, ..] if first == given => TaskIdMatch::One(first.clone()),
        [only] => TaskIdMatch::One(only.clone()),
        _ => TaskIdMatch::Ambiguous(ids.into_iter().take(10).collect()),
    }
}

/// The words and phrases of a search box: `fix "flaky widget" test` ->
/// `["fix", "flaky widget", "test"]`. An unclosed quote runs to the end.
/// Nothing typed is query syntax: every store quotes each term.
pub fn search_terms(q: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = q;
    while let Some(start) = rest.find(|c: char| !c.is_whitespace()) {
        rest = &rest[start..];
        if let Some(inner) = rest.strip_prefix('"') {
            let end = inner.find('"').unwrap_or(inner.len());
            let phrase = inner[..end]
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            if !phrase.is_empty() {
                out.push(phrase);
            }
            rest = inner.get(end + 1..).unwrap_or("");
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let word = rest[..end].trim_matches('"');
            if !word.is_empty() {
                out.push(word.to_owned());
            }
            rest = &rest[end..];
        }
    }
    out
}

/// The questions an index answers; one implementation per store
/// (`SqliteQuestions`, `PgQuestions`), opened by the facade
/// (`tasklog_index::open_questions`) from `--db`. Object safe: callers hold
/// a `Box<dyn Questions>`.
///
/// Every method answering about one task takes its full id (resolve a
/// prefix first with [`Questions::resolve_task`]). On PostgreSQL the
/// answer covers the hosts the store was opened for (one host, or all).
pub trait Questions {
    /// Which store answers.
    fn kind(&self) -> StoreKind;

    /// Whether this store has `capability` (one answer per store, one message).
    fn supports(&self, capability: Capability) -> bool {
        self.kind().supports(capability)
    }

    /// `Ok` when the store has `capability`, else the one refusal naming `command`.
    fn require(&self, capability: Capability, command: &str) -> Result<()> {
        self.kind().require(capability, command)
    }

    /// Task ids equal to `given` or starting with it, the equal one first,
    /// at most 11, sorted.
    fn task_ids_starting(&mut self, given: &str) -> Result<Vec<String>>;

    /// The task `given` names (an id or a unique prefix; [`match_task_id`]).
    fn resolve_task(&mut self, given: &str) -> Result<TaskIdMatch> {
        let ids = self.task_ids_starting(given)?;
        Ok(match_task_id(given, ids))
    }

    /// The task list: the board's facts columns (task_id, title, status,
    /// started_at, finished_at, duration_ms, last_activity_at, project,
    /// git_branch, agent, models, error_count, llm_calls, tokens, cost_usd,
    /// unpriced_calls, sealed), `host_id` first on PostgreSQL.
    fn tasks(&mut self, filter: &TaskFilter) -> Result<Table>;

    /// How many tasks `filter` matches, ignoring its limit and offset.
    fn count_tasks(&mut self, filter: &TaskFilter) -> Result<u64>;

    /// The [`Questions::tasks`] row of one task (no row: unknown).
    fn task_summary(&mut self, task: &str) -> Result<Table>;

    /// The task's row of the `tasks` table as stored (`SELECT *`).
    fn task_row(&mut self, task: &str) -> Result<Table>;

    /// The timeline of a task, in time order: documents, records and open
    /// quarantined lines (a resolved diagnostic is no longer a fact about
    /// the files). Columns: ts, source, event, name, status, duration_ms,
    /// detail, error, record_id, span_id, body. At most `limit` rows.
    fn timeline(&mut self, task: &str, limit: Option<u64>) -> Result<Table>;

    /// Cost grouped by `query.by`: the keys (`(none)` for an empty key; on
    /// PostgreSQL `host_id` before `task_id`), then calls, tokens_input,
    /// tokens_output, tokens_cached_read, tokens_cached_write, cost_usd
    /// (rounded to 6 places), unpriced_calls, unpriced_tokens. Days in
    /// calendar order, else costliest first, then the keys.
    fn cost(&mut self, query: &CostQuery) -> Result<Table>;

    /// The calls of `query`'s range that no price covers, by model: model,
    /// unpriced_calls, unpriced_tokens.
    fn unpriced(&mut self, query: &CostQuery) -> Result<Table>;

    /// Full-text search, best match first: ts, task_id, source
    /// (`stream:line`), event, name, snippet (the matched text, up to
    /// 100,000 characters), rank, record_id, title.
    fn search(&mut self, query: &SearchQuery) -> Result<Table>;

    /// The last `n` records of a task (all with `None`), in index order:
    /// record_id, ts, stream, event, name, status, body.
    fn last_records(&mut self, task: &str, n: Option<u64>) -> Result<Table>;

    /// Records of a task indexed after `record_id`, the same columns, at
    /// most `limit`.
    fn records_after(&mut self, task: &str, record_id: i64, limit: u64) -> Result<Table>;

    /// One section of `tasklog export`.
    fn export(&mut self, task: &str, section: ExportSection) -> Result<Table>;

    /// The task's model calls in one row: llm_calls, tokens_input,
    /// tokens_output, cost_usd, unpriced_calls.
    fn task_cost(&mut self, task: &str) -> Result<Table>;

    /// One part of the task's page, in time order, at most `limit` rows.
    fn task_part(&mut self, task: &str, part: TaskPart, limit: Option<u64>) -> Result<Table>;

    /// The task's documents: name, version, size, updated_at, body.
    fn documents(&mut self, task: &str) -> Result<Table>;

    /// The task's streams: name, bytes, records.
    fn streams(&mut self, task: &str) -> Result<Table>;

    /// Model calls no price covers, latest first, in `[since, until)`
    /// (instants): call_id, timestamp, task_id, model, provider,
    /// tokens_input, tokens_output.
    fn unpriced_calls(
        &mut self,
        since: Option<&str>,
        until: Option<&str>,
        limit: u64,
    ) -> Result<Table>;

    /// One read-only SQL statement of the caller's (`tasklog query`).
    fn query(&mut self, sql: &str) -> Result<Table>;

    /// One page of a task's transcript, before tool ends are folded:
    /// [`live::TRANSCRIPT_COLUMNS`], in `(ts, record_id)` order (descending
    /// when `backwards`).
    fn transcript_rows(&mut self, page: &live::TranscriptPage<'_>) -> Result<Table>;

    /// The task's streams of verbatim source lines (those some other record
    /// names as its `source_stream`), by name.
    fn source_streams(&mut self, task: &str) -> Result<Vec<String>>;

    /// The `(ts, record_id)` of record `record_id` of `task`, or of the
    /// `tool.start` a tool end belongs to.
    fn transcript_anchor(&mut self, task: &str, record_id: i64) -> Result<Option<(String, i64)>>;

    /// Whether `task` has a record at or before `(ts, record_id)`.
    fn has_records_through(&mut self, task: &str, ts: &str, record_id: i64) -> Result<bool>;

    /// The task's documents updated in a span of a transcript page: name,
    /// version, updated_at, body, by `updated_at` then name. Forwards the
    /// span is `(lo, hi]` (an empty `lo` is the start), backwards `[lo, hi)`;
    /// `None` leaves that end open.
    fn documents_between(
        &mut self,
        task: &str,
        lo: Option<&str>,
        hi: Option<&str>,
        backwards: bool,
    ) -> Result<Table>;

    /// The records of stream `stream` of `task` from byte `after` on, by
    /// offset, at most `limit`: offset, body (the line as written).
    fn stream_records(
        &mut self,
        task: &str,
        stream: &str,
        after: i64,
        limit: Option<u64>,
    ) -> Result<Table>;

    /// The newest `record_id` of the index (0 when empty).
    fn newest_record_id(&mut self) -> Result<i64>;

    /// The live feed: records with `record_id` after `after` or among
    /// `also` (ids a poll found missing, which a transaction still open may
    /// commit later), optionally of one task, by `record_id`, at most
    /// `limit` rows and, past the first, no more than `max_bytes` of bodies
    /// (the cut is made in the store, so a reader never holds a batch of
    /// large records at once): [`live::FEED_COLUMNS`].
    fn records_since(
        &mut self,
        after: i64,
        also: &[i64],
        task: Option<&str>,
        limit: u64,
        max_bytes: u64,
    ) -> Result<Table>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_name_one_task_or_list_candidates() {
        let ids = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            match_task_id("gh-4", ids(&["gh-4", "gh-450"])),
            TaskIdMatch::One("gh-4".into())
        );
        assert_eq!(
            match_task_id("gh-45", ids(&["gh-450", "gh-451"])),
            TaskIdMatch::Ambiguous(ids(&["gh-450", "gh-451"]))
        );
        assert_eq!(match_task_id("", ids(&["a"])), TaskIdMatch::None);
    }

    #[test]
    fn search_boxes_are_words_and_phrases() {
        assert_eq!(
            search_terms(r#"fix "flaky  widget" te"st "open"#),
            ["fix", "flaky widget", "te\"st", "open"]
        );
    }

    #[test]
    fn sorts_and_keys_round_trip_by_name() {
        for s in TaskSort::ALL {
            assert_eq!(TaskSort::parse(s.key()), Some(s));
        }
        assert_eq!(CostKey::parse("task"), Some(CostKey::Task));
        assert_eq!(CostKey::parse("nope"), None);
    }
}
