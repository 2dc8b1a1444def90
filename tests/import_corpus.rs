//! `tasklog import` on the shared corpus of real agent logs
//! (`../shared/corpus`, third-party data kept out of the repository):
//! every file imports with totals counted independently from the raw file,
//! `auto` names every file's format, a session folder with sub-agent files
//! counts each call once, re-imports change nothing, and a real transcript
//! cut at any line gives the same index. Without the corpus each test
//! prints one line saying so and passes; tests/import_fixtures.rs covers
//! every importer with the team's own fixtures.

use crate::import_support::{
    check_import, check_split_at_every_line, corpus, corpus_or_skip, import, indexed_totals,
    report, snapshot, Expect,
};
use crate::support::Env;

// How each number was obtained, independently of the importer (jq 1.6 on the
// raw files in ../shared/corpus):
//
// Claude Code: one call per (message.id, requestId) (message.id alone when a
// line has none), over assistant lines and the assistant messages embedded in
// `progress` lines, `<synthetic>` excluded; each count is the largest over the
// key's lines (the last streaming snapshot), never the first and never a sum;
// input = input_tokens + cache_read_input_tokens + cache_creation_input_tokens:
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
//   For the spotter session folder, the same over all three files at once:
//   cat S.jsonl S/subagents/*.jsonl | jq -s -c -f claude.jq
//   and for the ccusage fixture the cost: jq -s '[.[].costUSD // 0] | add' FILE  → 1.02
// Codex: one call per token_count with info whose total_token_usage differs
// from the previous one (Codex re-emits totals with rate-limit updates),
// summing last_token_usage; the last total_token_usage equals the sums:
//   jq -s -c '[.[] | select(.payload.type=="token_count" and .payload.info != null) | .payload.info]
//     | reduce .[] as $i ({prev: null, calls: []}; if $i.total_token_usage != null and $i.total_token_usage == .prev
//         then . else {prev: ($i.total_token_usage // .prev), calls: (.calls + [$i.last_token_usage])} end)
//     | .calls | {calls: length, input: (map(.input_tokens)|add), output: (map(.output_tokens)|add),
//       cache_read: (map(.cached_input_tokens)|add)}' FILE
// SWE-agent: jq -c '.info.model_stats' FILE → one aggregate call with tokens_sent,
//   tokens_received and instance_cost (api_calls 5 is kept on the record).
// OpenHands: one call per distinct tool_call_metadata.model_response.id,
//   prompt_tokens (already includes cache reads and writes) and completion_tokens:
//   jq -c '[.[] | .tool_call_metadata.model_response | select(. != null)] | unique_by(.id)
//     | map(.usage) | {calls: length, in: (map(.prompt_tokens) | add), out: (map(.completion_tokens) | add),
//       cache_read: (map(.cache_read_input_tokens) | add)}' FILE
// Gemini CLI recording (messages re-written by id: the last version of each):
//   jq -s -c '[.[] | select(.type=="gemini" and .tokens != null)] | group_by(.id) | map(.[-1].tokens)
//     | {calls: length, input: (map(.input + .tool)|add), output: (map(.output + .thoughts)|add),
//       cache_read: (map(.cached)|add)}' FILE
// Gemini CLI document: jq -c '[.messages[] | select(.type=="gemini" and .tokens != null) | .tokens]
//     | {calls: length, input: (map(.input + .tool)|add), output: (map(.output + .thoughts)|add),
//       cache_read: (map(.cached)|add)}' FILE
// OpenCode: jq -c '[.messages[].parts[] | select(.type=="step-finish") | .tokens] | {calls: length,
//     input: (map(.input + .cache.read + .cache.write)|add), output: (map(.output + .reasoning)|add),
//     cache_read: (map(.cache.read)|add)}' FILE   (every cost is 0: not imported)
// Cline: jq -c '[.[] | select(.metrics.tokens) | .metrics.tokens] | {calls: length,
//     input: (map(.prompt + .cached)|add), output: (map(.completion)|add), cache_read: (map(.cached)|add)}' FILE
// Copilot CLI: jq -s -c '[.[] | select(.type=="session.shutdown") | .data.modelMetrics[] | .usage]
//     | {calls: length, input: (map(.inputTokens)|add), output: (map(.outputTokens)|add),
//       cache_read: (map(.cacheReadTokens)|add)}' FILE
// mini-SWE-agent: jq -c '[.messages[] | select(.role=="assistant") | .extra.response.usage | select(.)]
//     | {calls: length, input: (map(.prompt_tokens)|add), output: (map(.completion_tokens)|add),
//       cache_read: (map(.prompt_tokens_details.cached_tokens // 0)|add), cost: (map(.cost)|add)}' FILE
//   (the cost sum equals info.model_stats.instance_cost)
// Source lines: wc -l FILE (no file has blank lines).
const EXPECTED: [Expect; 20] = [
    Expect {
        file: "claude-code__claude-reliability__coverage-test-fix.jsonl",
        format: "claude-code",
        task: "claude-c64cc478-3430-40fe-8e9c-4ee9986e9754",
        calls: 14, // 21 assistant lines carry usage; 14 distinct keys
        input: 294_215,
        output: 158,
        cache_read: 286_596,
        cost: 0.0,
        source_lines: 38,
    },
    Expect {
        file: "claude-code__claude-reliability__hello-world-script.jsonl",
        format: "claude-code",
        task: "claude-de3b8b19-5bc0-4a2a-934a-1b6806567e25",
        calls: 4,
        input: 74_578,
        output: 29,
        cache_read: 71_036,
        cost: 0.0,
        source_lines: 9,
    },
    Expect {
        file: "claude-code__agentcmd__06381696.jsonl",
        format: "claude-code",
        task: "claude-06381696-0074-49f8-863e-6ad4fac507f9",
        calls: 3, // 6 lines with usage
        input: 82_869,
        output: 16,
        cache_read: 49_327,
        cost: 0.0,
        source_lines: 14,
    },
    Expect {
        file: "ccusage__fixture__claude-session-alpha.jsonl",
        format: "claude-code",
        task: "claude-session-alpha",
        calls: 3,
        input: 745,
        output: 250,
        cache_read: 70,
        cost: 1.02,
        source_lines: 3,
    },
    Expect {
        file: "claude-code__agentlogs__compact.jsonl",
        format: "claude-code",
        task: "claude-0e26ec2f-937e-482c-b889-bc126f996913",
        calls: 1, // output 6 on its first line, 148 on its last
        input: 15_660,
        output: 148,
        cache_read: 13_522,
        cost: 0.0,
        source_lines: 15,
    },
    Expect {
        file: "claude-code__agentlogs__images.jsonl",
        format: "claude-code",
        task: "claude-794b4c5f-6354-422a-9e6d-c9f18e89e427",
        calls: 3,
        input: 73_796,
        output: 145,
        cache_read: 67_843,
        cost: 0.0,
        source_lines: 29,
    },
    Expect {
        file: "claude-code__spotter__tool_heavy.jsonl",
        format: "claude-code",
        task: "claude-d6e0bada-1959-4eec-a9d2-0bfade768d8f",
        calls: 4,
        input: 105_981,
        output: 212,
        cache_read: 88_231,
        cost: 0.0,
        source_lines: 39,
    },
    Expect {
        file: "claude-code__spotter__subagent.jsonl",
        format: "claude-code",
        task: "claude-491e126e-1e71-469c-ade2-fcc8af567c74",
        calls: 17, // 12 of the main thread, 5 of the sub-agent in progress lines
        input: 564_356,
        output: 1_593,
        cache_read: 522_629,
        cost: 0.0,
        source_lines: 96,
    },
    Expect {
        file: "codex__agentcmd__rollout-2025-09-25T15-12-14.jsonl",
        format: "codex",
        task: "codex-019982b8-3422-79e0-8b3b-05abaf4f3c3e",
        calls: 35,
        input: 536_834, // the cumulative total would sum to far more
        output: 6_654,
        cache_read: 472_320,
        cost: 0.0,
        source_lines: 209,
    },
    Expect {
        file: "ccusage__fixture__codex-session-alpha.jsonl",
        format: "codex",
        // No session_meta: the file name stands for the session id.
        task: "codex-ccusage__fixture__codex-session-alpha",
        calls: 2,
        input: 3_500,
        output: 425,
        cache_read: 750,
        cost: 0.0,
        source_lines: 3,
    },
    Expect {
        file: "codex__agentlogs__crud.jsonl",
        format: "codex",
        task: "codex-019bf4b5-e7b0-75a0-8bf2-05fbf1b13c9b",
        calls: 5,
        input: 47_257,
        output: 300,
        cache_read: 44_160,
        cost: 0.0,
        source_lines: 38,
    },
    Expect {
        file: "codex__agentlogs__images.jsonl",
        format: "codex",
        task: "codex-019c16bd-a0fc-7293-855d-2948ce5dc471",
        calls: 13,
        input: 216_978,
        output: 2_163,
        cache_read: 189_952,
        cost: 0.0,
        source_lines: 94,
    },
    Expect {
        file: "swe-agent__6e44b9__sweagenttestrepo-1c2844.traj.json",
        format: "swe-agent",
        task: "swe-swe-agent__6e44b9__sweagenttestrepo-1c2844",
        calls: 1,
        input: 7_141,
        output: 243,
        cache_read: 0,
        cost: 0.019_52,
        source_lines: 0,
    },
    Expect {
        file: "openhands__trajs__basic.json",
        format: "openhands",
        task: "openhands-openhands__trajs__basic",
        calls: 2,
        input: 8_132,
        output: 1_312,
        cache_read: 3_482,
        cost: 0.0,
        source_lines: 0,
    },
    Expect {
        file: "gemini-cli__VibeCodingTracker__gemini.jsonl",
        format: "gemini-cli",
        task: "gemini-0ab84937-9fe7-4284-986a-33c832af0b6a",
        calls: 6, // 11 gemini lines: 5 messages written twice
        input: 202_586,
        output: 4_293,
        cache_read: 48_951,
        cost: 0.0,
        source_lines: 28,
    },
    Expect {
        file: "gemini-cli__VibeCodingTracker__test_conversation_gemini.json",
        format: "gemini-cli",
        task: "gemini-8a20078e-2d5e-4f81-a640-9b879bbb7e6d",
        calls: 3,
        input: 76_348,
        output: 20_941,
        cache_read: 39_826,
        cost: 0.0,
        source_lines: 0,
    },
    Expect {
        file: "opencode__agentlogs__all-tools.json",
        format: "opencode",
        task: "opencode-ses_4134312deffeWMYdSt1q5bAW7z",
        calls: 14,
        input: 155_986,
        output: 3_281,
        cache_read: 142_720,
        cost: 0.0,
        source_lines: 0,
    },
    Expect {
        file: "cline__agentlogs__crud.json",
        format: "cline",
        task: "cline-cline__agentlogs__crud",
        calls: 21,
        input: 1_421_888,
        output: 6_469,
        cache_read: 1_421_489,
        cost: 0.0,
        source_lines: 0,
    },
    Expect {
        file: "copilot-cli__VibeCodingTracker__copilot.jsonl",
        format: "copilot-cli",
        task: "copilot-96ef38f0-9d09-45c3-8124-6448c36090ed",
        calls: 1, // the session's only model, as session.shutdown reports it
        input: 186_809,
        output: 2_848,
        cache_read: 151_738,
        cost: 0.0,
        source_lines: 55,
    },
    Expect {
        file: "mini-swe-agent__gruckion-mini-swe-agent__django__django-16255.traj.json",
        format: "mini-swe-agent",
        task: "mini-swe-mini-swe-agent__gruckion-mini-swe-agent__django__django-16255",
        calls: 17,
        input: 61_068,
        output: 2_317,
        cache_read: 33_662,
        cost: 0.089_348_4,
        source_lines: 0,
    },
];

