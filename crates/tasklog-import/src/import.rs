//! The importer: finds source files, matches them with what earlier
//! imports recorded, and writes only what is new, through the writer.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{json, Map, Value};
use tasklog_format::now_rfc3339;
use tasklog_writer::{Durability, Record, Task, TraceContext, Writer};

use crate::emit::{self, Origin};
use crate::error::{Error, Result};
use crate::model::{Body, Format, LlmUse, Norm, Parsed};
use crate::source::{self, file_stem};
use crate::state::{fingerprint, Aggregate, ImportState, Match, SourceEntry, Totals, IMPORT_DOC};
use crate::{claude, codex, detect, openhands, swe_agent};

/// The stream (or document) that keeps a session's main source verbatim.
pub const SOURCE_NAME: &str = "source";

/// A file to import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The file.
    pub path: PathBuf,
    /// Named on the command line (a mismatch is an error), rather than
    /// found in a folder (a mismatch is skipped).
    pub explicit: bool,
}

/// What happened to one source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// A new source: its task now holds it.
    Imported,
    /// A source that grew since the last import: the new part was appended.
    Appended,
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
    fn new(path: &Path) -> FileReport {
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

    fn skip(mut self, reason: impl Into<String>) -> FileReport {
        self.action = Action::Skipped;
        self.reason = Some(reason.into());
        self
    }

    fn fail(mut self, error: &Error) -> FileReport {
        self.action = Action::Failed;
        self.reason = Some(error_chain(error));
        self
    }
}

fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Lists the files to import: files as given, folders walked (sorted; only
/// `.jsonl`, `.json` and `.traj` files; hidden entries skipped). Claude
/// Code sub-agent files (`agent-*`) come after the other files, so a
/// session's main transcript is imported before its sidechains.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<Candidate>> {
    let mut explicit = Vec::new();
    let mut walked = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path, "reading source", e))?;
        if meta.is_dir() {
            walk(path, &mut walked)?;
        } else {
            explicit.push(path.clone());
        }
    }
    walked.sort_by_key(|p| (is_agent_file(p), p.clone()));
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (path, explicit) in explicit
        .into_iter()
        .map(|p| (p, true))
        .chain(walked.into_iter().map(|p| (p, false)))
    {
        let key = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if seen.insert(key) {
            out.push(Candidate { path, explicit });
        }
    }
    Ok(out)
}

fn is_agent_file(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("agent-"))
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, "listing folder", e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, "listing folder", e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let Ok(meta) = std::fs::metadata(&path) else {
            continue; // a dangling symlink: nothing to read
        };
        if meta.is_dir() {
            walk(&path, out)?;
        } else if [".jsonl", ".json", ".traj"]
            .iter()
            .any(|e| name.ends_with(e))
        {
            out.push(path);
        }
    }
    Ok(())
}

/// Imports source files into task folders, through a [`Writer`].
#[derive(Debug)]
pub struct Importer {
    writer: Writer,
    format: Option<Format>,
    /// Claude Code model-call keys imported into any `claude-*` task of the
    /// root: resumed sessions replay earlier calls in a new session file.
    /// Loaded on first use.
    claude_keys: Option<HashSet<String>>,
}

impl Importer {
    /// An importer for `format` (`None`: detect per file).
    pub fn new(writer: Writer, format: Option<Format>) -> Importer {
        Importer {
            writer,
            format,
            claude_keys: None,
        }
    }

