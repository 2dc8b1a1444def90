//! `tasklog import` end to end: every file of the shared corpus imports
//! with totals counted independently from the raw file, the index agrees
//! through SQL, re-imports change nothing, grown sources append only their
//! new part, and bad input (truncated, empty, wrong format, mixed folders)
//! is reported without losing the rest.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use support::{code, stderr, stdout, Env};

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/corpus");

fn corpus(file: &str) -> PathBuf {
    Path::new(CORPUS).join(file)
}

/// What one corpus file must import as.
struct Expect {
    file: &'static str,
    format: &'static str,
    task: &'static str,
    /// `llm.call` records.
    calls: i64,
    /// Sum of `gen_ai.usage.input_tokens` (OpenTelemetry: cache included).
    input: i64,
    output: i64,
    cache_read: i64,
    /// Sum of costs the source reports (0 when it reports none).
    cost: f64,
    /// Verbatim source records (lines), or 0 for single-document sources.
    source_lines: i64,
}

// How each number was obtained, independently of the importer (jq 1.6 on the
// raw files in ../shared/corpus):
//
// Claude Code: one call per distinct (message.id, requestId), first line's
// usage; input = input_tokens + cache_read_input_tokens + cache_creation_input_tokens:
//   jq -s -c '[.[] | select(.message.usage != null)] | group_by([.message.id, .requestId])
//     | map(.[0].message.usage) | {calls: length,
//       in: (map(.input_tokens + (.cache_read_input_tokens // 0) + (.cache_creation_input_tokens // 0)) | add),
//       out: (map(.output_tokens) | add), cache_read: (map(.cache_read_input_tokens // 0) | add)}' FILE
//   and for the ccusage fixture the cost: jq -s '[.[].costUSD // 0] | add' FILE  → 1.02
// Codex: one call per token_count with info, summing last_token_usage (the
// last total_token_usage equals these sums, which cross-checks them):
//   jq -s -c '[.[] | select(.payload.type == "token_count" and .payload.info != null)
//     | .payload.info.last_token_usage] | {calls: length, in: (map(.input_tokens) | add),
//       out: (map(.output_tokens) | add), cached: (map(.cached_input_tokens) | add)}' FILE
// SWE-agent: jq -c '.info.model_stats' FILE → one aggregate call with tokens_sent,
//   tokens_received and instance_cost (api_calls 5 is kept on the record).
// OpenHands: one call per distinct tool_call_metadata.model_response.id,
//   prompt_tokens (already includes cache reads and writes) and completion_tokens:
//   jq -c '[.[] | .tool_call_metadata.model_response | select(. != null)] | unique_by(.id)
//     | map(.usage) | {calls: length, in: (map(.prompt_tokens) | add), out: (map(.completion_tokens) | add),
//       cache_read: (map(.cache_read_input_tokens) | add)}' FILE
// Source lines: wc -l FILE (no file has blank lines).
const EXPECTED: [Expect; 8] = [
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
];

/// Runs `tasklog import ... --format json` and returns (exit code, summary).
fn import(env: &Env, args: &[&str]) -> (i32, Value) {
    let mut all = vec!["import"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "json"]);
    let out = env.run(&all);
    let summary = serde_json::from_str(&stdout(&out))
        .unwrap_or_else(|e| panic!("summary of {args:?} is not JSON ({e}): {}", stderr(&out)));
    (code(&out), summary)
}

fn report<'a>(summary: &'a Value, file: &str) -> &'a Value {
    summary["reports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["path"].as_str().unwrap().ends_with(file))
        .unwrap_or_else(|| panic!("no report for {file} in {summary}"))
}

