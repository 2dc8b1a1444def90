//! What a task is (issue 20): two days of tasks written only with
//! `tasklog put` / `append` (30 in the structured task logging design's
//! layout, folders shaped like imports, a TAC-8 task of `task.status`
//! records), and every fact of every task checked on SQLite and on
//! PostgreSQL against the times and statuses the fixture wrote.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::pg_support::Cluster;
use crate::support::{code, stderr, stdout, Env};

/// The facts a test checks, in the board's names.
const FACTS: &[&str] = &[
    "title",
    "status",
    "started_at",
    "finished_at",
    "duration_ms",
    "last_activity_at",
    "project",
    "git_branch",
    "agent",
    "models",
    "error_count",
];

/// `2024-03-01T00:00:00Z` plus `s` seconds (within March to May), as the
/// design writes a time.
fn at(s: u64) -> String {
    let (mut d, h, m, sec) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60, s % 60);
    let mut month = 3;
    for days in [31, 30, 31] {
        if d < days {
            break;
        }
        d -= days;
        month += 1;
    }
    format!("2024-{month:02}-{:02}T{h:02}:{m:02}:{sec:02}Z", d + 1)
}

/// The same instant as the facts give it (UTC, milliseconds).
fn fact_at(s: u64) -> Value {
    let t = at(s);
    Value::String(format!("{}.000Z", &t[..19]))
}

fn put(env: &Env, task: &str, doc: &str, body: Value) {
    env.ok(&["put", task, doc, &body.to_string()]);
}

fn append(env: &Env, task: &str, stream: &str, body: Value) {
    env.ok(&["append", task, stream, &body.to_string()]);
}

/// Design task `i`: 20 completed (every fifth with a failed tool), 7
/// failed, 3 running. Returns the expected facts.
fn design_task(env: &Env, i: u64) -> (String, Value) {
    let id = format!("design-{i:02}");
    let created = i * 3600;
    let dur = 60 + 7 * i;
    let agent = if i % 2 == 1 { "brain" } else { "worker" };
    let model = "claude-opus-4-5-20251101";
    put(
        env,
        &id,
        "metadata",
        json!({"task_id": id, "source": "webhook", "provider": "github", "created_at": at(created),
               "started_at": at(created + 1), "status": "running", "assigned_agent": agent,
               "agent_type": "planning", "model": model}),
    );
    put(
        env,
        &id,
        "01-input",
        json!({"message": format!("Review PR {i}\nwith care"),
               "source_metadata": {"provider": "github", "repo": format!("owner/repo{}", i % 3)}}),
    );
    // Agent output first, the webhook stages after it: their own times
    // must still put the stages first.
    let out = "03-agent-output";
    append(
        env,
        &id,
        out,
        json!({"timestamp": at(created + 5), "type": "output", "content": "[SYSTEM] Task started\n"}),
    );
    append(
        env,
        &id,
        out,
        json!({"timestamp": at(created + 10), "event": "llm.call",
               "gen_ai": {"request": {"model": model}, "usage": {"input_tokens": 100, "output_tokens": 10, "cost": {"amount": 0.01}}}}),
    );
    let tool_failed = i < 20 && i % 5 == 0;
    if tool_failed {
        append(
            env,
            &id,
            out,
            json!({"timestamp": at(created + 20), "event": "tool.fail", "name": "Bash", "error": "exit 1"}),
        );
    }
    append(
        env,
        &id,
        out,
        json!({"timestamp": at(created + dur - 5), "type": "output", "content": "Analysis complete\n"}),
    );
    for (n, stage) in ["received", "validation", "command_matching", "task_created"]
        .iter()
        .enumerate()
    {
        append(
            env,
            &id,
            "02-webhook-flow",
            json!({"timestamp": at(created + n as u64), "stage": stage}),
        );
    }
    let (status, finished, errors) = match i {
        0..20 => {
            put(
                env,
                &id,
                "04-final-result",
                json!({"success": true, "result": "done", "error": null,
                       "metrics": {"cost_usd": 0.01, "input_tokens": 100, "output_tokens": 10, "duration_seconds": dur},
                       "completed_at": at(created + dur)}),
            );
            let status = if tool_failed {
                "completed_with_errors"
            } else {
                "completed"
            };
            (status, Some(created + dur), u64::from(tool_failed))
        }
        20..27 => {
            put(
                env,
                &id,
                "04-final-result",
                json!({"success": false, "result": null, "error": format!("boom {i}"),
                       "metrics": {"cost_usd": 0.01}, "completed_at": at(created + dur)}),
            );
            ("failed", Some(created + dur), 1)
        }
        _ => ("running", None, 0),
    };
    let expected = json!({
        "title": format!("Review PR {i} with care"),
        "status": status,
        "started_at": fact_at(created),
        "finished_at": finished.map(fact_at),
        "duration_ms": finished.map(|f| (f - created) * 1000),
        "last_activity_at": fact_at(finished.unwrap_or(created + dur - 5)),
        "project": format!("owner/repo{}", i % 3),
        "git_branch": null,
        "agent": agent,
        "models": model,
        "error_count": errors,
    });
    (id, expected)
}

