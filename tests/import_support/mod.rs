//! Helpers shared by the import tests: running `tasklog import`, reading
//! its summary, totals through SQL, and where the fixtures and the shared
//! corpus are.
//!
//! The corpus (`../shared/corpus`, third-party data) stays out of the
//! repository: tests that need it call [`corpus_or_skip`], which prints one
//! line to stderr and lets the test pass when it is absent. The synthetic
//! fixtures under `tests/fixtures/import/` are the team's own and always
//! there.

#![allow(dead_code)]
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::{code, stderr, stdout, Env};

/// The shared corpus, beside the repository.
pub const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/corpus");

/// The team's synthetic fixtures.
pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/import");

/// Where the corpus is looked for: `CORPUS`, or `TASKLOG_TEST_CORPUS`
/// (set it to a missing folder to see what a fresh clone runs).
fn corpus_dir() -> PathBuf {
    std::env::var_os("TASKLOG_TEST_CORPUS").map_or_else(|| PathBuf::from(CORPUS), PathBuf::from)
}

/// The corpus folder, or `None` after printing one line saying what was
/// skipped and why (a fresh clone has no `../shared`).
pub fn corpus_or_skip(test: &str) -> Option<PathBuf> {
    let dir = corpus_dir();
    if dir.is_dir() {
        return Some(dir);
    }
    crate::support::skip(
        test,
        "../shared/corpus not found (a fresh clone has none; CI has it)",
    );
    None
}

/// A corpus file.
pub fn corpus(file: &str) -> PathBuf {
    corpus_dir().join(file)
}

/// A fixture file.
pub fn fixture(file: &str) -> PathBuf {
    Path::new(FIXTURES).join(file)
}

/// Runs `tasklog import ARGS --format json`: (exit code, summary).
pub fn import(env: &Env, args: &[&str]) -> (i32, Value) {
    let mut all = vec!["import"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "json"]);
    let out = env.run(&all);
    let summary = serde_json::from_str(&stdout(&out))
        .unwrap_or_else(|e| panic!("summary of {args:?} is not JSON ({e}): {}", stderr(&out)));
    (code(&out), summary)
}

/// The report of the file whose path ends with `file`.
pub fn report<'a>(summary: &'a Value, file: &str) -> &'a Value {
    summary["reports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["path"].as_str().unwrap().ends_with(file))
        .unwrap_or_else(|| panic!("no report for {file} in {summary}"))
}

