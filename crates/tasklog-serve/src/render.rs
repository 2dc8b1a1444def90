//! A task as a readable file: Markdown, and standalone HTML made from that
//! Markdown. Used by `GET /api/tasks/{id}/export?format=markdown|html` and
//! by `tasklog export --format markdown|html`, so both write the same file.
//!
//! Records are untrusted: in HTML, raw HTML inside a record's Markdown is
//! written as text (escaped), never as markup, and only `http`, `https`
//! and `mailto` links stay links. Tool inputs and outputs go into code
//! fences longer than any backtick run they hold, so they cannot close
//! their fence early.

use std::fmt::Write as _;

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag};
use serde_json::{Map, Value};

use crate::transcript::{text_of, Item, Part};

/// Longest tool output or input written in full; the rest is cut with a note.
const MAX_BLOCK: usize = 20_000;

/// The summary fields of the card, in order: (key, label).
const SUMMARY: &[(&str, &str)] = &[
    ("task_id", "Task"),
    ("status", "Status"),
    ("project", "Project"),
    ("git_branch", "Branch"),
    ("agent", "Agent"),
    ("models", "Models"),
    ("started_at", "Started (UTC)"),
    ("finished_at", "Finished (UTC)"),
    ("duration_ms", "Duration"),
    ("llm_calls", "Model calls"),
    ("tokens", "Tokens"),
    ("cost_usd", "Cost (USD)"),
    ("unpriced_calls", "Unpriced calls"),
    ("error_count", "Errors"),
];

/// The task as Markdown: a title, the summary table, then every item.
pub fn markdown(task: &str, summary: &Map<String, Value>, items: &[Item]) -> String {
    let mut out = String::new();
    let title = summary
        .get("title")
        .and_then(Value::as_str)
        .filter(|t| !t.trim().is_empty())
        .unwrap_or(task);
    let _ = writeln!(out, "# {}\n", one_line(title));
    out.push_str("| | |\n| --- | --- |\n");
    for (key, label) in SUMMARY {
        let value = match (key, summary.get(*key)) {
            (&"task_id", _) => task.to_owned(),
            (_, None | Some(Value::Null)) => continue,
            (&"duration_ms", Some(v)) => v.as_f64().map(duration).unwrap_or_else(|| text_of(v)),
            (_, Some(v)) => text_of(v),
        };
        let _ = writeln!(
            out,
            "| {label} | {} |",
            one_line(&value).replace('|', "\\|")
        );
    }
    out.push_str("\n## Transcript\n");
    for item in items {
        item_markdown(&mut out, item);
    }
    out
}

fn item_markdown(out: &mut String, item: &Item) {
    let time = item.ts.as_deref().map(short_time).unwrap_or("time unknown");
    let what = match item.kind {
        "message" => item.role.clone().unwrap_or_else(|| "message".into()),
        "thinking" => "thinking".into(),
        "tool" => {
            let mut s = format!("tool {}", item.name.as_deref().unwrap_or("?"));
            if let Some(l) = &item.label {
                let _ = write!(s, ": {}", code_span(l));
            }
            let _ = write!(s, " ({}", item.status.as_deref().unwrap_or("?"));
            if let Some(ms) = item.duration_ms {
                let _ = write!(s, ", {}", duration(ms));
            }
            s.push(')');
            s
        }
        "llm" => {
            let cost = match item.cost_usd {
                Some(c) => format!("${c:.4}"),
                None => "unpriced".into(),
            };
            format!(
                "model call {}: {} in, {} out, {cost}",
                item.model
                    .as_deref()
                    .or(item.name.as_deref())
                    .unwrap_or("?"),
                item.tokens_input.unwrap_or(0),
                item.tokens_output.unwrap_or(0)
            )
        }
        "decision" => format!("decision {}", item.name.as_deref().unwrap_or("")),
        "document" => format!("document {}.json", item.name.as_deref().unwrap_or("?")),
        "system" => format!(
            "system {} {}",
            item.status.as_deref().unwrap_or(""),
            item.name.as_deref().unwrap_or("")
        ),
        _ => format!(
            "{} {}",
            item.event.as_deref().unwrap_or("event"),
            item.name.as_deref().unwrap_or("")
        ),
    };
    let _ = writeln!(out, "\n### {time} · {}\n", one_line(what.trim()));
    for part in &item.parts {
        part_markdown(out, part);
    }
    if item.kind == "tool" || item.kind == "decision" {
        if let Some(input) = item.input.as_ref().filter(|v| !v.is_null()) {
            out.push_str("**Input**\n\n");
            fence(out, input);
        }
    }
    if let Some(output) = item.output.as_ref().filter(|v| !v.is_null()) {
        let label = if item.kind == "decision" {
            "Choice"
        } else {
            "Output"
        };
        let _ = writeln!(out, "**{label}**\n");
        fence(out, output);
    }
    if let Some(e) = &item.error {
        out.push_str("**Error**\n\n");
        fence(out, &Value::String(e.clone()));
    }
    if item.kind == "event" && item.parts.is_empty() {
        if let Some(body) = &item.body {
            fence(out, body);
        }
    }
}

