//! The task facts an imported session's `task.json` carries, under the
//! keys the index reads (the board's "task.json keys" contract, issue 20):
//! `title`, `status`, `agent`, `project`, `git_branch`, `started_at`,
//! `finished_at` and `models`.
//!
//! They are recomputed on every import from the import record (every
//! source of the task) and the source just parsed, so a session that grows,
//! gains a sub-agent file or fails a tool later gets facts that follow.
//! Times are the sources' own (the earliest and latest time any source
//! records); a session whose sources record no time at all gets JSON
//! `null`, never the import time.

use serde_json::{Map, Value};

use crate::model::{Body, Format, Parsed};
use crate::source::text_of;
use crate::state::ImportState;

/// Longest title kept, in characters (a prompt can be pages long).
const TITLE_CHARS: usize = 120;

/// The status an imported session gets, in the board's vocabulary.
///
/// - `outcome`: the status of the session's final result (`completed`,
///   `failed`, ...), when the source has one;
/// - `running`: the source may still grow (followed and not ended);
/// - `failed_tools`: tool calls that failed over the whole task: a
///   session that completed with failed tools is `completed_with_errors`.
pub(crate) fn status(outcome: Option<&str>, running: bool, failed_tools: u64) -> String {
    let base = match outcome {
        Some(s) if !running => map_status(s),
        _ if running => "running".to_owned(),
        _ => "completed".to_owned(),
    };
    if base == "completed" && failed_tools > 0 {
        "completed_with_errors".to_owned()
    } else {
        base
    }
}

/// Source statuses onto the board's vocabulary; unknown ones kept.
fn map_status(s: &str) -> String {
    match s.to_ascii_lowercase().as_str() {
        "completed" | "complete" | "success" | "succeeded" | "submitted" | "finished" | "done" => {
            "completed".into()
        }
        "failed" | "failure" | "error" | "errored" => "failed".into(),
        "cancelled" | "canceled" | "aborted" | "interrupted" => "cancelled".into(),
        "running" | "in_progress" | "active" => "running".into(),
        _ => s.to_owned(),
    }
}

/// Writes the facts into `doc` (task.json). `state` already holds this
/// import's source entry and totals; `parsed` is the source just read.
pub(crate) fn apply(
    doc: &mut Map<String, Value>,
    format: Format,
    state: &ImportState,
    parsed: &Parsed,
    status: &str,
) {
    doc.insert("agent".into(), agent_name(format).into());
    doc.insert("status".into(), status.into());
    let first = state
        .sources
        .iter()
        .filter_map(|e| e.first_ts.as_deref())
        .min();
    let last = state
        .sources
        .iter()
        .filter_map(|e| e.last_ts.as_deref())
        .max();
    doc.insert("started_at".into(), first.map_or(Value::Null, Value::from));
    doc.insert("finished_at".into(), last.map_or(Value::Null, Value::from));
    let mut models: Vec<&str> = Vec::new();
    for m in state.sources.iter().flat_map(|e| e.models.iter()) {
        if !models.contains(&m.as_str()) {
            models.push(m);
        }
    }
    doc.insert("models".into(), models.into());
    // A sub-agent's file does not name the session.
    if parsed.agent_id.is_none() {
        if let Some(title) = title(parsed) {
            let from_source = parsed.task_fields.contains_key("title");
            if from_source || !doc.get("title").is_some_and(Value::is_string) {
                doc.insert("title".into(), title.into());
            }
        }
    }
    let project = ["cwd", "git_remote", "project"]
        .iter()
        .find_map(|k| parsed.task_fields.get(*k).filter(|v| v.is_string()));
    if let Some(p) = project {
        doc.entry("project").or_insert_with(|| p.clone());
    }
}

/// The `agent` fact: the tool that wrote the session.
fn agent_name(format: Format) -> &'static str {
    format.as_str()
}

