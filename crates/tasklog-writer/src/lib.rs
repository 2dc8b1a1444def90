//! The tasklog writer: what agents link to record their work.
//!
//! A [`Writer`] owns a log root; [`Writer::task`] opens (or creates) one task
//! folder. Records are appended to JSONL streams with one `write(2)` each,
//! under an advisory lock, so any number of threads and processes can share
//! a stream without tearing a line. Documents are replaced atomically.
//! The writer never opens SQLite: indexing is the sidecar's job.
//!
//! ```
//! use serde_json::json;
//! use tasklog_writer::{Writer, WriterOptions, LlmCall};
//!
//! let root = tempfile::tempdir().unwrap();
//! let writer = Writer::open(root.path(), WriterOptions::default()).unwrap();
//! let task = writer.task("gh-450").unwrap();
//!
//! let call = task.tool_start("Bash", json!({"command": "cargo test"})).unwrap();
//! call.complete(json!({"exit_code": 0})).unwrap();
//! task.llm_call(LlmCall {
//!     model: "claude-sonnet-4-5".into(),
//!     input_tokens: Some(1200),
//!     output_tokens: Some(300),
//!     ..LlmCall::default()
//! }).unwrap();
//! task.final_result("completed", json!({"pr": 496})).unwrap();
//!
//! let events = std::fs::read_to_string(task.dir().join("events.jsonl")).unwrap();
//! assert_eq!(events.lines().count(), 4);
//! ```

mod background;
mod compress;
mod document;
mod error;
mod event_kinds;
mod open_writers;
mod options;
mod redact;
mod retention;
mod stream;
mod trace;
mod writer;

pub use background::{BackgroundWriter, Pending};
pub use compress::CompressedStream;
pub use error::{Error, Result};
pub use event_kinds::{CycleSpan, Decision, LlmCall, ToolSpan, EVENTS_STREAM, STATE_DOC};
pub use options::{FsyncPolicy, WriterOptions};
pub use redact::{Redactor, DEFAULT_PATTERNS, MASK};
pub use retention::Expired;
pub use stream::Appended;
pub use trace::{TraceContext, TRACEPARENT_ENV};
pub use writer::{Durability, Record, Task, Writer};
