//! The scenario data of tests/query_scenarios.rs: a coordinator session, a
//! completed task with a worker, a failed task and a foreign task written
//! as raw lines, plus the reference key queries and a runner for them.

use std::io::Write;

use serde_json::{json, Map, Value};
use tasklog_writer::{Decision, LlmCall, Record, Writer, WriterOptions};

use crate::support::Env;

pub const SESSION: &str = "ses-2026-11-22-a1";

pub fn fields(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

pub fn append_raw(env: &Env, task: &str, stream: &str, text: &str) {
    let path = env.stream(task, stream);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
}

/// A coordinator session, a completed task with a worker, a failed task,
/// and a foreign task written as raw lines; everything dated now.
pub fn fixture(env: &Env) {
    let w = Writer::open(&env.root, WriterOptions::default()).unwrap();
    let ses = w.task(SESSION).unwrap();
    ses.session_start(
        SESSION,
        json!({"hostname": "build-01", "config": {"max_workers": 1}}),
    )
    .unwrap();
    ses.system(
        "info",
        "coordinator",
        "TAC-8 coordinator starting",
        json!({"event_type": "startup"}),
    )
    .unwrap();
    ses.trigger("poll_cycle", "github", json!({"issues_found": 2}))
        .unwrap();
    w.task("ses-open")
        .unwrap()
        .session_start("ses-open", json!({}))
        .unwrap();

    let t = w.task("gh-450").unwrap();
    t.set_status(
        "detected",
        fields(json!({"session_id": SESSION, "source": "github", "issue_number": 450, "title": "Add token budget"})),
    )
    .unwrap();
    t.trigger("issue_detected", "github", json!({"issue_number": 450}))
        .unwrap();
    for (point, ms) in [
        ("create_worktree.worktree_exists_with_changes", 5.3),
        ("select_next_task", 1500.0),
    ] {
        t.decision(Decision {
            decision_point: point.into(),
            context_type: Some("worktree".into()),
            context_id: Some("gh-450".into()),
            function_name: Some("create_worktree".into()),
            input: json!({"has_changes": true}),
            output: json!({"action": "preserve"}),
            reason: "Files modified recently indicate fresh work".into(),
            duration_ms: Some(ms),
            source_file: Some("coordinator/worktree.py:88".into()),
        })
        .unwrap();
    }
    t.worktree(
        "preserve",
        "/trees/gh-450",
        "Recent changes detected",
        fields(json!({"had_changes": true, "worker_running": false})),
    )
    .unwrap();
    t.worker_spawn(
        "w-abc123",
        Some(12345),
        fields(json!({"worktree_path": "/trees/gh-450", "branch_name": "auto/w-abc123"})),
    )
    .unwrap();
    t.set_status("active", Map::new()).unwrap();
    let cycle = t.cycle_start("plan", json!(["reproduce", "fix"])).unwrap();
    t.message("user", "fix the flaky budget widget").unwrap();
    t.append(
        "events",
        Record::event("message")
            .with("role", "assistant")
            .with("worker_id", "w-abc123")
            .with(
                "content",
                json!([{"type": "text", "text": "Running the tests first."},
                       {"type": "tool_use", "id": "toolu_01A", "name": "Bash", "input": {"command": "cargo test"}},
                       {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "exit 101", "is_error": true}]),
            ),
    )
    .unwrap();
    t.tool_start("Bash", json!({"command": "cargo test --workspace"}))
        .unwrap()
        .complete(json!({"exit_code": 0}))
        .unwrap();
    t.tool_start("Read", json!({"path": "src/budget.rs"}))
        .unwrap()
        .fail("No such file or directory: src/budget.rs")
        .unwrap();
    let _running = t.tool_start("Grep", json!({"pattern": "budget"})).unwrap();
    let mut extra = Map::new();
    extra.insert("worker_id".into(), "w-abc123".into());
    // Carries its own cost: used as is.
    t.llm_call(LlmCall {
        model: "claude-sonnet-4-5".into(),
        provider: Some("anthropic".into()),
        input_tokens: Some(12000),
        output_tokens: Some(850),
        cache_read_tokens: Some(9000),
        cache_write_tokens: Some(2000),
        cost_usd: Some(0.0231),
        duration_ms: Some(8120.4),
        time_to_first_token_ms: Some(640.0),
        extra: extra.clone(),
        ..LlmCall::default()
    })
    .unwrap();
    // No cost: priced from the table, 1000 * $3 + 500 * $15 per million.
    t.llm_call(LlmCall {
        model: "claude-sonnet-4-5".into(),
        provider: Some("anthropic".into()),
        input_tokens: Some(1000),
        output_tokens: Some(500),
        duration_ms: Some(1000.0),
        extra: extra.clone(),
        ..LlmCall::default()
    })
    .unwrap();
    // A model no price covers.
    t.llm_call(LlmCall {
        model: "mystery-model-1".into(),
        provider: Some("acme".into()),
        input_tokens: Some(70),
        output_tokens: Some(30),
        extra,
        ..LlmCall::default()
    })
    .unwrap();
    cycle.complete("ok", json!({"tests": "passing"})).unwrap();
    t.set_state("session:gh-450:plan", json!({"cycle": 1}), Some(3600))
        .unwrap();
    t.memory_fact(
        "repo:dashboard",
        "Widgets live in src/widgets/",
        json!({"confidence": 0.5}),
    )
    .unwrap();
    t.memory_fact(
        "repo:dashboard",
        "Widgets live in src/ui/widgets/",
        json!({"confidence": 0.9}),
    )
    .unwrap();
    t.system(
        "error",
        "worktree_manager",
        "git worktree prune failed",
        json!({"stack_trace": "Traceback ..."}),
    )
    .unwrap();
    t.worker_exit("w-abc123", "completed", Some(0), None)
        .unwrap();
    t.set_status("completed", fields(json!({"pr_number": 496})))
        .unwrap();
    t.final_result("completed", json!({"pr_number": 496}))
        .unwrap();
    ses.session_end(SESSION, "normal").unwrap();

    let f = w.task("gh-451").unwrap();
    f.set_status(
        "detected",
        fields(json!({"session_id": SESSION, "title": "Flaky"})),
    )
    .unwrap();
    f.worker_spawn("w-def456", Some(777), Map::new()).unwrap();
    f.worker_exit("w-def456", "failed", Some(1), Some("OOM killed"))
        .unwrap();
    f.set_status("failed", fields(json!({"failure_reason": "OOM killed"})))
        .unwrap();

    // A foreign writer: no envelope, `type` and `timestamp`, flat gen_ai keys,
    // a priced model behind an OpenRouter prefix, and one garbage line.
    let now = tasklog_format::now_rfc3339();
    append_raw(
        env,
        "raw-1",
        "agent-output",
        &format!(
            "{{\"type\":\"message\",\"timestamp\":\"{now}\",\"role\":\"user\",\"content\":\"hello from a raw writer\"}}\n\
             {{\"event\":\"llm.call\",\"ts\":\"{now}\",\"gen_ai\":{{\"request.model\":\"openai/gpt-5\",\"usage.input_tokens\":1000000,\"usage.output_tokens\":0}}}}\n\
             not json at all\n"
        ),
    );
}

pub fn indexed() -> Env {
    let env = Env::new();
    fixture(&env);
    env.ok(&["index"]);
    env
}

/// The blocks of tests/key_queries.sql: (name, params, sql).
pub fn key_queries() -> Vec<(String, Vec<Value>, String)> {
    let text = include_str!("../key_queries.sql");
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let mut name = None;
        let mut params = Vec::new();
        let mut sql = String::new();
        for line in block.lines() {
            if let Some(n) = line.strip_prefix("-- name: ") {
                name = Some(n.to_owned());
            } else if let Some(p) = line.strip_prefix("-- params: ") {
                params = serde_json::from_str(p).unwrap();
            } else if !line.starts_with("--") {
                sql.push_str(line);
                sql.push('\n');
            }
        }
        if let Some(name) = name {
            out.push((name, params, sql));
        }
    }
    out
}

pub fn run_query(conn: &rusqlite::Connection, sql: &str, params: &[Value]) -> Vec<Vec<Value>> {
    let mut stmt = conn.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let n = stmt.column_count();
    let bound: Vec<String> = params
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect();
    let rows = stmt
        .query_map(rusqlite::params_from_iter(bound.iter()), |r| {
            (0..n)
                .map(|i| {
                    Ok(match r.get_ref(i)? {
                        rusqlite::types::ValueRef::Null => Value::Null,
                        rusqlite::types::ValueRef::Integer(v) => v.into(),
                        rusqlite::types::ValueRef::Real(v) => v.into(),
                        rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into(),
                        rusqlite::types::ValueRef::Blob(_) => Value::Null,
                    })
                })
                .collect()
        })
        .unwrap();
    rows.collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}