const SPOTTER_DIR: &str = "claude-code__spotter__258c7280";
const SPOTTER_TASK: &str = "claude-258c7280-ae70-4798-800f-63464d01a85d";

#[test]
fn every_corpus_file_imports_with_the_independently_counted_totals() {
    if corpus_or_skip("every_corpus_file_imports_with_the_independently_counted_totals").is_none() {
        return;
    }
    for e in &EXPECTED {
        check_import(e, &corpus(e.file));
    }
}

#[test]
fn a_session_folder_counts_each_call_once_with_its_final_usage() {
    if corpus_or_skip("a_session_folder_counts_each_call_once_with_its_final_usage").is_none() {
        return;
    }
    // cat S.jsonl S/subagents/*.jsonl | jq -s -c -f claude.jq (see above):
    // 156 calls, 15,366,869 input, 38,908 output, 14,972,534 cache read. The
    // main file alone: 154 calls, 38,901 output (two of the sub-agent's three
    // calls also appear in its progress lines); the compaction call is in
    // agent-acompact-fffbd0.jsonl. The first-line rule gave 10,458 output.
    let env = Env::new();
    let dir = corpus(SPOTTER_DIR);
    let (status, summary) = import(&env, &["auto", dir.to_str().unwrap()]);
    assert_eq!(status, 0, "{summary}");
    assert_eq!(summary["files"]["imported"], 3, "{summary}");
    assert_eq!(summary["totals"]["llm_calls"], 156, "{summary}");
    assert_eq!(summary["totals"]["output_tokens"], 38_908, "{summary}");
    env.ok(&["index"]);
    let (calls, input, output, cache_read, _) = indexed_totals(&env, SPOTTER_TASK);
    assert_eq!(
        (calls, input, output, cache_read),
        (156, 15_366_869, 38_908, 14_972_534)
    );
    // Importing again (files in any order) adds nothing.
    let (status, again) = import(&env, &["claude-code", dir.to_str().unwrap()]);
    assert_eq!(status, 0, "{again}");
    assert_eq!(again["files"]["unchanged"], 3, "{again}");
}

