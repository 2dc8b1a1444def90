//! `tasklog import` end to end, on the team's synthetic fixtures
//! (`tests/fixtures/import/`): grown sources append only their new part,
//! re-imports change nothing and succeed, and bad input (truncated, empty,
//! wrong format, mixed folders) is reported without losing the rest.
//! Corpus files are in tests/import_corpus.rs. Every import here keeps
//! the verbatim copy (`--keep-source`), whose line counts are checked too.

use crate::import_support::{fixture, import, indexed_totals, report, snapshot, write_lines};
use crate::support::{code, stderr, stdout, Env};
use serde_json::Value;

const CLAUDE_MAIN: &str = "claude-code/11111111-1111-4111-8111-111111111111.jsonl";
const CLAUDE_TASK: &str = "claude-11111111-1111-4111-8111-111111111111";
const SWE: &str = "swe-agent/shop__shop-7.traj";
const OPENHANDS: &str = "openhands/shop-run.json";
const CODEX: &str = "codex/rollout-2026-03-02T09-00-00-22222222-2222-4222-8222-222222222222.jsonl";

#[test]
fn importing_again_is_a_success_that_changes_nothing() {
    let env = Env::new();
    let dir = fixture("");
    let (status, first) = import(&env, &["--keep-source", "auto", dir.to_str().unwrap()]);
    assert_eq!(status, 0, "{first}");
    let before = snapshot(&env.root);
    let out = env.run(&[
        "import",
        "--keep-source",
        "auto",
        dir.to_str().unwrap(),
        "--format",
        "json",
    ]);
    // Exit 0: `tasklog import ... && tasklog index` must work from cron.
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let second: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(second["files"]["unchanged"], first["files"]["imported"]);
    assert_eq!(second["files"]["imported"], 0);
    assert_eq!(snapshot(&env.root), before);
    // The table says so too.
    let out = env.run(&[
        "import",
        "--keep-source",
        "auto",
        dir.to_str().unwrap(),
        "--format",
        "csv",
    ]);
    assert_eq!(code(&out), 0);
    assert!(stdout(&out).contains("unchanged,"), "{}", stdout(&out));
    // Keyed on content, not on the path: a moved copy is the same source.
    let moved = env.dir.path().join("moved.jsonl");
    std::fs::copy(fixture(CODEX), &moved).unwrap();
    let (status, third) = import(&env, &["--keep-source", "codex", moved.to_str().unwrap()]);
    assert_eq!(status, 0, "{third}");
    assert_eq!(report(&third, "moved.jsonl")["action"], "unchanged");
    assert_eq!(snapshot(&env.root), before);
}