    /// Imports one file. Never panics and never returns early: every
    /// outcome, errors included, is in the report.
    pub fn import_file(&mut self, candidate: &Candidate) -> FileReport {
        let path = std::path::absolute(&candidate.path).unwrap_or_else(|_| candidate.path.clone());
        let report = FileReport::new(&candidate.path);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => return report.fail(&Error::io(&path, "reading source", e)),
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return report.skip("empty file");
        }
        let detected = detect::detect(&bytes);
        let Some(format) = self.format.or(detected) else {
            let err = Error::Unrecognized { path: path.clone() };
            return match candidate.explicit {
                true => report.fail(&err),
                false => report.skip("format not recognized"),
            };
        };
        let mut report = FileReport {
            format: Some(format),
            ..report
        };
        let parsed = match format {
            Format::ClaudeCode => Ok(claude::parse(&path, &bytes)),
            Format::Codex => Ok(codex::parse(&path, &bytes)),
            Format::SweAgent => swe_agent::parse(&path, &bytes),
            Format::OpenHands => openhands::parse(&path, &bytes),
        };
        let parsed = match parsed {
            Ok(p) if p.recognized > 0 => p,
            Ok(_) | Err(_) if detected.is_some_and(|d| d != format) => {
                let err = Error::WrongFormat {
                    path: path.clone(),
                    expected: format.as_str(),
                    detected: detected.map(Format::as_str),
                };
                return match candidate.explicit {
                    true => report.fail(&err),
                    false => report.skip(err.to_string()),
                };
            }
            Ok(_) => {
                let err = Error::WrongFormat {
                    path: path.clone(),
                    expected: format.as_str(),
                    detected: None,
                };
                return match candidate.explicit {
                    true => report.fail(&err),
                    false => report.skip(err.to_string()),
                };
            }
            Err(e) => {
                if let Error::Parse { line, message, .. } = &e {
                    report.parse_errors.push(LineProblem {
                        line: *line,
                        message: message.clone(),
                    });
                }
                return report.fail(&e);
            }
        };
        report.format_version = parsed.format_version.clone();
        report.unknown_types = parsed.unknown_types.clone();
        report.parse_errors = parsed
            .parse_errors
            .iter()
            .map(|(line, message)| LineProblem {
                line: *line,
                message: message.clone(),
            })
            .collect();
        match self.write(&path, &bytes, format, &parsed, &mut report) {
            Ok(()) => report,
            Err(e) => report.fail(&e),
        }
    }

    fn claude_keys(&mut self) -> &mut HashSet<String> {
        let root = self.writer.root().to_owned();
        self.claude_keys
            .get_or_insert_with(|| load_claude_keys(&root))
    }

    fn write(
        &mut self,
        path: &Path,
        bytes: &[u8],
        format: Format,
        parsed: &Parsed,
        report: &mut FileReport,
    ) -> Result<()> {
        if parsed.consumed == 0 {
            // Only a partial first line: nothing to import yet, and no
            // reason to create a task folder.
            *report = report.clone().skip("no complete line yet");
            return Ok(());
        }
        let session = parsed.session_id.clone().unwrap_or_else(|| file_stem(path));
        let task_id = source::task_id(format.task_prefix(), &session);
        report.task_id = Some(task_id.clone());
        let werr = |e| Error::write(path, e);
        let task = self
            .writer
            .task(&task_id)
            .map_err(werr)?
            .with_trace(TraceContext {
                trace_id: source::trace_id(&task_id),
                parent_span_id: None,
            });
        let mut state = read_state(&task)?;
        let imported = &bytes[..parsed.consumed.min(bytes.len())];
        let path_text = path.display().to_string();
        let (index, from) = match state.find(&path_text, imported, format.is_document()) {
            Match::Same(i) => {
                let from = state.sources[i].units as usize;
                report.parse_errors.retain(|p| p.line > from);
                *report = report.clone().skip("already imported, unchanged");
                return Ok(());
            }
            Match::Rewritten(_) => {
                *report = report.clone().skip(
                    "changed since it was imported (not an append); remove the task folder to import it again",
                );
                return Ok(());
            }
            Match::Grown(i) => (Some(i), state.sources[i].units as usize),
            Match::New => (None, 0),
        };
        let name = match index {
            Some(i) => state.sources[i].name.clone(),
            None => state.free_name(&match &parsed.agent_id {
                Some(agent) => source::task_id("agent", agent),
                None => SOURCE_NAME.to_owned(),
            }),
        };
        let mut written = Totals::default();
        if format.is_document() {
            task.put_json(&name, imported, Durability::Default)
                .map_err(werr)?;
        } else {
            for line in parsed.lines.iter().filter(|l| l.number > from) {
                append_verbatim(&task, &name, line).map_err(werr)?;
                written.source_records += 1;
            }
        }
        let file_name = format!(
            "{name}.{}",
            if format.is_document() {
                "json"
            } else {
                "jsonl"
            }
        );
        let origin = Origin {
            source: &file_name,
            task: &task_id,
        };
        for norm in parsed.events.iter().filter(|n| n.line > from) {
            if let Some(key) = &norm.key {
                if !state.seen.insert(key.clone()) {
                    continue;
                }
                if format == Format::ClaudeCode
                    && key.starts_with("llm:")
                    && !self.claude_keys().insert(key.clone())
                {
                    continue; // imported with another session (a resumed one)
                }
            }
            emit::write(&task, norm, &origin).map_err(werr)?;
            written.events += 1;
            if let Body::LlmCall(call) = &norm.body {
                written.count_llm(&call.usage, call.cost_usd);
            }
        }
        let before = index.and_then(|i| state.sources[i].aggregate);
        let aggregate = match &parsed.aggregate {
            Some(agg) => Some(
                write_aggregate(&task, agg, before, parsed.units, &origin, &mut written)
                    .map_err(werr)?,
            ),
            None => None,
        };
        let now = now_rfc3339();
        let first_ts = parsed.events.iter().find_map(|n| n.ts.clone());
        update_task_doc(&task, format, &session, &path_text, first_ts, parsed).map_err(werr)?;
        state.totals.add(&written);
        if written.events > 0 && parsed.agent_id.is_none() {
            if let Some(outcome) = &parsed.outcome {
                let mut result = outcome.result.clone();
                if let Value::Object(map) = &mut result {
                    map.insert("metrics".into(), metrics(&state.totals));
                }
                task.final_result(&outcome.status, result).map_err(werr)?;
            }
        }
        let entry = SourceEntry {
            path: path_text,
            kind: if format.is_document() {
                "document"
            } else {
                "jsonl"
            }
            .into(),
            name,
            format: Some(format),
            format_version: parsed.format_version.clone(),
            bytes: imported.len() as u64,
            units: parsed.units as u64,
            xxh3: fingerprint(imported),
            imported_at: index
                .map_or_else(|| now.clone(), |i| state.sources[i].imported_at.clone()),
            updated_at: now.clone(),
            unknown_types: parsed.unknown_types.clone(),
            parse_errors: parsed
                .parse_errors
                .iter()
                .map(|(l, m)| format!("{l}: {m}"))
                .collect(),
            aggregate,
        };
        match index {
            Some(i) => state.sources[i] = entry,
            None => state.sources.push(entry),
        }
        state.format = Some(format);
        state.session_id = Some(session);
        state.importer = format!("tasklog-import {}", env!("CARGO_PKG_VERSION"));
        state.first_imported_at.get_or_insert_with(|| now.clone());
        state.last_imported_at = Some(now);
        task.put(IMPORT_DOC, &state).map_err(werr)?;
        report.action = if index.is_some() {
            Action::Appended
        } else {
            Action::Imported
        };
        report.written = written;
        Ok(())
    }
}

