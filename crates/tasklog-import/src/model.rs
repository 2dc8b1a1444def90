//! What every format parser produces: the source's records split into
//! lines, and normalized events in tasklog's vocabulary, each tagged with
//! the source line (or document element) it came from.
//!
//! Parsers are pure (bytes in, [`Parsed`] out); the importer decides what
//! is new and writes it. That split is what makes re-imports idempotent:
//! a parser always sees the whole source, so state that spans lines (a
//! tool call started on line 10 and finished on line 14) is rebuilt on
//! every run, and the importer filters by line number.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A source format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// Claude Code transcripts (`~/.claude/projects/<project>/<session>.jsonl`).
    ClaudeCode,
    /// OpenAI Codex rollouts (`~/.codex/sessions/**/rollout-*.jsonl`).
    Codex,
    /// SWE-agent trajectories (`*.traj`, one JSON document).
    SweAgent,
    /// OpenHands event streams (a JSON array of events).
    #[serde(rename = "openhands")]
    OpenHands,
    /// Gemini CLI chat recordings (JSONL, messages re-written by id) and
    /// the older JSON chat documents.
    GeminiCli,
    /// `opencode export` documents.
    #[serde(rename = "opencode")]
    OpenCode,
    /// Cline (and Roo Code) `api_conversation_history.json`.
    Cline,
    /// GitHub Copilot CLI `events.jsonl`.
    CopilotCli,
    /// mini-SWE-agent trajectories (`*.traj.json`).
    MiniSweAgent,
    /// iFlow CLI transcripts (`~/.iflow/projects/<cwd>/session-<uuid>.jsonl`).
    IflowCli,
    /// pi coding agent sessions (`~/.pi/agent/sessions/--<cwd>--/*.jsonl`).
    Pi,
    /// VS Code GitHub Copilot Chat sessions (`workspaceStorage/*/chatSessions/*.json`).
    VscodeCopilotChat,
}

impl Format {
    /// Every format, in detection order.
    pub const ALL: [Format; 12] = [
        Format::ClaudeCode,
        Format::Codex,
        Format::SweAgent,
        Format::OpenHands,
        Format::GeminiCli,
        Format::OpenCode,
        Format::Cline,
        Format::CopilotCli,
        Format::MiniSweAgent,
        Format::IflowCli,
        Format::Pi,
        Format::VscodeCopilotChat,
    ];

    /// The name used on the command line and in `import.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::ClaudeCode => "claude-code",
            Format::Codex => "codex",
            Format::SweAgent => "swe-agent",
            Format::OpenHands => "openhands",
            Format::GeminiCli => "gemini-cli",
            Format::OpenCode => "opencode",
            Format::Cline => "cline",
            Format::CopilotCli => "copilot-cli",
            Format::MiniSweAgent => "mini-swe-agent",
            Format::IflowCli => "iflow-cli",
            Format::Pi => "pi",
            Format::VscodeCopilotChat => "vscode-copilot-chat",
        }
    }

    /// The prefix of the task ids made from this format's sessions.
    pub fn task_prefix(self) -> &'static str {
        match self {
            Format::ClaudeCode => "claude",
            Format::Codex => "codex",
            Format::SweAgent => "swe",
            Format::OpenHands => "openhands",
            Format::GeminiCli => "gemini",
            Format::OpenCode => "opencode",
            Format::Cline => "cline",
            Format::CopilotCli => "copilot",
            Format::MiniSweAgent => "mini-swe",
            Format::IflowCli => "iflow",
            Format::Pi => "pi",
            Format::VscodeCopilotChat => "copilot-chat",
        }
    }
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        Format::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| format!("unknown format {s:?}"))
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Token usage in OpenTelemetry semantics: `input` includes cached tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// All input tokens, cache reads and cache writes included.
    pub input: u64,
    /// Billed output tokens, reasoning tokens included.
    pub output: u64,
    /// Input tokens served from the prompt cache.
    pub cache_read: u64,
    /// Input tokens written to the prompt cache.
    pub cache_creation: u64,
    /// The part of `cache_creation` written with a one-hour lifetime
    /// (Anthropic bills it at its own rate; the rest is five-minute).
    #[serde(default)]
    pub cache_creation_1h: u64,
    /// Reasoning (thinking) tokens, already counted in `output`.
    #[serde(default)]
    pub reasoning: u64,
}