/// Folders shaped like imports (task.json with the board's keys), one of
/// a source without any time, and a TAC-8 task of `task.status` records.
fn other_tasks(env: &Env) -> Vec<(String, Value)> {
    let day = 70 * 86_400; // 2024-05-10
    put(
        env,
        "imp-claude",
        "task",
        json!({"title": "Fix the flaky test", "status": "completed", "agent": "claude-code",
               "project": "/home/u/proj", "git_branch": "main", "started_at": at(day),
               "finished_at": at(day + 284), "models": ["claude-sonnet-4-5"]}),
    );
    append(
        env,
        "imp-claude",
        "session",
        json!({"ts": at(day), "event": "message", "role": "user", "content": "fix"}),
    );
    append(
        env,
        "imp-claude",
        "session",
        json!({"ts": at(day + 100), "event": "tool.fail", "name": "Bash", "error": "exit 2"}),
    );
    append(
        env,
        "imp-claude",
        "session",
        json!({"ts": at(day + 284), "event": "message", "role": "assistant", "content": "done"}),
    );

    put(
        env,
        "imp-codex",
        "task",
        json!({"title": "Port the parser", "status": "completed", "agent": "codex", "project": "/src/app",
               "git_branch": "feature/x", "started_at": at(day + 1000), "finished_at": at(day + 4600),
               "models": ["gpt-5-mini"]}),
    );
    append(
        env,
        "imp-codex",
        "rollout",
        json!({"ts": at(day + 1000), "event": "message", "role": "user", "content": "port"}),
    );
    append(
        env,
        "imp-codex",
        "rollout",
        json!({"ts": at(day + 2000), "event": "llm.call", "gen_ai": {"request": {"model": "gpt-5"}, "usage": {"input_tokens": 5, "output_tokens": 5}}}),
    );

    // A source without timestamps: `"ts": null` keeps append from
    // stamping one, as an importer writes such records.
    put(
        env,
        "imp-swe",
        "task",
        json!({"title": "  Solve issue 7\n", "status": "imported", "agent": "swe-agent",
               "started_at": null, "finished_at": null, "models": []}),
    );
    append(
        env,
        "imp-swe",
        "trajectory",
        json!({"ts": null, "event": "message", "role": "user", "content": "solve"}),
    );
    append(
        env,
        "imp-swe",
        "trajectory",
        json!({"ts": null, "event": "message", "role": "assistant", "content": "ok"}),
    );
    // Its model call has no time either: in no day, so not in `cost
    // --today` although indexed today (check_cost_days).
    append(
        env,
        "imp-swe",
        "trajectory",
        json!({"ts": null, "event": "llm.call", "gen_ai": {"request": {"model": "gpt-4o"}, "usage": {"input_tokens": 2, "output_tokens": 2, "cost": {"amount": 0.25}}}}),
    );

    // TAC-8: the status history only.
    for (n, status) in ["detected", "active", "completed"].iter().enumerate() {
        append(
            env,
            "tac8-gh-450",
            "events",
            json!({"timestamp": at(day + 5000 + 50 * n as u64), "event": "task.status", "status": status}),
        );
    }
    // A TAC-8 coordinator session: ended, so completed.
    append(
        env,
        "ses-a1",
        "session",
        json!({"timestamp": at(day + 6000), "event": "session.start", "session_id": "ses-a1", "details": {"git_branch": "main"}}),
    );
    append(
        env,
        "ses-a1",
        "session",
        json!({"timestamp": at(day + 6030), "event": "session.end", "session_id": "ses-a1", "exit_reason": "done"}),
    );
    vec![
        (
            "ses-a1".into(),
            json!({"title": null, "status": "completed", "started_at": fact_at(day + 6000),
                   "finished_at": fact_at(day + 6030), "duration_ms": 30_000, "last_activity_at": fact_at(day + 6030),
                   "project": null, "git_branch": "main", "agent": null, "models": null, "error_count": 0}),
        ),
        (
            "imp-claude".into(),
            json!({"title": "Fix the flaky test", "status": "completed_with_errors", "started_at": fact_at(day),
                   "finished_at": fact_at(day + 284), "duration_ms": 284_000, "last_activity_at": fact_at(day + 284),
                   "project": "/home/u/proj", "git_branch": "main", "agent": "claude-code",
                   "models": "claude-sonnet-4-5", "error_count": 1}),
        ),
        (
            "imp-codex".into(),
            json!({"title": "Port the parser", "status": "completed", "started_at": fact_at(day + 1000),
                   "finished_at": fact_at(day + 4600), "duration_ms": 3_600_000, "last_activity_at": fact_at(day + 4600),
                   "project": "/src/app", "git_branch": "feature/x", "agent": "codex",
                   "models": "gpt-5,gpt-5-mini", "error_count": 0}),
        ),
        (
            "imp-swe".into(),
            json!({"title": "Solve issue 7", "status": "completed", "started_at": null, "finished_at": null,
                   "duration_ms": null, "last_activity_at": null, "project": null, "git_branch": null,
                   "agent": "swe-agent", "models": "gpt-4o", "error_count": 0}),
        ),
        (
            "tac8-gh-450".into(),
            json!({"title": null, "status": "completed", "started_at": fact_at(day + 5000),
                   "finished_at": fact_at(day + 5100), "duration_ms": 100_000, "last_activity_at": fact_at(day + 5100),
                   "project": null, "git_branch": null, "agent": null, "models": null, "error_count": 0}),
        ),
    ]
}

