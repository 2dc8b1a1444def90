//! `import.json`: what was imported into a task, from where, and the keys
//! that make a re-import skip what is already there.
//!
//! The document is the importer's only memory. A source is matched to an
//! entry by its fingerprint: the xxh3 hash of the bytes imported so far.
//! Same bytes → skip; the old bytes are a prefix of the new → append the
//! new lines only; anything else → the source was rewritten, which is
//! reported and not imported (the streams are append-only). The keys of
//! events already imported sit beside it in `.import-keys` (keys.rs).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::model::{Format, Usage};

/// The name of the provenance document in every imported task.
pub const IMPORT_DOC: &str = "import";

/// The content of `import.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ImportState {
    /// The source format.
    pub format: Option<Format>,
    /// The session id the source gave itself.
    pub session_id: Option<String>,
    /// The importer that wrote this (`tasklog-import <version>`).
    pub importer: String,
    /// When the task was first imported.
    pub first_imported_at: Option<String>,
    /// When something was last added.
    pub last_imported_at: Option<String>,
    /// One entry per source file.
    pub sources: Vec<SourceEntry>,
    /// Everything imported into this task so far.
    pub totals: Totals,
    /// Keys of events already imported (model calls as
    /// `llm:<message id>:<request id>`, Claude Code lines as `uuid:<uuid>#<n>`).
    /// Kept in the task's `.import-keys` file, not in `import.json`
    /// (keys.rs); read here from records written before that file existed.
    #[serde(skip_serializing)]
    pub seen: BTreeSet<String>,
    /// Bytes of `.import-keys` that hold the keys in `seen` (keys.rs).
    #[serde(skip_serializing_if = "is_zero")]
    pub seen_keys_bytes: u64,
    /// Keys added to `seen` and not yet appended to `.import-keys`.
    #[serde(skip)]
    unsaved_keys: Vec<String>,
    /// Model calls that may still grow, by key: written to their source's
    /// `-open` stream, which the next import of that source replaces.
    pub open: BTreeMap<String, OpenCall>,
    /// An import begun and not recorded as done (journal.rs); the next run
    /// finishes it before anything else.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending: Option<crate::journal::Pending>,
}

/// A model call written to an `-open` stream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OpenCall {
    /// The source entry (`name`) whose `-open` stream holds the call.
    pub source: String,
    /// What the record counted, to take back out of `totals` when the
    /// stream is replaced.
    pub usage: Usage,
    /// Its cost, for the same reason.
    pub cost_usd: f64,
}

/// One imported source file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SourceEntry {
    /// The source's path as given (made absolute).
    pub path: String,
    /// `jsonl` (lines appended to a stream) or `document` (kept as a document).
    pub kind: String,
    /// The stream or document holding the verbatim source.
    pub name: String,
    /// The source format.
    pub format: Option<Format>,
    /// The writing tool's version, when the source names it.
    pub format_version: Option<String>,
    /// Bytes imported (complete lines, or the whole document).
    pub bytes: u64,
    /// Lines (or document elements) imported.
    pub units: u64,
    /// xxh3-64 of the imported bytes, in hex.
    pub xxh3: String,
    /// First import of this source.
    pub imported_at: String,
    /// Last import that added something.
    pub updated_at: String,
    /// Records of unknown types in the imported part, by type.
    pub unknown_types: BTreeMap<String, u64>,
    /// Lines that did not parse, as `line: message`.
    pub parse_errors: Vec<String>,
    /// Run totals already imported (sources with totals only: SWE-agent).
    pub aggregate: Option<Aggregate>,
    /// The earliest and latest times the source itself records (tasklog
    /// `ts` form), `None` when it records none: the task's
    /// `started_at` / `finished_at` come from these, never from the import time.
    pub first_ts: Option<String>,
    /// See `first_ts`.
    pub last_ts: Option<String>,
    /// Distinct model names of the source's calls.
    pub models: Vec<String>,
    /// Length and modification time (nanoseconds since the epoch) of the
    /// file when it was last read: a file with both unchanged is not read
    /// again (size and time decide, not content).
    pub file_len: Option<u64>,
    /// See `file_len`.
    pub file_mtime_ns: Option<u64>,
    /// `false` when the source is not copied into the task (`tasklog
    /// import --no-source`): its normalized events are all there is. Absent
    /// (the default, and every entry written before the option) means the
    /// verbatim copy is kept. Decided at a source's first import and kept
    /// for its later ones, so a copy is never partial.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verbatim: Option<bool>,
}

/// Run totals already turned into `llm.call` records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Aggregate {
    /// Token totals.
    pub usage: Usage,
    /// Cost total in USD.
    pub cost_usd: f64,
    /// Model calls.
    pub api_calls: u64,
}

/// Counts of what was written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Totals {
    /// Verbatim source lines appended.
    pub source_records: u64,
    /// Normalized events appended to `events`.
    pub events: u64,
    /// `llm.call` records among them.
    pub llm_calls: u64,
    /// Sum of `gen_ai.usage.input_tokens` (cache included).
    pub input_tokens: u64,
    /// Sum of `gen_ai.usage.output_tokens`.
    pub output_tokens: u64,
    /// Sum of cache-read input tokens.
    pub cache_read_tokens: u64,
    /// Sum of cache-creation input tokens.
    pub cache_creation_tokens: u64,
    /// Sum of costs the source reported, in USD.
    pub cost_usd: f64,
    /// `tool.start` records among the events (tool calls begun).
    pub tool_calls: u64,
    /// `tool.fail` records among the events (tool calls that failed).
    pub failed_tool_calls: u64,
}

