//! Sessions an agent keeps as many small files, read as the one document
//! an importer already knows, so that their standard folders can be
//! imported as they are (docs/IMPORT.md, section 1.1):
//!
//! - **OpenHands** (`<file_store_path>/sessions/<sid>/events/<n>.json`, one
//!   event per file): the `events` folder is read as the JSON array of its
//!   events in id order, the shape of a saved trajectory (`openhands`).
//! - **OpenCode** storage (`<data>/opencode/storage/session/<project>/<ses>.json`,
//!   with `storage/message/<ses>/<msg>.json` and `storage/part/<msg>/<part>.json`):
//!   a session file is read as the `{info, messages: [{info, parts}]}`
//!   document `opencode export` prints (`opencode`).
//!
//! - **OpenHands evaluation output** (`output*.jsonl`, one `{instance_id,
//!   history, metrics, ...}` per line): each line is a session of its own,
//!   listed by `discover` as the source `<file>#<byte offset>` and read as
//!   that line alone (`openhands`, which takes `history` and `instance_id`).
//!   Such a source has no file of its own to stat: `--follow` and
//!   `agents = "auto"` do not follow it; import the file again instead.
//!
//! Any other path is read as it is. A file of the folder that is not
//! JSON (a write in progress) is left out of this reading; the next one
//! takes it, as the importers keep what they wrote by key or position.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde_json::{json, Value};

/// The bytes of a source: the file itself, or an assembled document.
pub(crate) fn read_source(path: &Path) -> io::Result<Vec<u8>> {
    if let Some((file, offset)) = eval_line(path) {
        return read_line_at(&file, offset);
    }
    if is_openhands_events(path) {
        return openhands_events(path);
    }
    if let Some(storage) = opencode_storage(path) {
        return opencode_session(&storage, path);
    }
    std::fs::read(path)
}

/// A source `<file>#<offset>` that is one line of a file of evaluation
/// output: the file and the line's byte offset. A file that exists under
/// that very name is itself.
pub(crate) fn eval_line(path: &Path) -> Option<(PathBuf, u64)> {
    let text = path.to_str()?;
    let (file, offset) = text.rsplit_once('#')?;
    let offset = offset.parse().ok()?;
    (!path.exists() && is_eval_name(Path::new(file))).then(|| (PathBuf::from(file), offset))
}

/// Whether a file's name is that of OpenHands evaluation output
/// (`output.jsonl`, and the harness's `output.*.jsonl` variants).
pub(crate) fn is_eval_name(path: &Path) -> bool {
    path.file_name()
        .map(|n| n.to_string_lossy())
        .is_some_and(|n| n.starts_with("output") && n.ends_with(".jsonl"))
}

/// The sources of a file of evaluation output: `<file>#<offset>` for each
/// line that is an `{instance_id, history}` object, or `None` when the
/// file is not one (its first line is not such an object).
pub(crate) fn eval_sources(path: &Path) -> Option<Vec<PathBuf>> {
    if !is_eval_name(path) {
        return None;
    }
    // Listed again on every look of a followed folder: read again only
    // when the file's size or time moved.
    let meta = std::fs::metadata(path).ok()?;
    let stamp = (meta.len(), meta.modified().ok());
    let mut cache = EVAL_CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((seen, sources)) = cache.get(path) {
        if *seen == stamp {
            return sources.clone();
        }
    }
    let sources = eval_sources_of(path);
    cache.insert(path.to_owned(), (stamp, sources.clone()));
    sources
}

/// A file's (length, modification time) and the sources listed from it.
type EvalListing = ((u64, Option<std::time::SystemTime>), Option<Vec<PathBuf>>);

/// The sources of each evaluation output file listed in this process.
static EVAL_CACHE: std::sync::LazyLock<std::sync::Mutex<HashMap<PathBuf, EvalListing>>> =
    std::sync::LazyLock::new(Default::default);

fn eval_sources_of(path: &Path) -> Option<Vec<PathBuf>> {
    let bytes = std::fs::read(path).ok()?;
    let mut out = Vec::new();
    let mut offset = 0usize;
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        let start = offset;
        offset += line.len();
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let is_session = serde_json::from_slice::<Value>(line).is_ok_and(|v| {
            v.get("instance_id").is_some() && v.get("history").is_some_and(Value::is_array)
        });
        if !is_session && out.is_empty() {
            return None; // not evaluation output: read as the file it is
        }
        if is_session && line.ends_with(b"\n") {
            // A last line without its newline may still be written.
            out.push(PathBuf::from(format!("{}#{start}", path.display())));
        }
    }
    (!out.is_empty()).then_some(out)
}

