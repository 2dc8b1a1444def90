//! Claude Code transcripts: `~/.claude/projects/<project>/<session>.jsonl`,
//! plus sub-agent (sidechain) files (`agent-<id>.jsonl`, or
//! `<session>/subagents/agent-<id>.jsonl`), which join their parent session.
//!
//! Rules that make the totals right:
//! - Claude Code writes one line per content block of an API response and
//!   repeats the response's `usage` on each, as it stood when that block
//!   was written: `output_tokens` grows from line to line and only the last
//!   snapshot is what was billed. One `llm.call` per call key
//!   (`message.id` + `requestId`, or `message.id` alone when a line has no
//!   `requestId`), with the largest value of each count over the key's
//!   lines: never the first snapshot, never a sum.
//! - `progress` lines (`data.type: agent_progress`) embed a sub-agent's
//!   lines while it runs; their calls count under the same key, and their
//!   messages and tool calls under the embedded line's `uuid`, so what is
//!   seen there and in the sub-agent's own file counts once, and a main
//!   file imported without its `subagents/` folder still has them.
//! - A call is *open* while it is the last call of its thread (the main
//!   conversation, or one sub-agent's progress) in the part read so far: a
//!   later line may still raise its counts. Open calls are marked, and the
//!   importer writes them where they can be replaced (see import.rs).
//! - Anthropic's `input_tokens` excludes cache reads and writes; the record
//!   carries the OpenTelemetry sum and the raw `usage` object.
//! - Sidechain files and resumed sessions replay earlier messages with the
//!   same ids: the importer's keys (`llm:<message.id>:<requestId>`, and the
//!   line `uuid`) make each count once.
//! - `<synthetic>` messages (written by Claude Code itself, not the API) are
//!   not model calls.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde_json::{json, Map, Value};

use crate::model::{Body, LlmUse, Norm, Parsed, Usage};
use crate::source::{between_ms, file_stem, norm_ts, parse_jsonl, str_at, u64_at};

/// Line types that carry nothing to normalize but are known to Claude Code.
const KNOWN_QUIET: [&str; 3] = ["file-history-snapshot", "queue-operation", "progress"];

/// What is known of one call key so far.
struct CallAcc {
    /// Index of the call's event in `Parsed::events` (filled in at the end).
    slot: usize,
    call: LlmUse,
}

