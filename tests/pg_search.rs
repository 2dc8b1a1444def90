//! PostgreSQL migration 4 against a real server (issues 19 and 20): an
//! index at version 3 that holds rows upgrades in place (its search index
//! built CONCURRENTLY), full-text search answers like SQLite's (a phrase,
//! a word of a tool output, a task filter, a host filter, no match), model
//! calls of a source without timestamps have no day, and `tool_success`
//! is 0/1 as on SQLite.

use serde_json::{json, Value};

use crate::pg_support::{self, Cluster};
use crate::support::{code, stderr, stdout, Env};
use tasklog_index::pg::{questions, PgIndex, PgTarget};

/// The PostgreSQL schema as a build of version 3 left it.
const VERSION_3: &[&str] = &[
    include_str!("../crates/tasklog-postgres/src/migrations/0001_tables.sql"),
    include_str!("../crates/tasklog-postgres/src/migrations/0002_views.sql"),
    include_str!("../crates/tasklog-postgres/src/migrations/0003_task_facts.sql"),
];

fn append(env: &Env, task: &str, stream: &str, body: Value) {
    env.ok(&["append", task, stream, &body.to_string()]);
}

/// Rows of [`questions::SEARCH`] as `(host_id, task_id, source, event)`,
/// with the whole rows for the messages of a failed check.
fn search(url: &str, words: &str, task: Option<&str>, host: Option<&str>) -> Vec<Vec<Value>> {
    let target = PgTarget::parse(url, "reader").unwrap();
    let mut index = PgIndex::open(&target, None).unwrap();
    let rows = index
        .query_with(questions::SEARCH, &[Some(words), task, Some("50"), host])
        .unwrap();
    assert_eq!(
        rows.columns,
        ["host_id", "ts", "task_id", "source", "event", "name", "snippet", "rank"]
    );
    rows.rows
}

fn keys(rows: &[Vec<Value>]) -> Vec<(String, String, String)> {
    let mut out: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r[0].as_str().unwrap().to_owned(),
                r[2].as_str().unwrap().to_owned(),
                r[3].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

/// The files both hosts ship: a message with a phrase, a tool's output, a
/// failed tool, a decision, and a model call of a source without time.
fn fixture(env: &Env) {
    append(
        env,
        "gh-1",
        "agent",
        json!({"event": "message", "role": "user", "content": "the flaky widget test fails again"}),
    );
    append(
        env,
        "gh-1",
        "agent",
        json!({"event": "message", "role": "assistant", "content": "a widget that is flaky, then"}),
    );
    append(
        env,
        "gh-1",
        "tools",
        json!({"event": "tool.complete", "name": "Bash", "output": "thread main: Segfault at 0x0"}),
    );
    append(
        env,
        "gh-2",
        "tools",
        json!({"event": "tool.fail", "name": "Bash", "error": "segfault in the linker"}),
    );
    append(
        env,
        "gh-2",
        "tools",
        json!({"event": "decision", "name": "retry", "reason": "the linker is flaky"}),
    );
    append(
        env,
        "gh-2",
        "calls",
        json!({"ts": null, "event": "llm.call", "gen_ai": {"request": {"model": "m"}, "usage": {"input_tokens": 3, "output_tokens": 1, "cost": {"amount": 0.25}}}}),
    );
    append(
        env,
        "gh-2",
        "calls",
        json!({"ts": "2024-03-01T10:00:00Z", "event": "llm.call", "gen_ai": {"request": {"model": "m"}, "usage": {"input_tokens": 3, "output_tokens": 1, "cost": {"amount": 0.5}}}}),
    );
    append(
        env,
        "gh-2",
        "agent",
        json!({"event": "message", "role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "no", "is_error": true},
                                                              {"type": "tool_result", "tool_use_id": "t2", "content": "yes"}]}),
    );
}