/// (calls, input, output, cache read, cost) of a task's `llm.call` rows.
pub fn indexed_totals(env: &Env, task: &str) -> (i64, i64, i64, i64, f64) {
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

/// Tool end rows of a task without a start row of the same span.
pub fn orphan_tool_ends(env: &Env, task: &str) -> i64 {
    env.count(&format!(
        "SELECT count(*) FROM records e WHERE e.task_id = '{task}' AND e.event IN ('tool.complete','tool.fail')
         AND NOT EXISTS (SELECT 1 FROM records s WHERE s.task_id = '{task}' AND s.event = 'tool.start' AND s.span_id = e.span_id)"
    ))
}

/// Every file under `root`, with its bytes.
pub fn snapshot(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
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

/// Writes the first `n` lines of `source` to `path`.
pub fn write_lines(path: &Path, source: &Path, n: usize) {
    let text = std::fs::read_to_string(source).unwrap();
    let lines: Vec<&str> = text.lines().take(n).collect();
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

/// What one source file must import as, counted independently.
pub struct Expect {
    pub file: &'static str,
    pub format: &'static str,
    pub task: &'static str,
    /// `llm.call` records.
    pub calls: i64,
    /// Sum of `gen_ai.usage.input_tokens` (OpenTelemetry: cache included).
    pub input: i64,
    pub output: i64,
    pub cache_read: i64,
    /// Sum of costs the source reports (0 when it reports none).
    pub cost: f64,
    /// Verbatim source records (lines), or 0 for single-document sources.
    pub source_lines: i64,
}

/// Imports `path` as `e.format` into a fresh root and checks the summary,
/// the index, tool pairs, provenance, and that `auto` finds it unchanged.
pub fn check_import(e: &Expect, path: &Path) {
    let env = Env::new();
    // The verbatim copy is checked too (`source_lines`), so it is asked for.
    let (status, summary) = import(&env, &[e.format, "--keep-source", path.to_str().unwrap()]);
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
        "{}: {}",
        e.file,
        w["cost_usd"]
    );
    assert_eq!(r["unknown_types"], serde_json::json!({}), "{}", e.file);
    assert_eq!(r["parse_errors"], serde_json::json!([]), "{}", e.file);

    // `auto` finds the same format, hence the same task, unchanged: exit 0.
    let (status, again) = import(&env, &["auto", path.to_str().unwrap()]);
    assert_eq!(status, 0, "{}: {again}", e.file);
    let r = report(&again, e.file);
    assert_eq!(r["action"], "unchanged", "{}", e.file);
    assert_eq!(r["format"], e.format, "{}", e.file);

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
        assert_eq!(kept, std::fs::read(path).unwrap(), "{}", e.file);
    }
    assert_eq!(orphan_tool_ends(&env, e.task), 0, "{}", e.file);
    assert_eq!(
        env.count("SELECT count(*) FROM ingest_errors"),
        0,
        "{}",
        e.file
    );
    let provenance: Value =
        serde_json::from_slice(&std::fs::read(env.task_dir(e.task).join("import.json")).unwrap())
            .unwrap();
    assert_eq!(provenance["format"], e.format);
    assert!(provenance["sources"][0]["path"]
        .as_str()
        .unwrap()
        .ends_with(e.file));
}

/// Everything the index holds for a task that a split import could get
/// wrong: the model-call totals and the number of each normalized event
/// (`result` excluded: each import that adds events restates it).
/// What [`index_view`] returns: the count of each normalized event (as
/// text), and (calls, input, output, cache read, verbatim source rows).
pub type View = (String, (i64, i64, i64, i64, i64));

pub fn index_view(env: &Env, task: &str) -> View {
    let (calls, input, output, cache_read, _) = indexed_totals(env, task);
    let events: Vec<(String, i64)> = {
        let db = env.reader();
        let mut stmt = db
            .prepare(
                "SELECT event, count(*) FROM records WHERE task_id = ?1 AND stream != 'source'
                 AND event NOT IN ('result') GROUP BY event ORDER BY event",
            )
            .unwrap();
        let rows = stmt
            .query_map([task], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        rows
    };
    let source = env.count(&format!(
        "SELECT count(*) FROM records WHERE task_id = '{task}' AND stream = 'source'"
    ));
    (
        format!("{events:?}"),
        (calls, input, output, cache_read, source),
    )
}

/// Imports `source` whole once; then, for every k, imports its first k
/// lines, indexes, imports it whole, indexes: the index must be the same.
pub fn check_split_at_every_line(source: &Path, format: &str, task: &str) {
    let name = source.file_name().unwrap().to_str().unwrap();
    let once = {
        let env = Env::new();
        let (status, summary) = import(&env, &[format, source.to_str().unwrap()]);
        assert_eq!(status, 0, "{summary}");
        env.ok(&["index"]);
        index_view(&env, task)
    };
    let lines = std::fs::read_to_string(source).unwrap().lines().count();
    for k in 1..lines {
        let env = Env::new();
        let live = env.dir.path().join(name);
        write_lines(&live, source, k);
        let (status, first) = import(&env, &[format, live.to_str().unwrap()]);
        assert_eq!(status, 0, "k={k}: {first}");
        env.ok(&["index"]);
        std::fs::copy(source, &live).unwrap();
        let (status, second) = import(&env, &[format, live.to_str().unwrap()]);
        assert_eq!(status, 0, "k={k}: {second}");
        env.ok(&["index"]);
        assert_eq!(index_view(&env, task), once, "{name} cut after line {k}");
        // And what import.json says agrees with the index.
        let state: serde_json::Value =
            serde_json::from_slice(&std::fs::read(env.task_dir(task).join("import.json")).unwrap())
                .unwrap();
        assert_eq!(
            (
                state["totals"]["llm_calls"].as_i64(),
                state["totals"]["output_tokens"].as_i64()
            ),
            (Some(once.1 .0), Some(once.1 .2)),
            "{name} cut after line {k}: import.json totals"
        );
    }
}

/// A synthetic Claude Code transcript of `turns` turns: a prompt, a
/// response streamed over two lines (output 3, then 40 + turn), a tool
/// result.
pub fn transcript(turns: usize) -> String {
    let mut out = String::new();
    let session = "88888888-8888-4888-8888-888888888888";
    for t in 0..turns {
        let ts = format!("2026-03-07T10:{:02}:{:02}.000Z", t / 60 % 60, t % 60);
        out.push_str(&format!(
            r#"{{"type":"user","uuid":"u{t}","sessionId":"{session}","timestamp":"{ts}","message":{{"role":"user","content":"step {t}"}}}}"#
        ));
        out.push('\n');
        for (block, output) in [(0, 3), (1, 40 + t)] {
            let content = if block == 0 {
                r#"{"type":"text","text":"working"}"#.to_owned()
            } else {
                format!(
                    r#"{{"type":"tool_use","id":"toolu_{t}","name":"Bash","input":{{"command":"true"}}}}"#
                )
            };
            out.push_str(&format!(
                r#"{{"type":"assistant","uuid":"a{t}-{block}","sessionId":"{session}","timestamp":"{ts}","requestId":"req_{t}","message":{{"id":"msg_{t}","model":"claude-opus-4-6","role":"assistant","content":[{content}],"usage":{{"input_tokens":5,"cache_read_input_tokens":1000,"cache_creation_input_tokens":10,"output_tokens":{output}}}}}}}"#
            ));
            out.push('\n');
        }
        out.push_str(&format!(
            r#"{{"type":"user","uuid":"r{t}","sessionId":"{session}","timestamp":"{ts}","message":{{"role":"user","content":[{{"type":"tool_result","tool_use_id":"toolu_{t}","content":"ok"}}]}}}}"#
        ));
        out.push('\n');
    }
    out
}