impl Totals {
    /// Adds `other`.
    pub fn add(&mut self, other: &Totals) {
        self.source_records += other.source_records;
        self.events += other.events;
        self.llm_calls += other.llm_calls;
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cache_read_tokens += other.cache_read_tokens;
        self.cache_creation_tokens += other.cache_creation_tokens;
        self.cost_usd += other.cost_usd;
        self.tool_calls += other.tool_calls;
        self.failed_tool_calls += other.failed_tool_calls;
    }

    /// `self - other`, clamped at zero: the net effect of a run that
    /// replaced records (open model calls) as well as adding some.
    pub fn minus(&self, other: &Totals) -> Totals {
        Totals {
            source_records: self.source_records.saturating_sub(other.source_records),
            events: self.events.saturating_sub(other.events),
            llm_calls: self.llm_calls.saturating_sub(other.llm_calls),
            input_tokens: self.input_tokens.saturating_sub(other.input_tokens),
            output_tokens: self.output_tokens.saturating_sub(other.output_tokens),
            cache_read_tokens: self
                .cache_read_tokens
                .saturating_sub(other.cache_read_tokens),
            cache_creation_tokens: self
                .cache_creation_tokens
                .saturating_sub(other.cache_creation_tokens),
            cost_usd: self.cost_usd - other.cost_usd,
            tool_calls: self.tool_calls.saturating_sub(other.tool_calls),
            failed_tool_calls: self
                .failed_tool_calls
                .saturating_sub(other.failed_tool_calls),
        }
    }

    pub(crate) fn count_llm(&mut self, usage: &Usage, cost: Option<f64>) {
        self.llm_calls += 1;
        self.input_tokens += usage.input;
        self.output_tokens += usage.output;
        self.cache_read_tokens += usage.cache_read;
        self.cache_creation_tokens += usage.cache_creation;
        self.cost_usd += cost.unwrap_or(0.0);
    }
}

/// The fingerprint of imported bytes.
pub(crate) fn fingerprint(bytes: &[u8]) -> String {
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(bytes))
}

/// How a source relates to what `import.json` recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Match {
    /// Never imported.
    New,
    /// Imported, unchanged: entry index.
    Same(usize),
    /// Imported, and it grew: entry index.
    Grown(usize),
    /// Imported, and what was imported is no longer there.
    Rewritten(usize),
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl ImportState {
    /// Records `key` as imported; saved by [`ImportState::save_keys`].
    pub(crate) fn mark_seen(&mut self, key: &str) {
        if self.seen.insert(key.to_owned()) {
            self.unsaved_keys.push(key.to_owned());
        }
    }

    /// Reads the committed keys of the task folder `dir` into `seen`. A
    /// record from before the keys file has its keys in `seen` already;
    /// they are moved into the file at the next save.
    pub(crate) fn load_keys(&mut self, dir: &std::path::Path) -> Result<(), String> {
        if self.seen_keys_bytes == 0 {
            self.unsaved_keys = self.seen.iter().cloned().collect();
            return Ok(());
        }
        self.seen = crate::keys::load(dir, self.seen_keys_bytes)?;
        Ok(())
    }

    /// Appends the keys added since the last save to the keys file of `dir`
    /// and records its new length; call before writing `import.json`.
    pub(crate) fn save_keys(&mut self, dir: &std::path::Path) -> std::io::Result<()> {
        if self.unsaved_keys.is_empty() {
            return Ok(());
        }
        self.seen_keys_bytes = crate::keys::append(dir, self.seen_keys_bytes, &self.unsaved_keys)?;
        self.unsaved_keys.clear();
        Ok(())
    }

    /// Finds the entry for a source at `path` whose importable part is `bytes`.
    pub(crate) fn find(&self, path: &str, bytes: &[u8], document: bool) -> Match {
        let prefix_of = |e: &SourceEntry| {
            let n = e.bytes as usize;
            n <= bytes.len() && fingerprint(&bytes[..n]) == e.xxh3
        };
        let same = |e: &SourceEntry| e.bytes as usize == bytes.len() && prefix_of(e);
        if let Some(i) = self.sources.iter().position(same) {
            return Match::Same(i);
        }
        if !document {
            if let Some(i) = self
                .sources
                .iter()
                .position(|e| e.kind == "jsonl" && prefix_of(e))
            {
                return Match::Grown(i);
            }
        }
        match self.sources.iter().position(|e| e.path == path) {
            Some(i) if document => Match::Grown(i),
            Some(i) => Match::Rewritten(i),
            None => Match::New,
        }
    }

    /// A stream or document name for a new source, unused in this task.
    pub(crate) fn free_name(&self, wanted: &str) -> String {
        let taken = |n: &str| self.sources.iter().any(|e| e.name == n);
        if !taken(wanted) {
            return wanted.to_owned();
        }
        (2..)
            .map(|i| format!("{wanted}-{i}"))
            .find(|n| !taken(n))
            .unwrap_or_else(|| wanted.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, bytes: &[u8], kind: &str) -> SourceEntry {
        SourceEntry {
            path: path.into(),
            kind: kind.into(),
            name: "source".into(),
            bytes: bytes.len() as u64,
            xxh3: fingerprint(bytes),
            ..SourceEntry::default()
        }
    }

    #[test]
    fn sources_match_by_content() {
        let mut state = ImportState::default();
        state.sources.push(entry("/a", b"{}\n", "jsonl"));
        assert_eq!(state.find("/a", b"{}\n", false), Match::Same(0));
        assert_eq!(state.find("/copy", b"{}\n", false), Match::Same(0));
        assert_eq!(state.find("/a", b"{}\n{}\n", false), Match::Grown(0));
        assert_eq!(state.find("/a", b"[]\n", false), Match::Rewritten(0));
        assert_eq!(state.find("/b", b"[]\n", false), Match::New);
        assert_eq!(state.free_name("source"), "source-2");
    }
}