/// Every task of the fixture with its expected facts.
fn fixture(env: &Env) -> BTreeMap<String, Value> {
    let mut all: BTreeMap<String, Value> = (0..30).map(|i| design_task(env, i)).collect();
    all.extend(other_tasks(env));
    all
}

/// `tasklog [prefix] tasks ARGS --format json` as rows keyed by task id.
fn tasks(env: &Env, prefix: &[&str], args: &[&str]) -> Vec<Value> {
    let mut all = prefix.to_vec();
    all.push("tasks");
    all.extend(args);
    all.extend(["--format", "json"]);
    let out = env.run(&all);
    match code(&out) {
        0 => serde_json::from_slice(&out.stdout).unwrap(),
        1 => Vec::new(),
        _ => panic!("tasks {args:?}: {}", stderr(&out)),
    }
}

fn ids(rows: &[Value]) -> Vec<String> {
    rows.iter()
        .map(|r| r["task_id"].as_str().unwrap().to_owned())
        .collect()
}

/// Every fact of every task, and the filters and sorts, through the CLI
/// on the index `prefix` names (nothing: SQLite).
fn check_facts(env: &Env, prefix: &[&str], expected: &BTreeMap<String, Value>, what: &str) {
    let rows = tasks(env, prefix, &[]);
    assert_eq!(
        rows.len(),
        expected.len(),
        "{what}: {}",
        ids(&rows).join(" ")
    );
    for row in &rows {
        let id = row["task_id"].as_str().unwrap();
        let want = &expected[id];
        for fact in FACTS {
            assert_eq!(row[fact], want[fact], "{what}: {id}: {fact}");
        }
    }
    // A task whose start is unknown sorts last.
    assert_eq!(
        ids(&rows).last().map(String::as_str),
        Some("imp-swe"),
        "{what}"
    );
    let with = |status: &str| -> Vec<String> {
        expected
            .iter()
            .filter(|(_, v)| v["status"] == status)
            .map(|(k, _)| k.clone())
            .collect()
    };
    let mut failed = ids(&tasks(env, prefix, &["--status", "failed"]));
    failed.sort();
    assert_eq!(failed, with("failed"), "{what}");
    let mut running = ids(&tasks(env, prefix, &["--status", "running"]));
    running.sort();
    assert_eq!(running, with("running"), "{what}");
    let mut errors = ids(&tasks(env, prefix, &["--errors"]));
    errors.sort();
    let want: Vec<String> = expected
        .iter()
        .filter(|(_, v)| v["error_count"].as_u64().unwrap() > 0)
        .map(|(k, _)| k.clone())
        .collect();
    assert_eq!(errors, want, "{what}");
    assert_eq!(
        ids(&tasks(env, prefix, &["--agent", "codex"])),
        ["imp-codex"],
        "{what}"
    );
    assert_eq!(
        ids(&tasks(env, prefix, &["--project", "owner/repo1"])).len(),
        10,
        "{what}"
    );
    assert_eq!(
        ids(&tasks(env, prefix, &["--sort", "duration", "--limit", "2"])),
        ["imp-codex", "imp-claude"],
        "{what}"
    );
    assert_eq!(
        ids(&tasks(
            env,
            prefix,
            &["--sort", "duration", "--asc", "--limit", "2"]
        )),
        ["ses-a1", "design-00"],
        "{what}"
    );
    assert_eq!(
        ids(&tasks(
            env,
            prefix,
            &["--sort", "last-activity", "--limit", "2"]
        )),
        ["today", "ses-a1"],
        "{what}"
    );
}

