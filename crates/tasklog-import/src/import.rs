//! The importer: matches each source file with what earlier imports
//! recorded, and writes only what is new, through the writer.
//!
//! Model calls that may still grow (a Claude Code response whose later
//! content-block lines are not written yet, see claude.rs) are *open*: they
//! go to the source's `<name>-open` stream, not to `events`. The next
//! import of that source that finds new lines deletes that stream (the
//! indexer moves a deleted stream's rows to `superseded_records`) and
//! writes the calls again from the whole source, as final or again as
//! open. So the index always holds each call once, with the largest counts
//! seen so far, however the source was cut between imports.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tasklog_format::now_rfc3339;
use tasklog_writer::{Durability, Task, TraceContext, Writer, EVENTS_STREAM};

use crate::detect;
use crate::discover::Candidate;
use crate::emit::{self, Origin};
use crate::error::{Error, Result};
use crate::facts;
use crate::journal::{self, Appender, Pending};
use crate::model::{Body, Format, Parsed};
use crate::report::{Action, FileReport, LineProblem};
use crate::source::{self, file_stem};
use crate::state::{fingerprint, ImportState, Match, OpenCall, SourceEntry, Totals, IMPORT_DOC};
use crate::writes::{
    append_verbatim, last_time, load_claude_keys, metrics, parse, read_state, record_intent,
    update_task_doc, write_aggregate, write_result, CachedStat, EventStep, Intent,
};

/// The stream (or document) that keeps a session's main source verbatim.
pub const SOURCE_NAME: &str = "source";

/// Imports source files into task folders, through a [`Writer`].
#[derive(Debug)]
pub struct Importer {
    writer: Writer,
    format: Option<Format>,
    /// Claude Code model-call keys imported into any `claude-*` task of the
    /// root (settled or open): resumed sessions replay earlier calls in a
    /// new session file. Loaded on first use.
    claude_keys: Option<HashSet<String>>,
    /// Whether imports leave `result.json` to [`Importer::seal`].
    defer_seal: bool,
    /// Whether a new source is copied verbatim into its task.
    keep_source: bool,
    /// Testing hook: abort after this many appended records
    /// (`TASKLOG_IMPORT_ABORT_AFTER`), to prove crash recovery.
    abort_after: Option<u64>,
    /// Records appended by this importer so far (for the hook).
    appended: u64,
    /// Length and modification time of the file being imported, read
    /// before its bytes (recorded in its source entry; see [`Importer::import_file`]).
    stat: Option<(u64, u64)>,
    /// Stat of every source file when it was last imported, by path
    /// (loaded on first use; see `load_stat_cache`).
    stat_cache: Option<std::collections::HashMap<String, CachedStat>>,
}

/// A source read, detected and parsed, ready to import.
struct Loaded {
    path: PathBuf,
    bytes: Vec<u8>,
    format: Format,
    parsed: Parsed,
    report: FileReport,
}

/// Tells a running `tasklog watch` that a sealed task grew (a session
/// imported, sealed, then resumed). The watcher drops the watch of a sealed
/// task's folder, so the new lines would wait for its full reconcile (30 s);
/// but it watches the root, and a change of a task folder's own times is an
/// event of the root that makes it read that task again at once. Best
/// effort: if the times cannot be set, the reconcile still finds the lines.
fn nudge_watcher(dir: &Path) {
    let now = std::time::SystemTime::now();
    let touched = std::fs::File::open(dir)
        .and_then(|f| f.set_times(std::fs::FileTimes::new().set_modified(now)));
    if let Err(e) = touched {
        tracing::debug!(dir = %dir.display(), error = %e, "touching a sealed task folder");
    }
}

/// A file's length and modification time (ns since the epoch).
pub(crate) fn file_stat(path: &Path) -> Option<(u64, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    let mtime = meta
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    Some((meta.len(), u64::try_from(mtime.as_nanos()).ok()?))
}

/// The stream holding a source's open model calls.
fn open_stream(name: &str) -> String {
    format!("{name}-open")
}

impl Importer {
    /// An importer for `format` (`None`: detect per file).
    pub fn new(writer: Writer, format: Option<Format>) -> Importer {
        Importer {
            writer,
            format,
            claude_keys: None,
            defer_seal: false,
            keep_source: true,
            abort_after: journal::abort_after_from_env(),
            appended: 0,
            stat: None,
            stat_cache: None,
        }
    }

