//! The tables kept by triggers behind the query surface (API calls,
//! rollups, full-text search, worker sessions) following truncation,
//! rebuilds and streams read out of order, and the database as another
//! SQLite build (Python's, what Datasette runs on) sees it.

use std::process::Stdio;

use crate::query_fixture::{indexed, key_queries, run_query};
use crate::support::{code, stdout, Env};
use serde_json::{json, Value};

#[test]
fn rollups_fts_and_api_calls_follow_truncation_and_rebuild() {
    let env = indexed();
    let consistent = |env: &Env| {
        assert_eq!(
            env.count("SELECT count(*) FROM api_calls"),
            env.count("SELECT count(*) FROM records WHERE event = 'llm.call'")
        );
        assert_eq!(
            env.count("SELECT sum(calls) FROM cost_rollup"),
            env.count("SELECT count(*) FROM api_calls")
        );
        assert_eq!(
            env.count("SELECT CAST(round(sum(cost_usd) * 1e9) AS INTEGER) FROM cost_rollup"),
            env.count("SELECT CAST(round(sum(coalesce(estimated_cost_usd, 0)) * 1e9) AS INTEGER) FROM api_calls")
        );
        // The per-day rollup is the per-task one summed over tasks.
        assert_eq!(
            run_query(&env.reader(), "SELECT day, model, provider, calls, tokens_input, tokens_output, round(cost_usd, 9), unpriced_calls FROM cost_daily ORDER BY 1, 2, 3", &[]),
            run_query(&env.reader(), "SELECT day, model, provider, sum(calls), sum(tokens_input), sum(tokens_output), round(sum(cost_usd), 9), sum(unpriced_calls) FROM cost_rollup GROUP BY 1, 2, 3 ORDER BY 1, 2, 3", &[])
        );
        assert_eq!(
            env.count("SELECT count(*) FROM records_fts"),
            env.count("SELECT count(*) FROM records WHERE event IN ('message','decision','tool.start','tool.complete','tool.fail')")
        );
        assert_eq!(
            env.count("SELECT count(*) FROM conversation_blocks WHERE record_id NOT IN (SELECT record_id FROM records)"),
            0
        );
    };
    consistent(&env);
    let snapshot = |env: &Env| {
        let conn = env.reader();
        (
            run_query(&conn, "SELECT worker_id, task_id, timestamp, model, tokens_total, estimated_cost_usd, cost_source FROM api_calls ORDER BY timestamp, task_id, model", &[]),
            run_query(&conn, "SELECT * FROM cost_rollup ORDER BY 1, 2, 3, 4", &[]),
        )
    };
    let before = snapshot(&env);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", env.db.display()));
    }
    env.ok(&["index"]);
    assert_eq!(
        snapshot(&env),
        before,
        "a rebuild gives the same calls and rollup"
    );
    // Truncating a stream supersedes its rows; the derived tables follow.
    std::fs::write(env.stream("gh-450", "events"), "").unwrap();
    env.ok(&["index"]);
    consistent(&env);
    assert_eq!(
        env.count("SELECT count(*) FROM api_calls WHERE task_id = 'gh-450'"),
        0
    );
    assert_eq!(
        env.count("SELECT count(*) FROM cost_rollup WHERE task_id = 'gh-450'"),
        0
    ); // The delete trigger handed FTS5 the exact text it indexed: no ghosts.
    let out = env.run(&["search", "cargo"]);
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    env.ok(&["search", "raw", "writer"]);
}

