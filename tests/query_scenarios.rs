//! The query surface over real folders: data written through the writer's
//! typed helpers and as raw foreign lines, indexed by the real binary, then
//! every reference-shaped view, every reference-002 key query, cost with
//! and without record costs and prices, every read command, and every kind
//! of bad input.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use crate::query_fixture::{fixture, indexed, key_queries, run_query, SESSION};
use crate::support::{code, stderr, stdout, wait_for, Env};
use serde_json::{json, Value};

#[test]
fn every_reference_key_query_runs_as_written_and_answers() {
    let env = indexed();
    let conn = env.reader();
    let queries = key_queries();
    assert_eq!(queries.len(), 35, "every key query and 5.1 query is listed");
    let mut answers = std::collections::BTreeMap::new();
    for (name, params, sql) in &queries {
        answers.insert(name.clone(), run_query(&conn, sql, params));
    }
    let count = |n: &str| answers[n].len();
    let scalar = |n: &str| answers[n][0][0].clone();
    assert_eq!(count("sessions.active"), 1, "ses-open has no session.end");
    assert_eq!(count("sessions.by_time_range"), 2);
    assert_eq!(
        count("triggers.per_session"),
        2,
        "session folder + task.json session_id"
    );
    assert_eq!(count("triggers.github_issues"), 1);
    assert_eq!(count("logic_flow.chain_for_task"), 2);
    assert_eq!(count("logic_flow.slow_decisions"), 1);
    assert_eq!(count("tasks.completed_today"), 1);
    assert_eq!(answers["tasks.failed"][0][0], json!("gh-451"));
    assert_eq!(answers["workers.failed"][0][0], json!("w-def456"));
    assert_eq!(count("workers.history_for_task"), 1);
    assert_eq!(count("conversations.full"), 3, "three content blocks");
    assert_eq!(
        answers["conversations.tool_usage"],
        vec![vec![json!("Bash"), json!(1)]]
    );
    assert_eq!(count("conversations.failed_tool_calls"), 1);
    // 0.0231 carried + 0.0105 priced + 1.25 for gpt-5 (raw, prefixed); the
    // unpriced model adds nothing and is not hidden as $0 (NULL in its row).
    let today = scalar("api_calls.cost_today").as_f64().unwrap();
    assert!((today - (0.0231 + 0.0105 + 1.25)).abs() < 1e-9, "{today}");
    assert_eq!(scalar("common.cost_today"), scalar("api_calls.cost_today"));
    let by_model = &answers["api_calls.cost_by_model"];
    assert!(
        by_model.contains(&vec![json!("mystery-model-1"), Value::Null]),
        "{by_model:?}"
    );
    assert_eq!(
        scalar("api_calls.tokens_for_worker"),
        json!(12850 + 1500 + 100)
    );
    assert!(scalar("api_calls.performance").as_f64().unwrap() > 0.0);
    assert_eq!(count("worktrees.preserved"), 1);
    assert_eq!(count("system_events.errors_today"), 1);
    assert_eq!(
        answers["system_events.error_frequency"],
        vec![vec![json!("worktree_manager"), json!(1)]]
    );
    let by_task = &answers["common.cost_by_task"];
    assert_eq!(
        by_task[0][0],
        json!("raw-1"),
        "implicit worker = task: {by_task:?}"
    );
    assert!(by_task
        .iter()
        .any(|r| r[0] == json!("gh-450") && (r[2].as_f64().unwrap() - 0.0336).abs() < 1e-9));
    assert_eq!(count("common.slowest_decisions"), 2);
    assert_eq!(answers["common.slowest_decisions"][0][2], json!(1500.0));
    let timeline: Vec<&str> = answers["common.task_timeline"]
        .iter()
        .map(|r| r[0].as_str().unwrap())
        .collect();
    assert_eq!(timeline.first(), Some(&"task_detected"));
    assert!(
        timeline.contains(&"worker_spawned")
            && timeline.iter().filter(|e| **e == "api_call").count() == 3
    );
}