#[test]
fn auto_names_the_format_of_every_corpus_file() {
    let Some(dir) = corpus_or_skip("auto_names_the_format_of_every_corpus_file") else {
        return;
    };
    let env = Env::new();
    let (status, summary) = import(&env, &["auto", dir.to_str().unwrap()]);
    assert_eq!(status, 0, "{summary}");
    let reports = summary["reports"].as_array().unwrap();
    // README.md is not a candidate; every log is, and each is recognized.
    assert_eq!(reports.len(), EXPECTED.len() + 3, "{summary}");
    for r in reports {
        assert_eq!(r["action"], "imported", "{r}");
        let path = r["path"].as_str().unwrap();
        let want = EXPECTED
            .iter()
            .find(|e| path.ends_with(e.file))
            .map_or("claude-code", |e| e.format); // the spotter session folder
        assert_eq!(r["format"], want, "{path}");
    }
    // Each file named alone with `auto` is detected the same way.
    for e in &EXPECTED {
        let env = Env::new();
        let (status, one) = import(&env, &["auto", corpus(e.file).to_str().unwrap()]);
        assert_eq!(status, 0, "{one}");
        assert_eq!(report(&one, e.file)["format"], e.format, "{}", e.file);
    }
}

#[test]
fn codex_tool_calls_carry_exit_codes_and_durations() {
    if corpus_or_skip("codex_tool_calls_carry_exit_codes_and_durations").is_none() {
        return;
    }
    let env = Env::new();
    let path = corpus("codex__agentcmd__rollout-2025-09-25T15-12-14.jsonl");
    import(&env, &["codex", path.to_str().unwrap()]);
    env.ok(&["index"]);
    // 34 function_call / function_call_output pairs, all exit 0 with
    // duration_seconds 0 (jq '.payload.output | fromjson? | .metadata').
    let task = "codex-019982b8-3422-79e0-8b3b-05abaf4f3c3e";
    let ok = env.count(&format!(
        "SELECT count(*) FROM records WHERE task_id = '{task}' AND event = 'tool.complete'
         AND duration_ms = 0 AND json_extract(body, '$.exit_code') = 0"
    ));
    assert_eq!(ok, 34);
}

