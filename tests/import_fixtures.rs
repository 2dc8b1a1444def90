//! `tasklog import` on the team's own synthetic fixtures
//! (`tests/fixtures/import/`, hand-written, one or more per format), so a
//! fresh clone tests every importer without the shared corpus: totals
//! counted independently from the raw files, `auto` telling every format
//! apart, Claude Code's streaming usage, and the split-at-any-line
//! property (importing a source cut at line k, then whole, gives the same
//! index as one import of the whole file).

use crate::import_support::{
    check_import, check_split_at_every_line, fixture, import, indexed_totals, report, Expect,
    FIXTURES,
};
use crate::support::{code, stderr, Env};

// How each number was obtained, independently of the importer (jq 1.6 on
// the fixture files; the same commands are written down in
// tests/import_corpus.rs for the corpus):
//
// Claude Code: one call per (message.id, requestId) (message.id alone when a
// line has none), assistant lines and assistant messages embedded in
// `progress` lines, `<synthetic>` excluded; each count is the largest over
// the key's lines; input = input_tokens + cache_read + cache_creation:
//   jq -s -c -f claude.jq FILE, where claude.jq is
//   [.[] | (select(.type=="assistant" or (.type==null and .message.usage!=null))
//            | {k: [.message.id, .requestId], m: .message.model, u: .message.usage}),
//          (select(.type=="progress" and .data.message.type=="assistant")
//            | {k: [.data.message.message.id, .data.message.requestId],
//               m: .data.message.message.model, u: .data.message.message.usage})
//    | select(.u != null and .m != "<synthetic>")]
//   | group_by(.k)
//   | map({i: (map(.u.input_tokens // 0) | max), r: (map(.u.cache_read_input_tokens // 0) | max),
//          c: (map(.u.cache_creation_input_tokens // 0) | max), o: (map(.u.output_tokens // 0) | max)})
//   | {calls: length, input: (map(.i + .r + .c) | add), output: (map(.o) | add), cache_read: (map(.r) | add)}
// Codex: one call per token_count with info whose total_token_usage differs
// from the previous one, summing last_token_usage:
//   jq -s -c '[.[] | select(.payload.type=="token_count" and .payload.info != null) | .payload.info]
//     | reduce .[] as $i ({prev: null, calls: []}; if $i.total_token_usage != null and $i.total_token_usage == .prev
//         then . else {prev: ($i.total_token_usage // .prev), calls: (.calls + [$i.last_token_usage])} end)
//     | .calls | {calls: length, input: (map(.input_tokens)|add), output: (map(.output_tokens)|add),
//       cache_read: (map(.cached_input_tokens)|add)}' FILE
// SWE-agent: jq -c '.info.model_stats' FILE (one aggregate call).
// OpenHands: jq -c '[.[] | .tool_call_metadata.model_response | select(. != null)] | unique_by(.id)
//   | map(.usage) | {calls: length, in: (map(.prompt_tokens) | add), out: (map(.completion_tokens) | add),
//   cache_read: (map(.cache_read_input_tokens) | add)}' FILE
// Gemini CLI recording: jq -s -c '[.[] | select(.type=="gemini" and .tokens != null)] | group_by(.id)
//   | map(.[-1].tokens) | {calls: length, input: (map(.input + .tool)|add),
//   output: (map(.output + .thoughts)|add), cache_read: (map(.cached)|add)}' FILE
// Gemini CLI document: the same over '.messages[]' without -s.
// OpenCode: jq -c '[.messages[].parts[] | select(.type=="step-finish")] | {calls: length,
//   input: (map(.tokens.input + .tokens.cache.read + .tokens.cache.write)|add),
//   output: (map(.tokens.output + .tokens.reasoning)|add), cache_read: (map(.tokens.cache.read)|add),
//   cost: (map(.cost)|add)}' FILE
// Cline (Anthropic provider): jq -c '[.[] | select(.metrics.tokens) | .metrics.tokens] | {calls: length,
//   input: (map(.prompt + .cached)|add), output: (map(.completion)|add), cache_read: (map(.cached)|add)}' FILE
// Copilot CLI: jq -s -c '[.[] | select(.type=="session.shutdown") | .data.modelMetrics[] | .usage]
//   | {calls: length, input: (map(.inputTokens)|add), output: (map(.outputTokens)|add),
//   cache_read: (map(.cacheReadTokens)|add)}' FILE
// mini-SWE-agent: jq -c '[.messages[] | select(.role=="assistant") | .extra.response.usage | select(.)]
//   | {calls: length, input: (map(.prompt_tokens)|add), output: (map(.completion_tokens)|add),
//   cache_read: (map(.prompt_tokens_details.cached_tokens // 0)|add), cost: (map(.cost)|add)}' FILE
// iFlow CLI: one call per message.id, else per the line's tool_use ids, else
// per uuid, with non-zero usage; the largest counts over the key's lines:
//   jq -s -c '[.[] | select(.type=="assistant" and .message.usage != null) | {k: (.message.id //
//     ([.message.content[] | select(.type=="tool_use") | .id] | if length>0 then join(",") else null end)
//     // .uuid), u: .message.usage}] | group_by(.k) | map({i: (map(.u.input_tokens)|max),
//     o: (map(.u.output_tokens)|max)}) | {calls: length, input: (map(.i)|add), output: (map(.o)|add)}' FILE
// pi: one call per assistant message with non-zero usage, input = input + cacheRead + cacheWrite:
//   jq -s -c '[.[] | select(.type=="message" and .message.role=="assistant" and .message.usage != null)
//     | .message.usage | select(.input+.output+.cacheRead+.cacheWrite > 0)] | {calls: length,
//     input: (map(.input+.cacheRead+.cacheWrite)|add), output: (map(.output)|add),
//     cache_read: (map(.cacheRead)|add), cost: (map(.cost.total)|add)}' FILE
// VS Code Copilot Chat: one call per tool-call round, else one per answered request:
//   jq -c '[.requests[] | ((.result.metadata.toolCallRounds // []) | length) as $n
//     | if $n > 0 then $n else (if (.response | length) > 0 then 1 else 0 end) end] | add' FILE
// Source lines: wc -l FILE (no fixture has blank lines).
const CLAUDE_MAIN: &str = "claude-code/11111111-1111-4111-8111-111111111111.jsonl";
const CLAUDE_TASK: &str = "claude-11111111-1111-4111-8111-111111111111";
const GEMINI_JSONL: &str = "gemini-cli/session-2026-03-04T10-00-33333333.jsonl";
const IFLOW: &str = "iflow-cli/session-77777777-7777-4777-8777-777777777777.jsonl";
const COPILOT_CHAT: &str = "vscode-copilot-chat/aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee.json";
const PI: &str =
    "pi/--home-dev-shop--/2026-03-08T10-00-00-000Z_99999999-9999-4999-8999-999999999999.jsonl";