/// The database opens "without surprises" in the SQLite other tools use:
/// Python's sqlite3 module (what Datasette runs on; SQLite 3.40 on this
/// machine, older than the one we bundle) reads every table and view and
/// answers every key query, and its own writes fire our triggers.
#[test]
fn pythons_sqlite_reads_every_view_and_runs_every_key_query() {
    let env = indexed();
    let queries: Vec<Value> = key_queries()
        .into_iter()
        .map(|(name, params, sql)| json!({"name": name, "params": params, "sql": sql}))
        .collect();
    let script = r#"
import json, sqlite3, sys
db, queries = sys.argv[1], json.loads(sys.stdin.read())
ro = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
names = [r[0] for r in ro.execute(
    "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%'")]
for name in names:
    ro.execute(f'SELECT * FROM "{name}" LIMIT 5').fetchall()
answered = 0
for q in queries:
    ro.execute(q["sql"], [str(p) for p in q["params"]]).fetchall()
    answered += 1
ro.close()
# A copy written through Python: the triggers (row values, json_extract,
# UPSERT) run in this SQLite too.
rw = sqlite3.connect(db)
rw.execute("DELETE FROM records WHERE event IN ('worker.exit', 'llm.call', 'message')")
rw.commit()
print(json.dumps({"objects": len(names), "answered": answered, "version": sqlite3.sqlite_version}))
"#;
    let copy = env.root.parent().unwrap().join("python-copy.db");
    std::fs::copy(&env.db, &copy).unwrap();
    let mut child = std::process::Command::new("python3")
        .args(["-c", script, &copy.display().to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 is part of the machine (see the env notes)");
    std::io::Write::write_all(
        child.stdin.as_mut().unwrap(),
        serde_json::to_string(&queries).unwrap().as_bytes(),
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["answered"], json!(queries.len()), "{report}");
    assert!(report["objects"].as_u64().unwrap() > 30, "{report}");
}

/// worker_sessions is kept by triggers: an exit read before its spawn (two
/// streams), a later exit, a truncated exit stream and a rebuild all give
/// what the records say.
#[test]
fn worker_sessions_follow_exits_across_streams_truncation_and_rebuild() {
    let env = Env::new();
    let exits = env.stream("wt", "exits");
    crate::support::append_raw(
        &exits,
        br#"{"event":"worker.exit","ts":"2026-11-22T10:05:00Z","worker_id":"w1","status":"ok","exit_code":0}
"#,
    );
    env.ok(&["index"]);
    crate::support::append_raw(
        &env.stream("wt", "events"),
        br#"{"event":"worker.spawn","ts":"2026-11-22T10:00:00Z","worker_id":"w1","pid":11,"branch_name":"b1"}
{"event":"worker.spawn","ts":"2026-11-22T10:01:00Z","worker_id":"w2","pid":12}
"#,
    );
    env.ok(&["index"]);
    let sessions = |env: &Env| {
        run_query(
            &env.reader(),
            "SELECT worker_id, status, completed_at, failed_at, exit_code, pid, branch_name
               FROM worker_sessions WHERE implicit = 0 ORDER BY worker_id",
            &[],
        )
    };
    // worker_id, status, completed_at, failed_at, exit_code, pid, branch_name
    assert_eq!(
        sessions(&env),
        vec![
            vec![
                json!("w1"),
                json!("ok"),
                json!("2026-11-22T10:05:00.000000Z"),
                Value::Null,
                json!(0),
                json!(11),
                json!("b1")
            ],
            vec![
                json!("w2"),
                json!("running"),
                Value::Null,
                Value::Null,
                Value::Null,
                json!(12),
                Value::Null
            ],
        ]
    );
    crate::support::append_raw(
        &exits,
        br#"{"event":"worker.exit","ts":"2026-11-22T10:09:00Z","worker_id":"w2","status":"failed","exit_code":3,"failure_reason":"oom"}
"#,
    );
    env.ok(&["index"]);
    let both_ended = sessions(&env);
    assert_eq!(both_ended[1][1], json!("failed"));
    assert_eq!(both_ended[1][3], json!("2026-11-22T10:09:00.000000Z"));
    assert_eq!(
        env.count("SELECT count(*) FROM worker_sessions WHERE failure_reason = 'oom'"),
        1
    );
    // A rebuild from the files gives the same rows.
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", env.db.display()));
    }
    env.ok(&["index"]);
    assert_eq!(sessions(&env), both_ended);
    // The exit stream truncated: both workers run again.
    std::fs::write(&exits, "").unwrap();
    env.ok(&["index"]);
    let running = sessions(&env);
    assert!(
        running
            .iter()
            .all(|w| w[1] == json!("running") && w[2].is_null() && w[4].is_null()),
        "{running:?}"
    );
}

/// A worker's model call and message indexed before its `worker.spawn`
/// (FORMAT.md's example order; or another stream, indexed later) belong to
/// the worker once the spawn arrives, as a bulk load and PostgreSQL's views
/// see them: no implicit session of the task is left behind (issue 19).
#[test]
fn a_spawn_indexed_after_its_worker_s_records_claims_them() {
    let env = Env::new();
    let events = env.stream("gh-450", "events");
    crate::support::append_raw(
        &events,
        br#"{"event":"llm.call","ts":"2026-11-22T10:00:12Z","span_id":"c1","parent_span_id":"w-span","gen_ai":{"request":{"model":"m"},"usage":{"input_tokens":10,"output_tokens":2}}}
{"event":"message","ts":"2026-11-22T10:00:13Z","span_id":"m1","parent_span_id":"w-span","role":"assistant","content":"hi"}
{"event":"llm.call","ts":"2026-11-22T10:00:14Z","span_id":"c2","gen_ai":{"request":{"model":"m"}}}
"#,
    );
    env.ok(&["index"]);
    // Before the spawn: the call falls back to the task.
    assert_eq!(
        env.count("SELECT count(*) FROM worker_sessions WHERE implicit = 1 AND task_id = 'gh-450'"),
        1
    );
    crate::support::append_raw(
        &env.stream("gh-450", "workers"),
        br#"{"event":"worker.spawn","ts":"2026-11-22T10:00:03Z","span_id":"w-span","worker_id":"w-abc123"}
"#,
    );
    env.ok(&["index"]);
    let derived = |env: &Env| {
        let conn = env.reader();
        (
            run_query(&conn, "SELECT worker_id, model FROM api_calls ORDER BY call_id", &[]),
            run_query(&conn, "SELECT worker_id, content_type FROM conversation_blocks ORDER BY record_id, block_index", &[]),
            run_query(&conn, "SELECT worker_id, implicit FROM worker_sessions ORDER BY implicit, worker_id", &[]),
        )
    };
    let after = derived(&env);
    assert_eq!(
        after.0,
        vec![
            vec![json!("w-abc123"), json!("m")],
            // A call outside the worker's span stays the task's.
            vec![json!("gh-450"), json!("m")],
        ]
    );
    assert_eq!(after.1, vec![vec![json!("w-abc123"), json!("text")]]);
    // The worker, and the task's own implicit session for its own call.
    assert_eq!(
        after.2,
        vec![
            vec![json!("w-abc123"), json!(0)],
            vec![json!("gh-450"), json!(1)]
        ]
    );
    // A rebuild (one reconcile, any stream order) gives the same rows.
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", env.db.display()));
    }
    env.ok(&["index"]);
    assert_eq!(derived(&env), after);
}