/// (calls, input, output, cache read, cost) of a task's `llm.call` rows.
fn indexed_totals(env: &Env, task: &str) -> (i64, i64, i64, i64, f64) {
    env.reader()
        .query_row(
            "SELECT count(*), coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0),
                    coalesce(sum(cache_read_tokens), 0), coalesce(sum(cost_usd), 0)
             FROM records WHERE event = 'llm.call' AND task_id = ?1",
            [task],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap()
}

fn snapshot(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![root.to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                out.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

#[test]
fn every_corpus_file_imports_with_the_independently_counted_totals() {
    for e in &EXPECTED {
        let env = Env::new();
        let path = corpus(e.file);
        let (status, summary) = import(&env, &[e.format, path.to_str().unwrap()]);
        assert_eq!(status, 0, "{}: {summary}", e.file);
        let r = report(&summary, e.file);
        let w = &r["written"];
        assert_eq!(r["action"], "imported", "{}", e.file);
        assert_eq!(r["task_id"], e.task, "{}", e.file);
        assert_eq!(w["llm_calls"], e.calls, "{}", e.file);
        assert_eq!(w["input_tokens"], e.input, "{}", e.file);
        assert_eq!(w["output_tokens"], e.output, "{}", e.file);
        assert_eq!(w["cache_read_tokens"], e.cache_read, "{}", e.file);
        assert_eq!(w["source_records"], e.source_lines, "{}", e.file);
        assert!(
            (w["cost_usd"].as_f64().unwrap() - e.cost).abs() < 1e-9,
            "{}",
            e.file
        );
        assert_eq!(r["unknown_types"], serde_json::json!({}), "{}", e.file);
        assert_eq!(r["parse_errors"], serde_json::json!([]), "{}", e.file);

        // `auto` finds the same format, hence the same task: nothing new.
        let (status, again) = import(&env, &["auto", path.to_str().unwrap()]);
        assert_eq!(status, 1, "{}: {again}", e.file);
        assert_eq!(report(&again, e.file)["action"], "skipped");

        env.ok(&["index"]);
        let (calls, input, output, cache_read, cost) = indexed_totals(&env, e.task);
        assert_eq!(
            (calls, input, output, cache_read),
            (e.calls, e.input, e.output, e.cache_read),
            "{}",
            e.file
        );
        assert!((cost - e.cost).abs() < 1e-9, "{}: cost {cost}", e.file);
        let source_rows = env.count(&format!(
            "SELECT count(*) FROM records WHERE task_id = '{}' AND stream = 'source'",
            e.task
        ));
        assert_eq!(source_rows, e.source_lines, "{}", e.file);
        if e.source_lines == 0 {
            // Single documents are kept whole, byte for byte.
            let kept = std::fs::read(env.task_dir(e.task).join("source.json")).unwrap();
            assert_eq!(kept, std::fs::read(&path).unwrap(), "{}", e.file);
        }
        // Every tool end row has its start row (same span id).
        let orphans = env.count(&format!(
            "SELECT count(*) FROM records e WHERE e.task_id = '{0}' AND e.event IN ('tool.complete','tool.fail')
             AND NOT EXISTS (SELECT 1 FROM records s WHERE s.task_id = '{0}' AND s.event = 'tool.start' AND s.span_id = e.span_id)",
            e.task
        ));
        assert_eq!(orphans, 0, "{}", e.file);
        assert_eq!(
            env.count("SELECT count(*) FROM ingest_errors"),
            0,
            "{}",
            e.file
        );
        let provenance: Value = serde_json::from_slice(
            &std::fs::read(env.task_dir(e.task).join("import.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(provenance["format"], e.format);
        assert!(provenance["sources"][0]["path"]
            .as_str()
            .unwrap()
            .ends_with(e.file));
    }
}

#[test]
fn codex_tool_calls_carry_exit_codes_and_durations() {
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
    let env = Env::new();
    let (status, first) = import(&env, &["auto", CORPUS]);
    assert_eq!(status, 0, "{first}");
    // README.md is not a candidate; the eight logs are imported.
    assert_eq!(first["files"]["imported"], 8, "{first}");
    let before = snapshot(&env.root);
    let (status, second) = import(&env, &["auto", CORPUS]);
    assert_eq!(status, 1, "nothing new is exit 1: {second}");
    assert_eq!(second["files"]["skipped"], 8);
    assert_eq!(snapshot(&env.root), before);
    // Keyed on content, not on the path: a moved copy is the same source.
    let moved = env.dir.path().join("moved.jsonl");
    std::fs::copy(
        corpus("codex__agentcmd__rollout-2025-09-25T15-12-14.jsonl"),
        &moved,
    )
    .unwrap();
    let (status, third) = import(&env, &["codex", moved.to_str().unwrap()]);
    assert_eq!(status, 1, "{third}");
    assert_eq!(
        report(&third, "moved.jsonl")["reason"],
        "already imported, unchanged"
    );
    assert_eq!(snapshot(&env.root), before);
}

#[test]
fn a_grown_trajectory_adds_only_the_growth_of_its_totals() {
    let env = Env::new();
    let original = std::fs::read(corpus(
        "swe-agent__6e44b9__sweagenttestrepo-1c2844.traj.json",
    ))
    .unwrap();
    let live = env.dir.path().join("run-1.traj");
    std::fs::write(&live, &original).unwrap();
    let (status, _) = import(&env, &["swe-agent", live.to_str().unwrap()]);
    assert_eq!(status, 0);
    // One more step and one more model call: 1,000 tokens sent, 100 received.
    let mut doc: Value = serde_json::from_slice(&original).unwrap();
    let step = doc["trajectory"][4].clone();
    doc["trajectory"].as_array_mut().unwrap().push(step);
    let stats = &mut doc["info"]["model_stats"];
    stats["tokens_sent"] = (7_141 + 1_000).into();
    stats["tokens_received"] = (243 + 100).into();
    stats["api_calls"] = 6.into();
    std::fs::write(&live, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    let (status, grown) = import(&env, &["swe-agent", live.to_str().unwrap()]);
    assert_eq!(status, 0, "{grown}");
    let r = report(&grown, "run-1.traj");
    assert_eq!(r["action"], "appended");
    assert_eq!(
        (
            r["written"]["llm_calls"].as_i64(),
            r["written"]["input_tokens"].as_i64()
        ),
        (Some(1), Some(1_000))
    );
    env.ok(&["index"]);
    let task = "swe-run-1";
    let (calls, input, output, _, _) = indexed_totals(&env, task);
    assert_eq!((calls, input, output), (2, 8_141, 343));
    assert_eq!(
        env.count(&format!(
            "SELECT count(*) FROM records WHERE task_id = '{task}' AND event = 'tool.start'"
        )),
        6
    );
    // The document is replaced by the new version.
    assert_eq!(
        std::fs::read(env.task_dir(task).join("source.json")).unwrap(),
        std::fs::read(&live).unwrap()
    );
}

fn write_lines(path: &Path, source: &Path, n: usize) {
    let text = std::fs::read_to_string(source).unwrap();
    let lines: Vec<&str> = text.lines().take(n).collect();
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

#[test]
fn a_grown_source_appends_only_its_new_part() {
    let env = Env::new();
    let full = corpus("claude-code__claude-reliability__coverage-test-fix.jsonl");
    let live = env.dir.path().join("live.jsonl");
    // Lines 10-12 are three content blocks of one API response: cutting
    // after line 11 splits it, and the call must still count once.
    write_lines(&live, &full, 11);
    let (status, first) = import(&env, &["claude-code", live.to_str().unwrap()]);
    assert_eq!(status, 0, "{first}");
    assert_eq!(report(&first, "live.jsonl")["written"]["llm_calls"], 3);
    std::fs::copy(&full, &live).unwrap();
    let (status, second) = import(&env, &["claude-code", live.to_str().unwrap()]);
    assert_eq!(status, 0, "{second}");
    let r = report(&second, "live.jsonl");
    assert_eq!(r["action"], "appended");
    assert_eq!(r["written"]["source_records"], 38 - 11);
    assert_eq!(r["written"]["llm_calls"], 14 - 3);
    env.ok(&["index"]);
    let task = "claude-c64cc478-3430-40fe-8e9c-4ee9986e9754";
    assert_eq!(indexed_totals(&env, task).0, 14);
    assert_eq!(indexed_totals(&env, task).1, 294_215);
    assert_eq!(
        env.count(&format!(
            "SELECT count(*) FROM records WHERE task_id = '{task}' AND stream = 'source'"
        )),
        38
    );
}

#[test]
fn a_truncated_file_imports_its_complete_lines_and_names_the_bad_line() {
    let env = Env::new();
    let full = corpus("claude-code__claude-reliability__hello-world-script.jsonl");
    let bytes = std::fs::read(&full).unwrap();
    let cut = env.dir.path().join("cut.jsonl");
    std::fs::write(&cut, &bytes[..bytes.len() - 100]).unwrap(); // inside line 9
    let out = env.run(&[
        "import",
        "claude-code",
        cut.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cut.jsonl:9: incomplete last line"),
        "{}",
        stderr(&out)
    );
    let summary: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let r = report(&summary, "cut.jsonl");
    assert_eq!(r["parse_errors"][0]["line"], 9);
    assert_eq!(r["written"]["source_records"], 8);
    // head -8 FILE | (the Claude Code jq count above): 3 calls, 55,749 in, 27 out.
    assert_eq!(
        (
            r["written"]["llm_calls"].as_i64(),
            r["written"]["input_tokens"].as_i64()
        ),
        (Some(3), Some(55_749))
    );
    // The writer finishes the line later: the next import takes line 9 only.
    std::fs::write(&cut, &bytes).unwrap();
    let (status, grown) = import(&env, &["claude-code", cut.to_str().unwrap()]);
    assert_eq!(status, 0);
    let r = report(&grown, "cut.jsonl");
    assert_eq!(
        (
            r["action"].as_str(),
            r["written"]["source_records"].as_i64()
        ),
        (Some("appended"), Some(1))
    );
    assert_eq!(r["written"]["input_tokens"], 74_578 - 55_749);
}

#[test]
fn a_bad_line_in_the_middle_is_reported_kept_and_skipped() {
    let env = Env::new();
    let text = std::fs::read_to_string(corpus(
        "claude-code__claude-reliability__hello-world-script.jsonl",
    ))
    .unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[3] = "{\"type\":\"user\", oops".into(); // line 4: a tool result
    lines.insert(
        1,
        r#"{"type":"brand-new","sessionId":"de3b8b19-5bc0-4a2a-934a-1b6806567e25"}"#.into(),
    );
    let src = env.dir.path().join("bad.jsonl");
    std::fs::write(&src, lines.join("\n") + "\n").unwrap();
    let out = env.run(&["import", "auto", src.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("bad.jsonl:5: invalid JSON"),
        "{}",
        stderr(&out)
    );
    let summary: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let r = report(&summary, "bad.jsonl");
    assert_eq!(r["unknown_types"]["brand-new"], 1);
    assert_eq!(r["written"]["source_records"], 10, "every line is kept");
    env.ok(&["index"]);
    let task = "claude-de3b8b19-5bc0-4a2a-934a-1b6806567e25";
    assert_eq!(env.count(&format!("SELECT count(*) FROM records WHERE task_id = '{task}' AND event = 'import.unparsed' AND json_extract(body, '$.source_line') = 5")), 1);
    assert_eq!(
        env.count(&format!(
            "SELECT count(*) FROM records WHERE task_id = '{task}' AND event = 'brand-new'"
        )),
        1
    );
    assert_eq!(indexed_totals(&env, task).0, 4);
}

#[test]
fn a_truncated_document_fails_with_its_line_and_writes_nothing() {
    let env = Env::new();
    let bytes = std::fs::read(corpus(
        "swe-agent__6e44b9__sweagenttestrepo-1c2844.traj.json",
    ))
    .unwrap();
    let cut = env.dir.path().join("run.traj");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let out = env.run(&["import", "swe-agent", cut.to_str().unwrap()]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("run.traj:"), "{}", stderr(&out));
    assert!(
        std::fs::read_dir(&env.root).unwrap().next().is_none(),
        "no task folder"
    );
}

#[test]
fn naming_the_wrong_format_is_an_error_that_says_what_the_file_is() {
    let env = Env::new();
    let claude = corpus("claude-code__claude-reliability__hello-world-script.jsonl");
    let out = env.run(&["import", "codex", claude.to_str().unwrap()]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("not a codex log (it looks like claude-code)"),
        "{}",
        stderr(&out)
    );
    let openhands = corpus("openhands__trajs__basic.json");
    let out = env.run(&["import", "swe-agent", openhands.to_str().unwrap()]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("it looks like openhands"),
        "{}",
        stderr(&out)
    );
    assert!(
        std::fs::read_dir(&env.root).unwrap().next().is_none(),
        "nothing written"
    );
}

#[test]
fn empty_files_are_skipped_and_nothing_imported_is_exit_1() {
    let env = Env::new();
    let empty = env.dir.path().join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    let (status, summary) = import(&env, &["auto", empty.to_str().unwrap()]);
    assert_eq!(status, 1, "{summary}");
    assert_eq!(report(&summary, "empty.jsonl")["reason"], "empty file");
    let missing = env.dir.path().join("missing.jsonl");
    let out = env.run(&["import", "auto", missing.to_str().unwrap()]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("missing.jsonl"), "{}", stderr(&out));
}

#[test]
fn a_folder_with_mixed_files_imports_what_it_recognizes() {
    let env = Env::new();
    let dir = env.dir.path().join("mixed");
    std::fs::create_dir_all(dir.join("nested/subagents")).unwrap();
    for (file, to) in [
        (
            "claude-code__claude-reliability__hello-world-script.jsonl",
            "a.jsonl",
        ),
        (
            "codex__agentcmd__rollout-2025-09-25T15-12-14.jsonl",
            "nested/rollout.jsonl",
        ),
        (
            "swe-agent__6e44b9__sweagenttestrepo-1c2844.traj.json",
            "run.traj",
        ),
        ("openhands__trajs__basic.json", "basic.json"),
    ] {
        std::fs::copy(corpus(file), dir.join(to)).unwrap();
    }
    std::fs::write(dir.join("empty.jsonl"), "").unwrap();
    std::fs::write(dir.join("other.json"), "{\"hello\":1}").unwrap();
    std::fs::write(dir.join("notes.txt"), "not a candidate").unwrap();
    // A sub-agent file of the hello-world session: it replays the parent's
    // first assistant line (same uuid, message id and request id) and makes
    // one call of its own.
    let parent = std::fs::read_to_string(dir.join("a.jsonl")).unwrap();
    let replayed = parent
        .lines()
        .nth(2)
        .unwrap()
        .replace("\"isSidechain\":false", "\"isSidechain\":true");
    let own = r#"{"type":"assistant","isSidechain":true,"agentId":"x1","sessionId":"de3b8b19-5bc0-4a2a-934a-1b6806567e25","uuid":"u-own","timestamp":"2026-01-21T06:21:00.000Z","requestId":"req_own","message":{"id":"msg_own","model":"claude-opus-4-5-20251101","role":"assistant","content":[{"type":"text","text":"sub-agent done"}],"usage":{"input_tokens":5,"cache_read_input_tokens":100,"cache_creation_input_tokens":0,"output_tokens":3}}}"#;
    std::fs::write(
        dir.join("nested/subagents/agent-x1.jsonl"),
        format!("{replayed}\n{own}\n"),
    )
    .unwrap();

    let (status, summary) = import(&env, &["auto", dir.to_str().unwrap()]);
    assert_eq!(status, 0, "{summary}");
    assert_eq!(summary["files"]["imported"], 5, "{summary}");
    assert_eq!(summary["files"]["skipped"], 2, "{summary}");
    assert_eq!(report(&summary, "empty.jsonl")["reason"], "empty file");
    assert_eq!(
        report(&summary, "other.json")["reason"],
        "format not recognized"
    );
    let agent = report(&summary, "agent-x1.jsonl");
    assert_eq!(
        agent["task_id"],
        "claude-de3b8b19-5bc0-4a2a-934a-1b6806567e25"
    );
    assert_eq!(
        agent["written"]["llm_calls"], 1,
        "the replayed call is not counted twice"
    );
    assert_eq!(agent["written"]["input_tokens"], 105);
    env.ok(&["index"]);
    let task = "claude-de3b8b19-5bc0-4a2a-934a-1b6806567e25";
    assert_eq!(indexed_totals(&env, task).0, 5);
    assert_eq!(indexed_totals(&env, task).1, 74_578 + 105);
    assert_eq!(
        env.count(&format!(
            "SELECT count(*) FROM records WHERE task_id = '{task}' AND stream = 'agent-x1'"
        )),
        2
    );

    // Naming a format walks the same folder and skips the other formats.
    let env2 = Env::new();
    let (status, summary) = import(&env2, &["codex", dir.to_str().unwrap()]);
    assert_eq!(status, 0, "{summary}");
    assert_eq!(summary["files"]["imported"], 1, "{summary}");
    assert_eq!(report(&summary, "other.json")["action"], "skipped");
    assert_eq!(
        report(&summary, "a.jsonl")["reason"]
            .as_str()
            .map(|r| r.contains("it looks like claude-code")),
        Some(true)
    );
}