const EXPECTED: [Expect; 13] = [
    Expect {
        file: CLAUDE_MAIN,
        format: "claude-code",
        task: CLAUDE_TASK,
        calls: 4, // msg_A1 (3 lines: output 1, 7, 52), msg_A2, msg_S1 (in progress), msg_A3 (no requestId)
        input: 8_519,
        output: 115,
        cache_read: 7_900,
        cost: 0.0,
        source_lines: 17,
    },
    Expect {
        file: "codex/rollout-2026-03-02T09-00-00-22222222-2222-4222-8222-222222222222.jsonl",
        format: "codex",
        task: "codex-22222222-2222-4222-8222-222222222222",
        calls: 3, // 5 token_count lines: one repeat, one with info null
        input: 4_200,
        output: 290,
        cache_read: 2_500,
        cost: 0.0,
        source_lines: 16,
    },
    Expect {
        file: "swe-agent/shop__shop-7.traj",
        format: "swe-agent",
        task: "swe-shop__shop-7",
        calls: 1,
        input: 5_300,
        output: 410,
        cache_read: 0,
        cost: 0.0425,
        source_lines: 0,
    },
    Expect {
        file: "openhands/shop-run.json",
        format: "openhands",
        task: "openhands-shop-run",
        calls: 2,
        input: 4_400,
        output: 65,
        cache_read: 2_000,
        cost: 0.0,
        source_lines: 0,
    },
    Expect {
        file: GEMINI_JSONL,
        format: "gemini-cli",
        task: "gemini-33333333-3333-4333-8333-333333333333",
        calls: 2, // g-03 written twice (the second time with its tool calls)
        input: 8_300,
        output: 162,
        cache_read: 3_900,
        cost: 0.0,
        source_lines: 9,
    },
    Expect {
        file: "gemini-cli/checkpoint-44444444.json",
        format: "gemini-cli",
        task: "gemini-44444444-4444-4444-8444-444444444444",
        calls: 2,
        input: 5_200,
        output: 108,
        cache_read: 3_400,
        cost: 0.0,
        source_lines: 0,
    },
    Expect {
        file: "opencode/ses_5555.json",
        format: "opencode",
        task: "opencode-ses_5555aaaa",
        calls: 3, // step-finish parts: two in the first message
        input: 18_730,
        output: 374,
        cache_read: 17_000,
        cost: 0.0123,
        source_lines: 0,
    },
    Expect {
        file: "cline/1772000000000/api_conversation_history.json",
        format: "cline",
        task: "cline-1772000000000",
        calls: 3,
        input: 27_925,
        output: 260,
        cache_read: 27_900,
        cost: 0.0,
        source_lines: 0,
    },
    Expect {
        file: "copilot-cli/events.jsonl",
        format: "copilot-cli",
        task: "copilot-66666666-6666-4666-8666-666666666666",
        calls: 2, // one aggregate per model of session.shutdown
        input: 24_900,
        output: 100,
        cache_read: 18_000,
        cost: 0.0,
        source_lines: 13,
    },
    Expect {
        file: "mini-swe-agent/shop__shop-9.traj.json",
        format: "mini-swe-agent",
        task: "mini-swe-shop__shop-9",
        calls: 2,
        input: 3_300,
        output: 300,
        cache_read: 1_200,
        cost: 0.0105,
        source_lines: 0,
    },
    Expect {
        file: IFLOW,
        format: "iflow-cli",
        task: "iflow-session-77777777-7777-4777-8777-777777777777",
        calls: 3, // i-2 and i-3 are one snapshot (tool t1): the larger output, 60
        input: 4_300,
        output: 130,
        cache_read: 0,
        cost: 0.0,
        source_lines: 7,
    },
    Expect {
        file: PI,
        format: "pi",
        task: "pi-99999999-9999-4999-8999-999999999999",
        calls: 4, // the branch's answer (p0000008) was billed too
        input: 3_810,
        output: 125,
        cache_read: 3_500,
        cost: 0.0044,
        source_lines: 10,
    },
    Expect {
        file: COPILOT_CHAT,
        format: "vscode-copilot-chat",
        task: "copilot-chat-aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
        calls: 4, // request 1: three tool-call rounds; request 2: one answer
        input: 0, // the file records no token counts
        output: 0,
        cache_read: 0,
        cost: 0.0,
        source_lines: 0,
    },
];