impl Usage {
    /// Adds `other` to `self`.
    pub fn add(&mut self, other: &Usage) {
        self.input += other.input;
        self.output += other.output;
        self.cache_read += other.cache_read;
        self.cache_creation += other.cache_creation;
        self.cache_creation_1h += other.cache_creation_1h;
        self.reasoning += other.reasoning;
    }

    /// The larger of each count: the final snapshot of a usage that
    /// streams (Claude Code repeats a growing `usage` on every line).
    pub fn max(&self, other: &Usage) -> Usage {
        Usage {
            input: self.input.max(other.input),
            output: self.output.max(other.output),
            cache_read: self.cache_read.max(other.cache_read),
            cache_creation: self.cache_creation.max(other.cache_creation),
            cache_creation_1h: self.cache_creation_1h.max(other.cache_creation_1h),
            reasoning: self.reasoning.max(other.reasoning),
        }
    }

    /// `self - other`, clamped at zero (for aggregates that grew).
    pub fn minus(&self, other: &Usage) -> Usage {
        Usage {
            input: self.input.saturating_sub(other.input),
            output: self.output.saturating_sub(other.output),
            cache_read: self.cache_read.saturating_sub(other.cache_read),
            cache_creation: self.cache_creation.saturating_sub(other.cache_creation),
            cache_creation_1h: self
                .cache_creation_1h
                .saturating_sub(other.cache_creation_1h),
            reasoning: self.reasoning.saturating_sub(other.reasoning),
        }
    }
}

/// One normalized event, before it becomes a record.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Norm {
    /// 1-based source line (JSON Lines) or element number (documents).
    pub line: usize,
    /// The source's own time, already in tasklog's `ts` form.
    pub ts: Option<String>,
    /// A key that identifies this event across files and runs; an event
    /// whose key was already imported into the task is skipped.
    pub key: Option<String>,
    /// A model call that may still grow: the last call of its thread in
    /// the part read so far. It is written to the source's `-open` stream
    /// and written again, final, when the source grows (see import.rs).
    pub open: bool,
    pub body: Body,
}

/// The kinds of normalized event.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Body {
    Message {
        role: String,
        content: Value,
        extra: Map<String, Value>,
    },
    ToolStart {
        call_id: String,
        name: String,
        input: Value,
    },
    ToolEnd {
        call_id: String,
        name: String,
        ok: bool,
        output: Value,
        duration_ms: Option<f64>,
        extra: Map<String, Value>,
    },
    LlmCall(LlmUse),
    /// Model reasoning (thinking blocks, reasoning summaries).
    Reasoning {
        text: Value,
    },
    Decision {
        name: String,
        input: Value,
        output: Value,
        reason: String,
        duration_ms: Option<f64>,
    },
    System {
        severity: String,
        message: String,
        details: Value,
    },
}

/// One model call (or, for SWE-agent, the run's aggregate).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LlmUse {
    pub model: Option<String>,
    pub provider: Option<&'static str>,
    pub usage: Usage,
    /// Whether the source reports cache tokens at all (SWE-agent does not).
    pub cache_known: bool,
    pub cost_usd: Option<f64>,
    /// The provider's usage object as the source wrote it.
    pub raw_usage: Value,
    pub extra: Map<String, Value>,
}

/// The final result of a session.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Outcome {
    pub status: String,
    pub result: Value,
}