/// Parses a Claude Code transcript.
pub(crate) fn parse(path: &Path, bytes: &[u8]) -> Parsed {
    let (mut parsed, values) = parse_jsonl(bytes);
    let stem = file_stem(path);
    let mut tools: HashMap<String, (String, Option<String>)> = HashMap::new();
    let mut calls: HashMap<String, CallAcc> = HashMap::new();
    // The last call key of each thread: the one that may still grow.
    let mut thread_last: HashMap<String, String> = HashMap::new();
    // A file whose user/assistant lines are all sidechain lines is a
    // sub-agent's; a file with none yet (cut early) is not.
    let mut all_sidechain = true;
    let mut any_message = false;
    let mut last_text: Option<(String, bool)> = None;
    for (line, v) in values {
        let kind = str_at(&v, &["type"])
            .or_else(|| str_at(&v, &["message", "role"]))
            .unwrap_or("")
            .to_owned();
        let known = matches!(kind.as_str(), "user" | "assistant" | "system" | "summary")
            || KNOWN_QUIET.contains(&kind.as_str());
        if !known {
            *parsed.unknown_types.entry(or_missing(&kind)).or_default() += 1;
        }
        if !known && v.get("sessionId").is_none() {
            continue;
        }
        parsed.recognized += 1;
        if let Some(id) = str_at(&v, &["sessionId"]) {
            if id == stem || parsed.session_id.is_none() {
                // The file is named after its session; a resumed session's
                // file starts with lines copied from the earlier one.
                parsed.session_id = Some(id.to_owned());
            }
        }
        if parsed.format_version.is_none() {
            parsed.format_version = str_at(&v, &["version"]).map(str::to_owned);
        }
        if let Some(agent) = str_at(&v, &["agentId"]) {
            parsed.agent_id.get_or_insert_with(|| agent.to_owned());
        }
        for (field, key) in [
            ("cwd", "cwd"),
            ("gitBranch", "git_branch"),
            ("slug", "slug"),
        ] {
            if let Some(s) = str_at(&v, &[field]).filter(|s| !s.is_empty()) {
                parsed.task_fields.entry(key).or_insert_with(|| s.into());
            }
        }
        let sidechain = v
            .get("isSidechain")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if matches!(kind.as_str(), "user" | "assistant") {
            any_message = true;
            all_sidechain &= sidechain;
        }
        let ts_raw = str_at(&v, &["timestamp"]).map(str::to_owned);
        let ts = ts_raw.as_deref().and_then(norm_ts);
        let uuid = str_at(&v, &["uuid"]).map(str::to_owned);
        let mut out: Vec<Body> = Vec::new();
        // (thread, line value holding `message` and `requestId`)
        let mut call_line: Option<(String, &Value)> = None;
        // A sub-agent line embedded in a `progress` line.
        let mut embed: Option<&Value> = None;
        match kind.as_str() {
            "user" => user(&v, ts_raw.as_deref(), &tools, &mut out),
            "assistant" => {
                let text = assistant(&v, ts_raw.as_deref(), &mut tools, &mut out);
                if let Some(t) = text {
                    last_text = Some((t, sidechain));
                }
                call_line = Some(("main".into(), &v));
            }
            "progress" => {
                // A sub-agent's line, embedded while the sub-agent runs.
                if let Some(inner) = v.pointer("/data/message").filter(|m| m.is_object()) {
                    let inner_kind = str_at(inner, &["type"]);
                    if inner_kind == Some("assistant") {
                        let agent = str_at(&v, &["data", "agentId"]).unwrap_or("?");
                        call_line = Some((format!("agent:{agent}"), inner));
                    }
                    embed = Some(inner);
                }
            }
            "system" => out.push(Body::System {
                severity: str_at(&v, &["level"]).unwrap_or("info").to_owned(),
                message: str_at(&v, &["content"]).unwrap_or_default().to_owned(),
                details: json!({"subtype": v.get("subtype")}),
            }),
            "summary" => {
                if let Some(s) = str_at(&v, &["summary"]) {
                    parsed.task_fields.insert("title".into(), s.into());
                }
            }
            _ => {}
        }
        if let Some((thread, holder)) = call_line {
            if let Some((key, call)) = llm_call(holder, line) {
                thread_last.insert(thread, key.clone());
                match calls.get_mut(&key) {
                    Some(acc) => merge(&mut acc.call, call),
                    None => {
                        calls.insert(
                            key.clone(),
                            CallAcc {
                                slot: parsed.events.len(),
                                call: call.clone(),
                            },
                        );
                        // The call comes first: it produced the blocks of this line.
                        parsed.events.push(Norm {
                            line,
                            ts: ts.clone(),
                            key: Some(key),
                            open: false,
                            body: Body::LlmCall(call),
                        });
                    }
                }
            }
        }
        if let Some(inner) = embed {
            embedded(inner, line, &mut tools, &mut parsed.events);
        }
        for (i, body) in out.into_iter().enumerate() {
            let key = uuid.as_ref().map(|u| format!("uuid:{u}#{i}"));
            parsed.events.push(Norm {
                line,
                ts: ts.clone(),
                key,
                open: false,
                body,
            });
        }
    }
    let open: HashSet<&String> = thread_last.values().collect();
    for (key, acc) in &calls {
        if let Some(norm) = parsed.events.get_mut(acc.slot) {
            norm.body = Body::LlmCall(acc.call.clone());
            norm.open = open.contains(key);
        }
    }
    if (any_message && all_sidechain) || stem.starts_with("agent-") {
        let id = stem.strip_prefix("agent-").unwrap_or(&stem).to_owned();
        parsed.agent_id.get_or_insert(id);
    } else {
        // A sidechain's `agentId` names the sub-agent; the main file is not one.
        parsed.agent_id = None;
    }
    // A sub-agent's last text (the `true` flag) is no summary of the session.
    let summary = last_text.and_then(|(text, sidechain)| (!sidechain).then_some(text));
    parsed.finish_session(stem, summary);
    parsed
}