#[test]
fn every_fixture_imports_with_the_independently_counted_totals() {
    for e in &EXPECTED {
        check_import(e, &fixture(e.file));
    }
}

#[test]
fn tool_calls_pair_and_failures_are_failures() {
    // (file, task, tool.start rows, tool.fail rows), counted by reading the
    // fixtures: every call has an answer except none; failures are the
    // is_error results, exit codes != 0, error statuses and failed results.
    for (file, format, task, starts, fails) in [
        // The sub-agent's Bash call, seen only in `progress` lines here
        // (its own file is not imported), failed: 3 calls, 2 failures.
        (CLAUDE_MAIN, "claude-code", CLAUDE_TASK, 3, 2),
        (
            "codex/rollout-2026-03-02T09-00-00-22222222-2222-4222-8222-222222222222.jsonl",
            "codex",
            "codex-22222222-2222-4222-8222-222222222222",
            2,
            1,
        ),
        (
            "openhands/shop-run.json",
            "openhands",
            "openhands-shop-run",
            1,
            1,
        ),
        (
            GEMINI_JSONL,
            "gemini-cli",
            "gemini-33333333-3333-4333-8333-333333333333",
            2,
            1,
        ),
        (
            "opencode/ses_5555.json",
            "opencode",
            "opencode-ses_5555aaaa",
            2,
            1,
        ),
        (
            "cline/1772000000000/api_conversation_history.json",
            "cline",
            "cline-1772000000000",
            3,
            1,
        ),
        (
            "copilot-cli/events.jsonl",
            "copilot-cli",
            "copilot-66666666-6666-4666-8666-666666666666",
            2,
            1,
        ),
        (
            "mini-swe-agent/shop__shop-9.traj.json",
            "mini-swe-agent",
            "mini-swe-shop__shop-9",
            2,
            1,
        ),
        // t1 once (two snapshot lines), t2 failed (status error).
        (
            IFLOW,
            "iflow-cli",
            "iflow-session-77777777-7777-4777-8777-777777777777",
            2,
            1,
        ),
        // c1, c2 (isError); the bashExecution is the user's, no tool call.
        (PI, "pi", "pi-99999999-9999-4999-8999-999999999999", 2, 1),
        // toolu_c2's result says ERROR.
        (
            COPILOT_CHAT,
            "vscode-copilot-chat",
            "copilot-chat-aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
            2,
            1,
        ),
    ] {
        let env = Env::new();
        let (status, summary) = import(&env, &[format, fixture(file).to_str().unwrap()]);
        assert_eq!(status, 0, "{summary}");
        env.ok(&["index"]);
        let count = |event: &str| {
            env.count(&format!(
                "SELECT count(*) FROM records WHERE task_id = '{task}' AND event = '{event}'"
            ))
        };
        assert_eq!(count("tool.start"), starts, "{file}");
        assert_eq!(
            count("tool.complete") + count("tool.fail"),
            starts,
            "{file}"
        );
        assert_eq!(count("tool.fail"), fails, "{file}");
        assert_eq!(
            crate::import_support::orphan_tool_ends(&env, task),
            0,
            "{file}"
        );
        assert!(
            env.task_dir(task).join("result.json").exists(),
            "{file}: final result"
        );
    }
}

