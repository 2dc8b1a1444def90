//! `tasklog serve --db postgres://...` (issue 19): the API the dashboard
//! reads answers the same as a server over the SQLite index of the same
//! files, endpoint by endpoint, values compared in order; new records of
//! any host reach its event stream; `--host-id` narrows every answer to one
//! host of the shared index. Against a real PostgreSQL server.

use std::time::Duration;

use serde_json::{Map, Value};

use crate::pg_scenarios::comparable_value;
use crate::pg_support::Cluster;
use crate::query_fixture::{append_raw, fixture};
use crate::serve_support::fixture::{append, screenshot_dir, write_rich_task, Server, LONG};
use crate::serve_support::http::{request, Sse};
use crate::serve_support::webdriver;
use crate::support::{code, stderr, Env};

/// Keys whose values each database numbers for itself (record and row
/// ids), or that say when or where it answered (the time it first saw a
/// task or a bad line): left out of comparisons.
fn own(key: &str, value: &Value) -> bool {
    key == "host_id"
        || key == "elapsed_ms"
        || key == "detected_at"
        || key == "first_seen_at"
        || ((key == "id" || key == "at" || key.ends_with("_id")) && value.is_number())
}

/// `value` without what [`own`] names; record keys (`r123`) and cursors
/// (`ts~123`) lose their ids; numbers rounded as the view parity does.
fn comparable(value: &Value) -> Value {
    match value {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, v)| !own(k, v))
                // A quarantined line's time is when the indexer read it.
                .filter(|(k, _)| {
                    !(k.as_str() == "ts" && m.get("event") == Some(&"quarantined".into()))
                })
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        ("key", Value::String(s)) if s.starts_with('r') => Value::from("r#"),
                        ("first" | "last", Value::String(s)) => {
                            Value::from(s.rsplit_once('~').map_or(s.as_str(), |(ts, _)| ts))
                        }
                        _ => comparable(v),
                    };
                    (k.clone(), v)
                })
                .collect::<Map<_, _>>(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(comparable).collect()),
        other => comparable_value(other),
    }
}