/// The messages and tool calls of a sub-agent line embedded in a
/// `progress` line (`data.message`: `{type, uuid, timestamp, message}`),
/// normalized as the sub-agent's own file would be and keyed by the
/// embedded line's `uuid`, so that when the sub-agent's file is imported
/// too (it holds the same lines) each counts once. Without the
/// `subagents/` folder, this is the only record of the sub-agent's tool
/// calls. Its model call is counted by the caller.
fn embedded(
    inner: &Value,
    line: usize,
    tools: &mut HashMap<String, (String, Option<String>)>,
    events: &mut Vec<Norm>,
) {
    let Some(uuid) = str_at(inner, &["uuid"]) else {
        return; // no key to count it once by
    };
    let ts_raw = str_at(inner, &["timestamp"]).map(str::to_owned);
    let mut out = Vec::new();
    match str_at(inner, &["type"]) {
        Some("user") => user(inner, ts_raw.as_deref(), tools, &mut out),
        Some("assistant") => {
            assistant(inner, ts_raw.as_deref(), tools, &mut out);
        }
        _ => return,
    }
    let ts = ts_raw.as_deref().and_then(norm_ts);
    for (i, body) in out.into_iter().enumerate() {
        events.push(Norm {
            line,
            ts: ts.clone(),
            key: Some(format!("uuid:{uuid}#{i}")),
            open: false,
            body,
        });
    }
}

/// Folds a later snapshot of the same call into `acc`: the largest of each
/// count, and the raw usage of the snapshot with the most output.
fn merge(acc: &mut LlmUse, later: LlmUse) {
    if later.usage.output >= acc.usage.output {
        acc.raw_usage = later.raw_usage;
    }
    acc.usage = acc.usage.max(&later.usage);
    acc.cost_usd = match (acc.cost_usd, later.cost_usd) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    if acc.model.is_none() {
        acc.model = later.model;
    }
}

fn or_missing(kind: &str) -> String {
    if kind.is_empty() {
        "(no type)".into()
    } else {
        kind.to_owned()
    }
}

/// A user line: a prompt (string or blocks) and/or tool results.
fn user(
    v: &Value,
    ts: Option<&str>,
    tools: &HashMap<String, (String, Option<String>)>,
    out: &mut Vec<Body>,
) {
    let mut extra = Map::new();
    if v.get("isMeta").and_then(Value::as_bool) == Some(true) {
        extra.insert("meta".into(), true.into());
    }
    let content = v
        .pointer("/message/content")
        .cloned()
        .unwrap_or(Value::Null);
    let Value::Array(blocks) = content else {
        out.push(Body::Message {
            role: "user".into(),
            content,
            extra,
        });
        return;
    };
    let mut rest = Vec::new();
    for block in blocks {
        if str_at(&block, &["type"]) != Some("tool_result") {
            rest.push(block);
            continue;
        }
        let call_id = str_at(&block, &["tool_use_id"])
            .unwrap_or_default()
            .to_owned();
        let (name, started) = tools
            .get(&call_id)
            .cloned()
            .unwrap_or_else(|| ("unknown".into(), None));
        let duration_ms = match (started.as_deref(), ts) {
            (Some(a), Some(b)) => between_ms(a, b),
            _ => None,
        };
        let is_error = block.get("is_error").and_then(Value::as_bool) == Some(true);
        out.push(Body::ToolEnd {
            call_id,
            name,
            ok: !is_error,
            output: block.get("content").cloned().unwrap_or(Value::Null),
            duration_ms,
            extra: Map::new(),
        });
    }
    if !rest.is_empty() {
        out.push(Body::Message {
            role: "user".into(),
            content: Value::Array(rest),
            extra,
        });
    }
}