#[test]
fn auto_tells_every_fixture_apart() {
    let env = Env::new();
    let (status, summary) = import(&env, &["auto", FIXTURES]);
    assert_eq!(status, 0, "{summary}");
    for e in &EXPECTED {
        let r = report(&summary, e.file);
        assert_eq!(r["format"], e.format, "{}", e.file);
        assert_eq!(r["action"], "imported", "{}", e.file);
    }
    // The sub-agent files join their session's task.
    for agent in ["agent-s1.jsonl", "agent-acompact-1.jsonl"] {
        assert_eq!(report(&summary, agent)["task_id"], CLAUDE_TASK);
    }
    // The 12 above, 2 sub-agent files, the one-hour cache fixture, the
    // plain-text Codex one and the two instances of the OpenHands
    // evaluation output (import_round3).
    assert_eq!(summary["files"]["imported"], 19, "{summary}");
    assert_eq!(summary["files"]["skipped"], 0, "{summary}");
}

#[test]
fn a_gemini_recording_is_not_claude_code() {
    let env = Env::new();
    let path = fixture(GEMINI_JSONL);
    let out = env.run(&["import", "claude-code", path.to_str().unwrap()]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not a claude-code log (it looks like gemini-cli)"),
        "{}",
        stderr(&out)
    );
    // Inside a folder, named claude-code: skipped, nothing written.
    let dir = env.dir.path().join("chats");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(&path, dir.join("session.jsonl")).unwrap();
    let (status, summary) = import(&env, &["claude-code", dir.to_str().unwrap()]);
    assert_eq!(status, 0, "{summary}");
    assert_eq!(report(&summary, "session.jsonl")["action"], "skipped");
    assert!(std::fs::read_dir(&env.root).unwrap().next().is_none());
}

