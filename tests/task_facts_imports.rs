//! What a task is, for imported sessions (issue 20): the sessions of every
//! format in the import fixtures, imported and indexed, give `tasks` the
//! facts their `task.json` carries (title, status, agent, project, branch,
//! the sources' own first and last times, models), with a duration equal
//! to the sources' span, on SQLite and on PostgreSQL alike.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::import_support::{fixture, import};
use crate::pg_support::Cluster;
use crate::support::{code, stderr, Env};

/// A task.json time (`2026-03-02T09:00:09.200000Z`, as importers write it)
/// as the facts give it (UTC, milliseconds); JSON null stays null.
fn fact_time(v: &Value) -> Value {
    let Some(t) = v.as_str() else {
        return Value::Null;
    };
    assert!(
        t.len() == 27 && t.ends_with('Z') && &t[19..20] == ".",
        "an importer's time: {t}"
    );
    json!(format!("{}Z", &t[..23]))
}

/// Milliseconds since the epoch of a fact time.
fn millis(v: &Value) -> i64 {
    let t = v.as_str().unwrap();
    let days = |y: i64, m: i64, d: i64| {
        // Days from civil (Howard Hinnant's algorithm).
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
        era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
    };
    let n = |a: usize, b: usize| t[a..b].parse::<i64>().unwrap();
    let day = days(n(0, 4), n(5, 7), n(8, 10));
    ((day * 24 + n(11, 13)) * 60 + n(14, 16)) * 60_000 + n(17, 19) * 1000 + n(20, 23)
}

/// The facts `tasks` must give an imported task, from its task.json.
fn expected(doc: &Value) -> Value {
    let title: String = doc["title"]
        .as_str()
        .unwrap()
        .replace(['\r', '\n'], " ")
        .trim()
        .chars()
        .take(120)
        .collect();
    let started = fact_time(&doc["started_at"]);
    let finished = fact_time(&doc["finished_at"]);
    let duration = if started.is_null() || finished.is_null() {
        Value::Null
    } else {
        json!(millis(&finished) - millis(&started))
    };
    json!({
        "title": title.trim_end(),
        "status": doc["status"],
        "agent": doc["agent"],
        "project": doc.get("project").cloned().unwrap_or(Value::Null),
        "git_branch": doc.get("git_branch").cloned().unwrap_or(Value::Null),
        "started_at": started,
        "finished_at": finished,
        "duration_ms": duration,
    })
}

fn tasks(env: &Env, prefix: &[&str]) -> BTreeMap<String, Value> {
    let mut args = prefix.to_vec();
    args.extend(["tasks", "--limit", "1000", "--format", "json"]);
    let out = env.run(&args);
    assert_eq!(code(&out), 0, "tasks {prefix:?}: {}", stderr(&out));
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    rows.into_iter()
        .map(|r| (r["task_id"].as_str().unwrap().to_owned(), r))
        .collect()
}

#[test]
fn imported_sessions_of_every_format_have_their_facts_on_both_stores() {
    let env = Env::new();
    let (status, _) = import(&env, &["auto", fixture("").to_str().unwrap()]);
    assert_eq!(status, 0);
    let mut docs = BTreeMap::new();
    for entry in std::fs::read_dir(&env.root).unwrap().flatten() {
        let path = entry.path().join("task.json");
        if let Ok(bytes) = std::fs::read(&path) {
            let doc: Value = serde_json::from_slice(&bytes).unwrap();
            docs.insert(entry.file_name().into_string().unwrap(), doc);
        }
    }
    let agents: std::collections::BTreeSet<&str> =
        docs.values().filter_map(|d| d["agent"].as_str()).collect();
    assert!(agents.len() >= 7, "every format: {agents:?}");
    let out = env.run(&["index"]);
    assert_eq!(code(&out), 0, "index: {}", stderr(&out));

    let check = |rows: &BTreeMap<String, Value>, what: &str| {
        for (task, doc) in &docs {
            let row = rows
                .get(task)
                .unwrap_or_else(|| panic!("{what}: {task} missing"));
            let want = expected(doc);
            for (fact, value) in want.as_object().unwrap() {
                assert_eq!(&row[fact], value, "{what}: {task}: {fact}");
            }
            // The models of task.json are among the task's models.
            let models = row["models"].as_str().unwrap_or_default();
            for m in doc["models"].as_array().into_iter().flatten() {
                let m = m.as_str().unwrap();
                assert!(
                    models.split(',').any(|x| x == m),
                    "{what}: {task}: {m} not in {models}"
                );
            }
        }
    };
    check(&tasks(&env, &[]), "sqlite");

    let Some(cluster) =
        Cluster::shared("imported_sessions_of_every_format_have_their_facts_on_both_stores")
    else {
        return;
    };
    let url = cluster.database();
    let out = env.run(&["--host-id", "h1", "index", "--sink", &url]);
    assert_eq!(code(&out), 0, "index --sink: {}", stderr(&out));
    check(&tasks(&env, &["--db", &url, "--host-id", "h1"]), "postgres");
}