#[test]
fn importing_everything_twice_leaves_identical_bytes() {
    let Some(dir) = corpus_or_skip("importing_everything_twice_leaves_identical_bytes") else {
        return;
    };
    let dir = dir.to_str().unwrap();
    let env = Env::new();
    let (status, first) = import(&env, &["auto", dir]);
    assert_eq!(status, 0, "{first}");
    let files = EXPECTED.len() as i64 + 3;
    assert_eq!(first["files"]["imported"], files, "{first}");
    let before = snapshot(&env.root);
    let (status, second) = import(&env, &["auto", dir]);
    assert_eq!(status, 0, "sources already current are a success: {second}");
    assert_eq!(second["files"]["unchanged"], files);
    assert_eq!(snapshot(&env.root), before);
    // Keyed on content, not on the path: a moved copy is the same source.
    let moved = env.dir.path().join("moved.jsonl");
    std::fs::copy(
        corpus("codex__agentcmd__rollout-2025-09-25T15-12-14.jsonl"),
        &moved,
    )
    .unwrap();
    let (status, third) = import(&env, &["codex", moved.to_str().unwrap()]);
    assert_eq!(status, 0, "{third}");
    assert_eq!(
        report(&third, "moved.jsonl")["reason"],
        "already imported, unchanged"
    );
    assert_eq!(snapshot(&env.root), before);
}

#[test]
fn a_real_transcript_cut_at_any_line_gives_the_same_index() {
    if corpus_or_skip("a_real_transcript_cut_at_any_line_gives_the_same_index").is_none() {
        return;
    }
    // 39 lines; one response's output grows from 25 to 173 across two lines,
    // and tool results and hook progress lines sit between content blocks.
    check_split_at_every_line(
        &corpus("claude-code__spotter__tool_heavy.jsonl"),
        "claude-code",
        "claude-d6e0bada-1959-4eec-a9d2-0bfade768d8f",
    );
    check_split_at_every_line(
        &corpus("gemini-cli__VibeCodingTracker__gemini.jsonl"),
        "gemini-cli",
        "gemini-0ab84937-9fe7-4284-986a-33c832af0b6a",
    );
}