fn read_state(task: &Task) -> Result<ImportState> {
    let path = task.dir().join(format!("{IMPORT_DOC}.json"));
    match task.read_doc(IMPORT_DOC) {
        Ok(None) => Ok(ImportState::default()),
        Ok(Some(v)) => serde_json::from_value(v).map_err(|e| Error::State {
            path,
            message: e.to_string(),
        }),
        Err(e) => Err(Error::State {
            path,
            message: error_chain(&e),
        }),
    }
}

/// One source line, verbatim: its bytes follow the envelope fields the
/// writer adds in front. A line that is not a record (it does not parse,
/// or the writer refuses it) is kept as text inside an `import.unparsed`
/// record, so nothing of the source is lost.
fn append_verbatim(
    task: &Task,
    stream: &str,
    line: &crate::model::SourceLine,
) -> tasklog_writer::Result<()> {
    let refused = match &line.error {
        None => match task.append_json(stream, line.text.as_bytes(), Durability::Default) {
            Ok(_) => return Ok(()),
            Err(e) if e.is_refusal() => error_chain(&e),
            Err(e) => return Err(e),
        },
        Some(e) => e.clone(),
    };
    let record = Record::event("import.unparsed")
        .with("source_line", line.number as u64)
        .with("error", refused)
        .with("text", line.text.as_str());
    task.append(stream, record).map(drop)
}

