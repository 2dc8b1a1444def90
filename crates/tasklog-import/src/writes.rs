//! What one import writes besides the normalized events: the source kept
//! verbatim, the aggregate call of sources that only sum their usage, the
//! task document, the intent that makes the import exactly once
//! (journal.rs), and how a source is parsed and its import record read.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde_json::{json, Map, Value};
use tasklog_writer::{Durability, Record, Task, EVENTS_STREAM};

use crate::emit::{self, Origin};
use crate::error::{Error, Result};
use crate::facts;
use crate::journal::{self, Appender, Pending};
use crate::model::{Body, Format, LlmUse, Norm, Parsed};
use crate::report::error_chain;
use crate::state::{fingerprint, Aggregate, ImportState, Totals, IMPORT_DOC};
use crate::{
    claude, cline, codex, copilot, copilot_chat, gemini, iflow, mini_swe, opencode, openhands, pi,
    swe_agent,
};

/// Runs the parser of `format`.
pub(crate) fn parse(format: Format, path: &Path, bytes: &[u8]) -> Result<Parsed> {
    match format {
        Format::ClaudeCode => Ok(claude::parse(path, bytes)),
        Format::Codex => Ok(codex::parse(path, bytes)),
        Format::SweAgent => swe_agent::parse(path, bytes),
        Format::OpenHands => openhands::parse(path, bytes),
        Format::GeminiCli => gemini::parse(path, bytes),
        Format::OpenCode => opencode::parse(path, bytes),
        Format::Cline => cline::parse(path, bytes),
        Format::CopilotCli => Ok(copilot::parse(path, bytes)),
        Format::MiniSweAgent => mini_swe::parse(path, bytes),
        Format::IflowCli => Ok(iflow::parse(path, bytes)),
        Format::Pi => Ok(pi::parse(path, bytes)),
        Format::VscodeCopilotChat => copilot_chat::parse(path, bytes),
    }
}

pub(crate) fn read_state(task: &Task) -> Result<ImportState> {
    let path = task.dir().join(format!("{IMPORT_DOC}.json"));
    let mut state: ImportState = match task.read_doc(IMPORT_DOC) {
        Ok(None) => return Ok(ImportState::default()),
        Ok(Some(v)) => serde_json::from_value(v).map_err(|e| Error::State {
            path: path.clone(),
            message: e.to_string(),
        })?,
        Err(e) => {
            return Err(Error::State {
                path,
                message: error_chain(&e),
            })
        }
    };
    state.load_keys(task.dir()).map_err(|message| Error::Keys {
        path: task.dir().join(crate::keys::KEYS_FILE),
        message,
    })?;
    Ok(state)
}

/// Appends the keys `state` added since it was read to the task's keys file.
fn save_keys(
    task: &Task,
    state: &mut ImportState,
) -> std::result::Result<(), tasklog_writer::Error> {
    state
        .save_keys(task.dir())
        .map_err(|source| tasklog_writer::Error::Io {
            path: task.dir().join(crate::keys::KEYS_FILE),
            op: "appending the keys of imported events",
            source,
        })
}

/// Writes `import.json` from `state`, its new keys first (keys.rs): a
/// crash between the two leaves keys that the record does not count yet.
pub(crate) fn save_state(
    task: &Task,
    state: &mut ImportState,
) -> std::result::Result<(), tasklog_writer::Error> {
    save_keys(task, state)?;
    task.put(IMPORT_DOC, state)
}

/// One source line, verbatim: its bytes follow the envelope fields the
/// writer adds in front. A line that is not a record (it does not parse,
/// or the writer refuses it) is kept as text inside an `import.unparsed`
/// record, so nothing of the source is lost.
pub(crate) fn append_verbatim(
    task: &Task,
    stream: &str,
    line: &crate::model::SourceLine,
) -> tasklog_writer::Result<()> {
    let refused = match &line.error {
        None => {
            match task.append_json(stream, with_source_ts(line).as_bytes(), Durability::Default) {
                Ok(_) => return Ok(()),
                Err(e) if e.is_refusal() => error_chain(&e),
                Err(e) => return Err(e),
            }
        }
        Some(e) => e.clone(),
    };
    let record = Record::event("import.unparsed")
        .with("ts", Value::Null)
        .with("source_line", line.number as u64)
        .with("error", refused)
        .with("text", line.text.as_str());
    task.append(stream, record).map(drop)
}

