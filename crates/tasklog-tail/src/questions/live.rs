//! The questions of a task's transcript and of the live feed of new
//! records (`tasklog serve`'s transcript pages, exports and event streams),
//! asked of either store through [`Questions`](super::Questions).

/// The columns of [`Questions::transcript_rows`](super::Questions::transcript_rows):
/// the record, its model call (from `api_calls`) when it is one, and the
/// end (`tool.complete` / `tool.fail` of the same span) when it is a
/// `tool.start`.
pub const TRANSCRIPT_COLUMNS: [&str; 23] = [
    "record_id",
    "ts",
    "stream",
    "line",
    "event",
    "name",
    "status",
    "role",
    "severity",
    "component",
    "error",
    "duration_ms",
    "span_id",
    "body",
    "model",
    "tokens_input",
    "tokens_output",
    "estimated_cost_usd",
    "end_record_id",
    "end_event",
    "end_body",
    "end_duration_ms",
    "end_error",
];

/// The columns of [`Questions::records_since`](super::Questions::records_since).
pub const FEED_COLUMNS: [&str; 10] = [
    "record_id",
    "task_id",
    "stream",
    "offset",
    "line",
    "ts",
    "event",
    "name",
    "status",
    "body",
];

/// One page of a transcript: the records of `task` after the cursor
/// `(after_ts, after_id)` (before it when `backwards`), leaving out the
/// streams in `hidden` unless `with_sources`, and tool ends whose start is
/// in the task (they are folded into it). At most `limit` rows; a start
/// with two ends gives two rows.
#[derive(Debug, Clone)]
pub struct TranscriptPage<'a> {
    /// The task's full id.
    pub task: &'a str,
    /// The cursor's `ts` (empty: before every record).
    pub after_ts: &'a str,
    /// The cursor's `record_id`.
    pub after_id: i64,
    /// Read towards the start.
    pub backwards: bool,
    /// Keep the streams of verbatim source lines.
    pub with_sources: bool,
    /// Those streams ([`Questions::source_streams`](super::Questions::source_streams)).
    pub hidden: &'a [String],
    /// Most rows.
    pub limit: u64,
}
