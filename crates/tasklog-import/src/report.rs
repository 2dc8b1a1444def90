//! What the importer tells its caller about each file: the action taken,
//! why, and what was written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::Error;
use crate::model::Format;
use crate::state::Totals;

/// What happened to one source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// A new source: its task now holds it.
    Imported,
    /// A source that grew since the last import: the new part was appended.
    Appended,
    /// Already imported and unchanged since: nothing to do (success).
    Unchanged,
    /// Nothing written (already imported, empty, not this format, ...).
    Skipped,
    /// An error stopped this file; nothing of it was written, or only part.
    Failed,
}

/// A line of a source that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineProblem {
    /// 1-based line number.
    pub line: usize,
    /// Why it does not parse.
    pub message: String,
}

/// The outcome of importing one file; `--format json` prints these.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    /// The source file.
    pub path: PathBuf,
    /// What happened.
    pub action: Action,
    /// Why it was skipped or failed.
    pub reason: Option<String>,
    /// The format imported (or detected).
    pub format: Option<Format>,
    /// The writing tool's version, when the source names it.
    pub format_version: Option<String>,
    /// The task the source went to.
    pub task_id: Option<String>,
    /// What this run wrote.
    pub written: Totals,
    /// Records of types the importer does not know, by type (whole source).
    pub unknown_types: BTreeMap<String, u64>,
    /// Lines that do not parse (kept verbatim, reported, not normalized).
    pub parse_errors: Vec<LineProblem>,
}

impl FileReport {
    pub(crate) fn new(path: &Path) -> FileReport {
        FileReport {
            path: path.to_owned(),
            action: Action::Skipped,
            reason: None,
            format: None,
            format_version: None,
            task_id: None,
            written: Totals::default(),
            unknown_types: BTreeMap::new(),
            parse_errors: Vec::new(),
        }
    }

    pub(crate) fn skip(mut self, reason: impl Into<String>) -> FileReport {
        self.action = Action::Skipped;
        self.reason = Some(reason.into());
        self
    }

    pub(crate) fn fail(mut self, error: &Error) -> FileReport {
        self.action = Action::Failed;
        self.reason = Some(error_chain(error));
        self
    }
}

pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