/// The line of `file` that starts at `offset`, without its newline.
fn read_line_at(file: &Path, offset: u64) -> io::Result<Vec<u8>> {
    use std::io::{BufRead, Seek};
    let mut reader = io::BufReader::new(std::fs::File::open(file)?);
    reader.seek(io::SeekFrom::Start(offset))?;
    let mut line = Vec::new();
    reader.read_until(b'\n', &mut line)?;
    if line.last() == Some(&b'\n') {
        line.pop();
    }
    Ok(line)
}

/// Whether `path` is an OpenHands session's `events` folder.
pub(crate) fn is_openhands_events(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n == "events") && path.is_dir()
}

/// The OpenHands session id of an `events` folder: its parent's name.
pub(crate) fn openhands_session(path: &Path) -> Option<String> {
    is_openhands_events(path)
        .then(|| path.parent()?.file_name())
        .flatten()
        .map(|n| n.to_string_lossy().into_owned())
}

/// The `storage` folder of an OpenCode session file
/// (`storage/session/<project>/<ses>.json`), when `path` is one.
pub(crate) fn opencode_storage(path: &Path) -> Option<PathBuf> {
    if path.extension()? != "json" {
        return None;
    }
    let project = path.parent()?;
    let session = project.parent()?;
    let storage = session.parent()?;
    (session.file_name()? == "session"
        && storage.file_name()? == "storage"
        && storage.join("message").is_dir())
    .then(|| storage.to_owned())
}

/// A source's length and modification time, which decide whether it
/// changed since it was last read (`import`'s stat cache, the follower's
/// looks, the quiet time before compressing). A file's are its own. The
/// sessions kept as many files are judged by all of them: the length is
/// the sum of their lengths (and their folders'), the time the latest of
/// their times, so a file added, written, rewritten or removed changes one
/// or the other. A folder's own time moves only when an entry is added or
/// removed, not when a file in it is written: an OpenHands event file
/// created empty and written a moment later (read while empty, and left
/// out) would otherwise never be read. An OpenCode session file's messages
/// and parts grow and are rewritten while the session file may stay as it
/// was.
pub(crate) fn source_stat(path: &Path) -> io::Result<(u64, SystemTime)> {
    let meta = std::fs::metadata(path)?;
    let mut files = vec![meta];
    if is_openhands_events(path) {
        files = folder_entries(path)?;
    } else if let Some(storage) = opencode_storage(path) {
        let session = path.file_stem().unwrap_or_default();
        let messages = storage.join("message").join(session);
        for entry in std::fs::read_dir(&messages).into_iter().flatten() {
            let name = entry?.file_name();
            let Some(message) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
                continue;
            };
            files.extend(folder_entries(&storage.join("part").join(message))?);
        }
        files.extend(folder_entries(&messages)?);
    }
    let mut stat = (0u64, SystemTime::UNIX_EPOCH);
    for meta in &files {
        stat.0 = stat.0.wrapping_add(meta.len());
        stat.1 = stat.1.max(meta.modified()?);
    }
    Ok(stat)
}

/// The metadata of folder `dir` and of its `.json` entries; none when the
/// folder does not exist.
fn folder_entries(dir: &Path) -> io::Result<Vec<std::fs::Metadata>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = vec![std::fs::metadata(dir)?];
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !name.ends_with(".json") {
            continue;
        }
        if let Ok(meta) = entry.metadata() {
            out.push(meta);
        }
    }
    Ok(out)
}

/// The OpenCode session file a message or part file belongs to
/// (`storage/message/<ses>/<msg>.json`, `storage/part/<msg>/<part>.json`),
/// so that a follower's event for one of them reads its session again. A
/// part names its session (`sessionID`); one that does not is found through
/// its message's folder.
pub(crate) fn opencode_session_of(path: &Path) -> Option<PathBuf> {
    if path.extension()? != "json" {
        return None;
    }
    let owner = path.parent()?;
    let kind = owner.parent()?;
    let storage = kind.parent()?;
    if storage.file_name()? != "storage" {
        return None;
    }
    let session = match kind.file_name()?.to_str()? {
        "message" => owner.file_name()?.to_owned(),
        "part" => {
            let named = std::fs::read(path)
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                .and_then(|v| v.get("sessionID")?.as_str().map(std::ffi::OsString::from));
            match named {
                Some(s) => s,
                None => {
                    let message = format!("{}.json", owner.file_name()?.to_str()?);
                    std::fs::read_dir(storage.join("message"))
                        .ok()?
                        .flatten()
                        .find(|e| e.path().join(&message).is_file())?
                        .file_name()
                }
            }
        }
        _ => return None,
    };
    let file = format!("{}.json", session.to_str()?);
    std::fs::read_dir(storage.join("session"))
        .ok()?
        .flatten()
        .map(|project| project.path().join(&file))
        .find(|f| f.is_file())
}

