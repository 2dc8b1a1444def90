//! Exactly once across crashes: an import killed between any two of its
//! appends (by the `TASKLOG_IMPORT_ABORT_AFTER` hook, which aborts the
//! process like `kill -9`, and by real `kill -9` at random instants while
//! a transcript grows), then run again, leaves the same index as one
//! import that was never interrupted.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::import_support::{fixture, index_view, transcript, write_lines, View, FIXTURES};
use crate::support::{code, stderr, Env};

const CLAUDE_MAIN: &str = "claude-code/11111111-1111-4111-8111-111111111111.jsonl";
const CLAUDE_TASK: &str = "claude-11111111-1111-4111-8111-111111111111";

/// Every task's index view, in task order.
fn all_views(env: &Env) -> Vec<(String, View)> {
    let tasks: Vec<String> = {
        let db = env.reader();
        let mut stmt = db
            .prepare("SELECT DISTINCT task_id FROM records ORDER BY task_id")
            .unwrap();
        let rows = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        rows
    };
    tasks
        .into_iter()
        .map(|t| {
            let v = index_view(env, &t);
            (t, v)
        })
        .collect()
}

/// `tasklog import FORMAT PATH`, aborting after `abort_after` records.
fn import_aborting(env: &Env, format: &str, path: &Path, abort_after: Option<u64>) -> i32 {
    let mut cmd = env.cmd();
    cmd.args(["import", format, path.to_str().unwrap(), "--format", "json"]);
    if let Some(n) = abort_after {
        cmd.env("TASKLOG_IMPORT_ABORT_AFTER", n.to_string());
    }
    code(&cmd.output().unwrap())
}

/// Records a whole, uninterrupted import of `path` appends (all streams).
fn records_written(env: &Env) -> u64 {
    env.count("SELECT count(*) FROM records") as u64
}

#[test]
fn an_import_aborted_after_any_record_then_rerun_equals_one_import() {
    let dir = Path::new(FIXTURES);
    let once = Env::new();
    assert_eq!(import_aborting(&once, "auto", dir, None), 0);
    once.ok(&["index"]);
    let want = all_views(&once);
    let total = records_written(&once);
    assert!(total > 100, "{total}");
    let mut aborted = 0;
    for n in (1..total).step_by(7) {
        let env = Env::new();
        let status = import_aborting(&env, "auto", dir, Some(n));
        if status != 0 {
            aborted += 1;
        }
        // Indexing between the crash and the re-run sees the torn state;
        // the end state must not depend on it.
        env.ok(&["index"]);
        let out = env.run(&["import", "auto", dir.to_str().unwrap(), "--format", "json"]);
        assert_eq!(code(&out), 0, "after abort at {n}: {}", stderr(&out));
        env.ok(&["index"]);
        assert_eq!(all_views(&env), want, "aborted after record {n}");
    }
    assert!(aborted > 10, "the hook must have fired: {aborted}");
}

#[test]
fn a_growing_transcript_imported_with_crashes_equals_one_import() {
    let source = fixture(CLAUDE_MAIN);
    let once = Env::new();
    assert_eq!(import_aborting(&once, "claude-code", &source, None), 0);
    once.ok(&["index"]);
    let want = index_view(&once, CLAUDE_TASK);
    for cut in [4, 9, 12] {
        for n in 1..30 {
            let env = Env::new();
            let live = env
                .dir
                .path()
                .join("11111111-1111-4111-8111-111111111111.jsonl");
            write_lines(&live, &source, cut);
            import_aborting(&env, "claude-code", &live, Some(n));
            // The transcript grows while the importer is down; the next
            // run finishes the interrupted prefix, then takes the rest.
            std::fs::copy(&source, &live).unwrap();
            import_aborting(&env, "claude-code", &live, Some(n + 5));
            assert_eq!(import_aborting(&env, "claude-code", &live, None), 0);
            env.ok(&["index"]);
            assert_eq!(
                index_view(&env, CLAUDE_TASK),
                want,
                "cut after line {cut}, aborted after records {n} and {}",
                n + 5
            );
        }
    }
}

#[test]
fn kill_9_at_random_instants_while_a_transcript_grows_keeps_exactly_once() {
    let task = "claude-88888888-8888-4888-8888-888888888888";
    let full = transcript(600);
    let lines: Vec<&str> = full.lines().collect();
    let once = Env::new();
    let whole = once
        .dir
        .path()
        .join("88888888-8888-4888-8888-888888888888.jsonl");
    std::fs::write(&whole, &full).unwrap();
    assert_eq!(import_aborting(&once, "claude-code", &whole, None), 0);
    once.ok(&["index"]);
    let want = index_view(&once, task);
    assert_eq!(want.1 .0, 600, "one call per turn");

    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    // Seeded from the clock so that every run tries other kill instants.
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut next = |bound: u64| rng.u64(..bound);
    let env = Env::new();
    let live = env
        .dir
        .path()
        .join("88888888-8888-4888-8888-888888888888.jsonl");
    let mut written = 0;
    let mut kills = 0;
    while written < lines.len() {
        // The agent appends a few hundred lines...
        written = (written + 1 + next(400) as usize).min(lines.len());
        std::fs::write(&live, lines[..written].join("\n") + "\n").unwrap();
        // ... while an importer runs and is killed at a random instant.
        let mut child = env
            .cmd()
            .args(["import", "claude-code", live.to_str().unwrap(), "-q"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        if crate::support::kill_within(&mut child, Duration::from_micros(next(60_000))) {
            kills += 1;
        }
    }
    assert_eq!(import_aborting(&env, "claude-code", &live, None), 0);
    env.ok(&["index"]);
    eprintln!("kill -9 test: seed {seed}, {kills} kills");
    assert_eq!(index_view(&env, task), want, "seed {seed}, {kills} kills");
}
