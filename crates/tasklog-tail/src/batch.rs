//! What the reader hands the sink: rows, quarantined lines and checkpoint
//! moves for one file, applied in one transaction.

use tasklog_format::{Envelope, Scalar};

/// Which kind of file a checkpoint follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// An append-only `.jsonl` stream.
    Stream,
    /// An atomically replaced `.json` document.
    Document,
}

impl FileKind {
    /// The value stored in `files.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::Stream => "stream",
            FileKind::Document => "document",
        }
    }
}

/// Identifies one file under the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileKey {
    /// `<task>/<file name>`, relative to the root.
    pub path: String,
    /// The task folder.
    pub task_id: String,
    /// Stream or document name (file name without extension).
    pub name: String,
    /// Stream or document.
    pub kind: FileKind,
}

/// One definition of the promoted columns of `records`: the fields of
/// [`Row`], the column list the sink inserts and the order it binds them
/// all come from this list. `Row::new` says where each value comes from; a
/// test fails when the `records` schema and this list diverge.
macro_rules! record_row {
    ($( $(#[$doc:meta])* $field:ident : $ty:ty ),* $(,)?) => {
        /// One indexed line: its promoted columns (FORMAT.md 4.4).
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct Row {
            $( $(#[$doc])* pub $field: $ty, )*
        }

        impl Row {
            /// The columns of `records` a row fills, in bind order (after
            /// the `file_id`, `task_id` and `stream` of its batch).
            pub const COLUMNS: &'static [&'static str] = &[$(stringify!($field)),*];

            /// The row's values in [`Row::COLUMNS`] order, for a store
            /// to bind in its own types.
            pub fn values(&self) -> [Column<'_>; Row::COLUMNS.len()] {
                [$( ToColumn::column(&self.$field) ),*]
            }

            /// Appends the row's columns to a PostgreSQL `COPY ... FROM
            /// STDIN` line in text format, each after a tab, in
            /// [`Row::COLUMNS`] order (the caller writes the batch's
            /// columns first and the newline after).
            pub fn copy_text(&self, out: &mut Vec<u8>) {
                $(
                    out.push(b'\t');
                    CopyText::copy_text(&self.$field, out);
                )*
            }
        }
    };
}

/// How a [`Row`] field is written in PostgreSQL's COPY text format: `\N`
/// for NULL, text with backslash, tab, newline and carriage return escaped.
pub trait CopyText {
    /// Appends the value in COPY text format.
    fn copy_text(&self, out: &mut Vec<u8>);
}

/// Escapes `s` for COPY text format.
pub fn copy_escape(s: &str, out: &mut Vec<u8>) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escaped: &[u8] = match b {
            b'\\' => b"\\\\",
            b'\t' => b"\\t",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(escaped);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

impl CopyText for String {
    fn copy_text(&self, out: &mut Vec<u8>) {
        copy_escape(self, out);
    }
}

impl CopyText for &'static str {
    fn copy_text(&self, out: &mut Vec<u8>) {
        copy_escape(self, out);
    }
}

impl CopyText for u64 {
    fn copy_text(&self, out: &mut Vec<u8>) {
        let _ = std::io::Write::write_fmt(out, format_args!("{self}"));
    }
}

impl<T: CopyText> CopyText for Option<T> {
    fn copy_text(&self, out: &mut Vec<u8>) {
        match self {
            Some(v) => v.copy_text(out),
            None => out.extend_from_slice(b"\\N"),
        }
    }
}

impl CopyText for i64 {
    fn copy_text(&self, out: &mut Vec<u8>) {
        let _ = std::io::Write::write_fmt(out, format_args!("{self}"));
    }
}

impl CopyText for f64 {
    fn copy_text(&self, out: &mut Vec<u8>) {
        // Shortest text that reads back as the same double; the decoder
        // refuses NaN and infinities, so none reach here.
        let _ = std::io::Write::write_fmt(out, format_args!("{self}"));
    }
}

/// One value of a [`Row`], in the few types a store binds: byte offsets
/// and line numbers are `U64` (a store refuses what it cannot hold).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Column<'a> {
    /// SQL NULL.
    Null,
    /// A byte offset or line number.
    U64(u64),
    /// An integer.
    Int(i64),
    /// A double.
    Real(f64),
    /// Text.
    Text(&'a str),
}

/// How a [`Row`] field becomes a [`Column`].
trait ToColumn {
    fn column(&self) -> Column<'_>;
}

impl ToColumn for u64 {
    fn column(&self) -> Column<'_> {
        Column::U64(*self)
    }
}

impl ToColumn for String {
    fn column(&self) -> Column<'_> {
        Column::Text(self)
    }
}

impl ToColumn for &'static str {
    fn column(&self) -> Column<'_> {
        Column::Text(self)
    }
}

