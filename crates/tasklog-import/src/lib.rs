//! Import real agent logs into tasklog task folders: Claude Code
//! transcripts, Codex rollouts, SWE-agent and mini-SWE-agent trajectories,
//! OpenHands event streams, Gemini CLI recordings, OpenCode exports, Cline
//! (and Roo Code) conversation histories and Copilot CLI event logs.
//!
//! Each source session becomes one task folder, written only through
//! [`tasklog_writer`]: the source kept verbatim (a `source.jsonl` stream,
//! one record per source line, or a `source.json` document), the
//! provenance and idempotency record `import.json`, normalized `events`
//! (messages, `tool.start`/`tool.complete`/`tool.fail` pairs with
//! durations, `llm.call` with OpenTelemetry usage and the raw usage,
//! reasoning, decisions) and, when the session ended, `result.json`.
//! Importing the same source again writes nothing; a source that grew
//! gets only its new part; an import killed at any instant is finished,
//! exactly once, by the next run (`journal`); [`follow`] keeps importing
//! sources as they grow. docs/IMPORT.md has the mapping of every format.
//!
//! ```
//! use tasklog_import::{discover, Format, Importer, Action};
//! use tasklog_writer::{Writer, WriterOptions};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let src = dir.path().join("rollout.jsonl");
//! std::fs::write(&src, concat!(
//!     r#"{"timestamp":"2026-05-13T09:00:00Z","type":"session_meta","payload":{"id":"s1","cli_version":"0.40.0"}}"#, "\n",
//!     r#"{"timestamp":"2026-05-13T09:01:00Z","type":"event_msg","payload":{"type":"token_count","info":{"last_token_usage":{"input_tokens":10,"cached_input_tokens":4,"output_tokens":2}}}}"#, "\n",
//! )).unwrap();
//!
//! let writer = Writer::open(dir.path().join("tasks"), WriterOptions::default()).unwrap();
//! let mut importer = Importer::new(writer, Some(Format::Codex));
//! let files = discover(&[src]).unwrap();
//! let report = importer.import_file(&files[0]);
//! assert_eq!(report.action, Action::Imported);
//! assert_eq!(report.task_id.as_deref(), Some("codex-s1"));
//! assert_eq!((report.written.llm_calls, report.written.input_tokens), (1, 10));
//!
//! // The same source again: nothing is written.
//! assert_eq!(importer.import_file(&files[0]).action, Action::Unchanged);
//! ```

mod agents;
mod assemble;
mod claude;
mod cline;
mod codex;
mod copilot;
mod copilot_chat;
mod detect;
mod discover;
mod emit;
mod error;
mod facts;
mod follow;
mod gemini;
mod iflow;
mod import;
mod journal;
mod keys;
mod mini_swe;
mod model;
mod opencode;
mod openhands;
mod pi;
mod report;
mod source;
mod state;
mod swe_agent;
mod writes;

pub use agents::{agent_folders, candidate_folders, AgentFolder};
pub use detect::{detect, look_alike, tried};
pub use discover::{discover, Candidate};
pub use error::{Error, Result};
pub use follow::{follow, panic_message, FollowOptions, Wake};
pub use import::{Importer, DEFAULT_COMPRESS_AFTER, SOURCE_NAME};
pub use journal::Pending;
pub use model::{Format, Usage};
pub use report::{Action, FileReport, LineProblem};
pub use state::{Aggregate, ImportState, OpenCall, SourceEntry, Totals, IMPORT_DOC};