    /// Imports one file. Never panics and never returns early: every
    /// outcome, errors included, is in the report.
    pub fn import_file(&mut self, candidate: &Candidate) -> FileReport {
        let mut loaded = match self.load(candidate, true) {
            Ok(l) => l,
            Err(report) => return *report,
        };
        match self.write(
            &loaded.path,
            &loaded.bytes,
            loaded.format,
            &loaded.parsed,
            &mut loaded.report,
        ) {
            Ok(()) => loaded.report,
            Err(e) => loaded.report.fail(&e),
        }
    }

    /// Writes the final result of the session `candidate` belongs to, if
    /// it has one and its task is not sealed yet (`result.json`). With
    /// [`Importer::defer_seal`], imports leave that to this call, made once
    /// the source looks finished. Returns whether it sealed the task.
    pub fn seal(&mut self, candidate: &Candidate) -> Result<bool> {
        let loaded = match self.load(candidate, false) {
            Ok(l) => l,
            Err(_) => return Ok(false), // nothing importable: nothing to seal
        };
        let parsed = &loaded.parsed;
        let (Some(outcome), None) = (&parsed.outcome, &parsed.agent_id) else {
            return Ok(false);
        };
        let session = parsed
            .session_id
            .clone()
            .unwrap_or_else(|| file_stem(&loaded.path));
        let task_id = source::task_id(loaded.format.task_prefix(), &session);
        let werr = |e| Error::write(&loaded.path, e);
        let task = self.writer.task(&task_id).map_err(werr)?;
        if task.dir().join("result.json").exists() || !task.dir().join("import.json").exists() {
            return Ok(false);
        }
        let state = read_state(&task)?;
        if state.pending.is_some() {
            return Ok(false); // the next import finishes it first
        }
        let mut result = outcome.result.clone();
        if let Value::Object(map) = &mut result {
            map.insert("metrics".into(), metrics(&state.totals));
        }
        let status = facts::status(Some(&outcome.status), false, state.totals.failed_tool_calls);
        let path_text = loaded.path.display().to_string();
        update_task_doc(&task, loaded.format, &state, &path_text, parsed, &status).map_err(werr)?;
        write_result(&task, &status, result, last_time(&state).as_deref()).map_err(werr)?;
        Ok(true)
    }

    /// Leave writing `result.json` (which seals a task: the watcher stops
    /// watching it) to [`Importer::seal`], unless the source itself says
    /// the session ended. For following sources that may still grow.
    pub fn defer_seal(&mut self, defer: bool) {
        self.defer_seal = defer;
    }

    /// Whether sources imported for the first time are copied verbatim
    /// into their task (`source.jsonl` / `source.json`; the default). A
    /// source keeps the choice of its first import.
    pub fn keep_source(&mut self, keep: bool) {
        self.keep_source = keep;
    }