fn index(env: &Env) {
    let out = env.run(&["index"]);
    assert_eq!(code(&out), 0, "index: {}", stderr(&out));
}

/// The design's webhook stages sort by their own times, before agent
/// output appended earlier (on the index `prefix` names: the SQL is
/// SQLite's, or PostgreSQL's with `doc`); `cost --today` leaves out calls
/// of old days and calls without a time.
fn check_times(env: &Env, prefix: &[&str], what: &str) {
    let stage = if prefix.is_empty() {
        "json_extract(body, '$.stage')"
    } else {
        "doc ->> 'stage'"
    };
    let sql = format!(
        "SELECT {stage} AS stage FROM records WHERE task_id = 'design-03' ORDER BY ts, stream LIMIT 5"
    );
    let mut args = prefix.to_vec();
    args.extend(["query", &sql, "--format", "jsonl"]);
    let out = env.ok(&args);
    let stages: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["stage"].clone())
        .collect();
    assert_eq!(
        stages,
        [
            json!("received"),
            json!("validation"),
            json!("command_matching"),
            json!("task_created"),
            Value::Null
        ],
        "{what}"
    );
    check_cost_days(env, prefix, what);
}

/// `cost --by task` on the index `prefix` names: today's one call alone
/// under `--today` (old calls carry their own old times; imp-swe's call
/// has no time, so no day), and imp-swe's call among the totals.
fn check_cost_days(env: &Env, prefix: &[&str], what: &str) {
    let cost = |range: &[&str]| -> BTreeMap<String, f64> {
        let mut args = prefix.to_vec();
        args.extend(["cost", "--by", "task", "--format", "jsonl"]);
        args.extend(range);
        let out = env.run(&args);
        assert!(code(&out) <= 1, "{what}: cost {range:?}: {}", stderr(&out));
        let mut by_task = BTreeMap::new();
        for line in stdout(&out).lines() {
            let row: Value = serde_json::from_str(line).unwrap();
            let task = row["task_id"].as_str().unwrap_or_default().to_owned();
            *by_task.entry(task).or_default() += row["cost_usd"].as_f64().unwrap_or(0.0);
        }
        by_task
    };
    let today = cost(&["--today"]);
    assert_eq!(
        today.keys().collect::<Vec<_>>(),
        ["today"],
        "{what}: today {today:?}"
    );
    assert!((today["today"] - 0.5).abs() < 1e-9, "{what}: {today:?}");
    let all = cost(&[]);
    assert!(
        (all.get("imp-swe").copied().unwrap_or_default() - 0.25).abs() < 1e-9,
        "{what}: all {all:?}"
    );
    assert!(
        !cost(&["--since", "2024-01-01"]).contains_key("imp-swe"),
        "{what}: a timeless call is in no range"
    );
}

