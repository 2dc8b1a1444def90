//! The PostgreSQL sink against a real server: two hosts ship into one
//! database exactly once, the read commands and the reference designs' key
//! queries answer from it as from SQLite, and bad configuration fails with
//! exit 2 and a clear message.

use std::time::Duration;

use serde_json::Value;

use crate::pg_support::{self, Cluster};
use crate::query_fixture::{fixture, key_queries, run_query};
use crate::support::{code, expected_rows, stderr, stdout, wait_for, Env};

/// Every table and view of the index that carries `host_id`.
const RELATIONS: &[&str] = &[
    "records",
    "documents",
    "tasks",
    "ingest_errors",
    "api_calls",
    "cost_rollup",
    "cost_daily",
    "coordinator_sessions",
    "action_triggers",
    "logic_flow",
    "worker_sessions",
    "conversations",
    "conversation_blocks",
    "worktree_operations",
    "system_events",
    "tool_calls",
    "decision_log",
    "planning_cycles",
    "agent_state",
    "memory_facts",
];

fn ship(env: &Env, url: &str, host: &str) {
    let out = env.run(&["--host-id", host, "index", "--sink", url]);
    assert_eq!(code(&out), 0, "index --sink as {host}: {}", stderr(&out));
}

/// `tasklog --db URL [--host-id H] query SQL --format json`, as JSON rows.
fn pg_query(env: &Env, url: &str, host: Option<&str>, sql: &str) -> Vec<Value> {
    let mut args = vec!["--db", url];
    if let Some(h) = host {
        args.extend(["--host-id", h]);
    }
    args.extend(["query", sql, "--format", "json"]);
    let out = env.run(&args);
    match code(&out) {
        0 => serde_json::from_slice(&out.stdout).unwrap(),
        1 => Vec::new(),
        _ => panic!("query {sql}: {}", stderr(&out)),
    }
}

/// Columns a database fills itself (its row ids, when it indexed or first
/// saw or resolved something, PostgreSQL's host and its jsonb copy of the body): not
/// values of the files, so not compared between the two stores; every other
/// integer `*_id` column is such a row id too.
pub(crate) const OWN_COLUMNS: &[&str] = &[
    "host_id",
    "record_id",
    "error_id",
    "event_id",
    "history_id",
    "call_id",
    "file_id",
    "first_seen_at",
    "indexed_at",
    "detected_at",
    "resolved_at",
    "doc",
];

/// Rows as comparable text, sorted: each row its `(column, value)` pairs
/// without [`OWN_COLUMNS`], values as [`comparable_value`] reads them.
fn comparable(rows: Vec<Value>) -> Vec<String> {
    let mut out: Vec<String> = rows
        .iter()
        .map(|r| {
            let row = r.as_object().unwrap();
            // An implicit worker session of a task without source times
            // starts when the index first saw the folder (first_seen_at):
            // each database's own time.
            let implicit = row.get("implicit").and_then(Value::as_f64) == Some(1.0);
            let pairs: Vec<(&String, Value)> = row
                .iter()
                .filter(|(k, _)| !OWN_COLUMNS.contains(&k.as_str()))
                .filter(|(k, _)| !(implicit && k.as_str() == "spawned_at"))
                // Integer ids of the views (`id`, `trigger_id`, `flow_id`, ...) are
                // row ids of the database: PostgreSQL numbers the rows of
                // every host in one sequence, SQLite those of one.
                .filter(|(k, v)| !((k.as_str() == "id" || k.ends_with("_id")) && v.is_number()))
                .map(|(k, v)| (k, comparable_value(v)))
                .collect();
            serde_json::to_string(&pairs).unwrap()
        })
        .collect();
    out.sort();
    out
}