impl ToColumn for Option<String> {
    fn column(&self) -> Column<'_> {
        self.as_deref().map_or(Column::Null, Column::Text)
    }
}

impl ToColumn for Option<i64> {
    fn column(&self) -> Column<'_> {
        self.map_or(Column::Null, Column::Int)
    }
}

impl ToColumn for Option<f64> {
    fn column(&self) -> Column<'_> {
        self.map_or(Column::Null, Column::Real)
    }
}

record_row! {
    /// Byte offset of the record in its file.
    offset: u64,
    /// 1-based line number.
    line: u64,
    /// `ts`, a fallback field, or the indexing time.
    ts: String,
    /// Which of those: `ts`, `fallback` or `indexed`.
    ts_source: &'static str,
    /// The writer's sequence number (`seq`).
    seq: Option<i64>,
    /// The record id (`id`).
    id: Option<String>,
    /// The event kind (`event`).
    event: Option<String>,
    /// `name`.
    name: Option<String>,
    /// `status`.
    status: Option<String>,
    /// `trace_id`.
    trace_id: Option<String>,
    /// `span_id`.
    span_id: Option<String>,
    /// `parent_span_id`.
    parent_span_id: Option<String>,
    /// `duration_ms`.
    duration_ms: Option<f64>,
    /// `error`.
    error: Option<String>,
    /// `role`.
    role: Option<String>,
    /// `severity`.
    severity: Option<String>,
    /// `component`.
    component: Option<String>,
    /// `gen_ai.request.model` (or `model`).
    model: Option<String>,
    /// `gen_ai.provider.name` (or `provider`).
    provider: Option<String>,
    /// `gen_ai.usage.input_tokens`.
    input_tokens: Option<i64>,
    /// `gen_ai.usage.output_tokens`.
    output_tokens: Option<i64>,
    /// Cache-read input tokens.
    cache_read_tokens: Option<i64>,
    /// Cache-write input tokens.
    cache_write_tokens: Option<i64>,
    /// The cost the line carries, in USD.
    cost_usd: Option<f64>,
    /// The tool called (`gen_ai.tool.name`).
    tool_name: Option<String>,
    /// The line exactly as written, without its ending.
    body: String,
    /// The part of the cache-write tokens written with a one-hour lifetime
    /// (`gen_ai.usage.cache_creation.ephemeral_1h.input_tokens`), priced at
    /// its own rate. Last because the stores add it to `records` with
    /// `ALTER TABLE ... ADD COLUMN`, which appends.
    cache_write_1h_tokens: Option<i64>,
}

fn owned(s: &Option<Scalar<'_>>) -> Option<String> {
    s.as_ref().and_then(Scalar::as_str).map(promoted_text)
}

/// A string value as its promoted column holds it: cut at the first NUL
/// (a `\u0000` escape), which is what SQLite's `json_extract` of the body
/// gives, so the column and the body answer alike (issue 22), and what
/// PostgreSQL's `text` can hold at all.
fn promoted_text(s: &str) -> String {
    match memchr::memchr(0, s.as_bytes()) {
        Some(nul) => s[..nul].to_owned(),
        None => s.to_owned(),
    }
}

/// A record's time as its `ts` column holds it: the canonical UTC instant
/// when the text is one in any RFC 3339 form (so times compare as instants),
/// else the text as written (FORMAT.md 4.4).
fn promoted_ts(s: &str) -> String {
    tasklog_format::canonical_instant(s).map_or_else(|| promoted_text(s), |c| c.into_owned())
}