/// An assistant line: text, thinking and tool_use blocks. Returns the text.
fn assistant(
    v: &Value,
    ts: Option<&str>,
    tools: &mut HashMap<String, (String, Option<String>)>,
    out: &mut Vec<Body>,
) -> Option<String> {
    let content = v.pointer("/message/content")?;
    let blocks = match content {
        Value::Array(b) => b.clone(),
        Value::String(s) => vec![json!({"type": "text", "text": s})],
        _ => return None,
    };
    let mut text = Vec::new();
    let mut shown = Vec::new();
    for block in blocks {
        match str_at(&block, &["type"]) {
            Some("thinking") | Some("redacted_thinking") => out.push(Body::Reasoning {
                text: block.get("thinking").cloned().unwrap_or(Value::Null),
            }),
            Some("tool_use") => {
                let call_id = str_at(&block, &["id"]).unwrap_or_default().to_owned();
                let name = str_at(&block, &["name"]).unwrap_or("unknown").to_owned();
                tools.insert(call_id.clone(), (name.clone(), ts.map(str::to_owned)));
                out.push(Body::ToolStart {
                    call_id,
                    name,
                    input: block.get("input").cloned().unwrap_or(Value::Null),
                });
            }
            _ => {
                if let Some(t) = str_at(&block, &["text"]) {
                    text.push(t.to_owned());
                }
                shown.push(block);
            }
        }
    }
    if shown.is_empty() {
        return None;
    }
    let mut extra = Map::new();
    if let Some(id) = str_at(v, &["message", "id"]) {
        extra.insert("message_id".into(), id.into());
    }
    out.insert(
        0,
        Body::Message {
            role: "assistant".into(),
            content: Value::Array(shown),
            extra,
        },
    );
    (!text.is_empty()).then(|| text.join("\n"))
}