/// The verbatim line with a `ts` of the source's own in front: the line's
/// `timestamp`, or `null` when it has none, so the writer does not stamp
/// the import time (a `null` `ts` is "time unknown" to the index, which
/// then falls back on the line's own `timestamp`/`time`/`created_at`).
/// A line with a `ts` of its own is kept as it is; the rest of the bytes
/// are the source's, unchanged.
fn with_source_ts(line: &crate::model::SourceLine) -> std::borrow::Cow<'_, str> {
    let text = line
        .text
        .trim_start_matches(|c: char| c.is_ascii_whitespace() || c == '\u{feff}');
    let Some(rest) = text.strip_prefix('{').filter(|_| !line.has_ts) else {
        return std::borrow::Cow::Borrowed(&line.text);
    };
    let ts = match &line.ts {
        Some(t) => format!("\"{t}\""),
        None => "null".to_owned(),
    };
    let sep = if rest.trim_start().starts_with('}') {
        ""
    } else {
        ","
    };
    std::borrow::Cow::Owned(format!("{{\"ts\":{ts}{sep}{rest}"))
}

/// Writes the growth of run totals as one `llm.call` (SWE-agent).
pub(crate) fn write_aggregate(
    task: &Task,
    agg: &LlmUse,
    before: Option<Aggregate>,
    units: usize,
    origin: &Origin<'_>,
    written: &mut Totals,
    out: &mut Appender,
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
        open: false,
        body: Body::LlmCall(delta.clone()),
    };
    out.append(EVENTS_STREAM, || emit::write(task, &norm, origin))?;
    written.events += 1;
    written.count_llm(&delta.usage, delta.cost_usd);
    Ok(now)
}

pub(crate) fn metrics(t: &Totals) -> Value {
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

pub(crate) fn update_task_doc(
    task: &Task,
    format: Format,
    state: &ImportState,
    path: &str,
    parsed: &Parsed,
    status: &str,
) -> tasklog_writer::Result<()> {
    let id = task.id().as_str().to_owned();
    let session = state.session_id.clone().unwrap_or_default();
    task.update_task_doc(|doc: &mut Map<String, Value>| {
        doc.entry("task_id").or_insert_with(|| id.into());
        doc.entry("source")
            .or_insert_with(|| format!("import:{format}").into());
        doc.entry("session_id").or_insert_with(|| session.into());
        doc.entry("imported_from").or_insert_with(|| path.into());
        for (k, v) in &parsed.task_fields {
            doc.entry(k.as_str()).or_insert_with(|| v.clone());
        }
        facts::apply(doc, format, state, parsed, status);
        // `created_at` is the session's first source time, or absent.
        match doc.get("started_at").filter(|v| v.is_string()).cloned() {
            Some(t) => {
                doc.insert("created_at".into(), t);
            }
            None => {
                doc.remove("created_at");
            }
        }
    })
}

/// The latest time any source of the task records (`None`: none does).
pub(crate) fn last_time(state: &ImportState) -> Option<String> {
    state.sources.iter().filter_map(|e| e.last_ts.clone()).max()
}

/// Writes the session's final result: a `result` event and `result.json`
/// (which seals the task), like `Task::final_result`, but with the
/// session's own last time where that stamps the import time (`ts` and
/// `completed_at` are `null` when no source records a time).
pub(crate) fn write_result(
    task: &Task,
    status: &str,
    result: Value,
    finished: Option<&str>,
) -> tasklog_writer::Result<()> {
    let when = finished.map_or(Value::Null, Value::from);
    task.append(
        EVENTS_STREAM,
        Record::event("result")
            .with("ts", when.clone())
            .with("status", status)
            .with("result", result.clone()),
    )?;
    let doc = json!({
        "task_id": task.id().as_str(),
        "status": status,
        "completed_at": when,
        "result": result,
    });
    task.put("result", &doc)
}

/// A source file's stat when it was last imported, and where it went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CachedStat {
    pub(crate) stat: (u64, u64),
    pub(crate) format: Option<Format>,
    pub(crate) task: Option<String>,
}