    /// Reads, detects and parses one file, or says why not.
    fn load(
        &mut self,
        candidate: &Candidate,
        fast: bool,
    ) -> std::result::Result<Loaded, Box<FileReport>> {
        let path = std::path::absolute(&candidate.path).unwrap_or_else(|_| candidate.path.clone());
        let report = FileReport::new(&candidate.path);
        // Read before the bytes: a file that changes in between is read
        // again next time (its recorded stat is the older one).
        self.stat = file_stat(&path);
        let path_text = path.display().to_string();
        if let Some(stat) = self.stat.filter(|_| fast) {
            let root = self.writer.root().to_owned();
            let cache = self
                .stat_cache
                .get_or_insert_with(|| crate::writes::load_stat_cache(&root));
            if let Some(hit) = cache.get(&path_text).filter(|c| c.stat == stat) {
                // Same length and modification time as when it was last
                // imported: not read at all.
                let mut report = report;
                report.format = hit.format;
                report.task_id = hit.task.clone();
                report.action = Action::Unchanged;
                report.reason = Some("already imported, unchanged (same size and time)".into());
                return Err(Box::new(report));
            }
        }
        let bytes = match crate::assemble::read_source(&path) {
            Ok(b) => b,
            Err(e) => {
                return Err(Box::new(report.fail(&Error::io(
                    &path,
                    "reading source",
                    e,
                ))))
            }
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(Box::new(report.skip("empty file")));
        }
        if let Some((name, why)) = detect::look_alike(&bytes) {
            let err = Error::LookAlike {
                path: path.clone(),
                name,
                why,
            };
            return Err(Box::new(match candidate.explicit {
                true => report.fail(&err),
                false => report.skip(err.to_string()),
            }));
        }
        let detected = detect::detect(&bytes);
        let Some(format) = self.format.or(detected) else {
            let err = Error::Unrecognized {
                path: path.clone(),
                tried: detect::tried(),
            };
            return Err(Box::new(match candidate.explicit {
                true => report.fail(&err),
                false => report.skip(format!("format not recognized (tried {})", detect::tried())),
            }));
        };
        let mut report = FileReport {
            format: Some(format),
            ..report
        };
        let parsed = parse(format, &path, &bytes);
        let parsed = match parsed {
            Ok(p) if p.recognized > 0 && detected.is_none_or(|d| d == format) => p,
            Ok(_) | Err(_) if detected.is_some_and(|d| d != format) => {
                let err = Error::WrongFormat {
                    path: path.clone(),
                    expected: format.as_str(),
                    detected: detected.map(Format::as_str),
                };
                return Err(Box::new(match candidate.explicit {
                    true => report.fail(&err),
                    false => report.skip(err.to_string()),
                }));
            }
            Ok(_) => {
                let err = Error::WrongFormat {
                    path: path.clone(),
                    expected: format.as_str(),
                    detected: None,
                };
                return Err(Box::new(match candidate.explicit {
                    true => report.fail(&err),
                    false => report.skip(err.to_string()),
                }));
            }
            Err(e) => {
                if let Error::Parse { line, message, .. } = &e {
                    report.parse_errors.push(LineProblem {
                        line: *line,
                        message: message.clone(),
                    });
                }
                return Err(Box::new(report.fail(&e)));
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
        Ok(Loaded {
            path,
            bytes,
            format,
            parsed,
            report,
        })
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
        if let Some(pending) = state.pending.take() {
            self.recover(&task, state, &pending)?;
            state = read_state(&task)?;
        }
        let imported = &bytes[..parsed.consumed.min(bytes.len())];
        let stat = self.stat.take();
        self.apply(
            &task, state, path, imported, format, parsed, report, None, stat,
        )
    }

    /// Finishes an import that a crash interrupted (see journal.rs): the
    /// same source prefix, from the state recorded with the intent.
    fn recover(&mut self, task: &Task, state: ImportState, pending: &Pending) -> Result<()> {
        let path = PathBuf::from(&pending.path);
        let doc = task.dir().join(format!("{IMPORT_DOC}.json"));
        let bytes = crate::assemble::read_source(&path)
            .map_err(|e| Error::io(&path, "reading the source of an interrupted import", e))?;
        let n = pending.bytes as usize;
        let Some(format) = pending
            .format
            .filter(|_| n <= bytes.len() && fingerprint(&bytes[..n]) == pending.xxh3)
        else {
            return Err(Error::State {
                path: doc,
                message: format!(
                    "an import of {} was interrupted and that source changed since; remove the task folder to import it again",
                    pending.path
                ),
            });
        };
        let prefix = &bytes[..n];
        let parsed = parse(format, &path, prefix)?;
        tracing::warn!(
            path = %path.display(),
            task = task.id().as_str(),
            "finishing an interrupted import"
        );
        let mut report = FileReport::new(&path);
        self.apply(
            task,
            state,
            &path,
            prefix,
            format,
            &parsed,
            &mut report,
            Some(pending),
            None,
        )
    }

    /// Imports `imported` (the source's complete part) into `task`, whose
    /// import record is `state`. `resume`: the intent of a crashed run of
    /// this same import, whose records are skipped.
    #[allow(clippy::too_many_arguments)] // one call site each; a struct would only rename them
    fn apply(
        &mut self,
        task: &Task,
        mut state: ImportState,
        path: &Path,
        imported: &[u8],
        format: Format,
        parsed: &Parsed,
        report: &mut FileReport,
        resume: Option<&Pending>,
        stat: Option<(u64, u64)>,
    ) -> Result<()> {
        let werr = |e| Error::write(path, e);
        let task_id = task.id().as_str().to_owned();
        // A writer of its own for this run: the writer keeps every stream it
        // appended to open, and an `-open` stream this run deletes must not
        // be written through a handle an earlier run opened (its records
        // would go to the deleted file). Dropping it closes those handles.
        let writer =
            Writer::open(self.writer.root(), self.writer.options().clone()).map_err(werr)?;
        let task = &writer
            .task(&task_id)
            .map_err(werr)?
            .with_trace(task.trace().clone());
        let session = parsed.session_id.clone().unwrap_or_else(|| file_stem(path));
        let path_text = path.display().to_string();
        let (index, from) = match state.find(&path_text, imported, parsed.document) {
            Match::Same(i) => {
                let e = &mut state.sources[i];
                let from = e.units as usize;
                let now_stat = (stat.map(|s| s.0), stat.map(|s| s.1));
                if stat.is_some()
                    && e.path == path_text
                    && (e.file_len, e.file_mtime_ns) != now_stat
                {
                    // Remember the file as it is now, so the next run can
                    // tell it is unchanged without reading it.
                    (e.file_len, e.file_mtime_ns) = now_stat;
                    task.put(IMPORT_DOC, &state).map_err(werr)?;
                    if let (Some(stat), Some(cache)) = (stat, self.stat_cache.as_mut()) {
                        let hit = CachedStat {
                            stat,
                            format: Some(format),
                            task: Some(task_id.clone()),
                        };
                        cache.insert(path_text.clone(), hit);
                    }
                }
                report.parse_errors.retain(|p| p.line > from);
                report.action = Action::Unchanged;
                report.reason = Some("already imported, unchanged".into());
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
        let open_name = open_stream(&name);
        // A task compressed since its last import (`tasklog compress`,
        // `[retention] compress_after`) whose session was resumed: its
        // streams become plain again before the intent records their
        // lengths and anything is appended or an open stream replaced.
        for stream in [name.as_str(), open_name.as_str(), EVENTS_STREAM] {
            if !(parsed.document && stream == name) {
                task.writer()
                    .decompress_stream(task.id().as_str(), stream)
                    .map_err(werr)?;
            }
        }
        let retracting = state.open.values().any(|c| c.source == name);
        if resume.is_none() {
            // The intent, before anything is appended (journal.rs).
            let intent = Intent {
                path: &path_text,
                imported,
                format,
                document: parsed.document,
                name: &name,
                open_name: &open_name,
                retracting,
            };
            record_intent(task, &state, &intent).map_err(werr)?;
        }
        let mut written = Totals::default();
        let retracted = self.retract_open(task, &name, &mut state, format)?;
        let mut out = Appender::new(self.abort_after, self.appended);
        if let Some(p) = resume {
            out.resume(task.dir(), p).map_err(|e| {
                Error::io(task.dir(), "reading streams of an interrupted import", e)
            })?;
        }
        let verbatim = index.map_or(self.keep_source, |i| {
            state.sources[i].verbatim != Some(false)
        });
        if !verbatim {
            // Not copied (`--no-source`): the events are all there is.
        } else if parsed.document {
            task.put_json(&name, imported, Durability::Default)
                .map_err(werr)?;
        } else {
            for line in parsed.lines.iter().filter(|l| l.number > from) {
                out.append(&name, || append_verbatim(task, &name, line))
                    .map_err(werr)?;
                written.source_records += 1;
            }
        }
        let file_name = format!("{name}.{}", if parsed.document { "json" } else { "jsonl" });
        let origin = Origin {
            source: &file_name,
            task: &task_id,
        };
        let step = EventStep {
            task,
            format,
            from,
            name: &name,
            open_name: &open_name,
            origin: &origin,
        };
        self.write_events(&step, &parsed.events, &mut state, &mut out, &mut written)
            .map_err(werr)?;
        let before = index.and_then(|i| state.sources[i].aggregate);
        let aggregate = match &parsed.aggregate {
            Some(agg) => Some(
                write_aggregate(
                    task,
                    agg,
                    before,
                    parsed.units,
                    &origin,
                    &mut written,
                    &mut out,
                )
                .map_err(werr)?,
            ),
            None => None,
        };
        let now = now_rfc3339();
        self.appended = out.written();
        state.totals = state.totals.minus(&retracted);
        state.totals.add(&written);
        let (first_ts, last_ts) = parsed.time_span();
        let entry = SourceEntry {
            path: path_text.clone(),
            kind: if parsed.document { "document" } else { "jsonl" }.into(),
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
            first_ts,
            last_ts,
            models: parsed.models(),
            file_len: stat.map(|s| s.0),
            file_mtime_ns: stat.map(|s| s.1),
            verbatim: (!verbatim).then_some(false),
        };
        match index {
            Some(i) => state.sources[i] = entry,
            None => state.sources.push(entry),
        }
        state.format = Some(format);
        state.session_id = Some(session);
        let sealed = task.dir().join("result.json").exists();
        let seal = (!self.defer_seal || parsed.ended) && parsed.agent_id.is_none();
        let outcome = parsed.outcome.as_ref().filter(|_| seal || sealed);
        let status = facts::status(
            outcome.map(|o| o.status.as_str()),
            !seal && !sealed,
            state.totals.failed_tool_calls,
        );
        update_task_doc(task, format, &state, &path_text, parsed, &status).map_err(werr)?;
        if written.events > 0 && seal {
            if let Some(outcome) = &parsed.outcome {
                let mut result = outcome.result.clone();
                if let Value::Object(map) = &mut result {
                    map.insert("metrics".into(), metrics(&state.totals));
                }
                let finished = last_time(&state);
                write_result(task, &status, result, finished.as_deref()).map_err(werr)?;
            }
        }
        if let (Some(stat), Some(cache)) = (stat, self.stat_cache.as_mut()) {
            let hit = CachedStat {
                stat,
                format: Some(format),
                task: Some(task_id.clone()),
            };
            cache.insert(path_text.clone(), hit);
        }
        state.importer = format!("tasklog-import {}", env!("CARGO_PKG_VERSION"));
        state.first_imported_at.get_or_insert_with(|| now.clone());
        state.last_imported_at = Some(now);
        task.put(IMPORT_DOC, &state).map_err(werr)?;
        if sealed && written.source_records + written.events > 0 {
            nudge_watcher(task.dir());
        }
        report.action = if index.is_some() {
            Action::Appended
        } else {
            Action::Imported
        };
        report.written = written.minus(&retracted);
        Ok(())
    }

    /// Writes the normalized events not written before: keyed events once
    /// per key (a call still open goes to the `-open` stream), unkeyed ones
    /// of lines past `from`.
    fn write_events(
        &mut self,
        step: &EventStep<'_>,
        events: &[crate::model::Norm],
        state: &mut ImportState,
        out: &mut Appender,
        written: &mut Totals,
    ) -> std::result::Result<(), tasklog_writer::Error> {
        for norm in events {
            // Keyed events are matched by key, not by line: an open call
            // taken back above comes from a line imported before, and a
            // document element imported before can gain parts (a tool
            // call's end, a re-written message). Unkeyed events of lines
            // already imported were written then.
            let keyed_call = matches!(norm.body, Body::LlmCall(_)) && norm.key.is_some();
            if norm.key.is_none() && norm.line <= step.from {
                continue;
            }
            if let Some(key) = &norm.key {
                if state.seen.contains(key) || (keyed_call && state.open.contains_key(key)) {
                    continue;
                }
                if step.format == Format::ClaudeCode
                    && keyed_call
                    && !self.claude_keys().insert(key.clone())
                {
                    continue; // imported with another session (a resumed one)
                }
            }
            let stream = match (&norm.body, &norm.key) {
                (Body::LlmCall(call), Some(key)) if norm.open => {
                    state.open.insert(
                        key.clone(),
                        OpenCall {
                            source: step.name.to_owned(),
                            usage: call.usage,
                            cost_usd: call.cost_usd.unwrap_or(0.0),
                        },
                    );
                    step.open_name
                }
                (_, key) => {
                    if let Some(key) = key {
                        state.seen.insert(key.clone());
                    }
                    EVENTS_STREAM
                }
            };
            out.append(stream, || {
                emit::write_to(step.task, stream, norm, step.origin)
            })?;
            written.events += 1;
            match &norm.body {
                Body::LlmCall(call) => written.count_llm(&call.usage, call.cost_usd),
                Body::ToolStart { .. } => written.tool_calls += 1,
                Body::ToolEnd { ok: false, .. } => written.failed_tool_calls += 1,
                _ => {}
            }
        }
        Ok(())
    }

    /// Deletes the `-open` stream of source `name` and forgets its calls,
    /// so they are written again from the grown source. Returns what the
    /// deleted records had counted.
    fn retract_open(
        &mut self,
        task: &Task,
        name: &str,
        state: &mut ImportState,
        format: Format,
    ) -> Result<Totals> {
        let mine: Vec<String> = state
            .open
            .iter()
            .filter(|(_, c)| c.source == name)
            .map(|(k, _)| k.clone())
            .collect();
        let mut retracted = Totals::default();
        if mine.is_empty() {
            return Ok(retracted);
        }
        let stream = task.dir().join(format!("{}.jsonl", open_stream(name)));
        match std::fs::remove_file(&stream) {
            Ok(()) => {}
            // Already gone: a run that crashed after deleting it.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(stream, "replacing open model calls", e)),
        }
        for key in mine {
            if let Some(call) = state.open.remove(&key) {
                retracted.events += 1;
                retracted.count_llm(&call.usage, Some(call.cost_usd));
            }
            if format == Format::ClaudeCode {
                self.claude_keys().remove(&key);
            }
        }
        Ok(retracted)
    }
}