/// The model call an assistant line reports, keyed for de-duplication.
fn llm_call(v: &Value, line: usize) -> Option<(String, LlmUse)> {
    let usage = v.pointer("/message/usage")?;
    let model = str_at(v, &["message", "model"]).map(str::to_owned);
    if model.as_deref() == Some("<synthetic>") {
        return None;
    }
    let key = match (str_at(v, &["message", "id"]), str_at(v, &["requestId"])) {
        (Some(m), Some(r)) => format!("llm:{m}:{r}"),
        (Some(m), None) => format!("llm:{m}"),
        // No id at all: the line's own uuid, which replays keep.
        _ => match str_at(v, &["uuid"]) {
            Some(u) => format!("llm:uuid:{u}"),
            None => format!("llm:line:{line}"),
        },
    };
    let raw_in = u64_at(usage, &["input_tokens"]).unwrap_or(0);
    let cache_read = u64_at(usage, &["cache_read_input_tokens"]).unwrap_or(0);
    let cache_creation = u64_at(usage, &["cache_creation_input_tokens"]).unwrap_or(0);
    // The one-hour part of the cache writes (Claude Code 1.0.80+ reports
    // the split under `cache_creation`), priced at its own rate.
    let cache_creation_1h =
        u64_at(usage, &["cache_creation", "ephemeral_1h_input_tokens"]).unwrap_or(0);
    let mut extra = Map::new();
    if let Some(r) = str_at(v, &["requestId"]) {
        extra.insert("request_id".into(), r.into());
    }
    if let Some(m) = str_at(v, &["message", "id"]) {
        extra.insert("message_id".into(), m.into());
    }
    Some((
        key,
        LlmUse {
            model,
            provider: Some("anthropic"),
            usage: Usage {
                input: raw_in + cache_read + cache_creation,
                output: u64_at(usage, &["output_tokens"]).unwrap_or(0),
                cache_read,
                cache_creation,
                cache_creation_1h,
                reasoning: 0,
            },
            cache_known: true,
            cost_usd: v.get("costUSD").and_then(Value::as_f64),
            raw_usage: usage.clone(),
            extra,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calls(p: &Parsed) -> Vec<&LlmUse> {
        p.events
            .iter()
            .filter_map(|n| match &n.body {
                Body::LlmCall(c) => Some(c),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn usage_repeated_on_content_block_lines_counts_once() {
        let line = |block: &str| {
            format!(
                r#"{{"type":"assistant","sessionId":"s1","uuid":"{block}","timestamp":"2026-01-01T00:00:00Z","requestId":"r1","message":{{"id":"m1","model":"claude-x","role":"assistant","content":[{{"type":"text","text":"{block}"}}],"usage":{{"input_tokens":3,"cache_read_input_tokens":100,"cache_creation_input_tokens":20,"output_tokens":7}}}}}}"#
            )
        };
        let src = format!("{}\n{}\n", line("a"), line("b"));
        let p = parse(Path::new("s1.jsonl"), src.as_bytes());
        let c = calls(&p);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].usage.input, 123);
        assert_eq!(c[0].usage.output, 7);
        assert_eq!(p.session_id.as_deref(), Some("s1"));
        assert_eq!(p.agent_id, None);
    }

    #[test]
    fn tool_use_and_result_pair_with_a_duration_and_errors_fail() {
        let src = concat!(
            r#"{"type":"assistant","sessionId":"s","timestamp":"2026-01-01T00:00:00.000Z","message":{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"Bash","input":{"command":"ls"}}]}}"#,
            "\n",
            r#"{"type":"user","sessionId":"s","timestamp":"2026-01-01T00:00:01.500Z","message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"boom","is_error":true}]}}"#,
            "\n",
            r#"{"type":"mystery","sessionId":"s"}"#,
            "\n",
            r#"{"unrelated":true}"#,
            "\n"
        );
        let p = parse(Path::new("s.jsonl"), src.as_bytes());
        let end = p.events.iter().find_map(|n| match &n.body {
            Body::ToolEnd {
                name,
                ok,
                duration_ms,
                ..
            } => Some((name.clone(), *ok, *duration_ms)),
            _ => None,
        });
        assert_eq!(end, Some(("Bash".into(), false, Some(1500.0))));
        // `mystery` has a sessionId, so it is Claude's, just unknown; both
        // unknown lines are counted, never dropped (they stay in the source stream).
        assert_eq!(p.unknown_types.get("mystery"), Some(&1));
        assert_eq!(p.unknown_types.get("(no type)"), Some(&1));
        assert_eq!(p.recognized, 3);
    }

    #[test]
    fn a_resumed_session_file_is_named_after_itself() {
        let src = concat!(
            r#"{"type":"user","sessionId":"old","uuid":"u1","message":{"role":"user","content":"hi"}}"#,
            "\n",
            r#"{"type":"user","sessionId":"new","uuid":"u2","message":{"role":"user","content":"again"}}"#,
            "\n"
        );
        let p = parse(Path::new("/p/new.jsonl"), src.as_bytes());
        assert_eq!(p.session_id.as_deref(), Some("new"));
    }

    #[test]
    fn sidechain_files_name_their_agent() {
        let src = r#"{"type":"user","sessionId":"parent","isSidechain":true,"agentId":"a1","message":{"role":"user","content":"go"}}"#;
        let p = parse(Path::new("agent-a1.jsonl"), src.as_bytes());
        assert_eq!(p.agent_id.as_deref(), Some("a1"));
        assert_eq!(p.session_id.as_deref(), Some("parent"));
        assert!(p.outcome.is_none());
    }
}