/// The length and modification time each source file had when it was
/// last imported, by path, over every task of the root: a file whose
/// stat is unchanged is not read again (size and time decide, not content).
/// Tasks with an unfinished import (`pending`) are left out, so their
/// sources are read and the import finished.
pub(crate) fn load_stat_cache(root: &Path) -> HashMap<String, CachedStat> {
    #[derive(serde::Deserialize)]
    struct Entry {
        #[serde(default)]
        path: String,
        #[serde(default)]
        file_len: Option<u64>,
        #[serde(default)]
        file_mtime_ns: Option<u64>,
        #[serde(default)]
        format: Option<Format>,
    }
    #[derive(serde::Deserialize)]
    struct Doc {
        #[serde(default)]
        sources: Vec<Entry>,
        #[serde(default)]
        pending: Option<serde::de::IgnoredAny>,
    }
    let mut out = HashMap::new();
    let Ok(entries) = std::fs::read_dir(root) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path().join(format!("{IMPORT_DOC}.json"));
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let Ok(doc) = serde_json::from_slice::<Doc>(&bytes) else {
            continue; // read in full (and reported) when its source is imported
        };
        if doc.pending.is_some() {
            continue;
        }
        for e in doc.sources {
            if let (Some(len), Some(mtime)) = (e.file_len, e.file_mtime_ns) {
                let task = entry.file_name().to_string_lossy().into_owned();
                let stat = CachedStat {
                    stat: (len, mtime),
                    format: e.format,
                    task: Some(task),
                };
                out.insert(e.path, stat);
            }
        }
    }
    out
}

pub(crate) fn load_claude_keys(root: &Path) -> HashSet<String> {
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
        let state = serde_json::from_slice::<ImportState>(&bytes)
            .map_err(|e| e.to_string())
            .and_then(|mut state| state.load_keys(&entry.path()).map(|()| state));
        match state {
            Ok(state) => {
                keys.extend(state.seen.into_iter().filter(|k| k.starts_with("llm:")));
                keys.extend(state.open.into_keys());
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "unreadable import record")
            }
        }
    }
    keys
}

/// What one import is about to append, for its intent.
pub(crate) struct Intent<'a> {
    pub(crate) path: &'a str,
    pub(crate) imported: &'a [u8],
    pub(crate) format: Format,
    pub(crate) document: bool,
    pub(crate) name: &'a str,
    pub(crate) open_name: &'a str,
    pub(crate) retracting: bool,
}

/// Writes `import.json` with the intent of this import before anything is
/// appended: the source prefix and every stream's length (journal.rs).
pub(crate) fn record_intent(
    task: &Task,
    state: &mut ImportState,
    i: &Intent<'_>,
) -> std::result::Result<(), tasklog_writer::Error> {
    // Keys still only in memory (a record from before the keys file) go to
    // the file first: the intent's state is what a replay starts from.
    save_keys(task, state)?;
    let mut streams = std::collections::BTreeMap::new();
    if !i.document {
        streams.insert(i.name.to_owned(), journal::stream_len(task.dir(), i.name));
    }
    streams.insert(
        EVENTS_STREAM.to_owned(),
        journal::stream_len(task.dir(), EVENTS_STREAM),
    );
    let open_len = match i.retracting {
        true => 0, // deleted before anything is appended to it
        false => journal::stream_len(task.dir(), i.open_name),
    };
    streams.insert(i.open_name.to_owned(), open_len);
    let mut intent = state.clone();
    intent.pending = Some(Pending {
        path: i.path.to_owned(),
        format: Some(i.format),
        bytes: i.imported.len() as u64,
        xxh3: fingerprint(i.imported),
        streams,
        reset: false,
    });
    task.put(IMPORT_DOC, &intent)
}

/// Where the events of one import go.
pub(crate) struct EventStep<'a> {
    pub(crate) task: &'a Task,
    pub(crate) format: Format,
    /// Source units imported before this run.
    pub(crate) from: usize,
    pub(crate) name: &'a str,
    pub(crate) open_name: &'a str,
    pub(crate) origin: &'a Origin<'a>,
}