impl Row {
    /// Byte offset of the record in its file.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Its 1-based line number.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// The line exactly as written, without its ending.
    pub fn body(&self) -> &str {
        &self.body
    }

    /// Promotes the envelope fields of a decoded line.
    pub fn new(env: &Envelope<'_>, body: &str, offset: u64, line: u64, indexed_at: &str) -> Row {
        let (ts, ts_source) = match env.ts.as_ref().and_then(Scalar::as_str) {
            Some(ts) if env.ts_from_fallback => (promoted_ts(ts), "fallback"),
            Some(ts) => (promoted_ts(ts), "ts"),
            None => (indexed_at.to_owned(), "indexed"),
        };
        let g_str = |path: &[&str]| env.gen_ai(path).and_then(Scalar::as_str).map(promoted_text);
        let g_int = |path: &[&str]| env.gen_ai(path).and_then(Scalar::as_i64);
        let event = owned(&env.event);
        let name = owned(&env.name);
        let tool_name = g_str(&["tool", "name"]).or_else(|| {
            event
                .as_deref()
                .filter(|e| e.starts_with("tool."))
                .and(name.clone())
        });
        Row {
            offset,
            line,
            ts,
            ts_source,
            seq: env.seq.as_ref().and_then(Scalar::as_i64),
            id: owned(&env.id),
            event,
            name,
            status: owned(&env.status),
            trace_id: owned(&env.trace_id),
            span_id: owned(&env.span_id),
            parent_span_id: owned(&env.parent_span_id),
            duration_ms: env.duration_ms.as_ref().and_then(Scalar::as_f64),
            error: owned(&env.error),
            role: owned(&env.role),
            severity: owned(&env.severity),
            component: owned(&env.component),
            model: g_str(&["request", "model"]).or_else(|| g_str(&["response", "model"])),
            provider: g_str(&["provider", "name"]).or_else(|| g_str(&["system"])),
            input_tokens: g_int(&["usage", "input_tokens"]),
            output_tokens: g_int(&["usage", "output_tokens"]),
            cache_read_tokens: g_int(&["usage", "cache_read", "input_tokens"]),
            cache_write_tokens: g_int(&["usage", "cache_creation", "input_tokens"]),
            cost_usd: env
                .gen_ai(&["usage", "cost", "amount"])
                .or_else(|| env.gen_ai(&["usage", "cost"]))
                .and_then(Scalar::as_f64),
            tool_name,
            body: body.to_owned(),
            cache_write_1h_tokens: g_int(&[
                "usage",
                "cache_creation",
                "ephemeral_1h",
                "input_tokens",
            ]),
        }
    }
}

/// A line (or document) that could not be indexed, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantine {
    /// Byte offset of the line (or 0 for a document).
    pub offset: u64,
    /// Its length in bytes, when known.
    pub length: Option<u64>,
    /// Its 1-based line number, when known.
    pub line: Option<u64>,
    /// Why it was quarantined.
    pub reason: String,
    /// Its first bytes, escaped, for diagnosis.
    pub prefix: String,
}

impl Quarantine {
    /// How many leading bytes of a bad line are kept for diagnosis.
    pub const PREFIX_LEN: usize = 64;

    /// A quarantined line of `length` bytes starting with `bytes`.
    pub fn new(
        offset: u64,
        bytes: &[u8],
        length: u64,
        line: Option<u64>,
        reason: String,
    ) -> Quarantine {
        let shown = &bytes[..bytes.len().min(Self::PREFIX_LEN)];
        Quarantine {
            offset,
            length: Some(length),
            line,
            reason,
            prefix: shown.escape_ascii().to_string(),
        }
    }
}

/// A file generation ended: its rows move to `superseded_records`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// Why: "truncated", "replaced", "rewritten", "deleted".
    pub reason: &'static str,
}

