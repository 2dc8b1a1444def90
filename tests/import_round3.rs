//! Issue 25's rules on the team's fixtures: current Codex's plain-text
//! failures and web searches, a look-alike format refused by name
//! (OpenHands evaluation output) or told apart (iFlow CLI), and a Gemini response with all-zero
//! usage listed as unpriced rather than free.

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
fn look_alike_formats_are_refused_by_name_never_imported_as_another() {
    let env = Env::new();
    // OpenHands evaluation output (several sessions per file) is refused by
    // name; iFlow CLI, which copies Claude Code's line shape, is imported
    // as itself (tests/import_fixtures.rs) and, named as Claude Code,
    // fails naming what it is. Nothing is written.
    for (format, file, name) in [
        (
            "claude-code",
            IFLOW,
            "not a claude-code log (it looks like iflow-cli)",
        ),
        ("openhands", OH_OUTPUT, "OpenHands evaluation output"),
        ("auto", OH_OUTPUT, "OpenHands evaluation output"),
    ] {
        let out = env.run(&["import", format, fixture(file).to_str().unwrap()]);
        assert_eq!(code(&out), 2, "{format} {file}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(name), "{err}");
        assert!(!err.contains("trailing characters"), "{err}");
    }
    assert_eq!(std::fs::read_dir(&env.root).unwrap().count(), 0);
    // Inside a folder: skipped with the same reason, the rest imported,
    // the iFlow session as iflow-cli.
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
    let (status, summary) = import(&env, &["auto", dir.to_str().unwrap()]);
    assert_eq!(status, 0, "{summary}");
    assert_eq!(summary["files"]["imported"], 2, "{summary}");
    assert_eq!(summary["files"]["skipped"], 1, "{summary}");
    let r = report(
        &summary,
        "session-77777777-7777-4777-8777-777777777777.jsonl",
    );
    assert_eq!(r["format"], "iflow-cli", "{r}");
    let r = report(&summary, "output.jsonl");
    assert!(
        r["reason"]
            .as_str()
            .unwrap()
            .contains("OpenHands evaluation output"),
        "{r}"
    );
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