fn part_markdown(out: &mut String, part: &Part) {
    match part.kind {
        "text" => {
            out.push_str(part.text.as_deref().unwrap_or("").trim_end());
            out.push_str("\n\n");
        }
        "thinking" => {
            out.push_str("> *thinking*\n>\n");
            for line in part.text.as_deref().unwrap_or("").lines() {
                let _ = writeln!(out, "> {line}");
            }
            out.push('\n');
        }
        "tool_use" => {
            let _ = writeln!(
                out,
                "**Tool use: {}**\n",
                part.name.as_deref().unwrap_or("?")
            );
            fence(out, part.value.as_ref().unwrap_or(&Value::Null));
        }
        "tool_result" => {
            let head = if part.is_error {
                "Tool error"
            } else {
                "Tool result"
            };
            let _ = writeln!(out, "**{head}**\n");
            match (&part.text, &part.value) {
                (Some(t), _) => fence(out, &Value::String(t.clone())),
                (None, Some(v)) => fence(out, v),
                (None, None) => {}
            }
        }
        _ => {
            if let Some(t) = &part.text {
                let _ = writeln!(out, "{t}\n");
            } else if let Some(v) = &part.value {
                fence(out, v);
            }
        }
    }
}

/// A value in a code fence: text as itself, JSON pretty-printed; the fence
/// is longer than any run of backticks inside.
fn fence(out: &mut String, v: &Value) {
    let (mut text, lang) = match v {
        Value::String(s) => (s.clone(), ""),
        other => (
            serde_json::to_string_pretty(other).unwrap_or_default(),
            "json",
        ),
    };
    if text.len() > MAX_BLOCK {
        let cut = (0..=MAX_BLOCK)
            .rev()
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        let rest = text.len() - cut;
        text.truncate(cut);
        let _ = write!(text, "\n… ({rest} more bytes)");
    }
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let ticks = "`".repeat(longest.max(2) + 1);
    let _ = writeln!(
        out,
        "{ticks}{lang}\n{}\n{ticks}\n",
        text.trim_end_matches('\n')
    );
}