/// Each column's kinds of JSON value (`int`, `float`, `bool`, `text`,
/// ...; NULL left out) over all rows, without [`OWN_COLUMNS`]: the same
/// value must come out of both stores with the same type, so that a
/// reader prints `1` from both, not `1` from one and `true` or `1.0` from
/// the other (issue 19).
fn column_kinds(
    rows: &[Value],
) -> std::collections::BTreeMap<String, std::collections::BTreeSet<&'static str>> {
    let mut out = std::collections::BTreeMap::new();
    for row in rows {
        for (k, v) in row.as_object().unwrap() {
            let kind = match v {
                Value::Null => continue,
                Value::Bool(_) => "bool",
                Value::Number(n) if n.is_f64() => "float",
                Value::Number(_) => "int",
                Value::String(_) => "text",
                Value::Array(_) => "array",
                Value::Object(_) => "object",
            };
            if !OWN_COLUMNS.contains(&k.as_str()) {
                out.entry(k.clone())
                    .or_insert_with(std::collections::BTreeSet::new)
                    .insert(kind);
            }
        }
    }
    out
}

/// The two documented differences of representation (POSTGRES.md), and
/// nothing else: an object or array read out of a record is SQLite's text
/// as written but jsonb's text form on PostgreSQL (keys reordered, spaces),
/// so it is compared as JSON; a number is compared to 1e-9 (SQLite's
/// rollups hold costs on a 2^-30 USD grid, migration 7; integers and
/// doubles of the same value are equal).
pub(crate) fn comparable_value(v: &Value) -> Value {
    match v {
        Value::String(s) if s.starts_with('{') || s.starts_with('[') => {
            serde_json::from_str(s).unwrap_or_else(|_| v.clone())
        }
        Value::Number(n) => n
            .as_f64()
            .map_or_else(|| v.clone(), |x| Value::from((x * 1e9).round() / 1e9)),
        _ => v.clone(),
    }
}