fn ship(env: &Env, url: &str, host: &str) {
    let out = env.run(&["--host-id", host, "index", "--sink", url]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

/// The two servers' answers to `path`, as JSON.
fn both(sqlite: &Server, pg: &Server, path: &str) -> (Value, Value) {
    let (a, b) = (sqlite.get(path), pg.get(path));
    assert_eq!(a.status, 200, "SQLite {path}: {}", a.text());
    assert_eq!(b.status, 200, "PostgreSQL {path}: {}", b.text());
    (a.json(), b.json())
}

fn alike(sqlite: &Server, pg: &Server, path: &str) -> Value {
    let (a, b) = both(sqlite, pg, path);
    assert_eq!(comparable(&b), comparable(&a), "{path}");
    a
}

#[test]
fn the_api_answers_alike_over_postgres_and_sqlite() {
    let Some(cluster) = Cluster::shared("the_api_answers_alike_over_postgres_and_sqlite") else {
        return;
    };
    let url = cluster.database();
    let env = Env::new();
    fixture(&env);
    ship(&env, &url, "h1");
    env.ok(&["index"]);
    let sqlite = Server::start(&env, &["--no-index"], &[]);
    let pg = Server::start(&env, &["--db", &url, "--host-id", "h1"], &[]);

    let list = alike(&sqlite, &pg, "/api/tasks");
    let ids: Vec<String> = list["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["task_id"].as_str().map(str::to_owned))
        .collect();
    assert!(ids.len() >= 3, "{list}");
    for query in [
        "?sort=cost",
        "?sort=duration&order=asc",
        "?errors=1",
        "?status=failed",
        "?text=gh&limit=1&offset=1",
        "?since=2020-01-01&until=7d",
    ] {
        alike(&sqlite, &pg, &format!("/api/tasks{query}"));
    }
    let mut transcript_items = 0;
    for id in &ids {
        alike(&sqlite, &pg, &format!("/api/tasks/{id}"));
        alike(&sqlite, &pg, &format!("/api/tasks/{id}/overview"));
        alike(&sqlite, &pg, &format!("/api/tasks/{id}/logs/full"));
        let page = alike(&sqlite, &pg, &format!("/api/tasks/{id}/transcript?limit=3"));
        transcript_items += page["items"].as_array().map_or(0, Vec::len);
        // Paging forwards from the first page's end, and back from it.
        if let Some(last) = page["last"].as_str() {
            let (a, b) = both(
                &sqlite,
                &pg,
                &format!("/api/tasks/{id}/transcript?limit=3&after={last}"),
            );
            assert_eq!(
                comparable(&b["items"]),
                comparable(&a["items"]),
                "{id} page 2"
            );
        }
        for source in ["0", "1"] {
            alike(
                &sqlite,
                &pg,
                &format!("/api/tasks/{id}/transcript?source={source}"),
            );
        }
        for format in ["markdown", "html"] {
            let path = format!("/api/tasks/{id}/export?format={format}");
            let (a, b) = (sqlite.get(&path), pg.get(&path));
            assert_eq!((a.status, b.status), (200, 200), "{path}");
            assert_eq!(b.text(), a.text(), "{path}");
            // The CLI's export is the same file, from either store.
            let cli = env.run(&[
                "--db",
                &url,
                "--host-id",
                "h1",
                "export",
                id,
                "--format",
                format,
            ]);
            assert_eq!(code(&cli), 0, "{}", stderr(&cli));
            assert_eq!(
                String::from_utf8_lossy(&cli.stdout),
                a.text(),
                "export {id} {format}"
            );
        }
    }
    assert!(transcript_items >= 5, "the fixture has a transcript");
    for by in [
        "model",
        "day",
        "task",
        "provider",
        "project",
        "agent",
        "day,model",
    ] {
        alike(&sqlite, &pg, &format!("/api/cost?by={by}"));
    }
    alike(
        &sqlite,
        &pg,
        "/api/cost?by=model&since=2020-01-01&until=2100-01-01T00:00:00%2B02:00",
    );
    // Search: the same records match (each engine ranks its own way).
    let (a, b) = both(&sqlite, &pg, "/api/search?q=widget");
    let hits = |v: &Value| {
        let mut found: Vec<String> = v["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| format!("{} {}", r["task_id"], r["source"]))
            .collect();
        found.sort();
        found
    };
    assert!(!hits(&a).is_empty());
    assert_eq!(hits(&b), hits(&a));
    // The SQL door: read-only on PostgreSQL too, rows and columns alike.
    let sql = |server: &Server, sql: &str| {
        let body = serde_json::json!({ "sql": sql }).to_string();
        request(
            &server.addr,
            "POST",
            "/api/query",
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        )
    };
    let count = "SELECT task_id, count(*) AS n FROM records GROUP BY task_id ORDER BY task_id";
    let (a, b) = (sql(&sqlite, count).json(), sql(&pg, count).json());
    assert_eq!(comparable(&b), comparable(&a));
    let refused = sql(&pg, "DELETE FROM records");
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert!(refused.text().contains("read-only"), "{}", refused.text());
    let slow = sql(&pg, "SELECT pg_sleep(10)");
    assert_eq!(slow.status, 400, "{}", slow.text());
    assert!(slow.text().contains("statement timeout"), "{}", slow.text());
    let capped = sql(&pg, "SELECT generate_series(1, 20000) AS n");
    assert_eq!(capped.json()["truncated_by"], "rows", "{}", capped.text());
    // An unknown task and a bad time are the same errors.
    assert_eq!(pg.get("/api/tasks/no-such-task").status, 404);
    assert_eq!(pg.get("/api/tasks?since=last%20week").status, 400);
    // Status names the hosts of the shared index.
    let status = pg.get("/api/status").json();
    assert_eq!(status["reachable"], true, "{status}");
    assert!(status["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h["host_id"] == "h1"));
    assert!(pg
        .get("/metrics")
        .text()
        .contains("tasklog_store_reachable 1"));
}

#[test]
fn events_of_every_host_and_the_host_filter() {
    let Some(cluster) = Cluster::shared("events_of_every_host_and_the_host_filter") else {
        return;
    };
    let url = cluster.database();
    let (one, two) = (Env::new(), Env::new());
    append_raw(
        &one,
        "shared-name",
        "events",
        "{\"event\":\"message\",\"content\":\"from h1\"}\n",
    );
    append_raw(
        &two,
        "only-on-h2",
        "events",
        "{\"event\":\"message\",\"content\":\"from h2\"}\n",
    );
    ship(&one, &url, "h1");
    ship(&two, &url, "h2");
    let every = Server::start(&one, &["--db", &url], &[]);
    let narrowed = Server::start(&one, &["--db", &url, "--host-id", "h1"], &[]);
    let hosts = |server: &Server| {
        let mut v: Vec<String> = server.get("/api/tasks").json()["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| format!("{} {}", t["host_id"], t["task_id"]))
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        hosts(&every),
        [r#""h1" "shared-name""#, r#""h2" "only-on-h2""#]
    );
    assert_eq!(hosts(&narrowed), [r#""h1" "shared-name""#]);
    assert_eq!(narrowed.get("/api/tasks/only-on-h2").status, 404);

    // Live: records either host ships reach the unfiltered stream, each once.
    let mut sse = Sse::open(&every.addr, "/api/events", None, &[]);
    assert_eq!(sse.status, 200);
    for i in 0..3 {
        let line = format!("{{\"event\":\"message\",\"content\":\"live {i}\"}}\n");
        append_raw(&one, "shared-name", "events", &line);
        append_raw(&two, "only-on-h2", "events", &line);
        ship(&one, &url, "h1");
        ship(&two, &url, "h2");
    }
    let got = sse.take(6, LONG);
    let mut seen: Vec<String> = got
        .iter()
        .map(|e| format!("{} {}", e.data["task_id"], e.data["record"]["content"]))
        .collect();
    seen.sort();
    assert_eq!(seen.len(), 6, "{seen:?}");
    seen.dedup();
    assert_eq!(seen.len(), 6, "each record once: {seen:?}");
    assert!(
        sse.take(1, Duration::from_millis(500)).is_empty(),
        "nothing more"
    );
}

/// The dashboard over a shared PostgreSQL index, in headless Chromium: the
/// task list, a task's failed tool call, a record shipped while the page is
/// open, the cost total and search, as over SQLite (serve_support/browser.rs).
#[test]
fn the_dashboard_over_postgres_in_headless_chromium() {
    let name = "the_dashboard_over_postgres_in_headless_chromium";
    let (browser, driver) = match webdriver::find() {
        Ok(found) => found,
        Err(why) => {
            crate::support::skip(name, &why.to_string());
            return;
        }
    };
    let Some(cluster) = Cluster::shared(name) else {
        return;
    };
    let url = cluster.database();
    let env = Env::new();
    write_rich_task(&env, "rich");
    ship(&env, &url, "h1");
    let server = Server::start(&env, &["--db", &url], &[]);
    let b = webdriver::Browser::start(&browser, &driver);
    let base = format!("http://{}", server.addr);
    let ready = |hash: &str| format!("return document.body.dataset.ready === {hash:?};");

    b.goto(&format!("{base}/#/"));
    b.wait_for("tasks page", &ready("/"), LONG);
    b.wait_for(
        "task row",
        "return !!document.querySelector('[data-task=\"rich\"]');",
        LONG,
    );
    let row = b.eval("return document.querySelector('[data-task=\"rich\"]').textContent;");
    assert!(
        row.as_str()
            .is_some_and(|t| t.contains("Fix the widget") && t.contains("$0.7500")),
        "{row}"
    );
    b.screenshot(&screenshot_dir().join("postgres-tasks.png"));

    b.goto(&format!("{base}/#/task/rich"));
    b.wait_for("task page", &ready("/task/rich"), LONG);
    let failed =
        b.eval("return [...document.querySelectorAll('.wf-row.failure')].map(e => e.textContent);");
    assert!(
        failed[0]
            .as_str()
            .is_some_and(|t| t.contains("Bash") && t.contains("failed")),
        "{failed}"
    );
    b.wait_for(
        "live stream open",
        "return document.getElementById('live').classList.contains('on');",
        LONG,
    );
    append(&env, "rich", "shipped-while-open-4711");
    ship(&env, &url, "h1");
    b.wait_for(
        "the shipped record",
        "return document.getElementById('transcript').textContent.includes('shipped-while-open-4711');",
        LONG,
    );

    b.goto(&format!("{base}/#/cost"));
    b.wait_for("cost page", &ready("/cost"), LONG);
    assert_eq!(
        b.eval("return document.getElementById('cost-total').textContent;"),
        "$0.7500"
    );
    b.goto(&format!("{base}/#/search?q=budget"));
    b.wait_for("search", &ready("/search?q=budget"), LONG);
    let found = b.eval("return document.getElementById('search-results').textContent;");
    assert!(
        found
            .as_str()
            .is_some_and(|t| t.contains("rich") && t.contains("budget")),
        "{found}"
    );
}
