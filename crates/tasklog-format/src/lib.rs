//! The tasklog on-disk contract.
//!
//! A log root holds one folder per task. Inside it, `<name>.json` files are
//! documents replaced atomically and `<name>.jsonl` files are streams of
//! records appended one line at a time. This crate owns every rule about
//! those bytes, and nothing else: it does no I/O beyond `Read`/`Write`
//! buffers, so the writer, the indexer and the importers all agree on one
//! definition.
//!
//! ```
//! use tasklog_format::{TaskId, StreamName, Prepared, Stamp};
//!
//! let task = TaskId::new("gh-450").unwrap();
//! let stream = StreamName::new("events").unwrap();
//! assert_eq!(task.as_str(), "gh-450");
//! assert_eq!(stream.file_name(), "events.jsonl");
//!
//! // A caller's JSON keeps its bytes; the envelope fields it lacks go in front.
//! let prepared = Prepared::from_json(r#"{"event":"message","text":"hi"}"#).unwrap();
//! let line = prepared.render(&Stamp { ts: "2026-01-01T00:00:00.000000Z", seq: 7, id: "01J" });
//! assert_eq!(
//!     String::from_utf8(line).unwrap(),
//!     "{\"v\":1,\"ts\":\"2026-01-01T00:00:00.000000Z\",\"seq\":7,\"id\":\"01J\",\"event\":\"message\",\"text\":\"hi\"}\n"
//! );
//! ```

mod clock;
mod decode;
mod envelope;
mod event;
mod layout;
mod line;
mod name;
mod strict;

pub use clock::{
    canonical_instant, new_span_id, new_trace_id, now_rfc3339, rfc3339_at, IdGenerator, StampBuf,
};
pub use decode::{
    decode_line, strip_byte_order_mark, validate_document, validate_line, validate_str,
    DecodeError, Position, BYTE_ORDER_MARK, MAX_DEPTH,
};
pub use envelope::{check_envelope, Envelope, Node, Scalar, StampedKeys, MAX_SAFE_INTEGER};
pub use event::EventKind;
pub use layout::{
    classify_entry, compressed_stream, EntryKind, COMPRESSED_SUFFIX, RESULT_DOC, TASK_DOC,
    TEMP_PREFIX,
};
pub use line::{complete_lines, LineError, Prepared, Stamp, FORMAT_VERSION};
pub use name::{DocName, NameError, StreamName, TaskId, NAME_MAX};
pub use strict::{find_lone_surrogate, LoneSurrogate};