fn code_span(s: &str) -> String {
    let longest = s.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let ticks = "`".repeat(longest + 1);
    format!("{ticks} {s} {ticks}")
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `2026-11-30T22:01:06.158787Z` -> `2026-11-30T22:01:06` (UTC, to the second).
fn short_time(ts: &str) -> &str {
    ts.get(..19).unwrap_or(ts)
}

/// Milliseconds for people: `850 ms`, `5.3 s`, `4 m 44 s`, `5 h 20 m`.
pub fn duration(ms: f64) -> String {
    if ms < 1000.0 {
        format!("{} ms", ms.round())
    } else if ms < 60_000.0 {
        format!("{:.1} s", ms / 1000.0)
    } else {
        let s = (ms / 1000.0).round() as u64;
        if s < 3600 {
            format!("{} m {} s", s / 60, s % 60)
        } else {
            format!("{} h {} m", s / 3600, (s % 3600) / 60)
        }
    }
}

/// The task as one standalone HTML file (no scripts, no external files):
/// the Markdown of [`markdown`] rendered, with raw HTML escaped.
pub fn html(task: &str, summary: &Map<String, Value>, items: &[Item]) -> String {
    let md = markdown(task, summary, items);
    let mut options = Options::empty();
    options.insert(Options::ENABLE_TABLES);
    options.insert(Options::ENABLE_STRIKETHROUGH);
    let events = Parser::new_ext(&md, options).map(|event| match event {
        // Markup written in a record is shown as text, never obeyed.
        Event::Html(s) | Event::InlineHtml(s) => Event::Text(s),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Link {
            link_type,
            dest_url: safe_url(dest_url),
            title,
            id,
        }),
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Link {
            // Images would load from anywhere: link to them instead.
            link_type,
            dest_url: safe_url(dest_url),
            title,
            id,
        }),
        Event::End(pulldown_cmark::TagEnd::Image) => Event::End(pulldown_cmark::TagEnd::Link),
        other => other,
    });
    let mut body = String::new();
    pulldown_cmark::html::push_html(&mut body, events);
    let title = summary
        .get("title")
        .and_then(Value::as_str)
        .filter(|t| !t.trim().is_empty())
        .unwrap_or(task);
    let escaped_title = one_line(title)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{escaped_title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n"
    )
}

fn safe_url(url: CowStr<'_>) -> CowStr<'_> {
    let lower = url.trim().to_ascii_lowercase();
    if ["http://", "https://", "mailto:", "#"]
        .iter()
        .any(|p| lower.starts_with(p))
    {
        url
    } else {
        CowStr::Borrowed("#")
    }
}

const STYLE: &str = "body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1d2330}\
pre{background:#f1f5f9;padding:.5rem .75rem;overflow-x:auto;white-space:pre-wrap;word-break:break-word}\
code{font-family:ui-monospace,monospace;font-size:13px}h3{font-size:15px;border-top:1px solid #e5e7eb;padding-top:.75rem;margin-top:1.25rem}\
table{border-collapse:collapse}td{border-bottom:1px solid #e5e7eb;padding:2px 10px}blockquote{color:#555;border-left:3px solid #c4b5fd;margin-left:0;padding-left:1rem}";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn message(text: &str) -> Item {
        Item {
            key: "r1".into(),
            ts: Some("2026-11-30T22:01:06.158787Z".into()),
            kind: "message",
            role: Some("assistant".into()),
            parts: vec![Part {
                kind: "text",
                text: Some(text.into()),
                name: None,
                value: None,
                is_error: false,
            }],
            ..Item::default()
        }
    }

    #[test]
    fn html_from_records_is_text_never_markup() {
        let items = vec![
            message("**bold** <script>alert(1)</script> [x](javascript:alert(1)) <img src=x onerror=alert(1)>"),
            message("<div onclick=alert(1)>a block of markup</div>"),
            Item {
                key: "r2".into(),
                kind: "tool",
                name: Some("Bash".into()),
                label: Some("echo `hi`".into()),
                output: Some(json!("```\n</pre><script>bad()</script>")),
                ..Item::default()
            },
        ];
        let summary = json!({"title": "<b>t</b>", "status": "failed"});
        let html = html("t1", summary.as_object().expect("object"), &items);
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("href=\"javascript"), "{html}");
        assert!(!html.contains("<div"), "{html}");
        assert!(!html.contains("<b>t</b>"), "{html}");
        assert!(html.contains("<strong>bold</strong>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
    }

    #[test]
    fn markdown_fences_outlast_backticks() {
        let mut out = String::new();
        fence(&mut out, &json!("a ```` b"));
        assert!(out.starts_with("`````\n"), "{out}");
        let md = markdown("t1", &Map::new(), &[message("hello")]);
        assert!(md.starts_with("# t1\n"), "{md}");
        assert!(
            md.contains("### 2026-11-30T22:01:06 · assistant\n\nhello"),
            "{md}"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(duration(850.0), "850 ms");
        assert_eq!(duration(5321.0), "5.3 s");
        assert_eq!(duration(284_000.0), "4 m 44 s");
        assert_eq!(duration(19_200_000.0), "5 h 20 m");
    }
}