/// The JSON files of `dir` that parse, with their names.
fn json_files(dir: &Path) -> io::Result<Vec<(String, Value)>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !name.ends_with(".json") {
            continue;
        }
        let Ok(bytes) = std::fs::read(entry.path()) else {
            continue;
        };
        if let Ok(v) = serde_json::from_slice::<Value>(&bytes) {
            out.push((name, v));
        }
    }
    Ok(out)
}

fn openhands_events(dir: &Path) -> io::Result<Vec<u8>> {
    let mut events: Vec<(u64, Value)> = json_files(dir)?
        .into_iter()
        .filter_map(|(name, v)| Some((name.strip_suffix(".json")?.parse().ok()?, v)))
        .collect();
    events.sort_by_key(|(n, _)| *n);
    let array: Vec<Value> = events.into_iter().map(|(_, v)| v).collect();
    serde_json::to_vec(&array).map_err(io::Error::other)
}

fn opencode_session(storage: &Path, path: &Path) -> io::Result<Vec<u8>> {
    let info: Value = serde_json::from_slice(&std::fs::read(path)?)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    let Some(id) = info.get("id").and_then(Value::as_str) else {
        return serde_json::to_vec(&info).map_err(io::Error::other);
    };
    let created = |v: &Value| v.pointer("/time/created").and_then(Value::as_f64);
    let mut messages: Vec<Value> = json_files(&storage.join("message").join(id))?
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    // Message and part ids sort in creation order (OpenCode's ascending
    // ids); the creation time first, for ids of another shape.
    let order = |a: &Value, b: &Value| {
        let id = |v: &Value| v.get("id").and_then(Value::as_str).unwrap_or("").to_owned();
        created(a)
            .partial_cmp(&created(b))
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| id(a).cmp(&id(b)))
    };
    messages.sort_by(order);
    let mut out = Vec::new();
    for m in messages {
        let mid = m.get("id").and_then(Value::as_str).unwrap_or_default();
        let mut parts: Vec<Value> = if mid.is_empty() {
            Vec::new()
        } else {
            json_files(&storage.join("part").join(mid))?
                .into_iter()
                .map(|(_, v)| v)
                .collect()
        };
        parts.sort_by(|a, b| {
            let id = |v: &Value| v.get("id").and_then(Value::as_str).unwrap_or("").to_owned();
            id(a).cmp(&id(b))
        });
        out.push(json!({ "info": m, "parts": parts }));
    }
    serde_json::to_vec(&json!({ "info": info, "messages": out })).map_err(io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_events_folder_reads_as_an_array_in_id_order() {
        let dir = tempfile::tempdir().unwrap();
        let events = dir.path().join("sid-1").join("events");
        std::fs::create_dir_all(&events).unwrap();
        for (n, body) in [(10, r#"{"id":10}"#), (2, r#"{"id":2}"#), (3, "{trunc")] {
            std::fs::write(events.join(format!("{n}.json")), body).unwrap();
        }
        let bytes = read_source(&events).unwrap();
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v, json!([{"id": 2}, {"id": 10}]));
        assert_eq!(openhands_session(&events).as_deref(), Some("sid-1"));
    }

    #[test]
    fn evaluation_output_is_one_source_per_complete_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("output.jsonl");
        let a = r#"{"instance_id":"a","history":[]}"#;
        let b = r#"{"instance_id":"b","history":[{"id":0}]}"#;
        std::fs::write(&file, format!("{a}\n\n{b}\n{{\"instance_id\":\"c\",")).unwrap();
        let sources = eval_sources(&file).expect("evaluation output");
        assert_eq!(sources.len(), 2);
        assert_eq!(read_source(&sources[0]).unwrap(), a.as_bytes());
        assert_eq!(read_source(&sources[1]).unwrap(), b.as_bytes());
        // Another output*.jsonl is read as itself.
        let other = dir.path().join("output-log.jsonl");
        std::fs::write(&other, "{\"event\":\"x\"}\n").unwrap();
        assert_eq!(eval_sources(&other), None);
    }
}