/// New lines of one stream, and where its checkpoint moves.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamBatch {
    /// The stream.
    pub key: FileKey,
    /// Checkpoint the database must hold now (compare-and-set).
    pub expected_offset: u64,
    /// Generation the database must hold now.
    pub expected_generation: u64,
    /// Set when the file is a new generation: rows of the old one move out first.
    pub rotation: Option<Rotation>,
    /// Generation after this batch.
    pub generation: u64,
    /// Checkpoint offset after this batch.
    pub new_offset: u64,
    /// Lines indexed after this batch.
    pub new_line_count: u64,
    /// Hash of the file's first bytes.
    pub anchor: i64,
    /// Device of the file read.
    pub dev: u64,
    /// Inode of the file read.
    pub ino: u64,
    /// mtime when read: with (dev, ino, size) it lets a poll skip an unchanged file.
    pub mtime_ns: i64,
    /// The complete lines read.
    pub rows: Vec<Row>,
    /// The lines quarantined.
    pub errors: Vec<Quarantine>,
}

/// What a document read found.
#[derive(Debug, Clone, PartialEq)]
pub enum DocContent {
    /// Valid JSON: becomes the current version if its hash changed.
    Body {
        /// The document, as read.
        body: String,
        /// Its modification time (RFC 3339).
        updated_at: String,
    },
    /// Not valid: quarantined; the previous good version stays current.
    Invalid(Quarantine),
}

/// A document's new state.
#[derive(Debug, Clone, PartialEq)]
pub struct DocBatch {
    /// The document.
    pub key: FileKey,
    /// Device of the file read.
    pub dev: u64,
    /// Inode of the file read.
    pub ino: u64,
    /// Its size when read.
    pub size: u64,
    /// Its mtime when read, in nanoseconds.
    pub mtime_ns: i64,
    /// Hash of its content.
    pub hash: i64,
    /// What the read found.
    pub content: DocContent,
}

/// One unit of work for the sink.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// A task folder exists.
    Task {
        /// The task folder.
        task_id: String,
    },
    /// A task folder disappeared (its files were handled by `Gone` ops).
    TaskGone {
        /// The task folder.
        task_id: String,
    },
    /// New lines of a stream.
    Stream(StreamBatch),
    /// A document changed.
    Document(DocBatch),
    /// A file disappeared: its rows move out, its checkpoint goes.
    Gone {
        /// The file.
        key: FileKey,
        /// Checkpoint offset the database must hold now.
        expected_offset: u64,
        /// Generation the database must hold now.
        expected_generation: u64,
    },
    /// Problems found outside the line reader (an unreadable file, a
    /// symlink, a line that never completed in a sealed task).
    Errors {
        /// The file.
        key: FileKey,
        /// Its generation.
        generation: u64,
        /// What was found.
        errors: Vec<Quarantine>,
    },
    /// A key of `indexer_state` (watch mode, watches in use, ...).
    State {
        /// The key.
        key: crate::state::StateKey,
        /// Its new value.
        value: String,
    },
    /// Start (`true`) or end (`false`) a bulk load: secondary indexes are
    /// dropped at the start and built at the end.
    Bulk(bool),
    /// A file or task folder cannot be indexed as it is now (unreadable, a
    /// symbolic link): an `ingest_errors` row of kind `file`, open until
    /// [`Op::Resolved`].
    Diagnostic {
        /// The task folder (for a folder-level diagnostic, its own name).
        task_id: String,
        /// `<task>/<file>` or `<task>`, relative to the root.
        path: String,
        /// The file's generation when it was found.
        generation: u64,
        /// The file's checkpoint when it was found.
        offset: u64,
        /// What is wrong, naming the cause.
        reason: String,
    },
    /// The file-level diagnostics of `path` no longer hold.
    Resolved {
        /// `<task>/<file>` or `<task>`.
        path: String,
    },
}

impl Op {
    /// Rows this op inserts, for batch sizing and progress.
    pub fn row_count(&self) -> usize {
        match self {
            Op::Stream(b) => b.rows.len() + b.errors.len(),
            Op::Errors { errors, .. } => errors.len(),
            _ => 1,
        }
    }
}
