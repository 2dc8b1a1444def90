//! Issue 25's rules on the team's fixtures: current Codex's plain-text
//! failures and web searches, look-alikes read as their own formats (iFlow
//! CLI; OpenHands evaluation output, one task per line), and a Gemini
//! response with all-zero usage listed as unpriced rather than free.

use crate::import_support::{fixture, import, indexed_totals, orphan_tool_ends, report};
use crate::support::{code, stderr, Env};

const CODEX_PLAIN: &str =
    "codex/rollout-2026-03-07T09-00-00-88888888-8888-4888-8888-888888888888.jsonl";
const CODEX_PLAIN_TASK: &str = "codex-88888888-8888-4888-8888-888888888888";
const IFLOW: &str = "iflow-cli/session-77777777-7777-4777-8777-777777777777.jsonl";
const OH_OUTPUT: &str = "openhands/output.jsonl";

#[test]
fn current_codex_plain_text_failures_and_web_searches_are_tool_rows() {
    // Counted by reading the fixture: 4 function/custom calls and one
    // web_search_call = 5 tool calls; failed: exit code 101 in the unified
    // exec header, "apply_patch verification failed: ...", "exec command
    // rejected by user" = 3 (the shell call's header says exit 0; the
    // "Process exited with code 1" after `Output:` is the command's output).
    // jq -c 'select(.payload.type=="function_call" or .payload.type=="custom_tool_call"
    //   or .payload.type=="web_search_call")' FILE | wc -l  -> 5
    let env = Env::new();
    let (status, summary) = import(&env, &["codex", fixture(CODEX_PLAIN).to_str().unwrap()]);
    assert_eq!(status, 0, "{summary}");
    let w = &report(&summary, CODEX_PLAIN)["written"];
    assert_eq!(
        (w["tool_calls"].as_u64(), w["failed_tool_calls"].as_u64()),
        (Some(5), Some(3))
    );
    env.ok(&["index"]);
    let count = |sql: &str| {
        env.count(&format!(
            "SELECT count(*) FROM records WHERE task_id = '{CODEX_PLAIN_TASK}' AND {sql}"
        ))
    };
    assert_eq!(count("event = 'tool.start'"), 5);
    assert_eq!(count("event IN ('tool.complete', 'tool.fail')"), 5);
    assert_eq!(count("event = 'tool.fail'"), 3);
    assert_eq!(
        count("event = 'tool.fail' AND json_extract(body, '$.exit_code') = 101"),
        1
    );
    assert_eq!(count("event = 'tool.start' AND name = 'web_search'"), 1);
    assert_eq!(
        count("event = 'tool.complete' AND name = 'exec_command'"),
        0,
        "exit code 101 is a failure"
    );
    assert_eq!(
        count("event = 'tool.fail' AND json_extract(body, '$.duration_ms') = 1500"),
        1,
        "Wall time gives the duration"
    );
    assert_eq!(orphan_tool_ends(&env, CODEX_PLAIN_TASK), 0);
    assert_eq!(indexed_totals(&env, CODEX_PLAIN_TASK).0, 1);
    let doc: serde_json::Value = serde_json::from_slice(
        &std::fs::read(env.task_dir(CODEX_PLAIN_TASK).join("task.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(doc["status"], "completed_with_errors");
}

#[test]
fn look_alikes_are_their_own_formats_never_another() {
    let env = Env::new();
    // iFlow CLI copies Claude Code's line shape: named as Claude Code it
    // fails, naming what it is; nothing is written.
    let out = env.run(&["import", "claude-code", fixture(IFLOW).to_str().unwrap()]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("not a claude-code log (it looks like iflow-cli)"),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(&env.root).unwrap().count(), 0);
    // OpenHands evaluation output: one task per line (instance), named by
    // its instance_id. Counted with jq over the fixture:
    //   jq -c '{i: .instance_id, calls: ([.history[] | .tool_call_metadata.model_response
    //     | select(. != null)] | unique_by(.id) | map(.usage) | {n: length,
    //     in: (map(.prompt_tokens)|add), out: (map(.completion_tokens)|add)}),
    //     tools: ([.history[] | select(.action=="run")] | length),
    //     fails: ([.history[] | select(.observation=="run" and .extras.metadata.exit_code != 0)] | length)}'
    // -> shop__shop-11: 2 calls, 6500 in, 90 out, 2 tools, 1 failed;
    //    shop__shop-12: 1 call, 1200 in, 30 out, 1 tool, 0 failed.
    let (status, summary) = import(&env, &["openhands", fixture(OH_OUTPUT).to_str().unwrap()]);
    assert_eq!(status, 0, "{summary}");
    assert_eq!(summary["files"]["imported"], 2, "{summary}");
    let t = &summary["totals"];
    assert_eq!(
        (
            t["llm_calls"].as_u64(),
            t["input_tokens"].as_u64(),
            t["output_tokens"].as_u64(),
            t["tool_calls"].as_u64(),
            t["failed_tool_calls"].as_u64()
        ),
        (Some(3), Some(7700), Some(120), Some(3), Some(1)),
        "{summary}"
    );
    env.ok(&["index"]);
    for (task, calls, input) in [
        ("openhands-shop__shop-11", 2, 6500),
        ("openhands-shop__shop-12", 1, 1200),
    ] {
        assert_eq!(indexed_totals(&env, task).0, calls, "{task}");
        assert_eq!(indexed_totals(&env, task).1, input, "{task}");
        assert_eq!(orphan_tool_ends(&env, task), 0, "{task}");
    }
    let doc: serde_json::Value = serde_json::from_slice(
        &std::fs::read(env.task_dir("openhands-shop__shop-11").join("task.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(doc["title"], "shop__shop-11");
    assert_eq!(doc["status"], "completed_with_errors");
    // Again: nothing new, nothing twice.
    let (status, again) = import(&env, &["auto", fixture(OH_OUTPUT).to_str().unwrap()]);
    assert_eq!(status, 0, "{again}");
    assert_eq!(again["files"]["unchanged"], 2, "{again}");
    assert_eq!(again["totals"]["llm_calls"], 0, "{again}");
    // Inside a folder, with auto: the iFlow session as iflow-cli, each
    // evaluation instance as openhands.
    let dir = env.dir.path().join("mixed");
    std::fs::create_dir_all(&dir).unwrap();
    for f in [
        IFLOW,
        OH_OUTPUT,
        "claude-code/11111111-1111-4111-8111-111111111111.jsonl",
    ] {
        let to = dir.join(std::path::Path::new(f).file_name().unwrap());
        std::fs::copy(fixture(f), to).unwrap();
    }
    let fresh = Env::new();
    let (status, summary) = import(&fresh, &["auto", dir.to_str().unwrap()]);
    assert_eq!(status, 0, "{summary}");
    assert_eq!(summary["files"]["imported"], 4, "{summary}");
    assert_eq!(summary["files"]["skipped"], 0, "{summary}");
    let r = report(
        &summary,
        "session-77777777-7777-4777-8777-777777777777.jsonl",
    );
    assert_eq!(r["format"], "iflow-cli", "{r}");
}

#[test]
fn a_gemini_response_with_all_zero_usage_is_unpriced_not_free() {
    let env = Env::new();
    let src = env.dir.path().join("session-2026-04-23T12-00-zero.jsonl");
    std::fs::write(
        &src,
        concat!(
            r#"{"sessionId":"99999999-9999-4999-8999-999999999999","projectHash":"h","startTime":"2026-04-23T12:00:00.000Z"}"#,
            "\n",
            r#"{"id":"g1","timestamp":"2026-04-23T12:00:01.000Z","type":"gemini","content":"","model":"gemini-2.5-pro","tokens":{"input":0,"output":0,"cached":0,"thoughts":0,"tool":0,"total":0}}"#,
            "\n",
            r#"{"id":"g2","timestamp":"2026-04-23T12:00:02.000Z","type":"gemini","content":"ok","model":"gemini-2.5-pro","tokens":{"input":100,"output":5,"cached":0,"thoughts":0,"tool":0,"total":105}}"#,
            "\n",
        ),
    )
    .unwrap();
    let (status, summary) = import(&env, &["gemini-cli", src.to_str().unwrap()]);
    assert_eq!(status, 0, "{summary}");
    env.ok(&["index"]);
    let task = "gemini-99999999-9999-4999-8999-999999999999";
    let q = |sql: &str| {
        env.count(&format!(
            "SELECT count(*) FROM api_calls WHERE task_id = '{task}' AND {sql}"
        ))
    };
    assert_eq!(q("1"), 2);
    assert_eq!(q("cost_source = 'unpriced'"), 1, "the all-zero response");
    assert_eq!(q("cost_source = 'price_table'"), 1);
}