/// One source line: its bytes (without the newline), or why it does not parse.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SourceLine {
    pub number: usize,
    pub text: String,
    /// `None` when the line is one JSON object.
    pub error: Option<String>,
    /// The line's own time (its `timestamp`), in tasklog's `ts` form.
    pub ts: Option<String>,
    /// Whether the line has a top-level `ts` of its own (then the
    /// verbatim record keeps it; otherwise the record gets `ts` = the
    /// line's own time, or `null` when it has none, never the import time).
    pub has_ts: bool,
}

/// A parsed source.
#[derive(Debug, Clone, Default)]
pub(crate) struct Parsed {
    /// The session id the source names for itself.
    pub session_id: Option<String>,
    /// For Claude Code sub-agent files: the agent id (they join the parent session).
    pub agent_id: Option<String>,
    /// The writing tool's version (Claude Code `version`, Codex `cli_version`).
    pub format_version: Option<String>,
    /// A single-document source (kept as `source.json`, re-read whole)
    /// rather than JSON Lines.
    pub document: bool,
    /// The source says the session ended (an end marker), so following it
    /// may seal the task at once.
    pub ended: bool,
    /// JSON Lines sources: every complete line; documents: empty.
    pub lines: Vec<SourceLine>,
    /// Bytes of the source that form complete lines (JSON Lines) or the whole document.
    pub consumed: usize,
    /// Lines (or elements) in the consumed part.
    pub units: usize,
    pub events: Vec<Norm>,
    /// For a source that only has run totals (SWE-agent): imported as the
    /// difference from what an earlier import already recorded.
    pub aggregate: Option<LlmUse>,
    pub outcome: Option<Outcome>,
    /// Fields for `task.json` (title, cwd, git branch, ...).
    pub task_fields: Map<String, Value>,
    /// Records of a type this importer does not know, by type.
    pub unknown_types: BTreeMap<String, u64>,
    /// Records the parser recognized as this format (0 means "wrong format").
    pub recognized: usize,
    /// Lines that do not parse: (line, message).
    pub parse_errors: Vec<(usize, String)>,
}

impl Parsed {
    /// Ends a transcript's parse: a session the source did not name is
    /// named after its file (`stem`), and the last assistant text, when
    /// there is one, becomes the session's completed outcome.
    pub(crate) fn finish_session(&mut self, stem: String, last_text: Option<String>) {
        if self.session_id.is_none() {
            self.session_id = Some(stem);
        }
        if let Some(text) = last_text {
            self.outcome = Some(Outcome {
                status: "completed".into(),
                result: serde_json::json!({ "summary": text }),
            });
        }
    }

    /// The earliest and latest source times of the source (events and
    /// verbatim lines), in tasklog's `ts` form (which sorts as text).
    pub(crate) fn time_span(&self) -> (Option<String>, Option<String>) {
        let times = self
            .events
            .iter()
            .filter_map(|n| n.ts.as_deref())
            .chain(self.lines.iter().filter_map(|l| l.ts.as_deref()));
        let mut span: (Option<&str>, Option<&str>) = (None, None);
        for t in times {
            span.0 = Some(span.0.map_or(t, |a| a.min(t)));
            span.1 = Some(span.1.map_or(t, |b| b.max(t)));
        }
        (span.0.map(str::to_owned), span.1.map(str::to_owned))
    }

    /// Distinct model names of the source's calls, in order of first use.
    pub(crate) fn models(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let calls = self
            .events
            .iter()
            .filter_map(|n| match &n.body {
                Body::LlmCall(c) => Some(c),
                _ => None,
            })
            .chain(self.aggregate.as_ref());
        for call in calls {
            if let Some(m) = call.model.as_deref().filter(|m| !m.is_empty()) {
                if !out.iter().any(|o| o == m) {
                    out.push(m.to_owned());
                }
            }
        }
        out
    }
}

impl Norm {
    /// An event of source line (or element) `line`, unkeyed.
    pub(crate) fn new(line: usize, ts: Option<String>, body: Body) -> Norm {
        Norm {
            line,
            ts,
            key: None,
            open: false,
            body,
        }
    }
}