/// Writes the growth of run totals as one `llm.call` (SWE-agent).
fn write_aggregate(
    task: &Task,
    agg: &LlmUse,
    before: Option<Aggregate>,
    units: usize,
    origin: &Origin<'_>,
    written: &mut Totals,
) -> tasklog_writer::Result<Aggregate> {
    let before = before.unwrap_or_default();
    let api_calls = agg
        .extra
        .get("api_calls")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let now = Aggregate {
        usage: agg.usage,
        cost_usd: agg.cost_usd.unwrap_or(0.0),
        api_calls,
    };
    if now == before {
        return Ok(now);
    }
    let mut delta = agg.clone();
    delta.usage = agg.usage.minus(&before.usage);
    delta.cost_usd = agg.cost_usd.map(|c| c - before.cost_usd);
    delta.extra.insert(
        "api_calls".into(),
        api_calls.saturating_sub(before.api_calls).into(),
    );
    delta.extra.insert("aggregate".into(), true.into());
    let norm = Norm {
        line: units,
        ts: None,
        key: None,
        body: Body::LlmCall(delta.clone()),
    };
    emit::write(task, &norm, origin)?;
    written.events += 1;
    written.count_llm(&delta.usage, delta.cost_usd);
    Ok(now)
}

fn metrics(t: &Totals) -> Value {
    json!({
        "llm_calls": t.llm_calls,
        "input_tokens": t.input_tokens,
        "output_tokens": t.output_tokens,
        "cache_read_tokens": t.cache_read_tokens,
        "cache_creation_tokens": t.cache_creation_tokens,
        // Zero means "the source reported no cost", not "free".
        "cost_usd": (t.cost_usd > 0.0).then_some(t.cost_usd),
    })
}

fn update_task_doc(
    task: &Task,
    format: Format,
    session: &str,
    path: &str,
    first_ts: Option<String>,
    parsed: &Parsed,
) -> tasklog_writer::Result<()> {
    let id = task.id().as_str().to_owned();
    task.update_task_doc(|doc: &mut Map<String, Value>| {
        doc.entry("task_id").or_insert_with(|| id.into());
        if let Some(ts) = first_ts {
            doc.entry("created_at").or_insert_with(|| ts.into());
        }
        doc.entry("status").or_insert_with(|| "imported".into());
        doc.entry("source")
            .or_insert_with(|| format!("import:{format}").into());
        doc.entry("session_id").or_insert_with(|| session.into());
        doc.entry("imported_from").or_insert_with(|| path.into());
        for (k, v) in &parsed.task_fields {
            doc.entry(k.as_str()).or_insert_with(|| v.clone());
        }
    })
}

fn load_claude_keys(root: &Path) -> HashSet<String> {
    let mut keys = HashSet::new();
    let Ok(entries) = std::fs::read_dir(root) else {
        return keys;
    };
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with("claude-") {
            continue;
        }
        let path = entry.path().join(format!("{IMPORT_DOC}.json"));
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        match serde_json::from_slice::<ImportState>(&bytes) {
            Ok(state) => keys.extend(state.seen.into_iter().filter(|k| k.starts_with("llm:"))),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "unreadable import record")
            }
        }
    }
    keys
}