/// A database at version 3 holding another host's rows (an upgrade of a
/// live database), then two hosts shipping through migration 4.
#[test]
fn postgres_version_3_upgrades_and_searches() {
    let Some(cluster) = Cluster::shared("postgres_version_3_upgrades_and_searches") else {
        return;
    };
    let url = cluster.database();
    let mut client = pg_support::client(&url);
    for sql in VERSION_3 {
        client.batch_execute(sql).unwrap();
    }
    client
        .batch_execute(
            r#"CREATE TABLE schema_migrations (version integer PRIMARY KEY, applied_at text NOT NULL);
               INSERT INTO schema_migrations VALUES (1, 'x'), (2, 'x'), (3, 'x');
               INSERT INTO tasks (host_id, task_id, first_seen_at) VALUES ('old', 'ses-1', 'x');
               INSERT INTO records (host_id, file_id, task_id, stream, "offset", line, ts, ts_source, event, body)
               VALUES ('old', 1, 'ses-1', 's', 0, 1, '2024-03-01T00:00:00Z', 'fallback', 'session.start',
                       '{"event":"session.start","details":{"git_branch":"release/2"}}'),
                      ('old', 1, 'ses-1', 's', 90, 2, '2026-12-07T03:00:00.000000Z', 'indexed', 'message',
                       '{"event":"message","role":"user","content":"an ancient gizmo"}');"#,
        )
        .unwrap();

    let (a, b) = (Env::new(), Env::new());
    fixture(&a);
    fixture(&b);
    // A tool output of 2 MB of distinct words: more than a tsvector holds
    // (1 MB); only its first 100,000 characters are searched, and the
    // record ships like any other.
    let huge: String = (0..250_000).map(|i| format!("w{i:x} ")).collect();
    let line =
        json!({"event": "tool.complete", "name": "Bash", "output": format!("{huge} needleatend")});
    let out = a.run_stdin(&["append", "gh-3", "tools"], line.to_string().as_bytes());
    assert_eq!(code(&out), 0, "append: {}", stderr(&out));
    for (env, host) in [(&a, "h1"), (&b, "h2")] {
        let out = env.run(&["--host-id", host, "index", "--sink", &url]);
        assert_eq!(code(&out), 0, "index --sink as {host}: {}", stderr(&out));
    }
    let version: i32 = client
        .query_one("SELECT max(version) FROM schema_migrations", &[])
        .unwrap()
        .get(0);
    // The newest schema (4 added search; 5, the one-hour cache price).
    assert_eq!(version, 5);
    let valid: bool = client
        .query_one(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('records_search')",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(valid, "records_search was built");
    pg_support::verify_equal(&a, &url, "h1");
    pg_support::verify_equal(&b, &url, "h2");

    // The old host's rows got the new facts and search.
    let branch: Option<String> = client
        .query_one(
            "SELECT git_branch FROM task_facts WHERE host_id = 'old' AND task_id = 'ses-1'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(branch.as_deref(), Some("release/2"));
    assert_eq!(
        keys(&search(&url, "gizmo", None, None)),
        [("old".into(), "ses-1".into(), "s:2".into())]
    );

    // A phrase: words in this order, not the message with both words apart.
    let phrase = search(&url, "\"flaky widget\"", None, Some("h1"));
    assert_eq!(
        keys(&phrase),
        [("h1".into(), "gh-1".into(), "agent:1".into())]
    );
    assert_eq!(phrase[0][4], "message");
    assert_eq!(phrase[0][6], "user: the flaky widget test fails again");
    assert!(phrase[0][7].as_f64().unwrap() < 0.0, "{:?}", phrase[0][7]);
    // All words, in any order, across hosts; best match first.
    assert_eq!(search(&url, "widget flaky", None, None).len(), 4);
    // A word of a tool output (any case) and of a tool error.
    assert_eq!(
        keys(&search(&url, "SEGFAULT", None, Some("h2"))),
        [
            ("h2".into(), "gh-1".into(), "tools:1".into()),
            ("h2".into(), "gh-2".into(), "tools:1".into())
        ]
    );
    // A task filter, a decision's reason.
    assert_eq!(
        keys(&search(&url, "flaky", Some("gh-2"), Some("h1"))),
        [("h1".into(), "gh-2".into(), "tools:2".into())]
    );
    // Nothing matches; words that are no words at all; quotes, SQL and
    // tsquery operators are the user's words, not syntax.
    assert!(search(&url, "nonexistentword", None, None).is_empty());
    assert!(search(&url, "\" - ", None, None).is_empty());
    assert!(search(&url, "'; DROP TABLE records; --", None, None).is_empty());
    assert!(search(&url, "flaky & !widget | (x:*", None, Some("h1")).is_empty());
    assert_eq!(
        search(&url, "it's \"flaky widget", None, Some("h1")).len(),
        0
    );
    assert_eq!(search(&url, "flaky -widget", None, Some("h1")).len(), 1);
    // The start of a 2 MB output is searched, its end is not.
    assert_eq!(
        keys(&search(&url, "w0 w1", None, Some("h1"))),
        [("h1".into(), "gh-3".into(), "tools:1".into())]
    );
    assert!(search(&url, "needleatend", None, None).is_empty());
    // The planner can answer from the index: its expression is the query's
    // (a table this small is read otherwise unless the other ways are
    // closed: the event index dropped inside a transaction rolled back).
    let mut tx = client.transaction().unwrap();
    tx.batch_execute("SET LOCAL enable_seqscan = off; DROP INDEX records_event_ts")
        .unwrap();
    let plan: Vec<String> = tx
        .query(
            &format!(
                "EXPLAIN {}",
                questions::SEARCH
                    .replace("$1::text", "'widget'")
                    .replace("$2::text", "NULL::text")
                    .replace("$3::bigint", "50")
                    .replace("$4::text", "NULL::text")
            ),
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        plan.iter().any(|l| l.contains("records_search")),
        "{}",
        plan.join("\n")
    );
    tx.rollback().unwrap();

    // A new database's first backfill of 33 MB: a bulk load (`index`
    // drops the secondary indexes of an empty table past 32 MiB and
    // builds them at its end) has the search index too.
    let c = Env::new();
    std::fs::create_dir_all(c.task_dir("bulk")).unwrap();
    let line = |i: usize| {
        json!({"event": "message", "role": "user", "content": format!("bulk message {i} {}", "x".repeat(380))})
            .to_string()
    };
    let text: String = (0..82_000).map(|i| line(i) + "\n").collect();
    assert!(text.len() > 32 << 20);
    std::fs::write(c.stream("bulk", "chat"), text).unwrap();
    let fresh = cluster.database();
    let out = c.run(&["--host-id", "h1", "index", "--sink", &fresh]);
    assert_eq!(code(&out), 0, "index --sink: {}", stderr(&out));
    assert_eq!(
        keys(&search(&fresh, "message 81999", None, None)),
        [("h1".into(), "bulk".into(), "chat:82000".into())]
    );
    let valid: Option<bool> = pg_support::client(&fresh)
        .query_opt(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('records_search')",
            &[],
        )
        .unwrap()
        .map(|r| r.get(0));
    assert_eq!(valid, Some(true), "records_search after a first backfill");

    // The call without a time has no day: a bounded cost leaves it out,
    // the totals keep it; the same answer as SQLite's.
    let days: Vec<(Option<String>, f64)> = client
        .query(
            "SELECT day, cost_usd FROM cost_rollup WHERE host_id = 'h1' ORDER BY day NULLS FIRST",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(days, [(None, 0.25), (Some("2024-03-01".into()), 0.5)]);
    a.ok(&["index"]);
    for prefix in [vec![], vec!["--db", url.as_str(), "--host-id", "h1"]] {
        let cost = |range: &[&str]| -> f64 {
            let mut args = prefix.clone();
            args.push("cost");
            args.extend(range);
            args.extend(["--format", "jsonl"]);
            let out = a.run(&args);
            stdout(&out)
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).unwrap()["cost_usd"].as_f64())
                .sum()
        };
        assert!((cost(&[]) - 0.75).abs() < 1e-9, "{prefix:?}: all");
        assert!(cost(&["--today"]).abs() < 1e-9, "{prefix:?}: today");
        let since = cost(&["--since", "2024-01-01"]);
        assert!((since - 0.5).abs() < 1e-9, "{prefix:?}: since {since}");
    }

    // tool_success is 0/1 on both stores, NULL for other blocks.
    let sql = "SELECT tool_success FROM conversations WHERE task_id = 'gh-2' ORDER BY block_index";
    let pg: Vec<Option<i32>> = client
        .query(&sql.replace("WHERE", "WHERE host_id = 'h1' AND"), &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(pg, [Some(0), Some(1)]);
    let lite: Vec<Option<i32>> = a
        .reader()
        .prepare(sql)
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(lite, [Some(0), Some(1)]);
}