#[test]
fn a_file_of_no_known_format_is_refused_naming_the_formats_tried() {
    let env = Env::new();
    let other = env.dir.path().join("settings.json");
    std::fs::write(&other, r#"{"theme":"dark"}"#).unwrap();
    let out = env.run(&["import", "auto", other.to_str().unwrap()]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("settings.json: format not recognized"),
        "{err}"
    );
    for format in [
        "claude-code",
        "codex",
        "swe-agent",
        "openhands",
        "gemini-cli",
        "opencode",
        "cline",
        "copilot-cli",
        "mini-swe-agent",
    ] {
        assert!(err.contains(format), "{format} missing from: {err}");
    }
}

/// Three lines of one streamed response: the output count grows 1, 7, 52.
const STREAMED: &str = concat!(
    r#"{"type":"assistant","sessionId":"s-min","uuid":"a1","timestamp":"2026-03-01T10:00:00.000Z","requestId":"req_1","message":{"id":"msg_1","model":"claude-opus-4-6","role":"assistant","content":[{"type":"thinking","thinking":"t"}],"usage":{"input_tokens":5,"cache_read_input_tokens":0,"cache_creation_input_tokens":0,"output_tokens":1}}}"#,
    "\n",
    r#"{"type":"assistant","sessionId":"s-min","uuid":"a2","timestamp":"2026-03-01T10:00:01.000Z","requestId":"req_1","message":{"id":"msg_1","model":"claude-opus-4-6","role":"assistant","content":[{"type":"text","text":"x"}],"usage":{"input_tokens":5,"cache_read_input_tokens":0,"cache_creation_input_tokens":0,"output_tokens":7}}}"#,
    "\n",
    r#"{"type":"assistant","sessionId":"s-min","uuid":"a3","timestamp":"2026-03-01T10:00:02.000Z","requestId":"req_1","message":{"id":"msg_1","model":"claude-opus-4-6","role":"assistant","content":[{"type":"tool_use","id":"t1","name":"Bash","input":{}}],"usage":{"input_tokens":5,"cache_read_input_tokens":0,"cache_creation_input_tokens":0,"output_tokens":52}}}"#,
    "\n",
);

#[test]
fn a_streamed_response_is_one_call_with_its_final_usage() {
    let env = Env::new();
    let src = env.dir.path().join("s-min.jsonl");
    std::fs::write(&src, STREAMED).unwrap();
    let (status, summary) = import(&env, &["claude-code", src.to_str().unwrap()]);
    assert_eq!(status, 0, "{summary}");
    let w = &report(&summary, "s-min.jsonl")["written"];
    assert_eq!(
        (w["llm_calls"].as_i64(), w["output_tokens"].as_i64()),
        (Some(1), Some(52))
    );
    env.ok(&["index"]);
    assert_eq!(indexed_totals(&env, "claude-s-min").0, 1);
    assert_eq!(indexed_totals(&env, "claude-s-min").2, 52);
}

#[test]
fn a_source_cut_at_any_line_then_imported_whole_equals_one_import() {
    check_split_at_every_line(&fixture(CLAUDE_MAIN), "claude-code", CLAUDE_TASK);
    let env = Env::new();
    let streamed = env.dir.path().join("s-min.jsonl");
    std::fs::write(&streamed, STREAMED).unwrap();
    check_split_at_every_line(&streamed, "claude-code", "claude-s-min");
    check_split_at_every_line(
        &fixture(GEMINI_JSONL),
        "gemini-cli",
        "gemini-33333333-3333-4333-8333-333333333333",
    );
}

#[test]
fn a_resumed_session_counts_the_calls_it_copied_once() {
    // Claude Code resumes a session into a new file (a new session id) that
    // starts with the earlier session's lines: msg_A1 (lines 3-5) and msg_A2
    // (line 8) are copied, one new call follows. The key is global: the new
    // task gets only the new call.
    let env = Env::new();
    let main = fixture(CLAUDE_MAIN);
    let (status, _) = import(&env, &["claude-code", main.to_str().unwrap()]);
    assert_eq!(status, 0);
    let text = std::fs::read_to_string(&main).unwrap();
    let mut lines: Vec<String> = text.lines().take(8).map(str::to_owned).collect();
    lines.push(
        r#"{"type":"assistant","uuid":"r-01","sessionId":"77777777-7777-4777-8777-777777777777","timestamp":"2026-03-02T08:00:00.000Z","requestId":"req_R1","message":{"id":"msg_R1","model":"claude-opus-4-6","role":"assistant","content":[{"type":"text","text":"Resumed."}],"usage":{"input_tokens":1,"cache_creation_input_tokens":0,"cache_read_input_tokens":3000,"output_tokens":4}}}"#
            .into(),
    );
    let resumed = env
        .dir
        .path()
        .join("77777777-7777-4777-8777-777777777777.jsonl");
    std::fs::write(&resumed, lines.join("\n") + "\n").unwrap();
    let (status, summary) = import(&env, &["claude-code", resumed.to_str().unwrap()]);
    assert_eq!(status, 0, "{summary}");
    let r = report(&summary, "77777777-7777-4777-8777-777777777777.jsonl");
    assert_eq!(r["task_id"], "claude-77777777-7777-4777-8777-777777777777");
    assert_eq!(r["written"]["llm_calls"], 1, "{r}");
    assert_eq!(r["written"]["output_tokens"], 4, "{r}");
    env.ok(&["index"]);
    assert_eq!(
        env.count("SELECT count(*) FROM records WHERE event = 'llm.call'"),
        4 + 1
    );
}