/// Files change: a task goes on after its result, a result is removed, a
/// task.json is written again, a stream with a failed tool is replaced.
fn change_files(env: &Env, expected: &mut BTreeMap<String, Value>) {
    // design-01 goes on 100 s after its result.
    let later = 3600 + 60 + 7 + 100;
    append(
        env,
        "design-01",
        "03-agent-output",
        json!({"timestamp": at(later), "type": "output", "content": "more\n"}),
    );
    let e = expected.get_mut("design-01").unwrap();
    e["finished_at"] = fact_at(later);
    e["last_activity_at"] = fact_at(later);
    e["duration_ms"] = json!((later - 3600) * 1000);
    // design-02's result is removed: running again, as its metadata says.
    std::fs::remove_file(env.task_dir("design-02").join("04-final-result.json")).unwrap();
    let e = expected.get_mut("design-02").unwrap();
    e["status"] = json!("running");
    e["finished_at"] = Value::Null;
    e["duration_ms"] = Value::Null;
    e["last_activity_at"] = fact_at(2 * 3600 + 60 + 14 - 5);
    // imp-codex is imported again as failed.
    let day = 70 * 86_400;
    put(
        env,
        "imp-codex",
        "task",
        json!({"title": "Port the parser", "status": "failed", "agent": "codex", "project": "/src/app",
               "git_branch": "feature/x", "started_at": at(day + 1000), "finished_at": at(day + 4600),
               "models": ["gpt-5-mini"]}),
    );
    expected.get_mut("imp-codex").unwrap()["status"] = json!("failed");
    // design-05's output is written again without its failed tool.
    let path = env.stream("design-05", "03-agent-output");
    std::fs::remove_file(&path).unwrap();
    let created = 5 * 3600;
    append(
        env,
        "design-05",
        "03-agent-output",
        json!({"timestamp": at(created + 5), "type": "output", "content": "again\n"}),
    );
    let e = expected.get_mut("design-05").unwrap();
    e["status"] = json!("completed");
    e["error_count"] = json!(0);
    e["models"] = json!("claude-opus-4-5-20251101"); // metadata.json's model
}

#[test]
fn every_fact_of_every_task_on_sqlite_and_postgres() {
    let env = Env::new();
    let mut expected = fixture(&env);
    // Today's one call; every other call has an old time of its own.
    append(
        &env,
        "today",
        "calls",
        json!({"event": "llm.call", "gen_ai": {"request": {"model": "m"}, "usage": {"input_tokens": 1, "output_tokens": 1, "cost": {"amount": 0.5}}}}),
    );
    index(&env);
    let today = tasks(&env, &[], &["--limit", "100"])
        .into_iter()
        .find(|r| r["task_id"] == "today")
        .expect("today's task");
    assert_eq!(today["status"], "running");
    expected.insert("today".into(), {
        let mut v = json!({});
        for fact in FACTS {
            v[fact] = today[fact].clone();
        }
        v
    });
    check_facts(&env, &[], &expected, "sqlite");
    assert_eq!(tasks(&env, &[], &["--status", "failed"]).len(), 7);
    assert_eq!(tasks(&env, &[], &["--status", "running"]).len(), 3 + 1); // and today's
    check_times(&env, &[], "sqlite");
    env.ok(&["verify"]);
    // The same files shipped to PostgreSQL, before and after they change
    // (its facts are views: they must follow superseded rows too).
    let cluster = Cluster::shared("every_fact_of_every_task_on_sqlite_and_postgres");
    let url = cluster.as_ref().map(Cluster::database);
    let pg = url.as_deref().map(|url| ["--db", url, "--host-id", "h1"]);
    let ship = |env: &Env| {
        if let Some(url) = &url {
            let out = env.run(&["--host-id", "h1", "index", "--sink", url]);
            assert_eq!(code(&out), 0, "index --sink: {}", stderr(&out));
        }
    };
    ship(&env);
    if let Some(pg) = &pg {
        check_facts(&env, pg, &expected, "postgres");
        check_times(&env, pg, "postgres");
    }

    change_files(&env, &mut expected);
    index(&env);
    check_facts(&env, &[], &expected, "sqlite after changes");
    ship(&env);
    if let Some(pg) = &pg {
        check_facts(&env, pg, &expected, "postgres after changes");
        crate::pg_support::verify_equal(&env, pg[1], "h1");
    }
    let out = env.run(&["verify"]);
    assert_eq!(code(&out), 0, "verify: {}{}", stdout(&out), stderr(&out));

    // verify compares the kept aggregate with a fresh count.
    rusqlite::Connection::open(&env.db)
        .unwrap()
        .execute(
            "UPDATE task_activity SET errors = errors + 1 WHERE task_id = 'design-07'",
            [],
        )
        .unwrap();
    let out = env.run(&["verify"]);
    assert_ne!(code(&out), 0, "verify missed a changed task_activity");
    assert!(
        stdout(&out).contains("task_activity") || stderr(&out).contains("task_activity"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );

    // A fresh index of the same files gives the same facts.
    std::fs::remove_file(&env.db).unwrap();
    index(&env);
    check_facts(&env, &[], &expected, "sqlite rebuilt");
}