/// Two hosts with the same task names ship concurrently; per host the rows
/// equal the files, every view has the SQLite index's rows, and verify
/// and the read commands agree.
#[test]
fn two_hosts_ship_into_one_database_exactly_once() {
    let Some(cluster) = Cluster::shared("two_hosts_ship_into_one_database_exactly_once") else {
        return;
    };
    let url = cluster.database();
    let (a, b) = (Env::new(), Env::new());
    fixture(&a);
    fixture(&b);
    b.ok(&[
        "append",
        "only-b",
        "events",
        r#"{"event":"message","content":"b"}"#,
    ]);
    std::thread::scope(|s| {
        s.spawn(|| ship(&a, &url, "host-a"));
        s.spawn(|| ship(&b, &url, "host-b"));
    });
    // Again: nothing new, nothing twice.
    ship(&a, &url, "host-a");
    for (env, host) in [(&a, "host-a"), (&b, "host-b")] {
        for task in std::fs::read_dir(&env.root).unwrap().flatten() {
            let task = task.file_name().into_string().unwrap();
            for file in std::fs::read_dir(env.root.join(&task)).unwrap().flatten() {
                let name = file.file_name().into_string().unwrap();
                if let Some(stream) = name.strip_suffix(".jsonl") {
                    let expected = expected_rows(&file.path());
                    assert_eq!(
                        pg_support::rows(&url, host, &task, stream),
                        expected,
                        "{host} {task}/{name}"
                    );
                }
            }
        }
        pg_support::verify_equal(env, &url, host);
    }
    // The same files give the same rows as the SQLite index, in every view.
    a.ok(&["index"]);
    let sqlite = a.reader();
    for relation in RELATIONS {
        let local: i64 = sqlite
            .query_row(&format!("SELECT count(*) FROM {relation}"), [], |r| {
                r.get(0)
            })
            .unwrap();
        let shipped = pg_support::count(
            &url,
            &format!("SELECT count(*) FROM {relation} WHERE host_id = 'host-a'"),
        );
        assert_eq!(shipped, local, "{relation}");
        assert!(
            local > 0 || *relation == "ingest_errors",
            "{relation} is exercised"
        );
    }
    // ... and the same values, row by row in one canonical order, column
    // by column by name (not only as many rows), of the same types.
    let mut drift = Vec::new();
    for relation in RELATIONS {
        let sql = format!("SELECT * FROM {relation}");
        let local_rows = pg_query(&a, &a.db.display().to_string(), None, &sql);
        let shipped_rows = pg_query(&a, &url, Some("host-a"), &sql);
        let (local_kinds, shipped_kinds) = (column_kinds(&local_rows), column_kinds(&shipped_rows));
        for (column, kinds) in &local_kinds {
            if shipped_kinds.get(column) != Some(kinds) {
                drift.push(format!(
                    "{relation}.{column}: SQLite {kinds:?}, PostgreSQL {:?}",
                    shipped_kinds.get(column)
                ));
            }
        }
        let local = comparable(local_rows);
        let shipped = comparable(shipped_rows);
        if let Some(i) =
            (0..local.len().max(shipped.len())).find(|&i| local.get(i) != shipped.get(i))
        {
            panic!(
                "{relation}: row {i} differs\n  SQLite:     {:?}\n  PostgreSQL: {:?}",
                local.get(i),
                shipped.get(i)
            );
        }
    }
    assert!(
        drift.is_empty(),
        "column types differ:\n{}",
        drift.join("\n")
    );
    // --host-id narrows any SQL; without it every host is seen.
    let total = pg_query(&a, &url, None, "SELECT count(*) AS n FROM records");
    let only_a = pg_query(
        &a,
        &url,
        Some("host-a"),
        "SELECT count(*) AS n FROM records",
    );
    let n = |rows: &[Value]| rows[0]["n"].as_i64().unwrap();
    assert_eq!(
        n(&only_a),
        sqlite
            .query_row("SELECT count(*) FROM records", [], |r| r.get::<_, i64>(0))
            .unwrap()
    );
    assert_eq!(n(&total), 2 * n(&only_a) + 1);
    // tasks and cost answer from PostgreSQL as from SQLite.
    let tasks_pg = a.run(&[
        "--db",
        &url,
        "--host-id",
        "host-a",
        "tasks",
        "--format",
        "json",
    ]);
    let tasks_sqlite = a.ok(&["tasks", "--format", "json"]);
    // Every fact comes from the files' own times (FORMAT.md 11.1), so
    // both indexes agree on all of them.
    let strip_host = |out: &std::process::Output| -> Vec<Value> {
        let mut rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        for r in &mut rows {
            let r = r.as_object_mut().unwrap();
            r.shift_remove("host_id");
        }
        rows.sort_by_key(|r| r["task_id"].to_string());
        rows
    };
    assert_eq!(strip_host(&tasks_pg), strip_host(&tasks_sqlite));
    let cost_pg = a.run(&[
        "--db",
        &url,
        "--host-id",
        "host-a",
        "cost",
        "--by",
        "model",
        "--format",
        "json",
    ]);
    let cost_sqlite = a.ok(&["cost", "--by", "model", "--format", "json"]);
    assert_eq!(
        serde_json::from_slice::<Value>(&cost_pg.stdout).unwrap(),
        serde_json::from_slice::<Value>(&cost_sqlite.stdout).unwrap(),
        "{}",
        stderr(&cost_pg)
    );
    // Per task, the host is a column of its own (never folded into the
    // task's name): without it, the rows are SQLite's, in the same order.
    let by_task = |args: &[&str]| -> Vec<Value> {
        let out = a.run(args);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let mut task_pg = by_task(&[
        "--db",
        &url,
        "--host-id",
        "host-a",
        "cost",
        "--by",
        "task",
        "--format",
        "json",
    ]);
    for r in &mut task_pg {
        let r = r.as_object_mut().unwrap();
        assert_eq!(
            r.keys().next().map(String::as_str),
            Some("host_id"),
            "{r:?}"
        );
        let host = r.shift_remove("host_id").unwrap();
        // The line naming unpriced models is no host's.
        let summary = r["task_id"]
            .as_str()
            .is_some_and(|t| t.starts_with("UNPRICED"));
        assert_eq!(
            host,
            if summary {
                Value::Null
            } else {
                Value::from("host-a")
            },
            "{r:?}"
        );
    }
    let task_sqlite = by_task(&["cost", "--by", "task", "--format", "json"]);
    assert!(!task_sqlite.is_empty());
    assert_eq!(task_pg, task_sqlite);
    // query stays read-only.
    let out = a.run(&["--db", &url, "query", "DELETE FROM records"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("read-only"), "{}", stderr(&out));
    // status names both hosts.
    let out = a.run(&["--db", &url, "--host-id", "host-a", "status"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("host host-b:"), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("lag:             0 bytes"),
        "{}",
        stdout(&out)
    );
}

/// Every key query of the reference designs runs in PostgreSQL with the
/// one documented dialect change (docs/POSTGRES.md) and returns as many
/// rows as in SQLite for the same files.
#[test]
fn the_reference_key_queries_run_on_postgres() {
    let Some(cluster) = Cluster::shared("the_reference_key_queries_run_on_postgres") else {
        return;
    };
    let url = cluster.database();
    let env = Env::new();
    fixture(&env);
    ship(&env, &url, "h1");
    env.ok(&["index"]);
    let sqlite = env.reader();
    let queries = key_queries();
    assert_eq!(queries.len(), 35);
    for (name, params, sql) in &queries {
        let expected = run_query(&sqlite, sql, params);
        let mut pg_sql = sql.replace("GROUP BY t.task_id\n", "GROUP BY t.task_id, t.title\n");
        for p in params {
            let literal = format!("'{}'", p.as_str().unwrap().replace('\'', "''"));
            pg_sql = pg_sql.replacen('?', &literal, 1);
        }
        let got = pg_query(&env, &url, Some("h1"), pg_sql.trim().trim_end_matches(';'));
        assert_eq!(got.len(), expected.len(), "{name}: {pg_sql}");
    }
}

/// A second sidecar of the same host exits 2 naming the first; another
/// host ships meanwhile.
#[test]
fn a_second_sidecar_of_the_same_host_exits_2_naming_the_first() {
    let Some(cluster) =
        Cluster::shared("a_second_sidecar_of_the_same_host_exits_2_naming_the_first")
    else {
        return;
    };
    let url = cluster.database();
    let env = Env::new();
    env.ok(&["append", "t1", "events", r#"{"event":"message"}"#]);
    let mut first = pg_support::spawn_watch(&env, &url, "same");
    wait_for("the first sidecar shipped", Duration::from_secs(20), || {
        pg_support::client(&url)
            .query_opt("SELECT 1 FROM records WHERE host_id = 'same'", &[])
            .ok()
            .flatten()
            .is_some()
    });
    let second = env.run(&["--host-id", "same", "watch", "--sink", &url]);
    assert_eq!(code(&second), 2);
    let message = stderr(&second);
    assert!(
        message.contains("another tasklog sidecar of host \"same\""),
        "{message}"
    );
    assert!(
        message.contains(&format!("pid={}", first.id())),
        "names the first: {message}"
    );
    let other = Env::new();
    other.ok(&["append", "t1", "events", r#"{"event":"message"}"#]);
    ship(&other, &url, "other");
    crate::support::terminate(&mut first);
}

/// Wrong password, missing database, a newer schema, a bad host id, a bad
/// URL: exit 2 with a message naming the cause; nothing waits forever.
#[test]
fn bad_configuration_fails_at_once_with_exit_2() {
    let Some(cluster) = Cluster::shared("bad_configuration_fails_at_once_with_exit_2") else {
        return;
    };
    let env = Env::new();
    env.ok(&["append", "t1", "events", r#"{"event":"message"}"#]);
    let url = cluster.database();
    let cases = [
        (
            url.replace("tasklog:tasklog@", "tasklog:wrong@"),
            "password authentication failed",
        ),
        (url.replace("/t_", "/missing_t_"), "does not exist"),
        (
            "postgres://tasklog@127.0.0.1:notaport/x".to_owned(),
            "invalid PostgreSQL URL",
        ),
        // A server without TLS: `require` never falls back to plain.
        (
            url.replace("sslmode=disable", "sslmode=require"),
            "server does not support TLS",
        ),
        (
            url.replace("sslmode=disable", "sslmode=allow"),
            "sslmode=\"allow\" is not one of",
        ),
    ];
    for (bad, expected) in &cases {
        let out = env.run(&["--host-id", "h", "index", "--sink", bad]);
        assert_eq!(code(&out), 2, "{bad}");
        assert!(stderr(&out).contains(expected), "{bad}: {}", stderr(&out));
        assert!(
            !stderr(&out).contains(":tasklog@") && !stderr(&out).contains(":wrong@"),
            "password shown: {}",
            stderr(&out)
        );
    }
    let out = env.run(&["--host-id", "bad/host", "index", "--sink", &url]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("host id \"bad/host\""),
        "{}",
        stderr(&out)
    );
    // A schema newer than this build.
    ship(&env, &url, "h");
    pg_support::client(&url)
        .execute("INSERT INTO schema_migrations VALUES (99, 'later')", &[])
        .unwrap();
    for args in [
        vec!["--host-id", "h", "index", "--sink", url.as_str()],
        vec!["--db", url.as_str(), "query", "SELECT 1"],
    ] {
        let out = env.run(&args);
        assert_eq!(code(&out), 2, "{args:?}");
        assert!(
            stderr(&out).contains("schema version 99 is newer"),
            "{}",
            stderr(&out)
        );
    }
    // A command that needs SQLite says so.
    let out = env.run(&["--db", url.as_str(), "verify", "--archives"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("needs a SQLite index"),
        "{}",
        stderr(&out)
    );
}

/// Truncation, a rewritten file, a removed stream and a removed task move
/// the old rows to `superseded_records`; what is left equals the files.
#[test]
fn generations_and_removals_on_postgres_equal_the_files() {
    let Some(cluster) = Cluster::shared("generations_and_removals_on_postgres_equal_the_files")
    else {
        return;
    };
    let url = cluster.database();
    let env = Env::new();
    for task in ["keep", "gone"] {
        for i in 0..5 {
            env.ok(&[
                "append",
                task,
                "events",
                &format!(r#"{{"event":"message","i":{i}}}"#),
            ]);
            env.ok(&[
                "append",
                task,
                "other",
                &format!(r#"{{"event":"message","i":{i}}}"#),
            ]);
        }
    }
    ship(&env, &url, "h");
    // A new generation of keep/events (truncated, then shorter content),
    // keep/other removed, the task `gone` removed, in one catch-up.
    std::fs::write(
        env.stream("keep", "events"),
        "{\"event\":\"message\",\"again\":1}\n",
    )
    .unwrap();
    std::fs::remove_file(env.stream("keep", "other")).unwrap();
    std::fs::remove_dir_all(env.task_dir("gone")).unwrap();
    ship(&env, &url, "h");
    assert_eq!(
        pg_support::rows(&url, "h", "keep", "events"),
        expected_rows(&env.stream("keep", "events"))
    );
    assert_eq!(pg_support::count(&url, "SELECT count(*) FROM records"), 1);
    assert_eq!(
        pg_support::count(&url, "SELECT count(*) FROM superseded_records"),
        20
    );
    assert_eq!(pg_support::count(&url, "SELECT count(*) FROM tasks"), 1);
    pg_support::verify_equal(&env, &url, "h");
    // Appends after the rotation continue the new generation.
    env.ok(&[
        "append",
        "keep",
        "events",
        r#"{"event":"message","again":2}"#,
    ]);
    ship(&env, &url, "h");
    assert_eq!(
        pg_support::rows(&url, "h", "keep", "events"),
        expected_rows(&env.stream("keep", "events"))
    );
}

/// `show`, `export` and `tail` of a task on PostgreSQL give the SQLite index's
/// timeline and sections for the same files; a task of another host is
/// reached with --host-id.
#[test]
fn show_export_and_tail_answer_from_postgres_as_from_sqlite() {
    let Some(cluster) = Cluster::shared("show_export_and_tail_answer_from_postgres_as_from_sqlite")
    else {
        return;
    };
    let url = cluster.database();
    let env = Env::new();
    fixture(&env);
    ship(&env, &url, "h1");
    env.ok(&["index"]);
    let json =
        |out: &std::process::Output| -> Value { serde_json::from_slice(&out.stdout).unwrap() };
    let pg = json(&env.ok(&["--db", &url, "--host-id", "h1", "export", "gh-450"]));
    let sqlite = json(&env.ok(&["export", "gh-450"]));
    for section in ["documents", "records", "tool_calls", "cost"] {
        assert_eq!(pg[section], sqlite[section], "export {section}");
    }
    assert_eq!(
        pg["api_calls"].as_array().unwrap().len(),
        sqlite["api_calls"].as_array().unwrap().len()
    );
    let columns = |v: &Value| -> Vec<(Value, Value, Value)> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| (r["!"].clone(), r["event"].clone(), r["source"].clone()))
            .collect()
    };
    let pg = json(&env.ok(&[
        "--db",
        &url,
        "--host-id",
        "h1",
        "show",
        "gh-450",
        "--format",
        "json",
    ]));
    let sqlite = json(&env.ok(&["show", "gh-450", "--format", "json"]));
    assert_eq!(columns(&pg), columns(&sqlite));
    // tail prints the same records, exactly as written.
    let tail_pg = env.ok(&[
        "--db",
        &url,
        "--host-id",
        "h1",
        "tail",
        "gh-450",
        "-n",
        "0",
        "--format",
        "jsonl",
    ]);
    let tail_sqlite = env.ok(&["tail", "gh-450", "-n", "0", "--format", "jsonl"]);
    assert_eq!(stdout(&tail_pg), stdout(&tail_sqlite));
    assert!(stdout(&tail_pg).lines().count() > 20);
    // The task is h1's: another host id does not see it.
    let out = env.run(&["--db", &url, "--host-id", "h2", "show", "gh-450"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
}

/// PostgreSQL's jsonb refuses the escape `\u0000`, which JSON allows: such
/// a line keeps its exact body with `doc` NULL; an escaped backslash
/// before `u0000` is no such escape and gets its `doc`.
#[test]
fn a_nul_escape_keeps_its_body_and_has_no_jsonb() {
    let Some(cluster) = Cluster::shared("a_nul_escape_keeps_its_body_and_has_no_jsonb") else {
        return;
    };
    let url = cluster.database();
    let env = Env::new();
    let lines = [
        r#"{"event":"message","content":"a\u0000b"}"#,
        r#"{"event":"message","content":"a\\u0000b"}"#,
        r#"{"event":"message","content":"a\\\u0000b"}"#,
    ];
    for line in lines {
        crate::support::append_raw(&env.stream("t1", "events"), format!("{line}\n").as_bytes());
    }
    ship(&env, &url, "h");
    let rows: Vec<(String, bool)> = pg_support::client(&url)
        .query(
            r#"SELECT body, doc IS NULL FROM records ORDER BY "offset""#,
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let expected: Vec<(String, bool)> = lines
        .iter()
        .zip([true, false, true])
        .map(|(l, nul)| (l.to_string(), nul))
        .collect();
    assert_eq!(rows, expected);
    pg_support::verify_equal(&env, &url, "h");
}