#[test]
fn views_of_references_000_and_001_pair_rows_and_keep_state() {
    let env = indexed();
    let conn = env.reader();
    let tools = run_query(&conn, "SELECT tool_name, status, error, duration_ms IS NOT NULL, completed_at IS NOT NULL FROM tool_calls WHERE task_id = 'gh-450' ORDER BY id", &[]);
    assert_eq!(
        tools,
        vec![
            vec![
                json!("Bash"),
                json!("success"),
                Value::Null,
                json!(1),
                json!(1)
            ],
            vec![
                json!("Read"),
                json!("failure"),
                json!("No such file or directory: src/budget.rs"),
                json!(1),
                json!(1)
            ],
            vec![
                json!("Grep"),
                json!("started"),
                Value::Null,
                json!(0),
                json!(0)
            ],
        ]
    );
    let cycles = run_query(
        &conn,
        "SELECT name, status, outcomes FROM planning_cycles",
        &[],
    );
    assert_eq!(
        cycles,
        vec![vec![
            json!("plan"),
            json!("completed"),
            json!(r#"{"tests":"passing"}"#)
        ]]
    );
    assert_eq!(
        run_query(
            &conn,
            "SELECT count(*) FROM decision_log WHERE reasoning LIKE 'Files modified%'",
            &[]
        ),
        vec![vec![json!(2)]]
    );
    let state = run_query(
        &conn,
        "SELECT task_id, key, value, expired FROM agent_state",
        &[],
    );
    assert_eq!(
        state,
        vec![vec![
            json!("gh-450"),
            json!("session:gh-450:plan"),
            json!(r#"{"cycle":1}"#),
            json!(0)
        ]]
    );
    let facts = run_query(
        &conn,
        "SELECT fact, is_stale FROM memory_facts ORDER BY id",
        &[],
    );
    assert_eq!(
        facts,
        vec![
            vec![json!("Widgets live in src/widgets/"), json!(1)],
            vec![json!("Widgets live in src/ui/widgets/"), json!(0)]
        ]
    );
    let system = run_query(
        &conn,
        "SELECT event_type, session_id, stack_trace FROM system_events ORDER BY timestamp",
        &[],
    );
    assert_eq!(
        system[0],
        vec![json!("startup"), json!(SESSION), Value::Null]
    );
    assert_eq!(
        system[1],
        vec![json!("error"), json!(SESSION), json!("Traceback ...")]
    );
    let raw = run_query(
        &conn,
        "SELECT role, content, content_type FROM conversations WHERE task_id = 'raw-1'",
        &[],
    );
    assert_eq!(
        raw,
        vec![vec![
            json!("user"),
            json!("hello from a raw writer"),
            json!("text")
        ]]
    );
}

fn cost_rows(env: &Env, args: &[&str]) -> (Vec<Value>, String) {
    let mut full = vec!["cost", "--format", "json"];
    full.extend_from_slice(args);
    let out = env.run(&full);
    assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
    (
        serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap(),
        stderr(&out),
    )
}

#[test]
fn cost_uses_record_costs_prices_the_rest_and_reports_unpriced_calls() {
    let env = indexed();
    let (rows, err) = cost_rows(&env, &["--by", "model"]);
    let find = |key: &str| {
        rows.iter()
            .find(|r| r["model"] == json!(key))
            .cloned()
            .unwrap()
    };
    assert!((find("claude-sonnet-4-5")["cost_usd"].as_f64().unwrap() - 0.0336).abs() < 1e-9);
    assert_eq!(find("mystery-model-1")["unpriced_calls"], json!(1));
    let unpriced = rows.last().unwrap();
    assert_eq!(unpriced["model"], json!("UNPRICED: mystery-model-1"));
    assert_eq!(unpriced["cost_usd"], Value::Null, "never a silent $0");
    assert!(err.contains("mystery-model-1"), "{err}");
    // The same totals by every grouping, from the rollup or from the calls.
    for args in [
        &["--by", "day"][..],
        &["--today", "--by", "task"],
        &["--since", "1h", "--by", "provider"],
        &["--since", "2000-01-01", "--until", "2100-01-01"],
    ] {
        let (rows, _) = cost_rows(&env, args);
        let total: f64 = rows.iter().filter_map(|r| r["cost_usd"].as_f64()).sum();
        assert!((total - 1.2836).abs() < 1e-9, "{args:?}: {rows:?}");
    }
    let (by_provider, _) = cost_rows(&env, &["--since", "1h", "--by", "provider"]);
    assert!(
        by_provider.iter().any(|r| r["provider"] == json!("(none)")),
        "raw call has no provider"
    );
    let out = env.run(&["cost", "--since", "2100-01-01"]);
    assert_eq!(code(&out), 1, "nothing in that period");

    // A user price file prices the unknown model and re-prices stored calls
    // when the index is opened again; a record's own cost never changes.
    let prices = env.dir.path().join("prices.toml");
    std::fs::write(&prices, "[[model]]\nname = \"mystery-model-1\"\neffective_from = \"2020-01-01\"\ninput = 1000\noutput = 1000\n\n[[model]]\nname = \"claude-sonnet-4-5\"\neffective_from = \"2020-01-01\"\ninput = 0\noutput = 0\ncache_read = 0\ncache_write = 0\n").unwrap();
    let out = env
        .cmd()
        .env("TASKLOG_PRICES", &prices)
        .arg("index")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let (rows, err) = cost_rows(&env, &["--by", "model"]);
    assert!(!err.contains("no price"), "{err}");
    let mystery = rows
        .iter()
        .find(|r| r["model"] == json!("mystery-model-1"))
        .unwrap();
    assert!(
        (mystery["cost_usd"].as_f64().unwrap() - 0.1).abs() < 1e-9,
        "{mystery}"
    );
    let sonnet = rows
        .iter()
        .find(|r| r["model"] == json!("claude-sonnet-4-5"))
        .unwrap();
    // The 2020 entry is older than the built-in 2025 one, which still applies.
    assert!(
        (sonnet["cost_usd"].as_f64().unwrap() - 0.0336).abs() < 1e-9,
        "{sonnet}"
    );
    assert_eq!(
        env.count("SELECT count(*) FROM api_calls WHERE cost_source = 'record'"),
        1
    );

    // A broken price file is an error naming it, and nothing is indexed.
    std::fs::write(
        &prices,
        "[[model]]\nname = \"x\"\neffective_from = \"soon\"\ninput = 1\noutput = 1\n",
    )
    .unwrap();
    let out = env
        .cmd()
        .env("TASKLOG_PRICES", &prices)
        .arg("index")
        .output()
        .unwrap();
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("prices.toml") && stderr(&out).contains("YYYY-MM-DD"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn tasks_show_search_and_export_answer_and_say_when_nothing_is_found() {
    let env = indexed();
    // gh-450 completed with a failed tool call: completed_with_errors.
    let out = env.ok(&[
        "tasks",
        "--status",
        "completed_with_errors",
        "--format",
        "jsonl",
    ]);
    let rows: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["task_id"], json!("gh-450"));
    assert_eq!(rows[0]["llm_calls"], json!(3));
    assert_eq!(rows[0]["unpriced_calls"], json!(1));
    let out = env.ok(&[
        "tasks", "--since", "1h", "--until", "now", "--format", "csv",
    ]);
    assert!(
        stdout(&out).starts_with("task_id,title,status,"),
        "{}",
        stdout(&out)
    );
    assert_eq!(stdout(&out).lines().count(), 1 + 5);
    assert_eq!(code(&env.run(&["tasks", "--status", "nonexistent"])), 1);

    let out = env.ok(&["show", "gh-450", "--format", "jsonl"]);
    let timeline: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ts: Vec<&str> = timeline.iter().map(|r| r["ts"].as_str().unwrap()).collect();
    assert!(ts.windows(2).all(|w| w[0] <= w[1]), "time order");
    let fail = timeline
        .iter()
        .find(|r| r["event"] == json!("tool.fail"))
        .unwrap();
    assert_eq!(fail["!"], json!("!!"));
    assert!(fail["duration_ms"].is_number());
    let priced = timeline
        .iter()
        .filter(|r| r["event"] == json!("llm.call"))
        .map(|r| r["detail"].as_str().unwrap().to_owned())
        .collect::<Vec<_>>();
    assert!(
        priced.iter().any(|d| d.contains("$0.010500 (price_table)")),
        "{priced:?}"
    );
    assert!(priced.iter().any(|d| d.contains("unpriced")), "{priced:?}");
    assert!(timeline
        .iter()
        .any(|r| r["event"] == json!("document") && r["name"] == json!("result")));
    assert!(timeline.iter().all(|r| r.get("body").is_none()));
    let out = env.ok(&["show", "gh-450", "--full", "--format", "json"]);
    let full: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(full.iter().all(|r| r["body"].is_string()));
    let out = env.ok(&["show", "raw-1", "--format", "jsonl"]);
    assert!(
        stdout(&out).contains("\"quarantined\""),
        "quarantined line shown: {}",
        stdout(&out)
    );

    let out = env.ok(&["search", "cargo", "test", "--format", "jsonl"]);
    let hits: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        hits.iter().any(|h| h["event"] == json!("tool.start")),
        "{hits:?}"
    );
    assert!(
        hits[0]["snippet"].as_str().unwrap().contains("[cargo]"),
        "{hits:?}"
    );
    for (words, event) in [
        ("src/budget.rs", "tool.fail"),
        ("fresh work", "decision"),
        ("raw writer", "message"),
    ] {
        let out = env.ok(&["search", words, "--format", "jsonl"]);
        assert!(
            stdout(&out).contains(&format!("\"event\":\"{event}\"")),
            "{words}: {}",
            stdout(&out)
        );
    }
    env.ok(&["search", "--raw", "budg*", "--task", "gh-450"]);
    let out = env.run(&["search", "zebra"]);
    assert_eq!((code(&out), stdout(&out).is_empty()), (1, true));
    let out = env.run(&["search", "--raw", "AND AND"]);
    assert_eq!(
        code(&out),
        2,
        "an FTS5 syntax error is an error: {}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("syntax error"), "{}", stderr(&out));

    let out = env.ok(&["export", "gh-450"]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["task"]["status"], json!("completed"));
    assert_eq!(
        doc["records"].as_array().unwrap().len() as i64,
        env.count("SELECT count(*) FROM records WHERE task_id = 'gh-450'")
    );
    assert_eq!(doc["tool_calls"].as_array().unwrap().len(), 3);
    assert_eq!(doc["api_calls"].as_array().unwrap().len(), 3);
    assert!(doc["documents"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["name"] == json!("result") && d["body"]["status"] == json!("completed")));
    assert_eq!(doc["cost"]["unpriced_calls"], json!(1));
    let out = env.ok(&["export", "raw-1", "--format", "jsonl"]);
    let kinds: Vec<String> = stdout(&out)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "task",
            "cost",
            "record",
            "record",
            "api_call",
            "ingest_error"
        ]
    );
}

#[test]
fn tail_prints_records_as_indexed_and_follows_new_ones() {
    let env = indexed();
    let out = env.ok(&["tail", "gh-451", "-n", "0", "--format", "jsonl"]);
    let bodies: Vec<String> = env
        .rows("gh-451", "events")
        .into_iter()
        .map(|(_, b)| b)
        .collect();
    assert_eq!(stdout(&out).lines().collect::<Vec<_>>(), bodies);
    let out = env.ok(&["tail", "gh-451", "-n", "2", "--format", "table"]);
    assert_eq!(stdout(&out).lines().count(), 3, "header and two records");

    let mut child = env
        .cmd()
        .args([
            "tail",
            "gh-451",
            "-f",
            "-n",
            "1",
            "--interval",
            "20",
            "--format",
            "jsonl",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = BufReader::new(child.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in reader.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    wait_for("the last record", Duration::from_secs(10), || {
        seen.extend(rx.try_iter());
        !seen.is_empty()
    });
    env.ok(&[
        "append",
        "gh-451",
        "events",
        r#"{"event":"message","role":"user","content":"followed live"}"#,
    ]);
    env.ok(&["index"]);
    wait_for("the new record", Duration::from_secs(10), || {
        seen.extend(rx.try_iter());
        seen.iter().any(|l| l.contains("followed live"))
    });
    crate::support::kill9(&mut child);
    assert_eq!(seen.len(), 2, "{seen:?}");
}

#[test]
fn bad_input_gets_the_documented_exit_code_and_message() {
    let env = Env::new();
    // No database yet: every read command says how to create it.
    for args in [
        &["tasks"][..],
        &["show", "gh-450"],
        &["cost"],
        &["search", "x"],
        &["tail", "gh-450"],
        &["export", "gh-450"],
    ] {
        let out = env.run(args);
        assert_eq!(code(&out), 2, "{args:?}");
        assert!(
            stderr(&out).contains("tasklog index"),
            "{args:?}: {}",
            stderr(&out)
        );
        assert!(stdout(&out).is_empty());
    }
    fixture(&env);
    env.ok(&["index"]);
    for args in [
        &["show", "nope"][..],
        &["tail", "nope"],
        &["export", "nope"],
    ] {
        let out = env.run(args);
        assert_eq!(code(&out), 1, "{args:?}");
        assert!(
            stderr(&out).contains("no task \"nope\""),
            "{args:?}: {}",
            stderr(&out)
        );
        assert!(stdout(&out).is_empty());
    }
    for args in [
        &["tasks", "--since", "last tuesday"][..],
        &["tasks", "--until", "2026-02-30"],
        &["cost", "--since", "yesterdayish"],
        &["cost", "--until", "12"],
    ] {
        let out = env.run(args);
        assert_eq!(code(&out), 2, "{args:?}");
        assert!(
            stderr(&out).contains("accepted forms: RFC 3339"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    let out = env.run(&["query", "SELEC * FROM api_calls"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("syntax error"), "{}", stderr(&out));
    let out = env.run(&["query", "DELETE FROM api_calls"]);
    assert_eq!(code(&out), 2, "read-only: {}", stderr(&out));
    assert_eq!(env.count("SELECT count(*) FROM api_calls"), 4);
    let out = env.run(&[
        "query",
        "SELECT * FROM tool_calls WHERE tool_name = 'nothing'",
    ]);
    assert_eq!(code(&out), 1);
    let out = env.run(&["cost", "--by", "week"]);
    assert_eq!(code(&out), 2);
    let out = env.run(&["export", "gh-450", "--format", "csv"]);
    assert_eq!(code(&out), 2);
}
