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
use crate::state::{fingerprint, ImportState, Match, OpenCall, SourceEntry, Totals};
use crate::writes::{
    append_verbatim, last_time, load_claude_keys, metrics, parse, read_state, record_intent,
    save_state, update_task_doc, write_aggregate, write_result, CachedStat, EventStep, Intent,
};

mod apply;
mod rewrite;
mod settle;

pub use settle::DEFAULT_COMPRESS_AFTER;

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
    /// Testing hook: panic when importing a file whose path contains this
    /// (`TASKLOG_IMPORT_PANIC_ON`), to prove a follower outlives a panic.
    panic_on: Option<String>,
    /// Length and modification time of the file being imported, read
    /// before its bytes (recorded in its source entry; see [`Importer::import_file`]).
    stat: Option<(u64, u64)>,
    /// Stat of every source file when it was last imported, by path
    /// (loaded on first use; see `load_stat_cache`).
    stat_cache: Option<std::collections::HashMap<String, CachedStat>>,
    /// How long a sealed task's sources stay unchanged before its streams
    /// are compressed (settle.rs); `None`: never.
    compress_after: Option<std::time::Duration>,
    /// Tasks this importer found or left compressed: not looked at again.
    compressed: HashSet<String>,
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

/// A source's length and modification time (ns since the epoch), as
/// `assemble::source_stat` reads them.
pub(crate) fn file_stat(path: &Path) -> Option<(u64, u64)> {
    let (len, modified) = crate::assemble::source_stat(path).ok()?;
    let mtime = modified.duration_since(std::time::UNIX_EPOCH).ok()?;
    Some((len, u64::try_from(mtime.as_nanos()).ok()?))
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
            keep_source: false,
            abort_after: journal::abort_after_from_env(),
            appended: 0,
            panic_on: std::env::var("TASKLOG_IMPORT_PANIC_ON")
                .ok()
                .filter(|v| !v.is_empty()),
            stat: None,
            stat_cache: None,
            compress_after: None,
            compressed: HashSet::new(),
        }
    }

    /// Imports one file. Never panics and never returns early: every
    /// outcome, errors included, is in the report.
    pub fn import_file(&mut self, candidate: &Candidate) -> FileReport {
        if let Some(marker) = &self.panic_on {
            if candidate.path.to_string_lossy().contains(marker.as_str()) {
                panic!("TASKLOG_IMPORT_PANIC_ON={marker}: a testing hook");
            }
        }
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
    /// into their task (`source.jsonl` / `source.json`; not by default:
    /// the normalized events hold what the index and the dashboard use,
    /// and the copy doubled the disk, issue 25). A source keeps the choice
    /// of its first import.
    pub fn keep_source(&mut self, keep: bool) {
        self.keep_source = keep;
    }

    /// Drops what this importer keeps in memory between files (the Claude
    /// Code keys, the stat cache, the tasks known compressed); each is read
    /// again from the task folders when next needed. After a panic in the
    /// middle of an import they may hold what was never written (a key
    /// taken for a call whose record is not there would skip that call for
    /// good); the folders, with the import's recorded intent, are the truth.
    pub fn forget_caches(&mut self) {
        self.claude_keys = None;
        self.stat_cache = None;
        self.stat = None;
        self.compressed.clear();
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
        let mut reset = None;
        if let Some(pending) = state.pending.take() {
            if !pending.reset && self.recover(&task, state.clone(), &pending)? {
                state = read_state(&task)?;
            } else {
                // A rewritten source's re-import that a crash stopped, or an
                // interrupted import whose source was rewritten before this
                // run (import/rewrite.rs): finish the reset, import this
                // file into the empty record, then the task's other sources.
                let here = path.display().to_string();
                let mut paths: Vec<&str> = state.sources.iter().map(|s| s.path.as_str()).collect();
                paths.push(&pending.path);
                paths.sort_unstable();
                paths.dedup();
                let others = paths
                    .into_iter()
                    .filter(|p| *p != here)
                    .map(PathBuf::from)
                    .collect();
                let begun: Vec<String> = pending.streams.keys().cloned().collect();
                state = self.reset_task(&task, &state, &begun).map_err(werr)?;
                reset = Some(others);
            }
        }
        let imported = &bytes[..parsed.consumed.min(bytes.len())];
        let stat = self.stat.take();
        self.apply(
            &task, state, path, imported, format, parsed, report, None, stat,
        )?;
        if let Some(others) = reset {
            self.finish_reimport(task.dir(), others);
        }
        Ok(())
    }

    /// Finishes an import that a crash interrupted (see journal.rs): the
    /// same source prefix, from the state recorded with the intent.
    /// Returns `false` when that prefix is no longer the source's (it was
    /// rewritten since, or is gone): the task is then imported again from
    /// its sources (import/rewrite.rs).
    fn recover(&mut self, task: &Task, state: ImportState, pending: &Pending) -> Result<bool> {
        let path = PathBuf::from(&pending.path);
        let bytes = match crate::assemble::read_source(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => {
                return Err(Error::io(
                    &path,
                    "reading the source of an interrupted import",
                    e,
                ))
            }
        };
        let n = pending.bytes as usize;
        let Some(format) = pending
            .format
            .filter(|_| n <= bytes.len() && fingerprint(&bytes[..n]) == pending.xxh3)
        else {
            tracing::warn!(
                task = task.id().as_str(),
                path = %path.display(),
                "an import was interrupted and its source changed since: importing the task again from its sources"
            );
            return Ok(false);
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
        )?;
        Ok(true)
    }
}