#[test]
fn a_grown_trajectory_adds_only_the_growth_of_its_totals() {
    let env = Env::new();
    let original = std::fs::read(fixture(SWE)).unwrap();
    let live = env.dir.path().join("run-1.traj");
    std::fs::write(&live, &original).unwrap();
    let (status, _) = import(
        &env,
        &["--keep-source", "swe-agent", live.to_str().unwrap()],
    );
    assert_eq!(status, 0);
    // One more step and one more model call: 1,000 tokens sent, 100 received.
    let mut doc: Value = serde_json::from_slice(&original).unwrap();
    let step = doc["trajectory"][1].clone();
    doc["trajectory"].as_array_mut().unwrap().push(step);
    let stats = &mut doc["info"]["model_stats"];
    stats["tokens_sent"] = (5_300 + 1_000).into();
    stats["tokens_received"] = (410 + 100).into();
    stats["api_calls"] = 3.into();
    std::fs::write(&live, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    let (status, grown) = import(
        &env,
        &["--keep-source", "swe-agent", live.to_str().unwrap()],
    );
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
    assert_eq!((calls, input, output), (2, 6_300, 510));
    assert_eq!(
        env.count(&format!(
            "SELECT count(*) FROM records WHERE task_id = '{task}' AND event = 'tool.start'"
        )),
        3
    );
    // The document is replaced by the new version.
    assert_eq!(
        std::fs::read(env.task_dir(task).join("source.json")).unwrap(),
        std::fs::read(&live).unwrap()
    );
}

#[test]
fn a_grown_source_appends_only_its_new_part_and_finishes_a_split_call() {
    let env = Env::new();
    let full = fixture(CLAUDE_MAIN);
    let live = env.dir.path().join("live.jsonl");
    // Lines 3-5 are three content blocks of one response (output 1, 7, 52):
    // cutting after line 4 splits it. The first import holds the call as
    // open (output 7, in `source-open`); the second replaces it (52).
    write_lines(&live, &full, 4);
    let (status, first) = import(
        &env,
        &["--keep-source", "claude-code", live.to_str().unwrap()],
    );
    assert_eq!(status, 0, "{first}");
    let w = &report(&first, "live.jsonl")["written"];
    assert_eq!(
        (w["llm_calls"].as_i64(), w["output_tokens"].as_i64()),
        (Some(1), Some(7))
    );
    env.ok(&["index"]);
    assert_eq!(indexed_totals(&env, CLAUDE_TASK).2, 7);
    assert_eq!(
        env.count(&format!(
            "SELECT count(*) FROM records WHERE task_id = '{CLAUDE_TASK}' AND stream = 'source-open'"
        )),
        1
    );
    std::fs::copy(&full, &live).unwrap();
    let (status, second) = import(
        &env,
        &["--keep-source", "claude-code", live.to_str().unwrap()],
    );
    assert_eq!(status, 0, "{second}");
    let r = report(&second, "live.jsonl");
    assert_eq!(r["action"], "appended");
    assert_eq!(r["written"]["source_records"], 17 - 4);
    // Net effect of the run: 3 more calls, 115 - 7 more output tokens.
    assert_eq!(r["written"]["llm_calls"], 3);
    assert_eq!(r["written"]["output_tokens"], 115 - 7);
    env.ok(&["index"]);
    let (calls, input, output, _, _) = indexed_totals(&env, CLAUDE_TASK);
    assert_eq!((calls, input, output), (4, 8_519, 115));
    assert_eq!(
        env.count(&format!(
            "SELECT count(*) FROM records WHERE task_id = '{CLAUDE_TASK}' AND stream = 'source'"
        )),
        17
    );
    // The replaced open call is kept, out of the totals, as superseded.
    assert_eq!(
        env.count(&format!(
            "SELECT count(*) FROM superseded_records WHERE task_id = '{CLAUDE_TASK}' AND stream = 'source-open'"
        )),
        1
    );
}

#[test]
fn a_truncated_file_imports_its_complete_lines_and_names_the_bad_line() {
    let env = Env::new();
    let bytes = std::fs::read(fixture(CLAUDE_MAIN)).unwrap();
    // Cut inside line 12 (the first block of msg_A3).
    let end_of_11 = bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(10)
        .unwrap()
        .0;
    let cut = env.dir.path().join("cut.jsonl");
    std::fs::write(&cut, &bytes[..end_of_11 + 40]).unwrap();
    let out = env.run(&[
        "import",
        "--keep-source",
        "claude-code",
        cut.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cut.jsonl:12: incomplete last line"),
        "{}",
        stderr(&out)
    );
    let summary: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let r = report(&summary, "cut.jsonl");
    assert_eq!(r["parse_errors"][0]["line"], 12);
    assert_eq!(r["written"]["source_records"], 11);
    // head -11 FILE | jq -s -c -f claude.jq: 3 calls, 5,915 in, 94 out.
    assert_eq!(
        (
            r["written"]["llm_calls"].as_i64(),
            r["written"]["input_tokens"].as_i64()
        ),
        (Some(3), Some(5_915))
    );
    // The writer finishes the file later: the next import takes the rest.
    std::fs::write(&cut, &bytes).unwrap();
    let (status, grown) = import(
        &env,
        &["--keep-source", "claude-code", cut.to_str().unwrap()],
    );
    assert_eq!(status, 0);
    let r = report(&grown, "cut.jsonl");
    assert_eq!(
        (
            r["action"].as_str(),
            r["written"]["source_records"].as_i64()
        ),
        (Some("appended"), Some(6))
    );
    assert_eq!(r["written"]["input_tokens"], 8_519 - 5_915);
}

#[test]
fn a_bad_line_in_the_middle_is_reported_kept_and_skipped() {
    let env = Env::new();
    let text = std::fs::read_to_string(fixture(CLAUDE_MAIN)).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[6] = "{\"type\":\"user\", oops".into(); // line 7: a tool result
    lines.insert(
        1,
        r#"{"type":"brand-new","sessionId":"11111111-1111-4111-8111-111111111111"}"#.into(),
    );
    let src = env.dir.path().join("bad.jsonl");
    std::fs::write(&src, lines.join("\n") + "\n").unwrap();
    let out = env.run(&[
        "import",
        "--keep-source",
        "auto",
        src.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("bad.jsonl:8: invalid JSON"),
        "{}",
        stderr(&out)
    );
    let summary: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let r = report(&summary, "bad.jsonl");
    assert_eq!(r["unknown_types"]["brand-new"], 1);
    assert_eq!(r["written"]["source_records"], 18, "every line is kept");
    env.ok(&["index"]);
    assert_eq!(env.count(&format!("SELECT count(*) FROM records WHERE task_id = '{CLAUDE_TASK}' AND event = 'import.unparsed' AND json_extract(body, '$.source_line') = 8")), 1);
    assert_eq!(
        env.count(&format!(
            "SELECT count(*) FROM records WHERE task_id = '{CLAUDE_TASK}' AND event = 'brand-new'"
        )),
        1
    );
    assert_eq!(indexed_totals(&env, CLAUDE_TASK).0, 4);
}

#[test]
fn a_truncated_document_fails_with_its_line_and_writes_nothing() {
    for (file, format) in [
        (SWE, "swe-agent"),
        (OPENHANDS, "openhands"),
        ("opencode/ses_5555.json", "opencode"),
        ("cline/1772000000000/api_conversation_history.json", "cline"),
        ("mini-swe-agent/shop__shop-9.traj.json", "mini-swe-agent"),
        ("gemini-cli/checkpoint-44444444.json", "gemini-cli"),
    ] {
        let env = Env::new();
        let bytes = std::fs::read(fixture(file)).unwrap();
        let cut = env.dir.path().join("run.json");
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        let out = env.run(&["import", "--keep-source", format, cut.to_str().unwrap()]);
        assert_eq!(code(&out), 2, "{file}: {}", stderr(&out));
        assert!(stderr(&out).contains("run.json:"), "{}", stderr(&out));
        assert!(
            std::fs::read_dir(&env.root).unwrap().next().is_none(),
            "{file}: no task folder"
        );
    }
}

#[test]
fn naming_the_wrong_format_is_an_error_that_says_what_the_file_is() {
    let env = Env::new();
    let claude = fixture(CLAUDE_MAIN);
    let out = env.run(&["import", "--keep-source", "codex", claude.to_str().unwrap()]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("not a codex log (it looks like claude-code)"),
        "{}",
        stderr(&out)
    );
    let openhands = fixture(OPENHANDS);
    let out = env.run(&[
        "import",
        "--keep-source",
        "swe-agent",
        openhands.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("it looks like openhands"),
        "{}",
        stderr(&out)
    );
    let mini = fixture("mini-swe-agent/shop__shop-9.traj.json");
    let out = env.run(&[
        "import",
        "--keep-source",
        "swe-agent",
        mini.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("it looks like mini-swe-agent"),
        "{}",
        stderr(&out)
    );
    assert!(
        std::fs::read_dir(&env.root).unwrap().next().is_none(),
        "nothing written"
    );
}

#[test]
fn empty_files_are_skipped_and_a_missing_file_is_an_error() {
    let env = Env::new();
    let empty = env.dir.path().join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    let (status, summary) = import(&env, &["--keep-source", "auto", empty.to_str().unwrap()]);
    assert_eq!(status, 0, "{summary}");
    assert_eq!(report(&summary, "empty.jsonl")["reason"], "empty file");
    let missing = env.dir.path().join("missing.jsonl");
    let out = env.run(&["import", "--keep-source", "auto", missing.to_str().unwrap()]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("missing.jsonl"), "{}", stderr(&out));
}

#[test]
fn a_folder_with_mixed_files_imports_what_it_recognizes() {
    let env = Env::new();
    let dir = env.dir.path().join("mixed");
    std::fs::create_dir_all(dir.join("nested/subagents")).unwrap();
    for (file, to) in [
        (CLAUDE_MAIN, "a.jsonl"),
        (CODEX, "nested/rollout.jsonl"),
        (SWE, "run.traj"),
        (OPENHANDS, "basic.json"),
    ] {
        std::fs::copy(fixture(file), dir.join(to)).unwrap();
    }
    std::fs::write(dir.join("empty.jsonl"), "").unwrap();
    std::fs::write(dir.join("other.json"), "{\"hello\":1}").unwrap();
    std::fs::write(dir.join("notes.txt"), "not a candidate").unwrap();
    // A sub-agent file of the session: it replays the parent's line 5 (the
    // last block of msg_A1: same uuid, message id and request id) and makes
    // one call of its own.
    let parent = std::fs::read_to_string(dir.join("a.jsonl")).unwrap();
    let replayed = parent
        .lines()
        .nth(4)
        .unwrap()
        .replace("\"isSidechain\":false", "\"isSidechain\":true");
    let own = r#"{"type":"assistant","isSidechain":true,"agentId":"x1","sessionId":"11111111-1111-4111-8111-111111111111","uuid":"u-own","timestamp":"2026-03-01T10:01:00.000Z","requestId":"req_own","message":{"id":"msg_own","model":"claude-opus-4-6","role":"assistant","content":[{"type":"text","text":"sub-agent done"}],"usage":{"input_tokens":5,"cache_read_input_tokens":100,"cache_creation_input_tokens":0,"output_tokens":3}}}"#;
    std::fs::write(
        dir.join("nested/subagents/agent-x1.jsonl"),
        format!("{replayed}\n{own}\n"),
    )
    .unwrap();

    let (status, summary) = import(&env, &["--keep-source", "auto", dir.to_str().unwrap()]);
    assert_eq!(status, 0, "{summary}");
    assert_eq!(summary["files"]["imported"], 5, "{summary}");
    assert_eq!(summary["files"]["skipped"], 2, "{summary}");
    assert_eq!(report(&summary, "empty.jsonl")["reason"], "empty file");
    assert!(report(&summary, "other.json")["reason"]
        .as_str()
        .unwrap()
        .starts_with("format not recognized (tried claude-code, codex"));
    let agent = report(&summary, "agent-x1.jsonl");
    assert_eq!(agent["task_id"], CLAUDE_TASK);
    assert_eq!(
        agent["written"]["llm_calls"], 1,
        "the replayed call is not counted twice"
    );
    assert_eq!(agent["written"]["input_tokens"], 105);
    env.ok(&["index"]);
    assert_eq!(indexed_totals(&env, CLAUDE_TASK).0, 5);
    assert_eq!(indexed_totals(&env, CLAUDE_TASK).1, 8_519 + 105);
    assert_eq!(
        env.count(&format!(
            "SELECT count(*) FROM records WHERE task_id = '{CLAUDE_TASK}' AND stream = 'agent-x1'"
        )),
        2
    );

    // Naming a format walks the same folder and skips the other formats.
    let env2 = Env::new();
    let (status, summary) = import(&env2, &["--keep-source", "codex", dir.to_str().unwrap()]);
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
