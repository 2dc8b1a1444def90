//! The writer handle, task handles and records.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};
use tasklog_format::{DocName, IdGenerator, Prepared, StreamName, TaskId};

use crate::document;
use crate::error::{Error, Result};
use crate::options::WriterOptions;
use crate::stream::{Appended, StreamFile};
use crate::trace::TraceContext;

/// Whether one call asks for its write to be synced (see [`crate::FsyncPolicy::PerCall`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Follow the policy; under `PerCall`, do not sync.
    #[default]
    Default,
    /// Under `PerCall`, sync this write.
    Sync,
}

/// How many stream files one writer keeps open before closing idle ones.
const OPEN_STREAMS_LIMIT: usize = 256;

/// Writes task folders under one log root. Cheap to clone; share it across
/// threads freely.
#[derive(Clone)]
pub struct Writer {
    inner: Arc<Inner>,
}

struct Inner {
    root: PathBuf,
    options: WriterOptions,
    ids: IdGenerator,
    /// Open streams by path; a std mutex because lookups are short and
    /// never wait on I/O (each stream has its own lock for the write).
    streams: Mutex<HashMap<PathBuf, Arc<StreamFile>>>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("root", &self.inner.root)
            .finish()
    }
}

impl Writer {
    /// A writer for the log root `root`, created if missing.
    pub fn open(root: impl Into<PathBuf>, options: WriterOptions) -> Result<Writer> {
        let root = root.into();
        std::fs::create_dir_all(&root).map_err(|e| Error::io(&root, "creating log root", e))?;
        Ok(Writer {
            inner: Arc::new(Inner {
                root,
                options,
                ids: IdGenerator::new(),
                streams: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The log root.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// The writer's options.
    pub fn options(&self) -> &WriterOptions {
        &self.inner.options
    }

    /// The handle of task `id`, creating its folder if needed. Records carry
    /// the trace from `TASKLOG_TRACEPARENT` when set, else a new trace.
    pub fn task(&self, id: &str) -> Result<Task> {
        let id = TaskId::new(id)?;
        let dir = self.inner.root.join(id.file_name());
        match std::fs::symlink_metadata(&dir) {
            Ok(meta) if meta.file_type().is_symlink() => return Err(Error::Symlink { path: dir }),
            Ok(meta) if !meta.is_dir() => {
                return Err(Error::io(
                    &dir,
                    "opening task folder",
                    io::Error::from(io::ErrorKind::NotADirectory),
                ))
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => match std::fs::create_dir(&dir) {
                Ok(()) => {
                    if self.inner.options.document_fsync == crate::FsyncPolicy::Always {
                        document::sync_dir(&self.inner.root)?;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(Error::io(&dir, "creating task folder", e)),
            },
            Err(e) => return Err(Error::io(&dir, "opening task folder", e)),
        }
        Ok(Task {
            writer: self.clone(),
            id,
            dir,
            trace: TraceContext::from_env(),
            last_stream: Arc::default(),
        })
    }

    /// Drops the open handle of the stream at `path`, if any: the file it
    /// names was replaced (decompress.rs), and appending through the old
    /// handle would write into a removed file.
    pub(crate) fn forget_stream(&self, path: &Path) {
        let mut streams = self.inner.streams.lock().unwrap_or_else(|p| p.into_inner());
        streams.remove(path);
    }

    fn stream_file(&self, path: PathBuf) -> Result<Arc<StreamFile>> {
        let mut streams = self.inner.streams.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(found) = streams.get(&path) {
            return Ok(Arc::clone(found));
        }
        if streams.len() >= OPEN_STREAMS_LIMIT {
            // Close streams no caller holds right now; cheap and bounded.
            streams.retain(|_, s| Arc::strong_count(s) > 1);
        }
        if !path.exists() && crate::compress::gz_path(&path).exists() {
            return Err(Error::Compressed { path });
        }
        let file = Arc::new(StreamFile::open(path.clone())?);
        streams.insert(path, Arc::clone(&file));
        Ok(file)
    }
}

/// A task's one-entry cache of its last stream.
type LastStream = Arc<Mutex<Option<(StreamName, Arc<StreamFile>)>>>;

/// One task folder. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Task {
    writer: Writer,
    id: TaskId,
    dir: PathBuf,
    trace: TraceContext,
    /// The stream appended to last; shared by clones of this handle.
    last_stream: LastStream,
}

/// A record under construction: a JSON object whose fields keep the order
/// they were added in.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Record {
    fields: Map<String, Value>,
}

impl Record {
    /// An empty record.
    pub fn new() -> Record {
        Record::default()
    }

    /// A record whose `event` is `event`.
    pub fn event(event: impl Into<String>) -> Record {
        Record::new().with("event", event.into())
    }

    /// Adds (or replaces) a field.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Record {
        self.fields.insert(key.to_owned(), value.into());
        self
    }

    /// Adds a field only when `value` is `Some`.
    pub fn with_opt(self, key: &str, value: Option<impl Into<Value>>) -> Record {
        match value {
            Some(v) => self.with(key, v),
            None => self,
        }
    }

    /// Wraps an existing object.
    pub fn from_map(fields: Map<String, Value>) -> Record {
        Record { fields }
    }

    /// The fields so far.
    pub fn fields(&self) -> &Map<String, Value> {
        &self.fields
    }
}

impl Task {
    /// The task id.
    pub fn id(&self) -> &TaskId {
        &self.id
    }

    /// The task folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The trace this task's records belong to.
    pub fn trace(&self) -> &TraceContext {
        &self.trace
    }

    /// The same task with records in another trace (e.g. one a parent
    /// process passed in).
    pub fn with_trace(mut self, trace: TraceContext) -> Task {
        self.trace = trace;
        self
    }

    /// The writer this task belongs to.
    pub fn writer(&self) -> &Writer {
        &self.writer
    }

    /// Appends `record` to `<task>/<stream>.jsonl`, adding the envelope
    /// (`v`, `ts`, `seq`, `id`, `task_id`, `trace_id`, `span_id`,
    /// `parent_span_id`) where the record lacks it.
    pub fn append(&self, stream: &str, record: Record) -> Result<Appended> {
        self.append_with(stream, record, Durability::Default)
    }

    /// [`Task::append`] with an explicit durability request.
    pub fn append_with(
        &self,
        stream: &str,
        record: Record,
        durability: Durability,
    ) -> Result<Appended> {
        let stream = StreamName::new(stream)?;
        let mut fields = record.fields;
        let mut out = Map::with_capacity(fields.len() + 5);
        if let Some(event) = fields.shift_remove("event") {
            out.insert("event".into(), event);
        }
        let mut put = |key: &str, value: Option<Value>| {
            if let Some(v) = fields.shift_remove(key).or(value) {
                out.insert(key.to_owned(), v);
            }
        };
        put("task_id", Some(self.id.as_str().into()));
        put("trace_id", Some(self.trace.trace_id.clone().into()));
        put("span_id", Some(self.trace.new_span().into()));
        put(
            "parent_span_id",
            self.trace.parent_span_id.clone().map(Value::from),
        );
        out.extend(fields);
        let mut value = Value::Object(out);
        if let Some(redactor) = &self.writer.inner.options.redactor {
            redactor.redact_value(&mut value);
        }
        let Value::Object(out) = &value else {
            unreachable!("built as an object")
        };
        // A record with some envelope field of its own, or with its own
        // string `timestamp` (which stands for `ts`, FORMAT.md 4.5), goes
        // through the parser that finds which fields to stamp; the common
        // record has none and is stamped wholesale.
        let stamped = ["v", "ts", "seq", "id"]
            .iter()
            .any(|k| out.contains_key(*k))
            || out.get("timestamp").is_some_and(Value::is_string);
        let text = value.to_string();
        let prepared = if stamped {
            Prepared::from_json(&text).map_err(|reason| Error::Record {
                path: self.stream_path(&stream),
                reason,
            })?
        } else {
            Prepared::from_trusted_object(text)
        };
        self.append_prepared(&stream, &prepared, durability)
    }

    /// Appends a caller's raw JSON object, keeping its bytes; refuses
    /// anything that is not exactly one JSON object, leaving the file untouched.
    pub fn append_json(
        &self,
        stream: &str,
        json: &[u8],
        durability: Durability,
    ) -> Result<Appended> {
        let stream = StreamName::new(stream)?;
        let path = || self.stream_path(&stream);
        let mut prepared = Prepared::from_json_bytes(json).map_err(|reason| Error::Record {
            path: path(),
            reason,
        })?;
        if let Some(redactor) = &self.writer.inner.options.redactor {
            let mut value: Value = serde_json::from_slice(json).map_err(|e| Error::Record {
                path: path(),
                reason: tasklog_format::LineError::InvalidJson {
                    message: e.to_string(),
                },
            })?;
            if redactor.redact_value(&mut value) {
                prepared =
                    Prepared::from_json(&value.to_string()).map_err(|reason| Error::Record {
                        path: path(),
                        reason,
                    })?;
            }
        }
        self.append_prepared(&stream, &prepared, durability)
    }

    /// The open stream file, from the task's one-entry cache when the
    /// caller keeps writing the same stream (the common case).
    fn stream_file(&self, stream: &StreamName) -> Result<Arc<StreamFile>> {
        let mut last = self.last_stream.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((name, file)) = last.as_ref() {
            if name == stream {
                return Ok(Arc::clone(file));
            }
        }
        let file = self.writer.stream_file(self.stream_path(stream))?;
        *last = Some((stream.clone(), Arc::clone(&file)));
        Ok(file)
    }

    /// Appends an already validated record.
    pub fn append_prepared(
        &self,
        stream: &StreamName,
        prepared: &Prepared,
        durability: Durability,
    ) -> Result<Appended> {
        let file = self.stream_file(stream)?;
        let sync = self
            .writer
            .inner
            .options
            .append_fsync
            .should_sync(durability);
        let ids = &self.writer.inner.ids;
        file.append(prepared, |stamp| ids.stamp(stamp), sync)
    }

    /// Atomically replaces `<task>/<doc>.json` with `value` serialized.
    pub fn put(&self, doc: &str, value: &impl serde::Serialize) -> Result<()> {
        let doc = DocName::new(doc)?;
        let mut value = serde_json::to_value(value).map_err(|e| Error::Document {
            path: self.doc_path(&doc),
            reason: tasklog_format::LineError::InvalidJson {
                message: e.to_string(),
            },
        })?;
        if let Some(redactor) = &self.writer.inner.options.redactor {
            redactor.redact_value(&mut value);
        }
        let mut bytes =
            serde_json::to_vec_pretty(&value).unwrap_or_else(|_| value.to_string().into_bytes());
        bytes.push(b'\n');
        self.put_bytes(&doc, &bytes, Durability::Default)
    }

    /// Atomically replaces `<task>/<doc>.json` with the caller's bytes,
    /// which must be one valid JSON value; kept exactly as given.
    pub fn put_json(&self, doc: &str, json: &[u8], durability: Durability) -> Result<()> {
        let doc = DocName::new(doc)?;
        let refuse = |message: String| Error::Document {
            path: self.doc_path(&doc),
            reason: tasklog_format::LineError::InvalidJson { message },
        };
        let text = std::str::from_utf8(json).map_err(|e| Error::Document {
            path: self.doc_path(&doc),
            reason: tasklog_format::LineError::InvalidUtf8 {
                valid_up_to: e.valid_up_to(),
            },
        })?;
        let mut value: Value = serde_json::from_str(text).map_err(|e| refuse(e.to_string()))?;
        match &self.writer.inner.options.redactor {
            Some(redactor) if redactor.redact_value(&mut value) => {
                let mut bytes =
                    serde_json::to_vec_pretty(&value).map_err(|e| refuse(e.to_string()))?;
                bytes.push(b'\n');
                self.put_bytes(&doc, &bytes, durability)
            }
            _ => self.put_bytes(&doc, json, durability),
        }
    }

    fn put_bytes(&self, doc: &DocName, bytes: &[u8], durability: Durability) -> Result<()> {
        let sync = self
            .writer
            .inner
            .options
            .document_fsync
            .should_sync(durability);
        document::replace(&self.dir, &doc.file_name(), bytes, sync)
    }

    /// Reads `<task>/<doc>.json` if it exists.
    pub fn read_doc(&self, doc: &str) -> Result<Option<Value>> {
        let doc = DocName::new(doc)?;
        let path = self.doc_path(&doc);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| Error::Document {
                    path,
                    reason: tasklog_format::LineError::InvalidJson {
                        message: e.to_string(),
                    },
                }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(path, "reading document", e)),
        }
    }

    /// The path of a stream of this task.
    pub fn stream_path(&self, stream: &StreamName) -> PathBuf {
        self.dir.join(stream.file_name())
    }

    /// The path of a document of this task.
    pub fn doc_path(&self, doc: &DocName) -> PathBuf {
        self.dir.join(doc.file_name())
    }
}