/// The session's title: what the source calls it (Claude Code `summary`,
/// OpenCode `title`, a SWE-bench instance id), else its first real user
/// prompt, else its slug (random words: the last resort). Whitespace is
/// collapsed and the text cut to [`TITLE_CHARS`].
fn title(parsed: &Parsed) -> Option<String> {
    let named = parsed
        .task_fields
        .get("title")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let slug = || {
        parsed
            .task_fields
            .get("slug")
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let text = named.or_else(|| first_prompt(parsed)).or_else(slug)?;
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut out = words.join(" ");
    if out.is_empty() {
        return None;
    }
    if out.chars().count() > TITLE_CHARS {
        out = out.chars().take(TITLE_CHARS - 1).collect::<String>();
        out.push('…');
    }
    Some(out)
}

/// The first user message a person typed: not a meta line, not a wrapper
/// the tool adds (`<command-name>`, `<environment_context>`, Codex's
/// `# AGENTS.md instructions`, Claude Code's "Caveat: ..." preamble and
/// "[Request interrupted by user]"). Cline's `<task>...</task>` and the
/// Codex IDE's "## My request for Codex:" are unwrapped.
fn first_prompt(parsed: &Parsed) -> Option<String> {
    parsed.events.iter().find_map(|n| match &n.body {
        Body::Message {
            role,
            content,
            extra,
        } if role == "user" && !extra.contains_key("meta") => {
            let text = text_of(content)?;
            unwrap_prompt(&text).map(str::to_owned)
        }
        _ => None,
    })
}

/// What a person typed in a user message, or `None` for tool wrappers.
fn unwrap_prompt(text: &str) -> Option<&str> {
    let t = text.trim();
    if let Some(inner) = t.strip_prefix("<task>") {
        return Some(inner.split("</task>").next().unwrap_or(inner).trim())
            .filter(|s| !s.is_empty());
    }
    if let Some((_, request)) = t.split_once("## My request for Codex:") {
        return Some(request.trim()).filter(|s| !s.is_empty());
    }
    const WRAPPERS: [&str; 5] = [
        "<",
        "Caveat:",
        "[Request interrupted",
        "# AGENTS.md instructions",
        "# Context from my IDE setup",
    ];
    (!t.is_empty() && !WRAPPERS.iter().any(|w| t.starts_with(w))).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_maps_and_failed_tools_are_not_plain_completed() {
        assert_eq!(status(Some("completed"), false, 0), "completed");
        assert_eq!(status(Some("completed"), false, 2), "completed_with_errors");
        assert_eq!(status(Some("failed"), false, 2), "failed");
        assert_eq!(status(Some("Submitted"), false, 0), "completed");
        assert_eq!(status(Some("exit_cost"), false, 0), "exit_cost");
        assert_eq!(status(None, true, 1), "running");
        assert_eq!(status(None, false, 1), "completed_with_errors");
    }

    #[test]
    fn the_title_is_the_first_typed_prompt_trimmed() {
        let mut p = Parsed::default();
        for text in ["<command-name>/clear</command-name>", "  fix   the\n bug  "] {
            p.events.push(crate::model::Norm::new(
                1,
                None,
                Body::Message {
                    role: "user".into(),
                    content: text.into(),
                    extra: Map::new(),
                },
            ));
        }
        assert_eq!(title(&p).as_deref(), Some("fix the bug"));
        assert_eq!(
            unwrap_prompt("<task>\nadd a test\n</task>"),
            Some("add a test")
        );
        assert_eq!(
            unwrap_prompt("# Context from my IDE setup:\n## Open tabs: x\n## My request for Codex:\nship it\n"),
            Some("ship it")
        );
        assert_eq!(unwrap_prompt("[Request interrupted by user]"), None);
        p.task_fields.insert("title".into(), "x".repeat(500).into());
        assert_eq!(title(&p).map(|t| t.chars().count()), Some(TITLE_CHARS));
    }
}
