//! `tasklog serve` end to end: the real binary on a free loopback port,
//! answered over raw HTTP (tests/serve_support/http.rs) and in headless
//! Chromium through WebDriver (tests/serve_support/webdriver.rs).
//!
//! Every scenario waits with a deadline, never a fixed sleep. The browser
//! scenario skips with one line on stderr when Chromium is absent.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::serve_support::fixture::{
    append, indexed, wait_until, write_design_layout, write_rich_task, Server, LONG,
};
use crate::serve_support::http::{request, Sse};
use crate::support::{code, stderr, Env};

#[test]
fn design_layout_is_served_as_the_design_shows_it() {
    let env = Env::new();
    let dir = write_design_layout(&env, "task-abc123");
    let server = Server::start(&env, &[], &[]);
    assert!(
        server.log().contains("indexer: in-process"),
        "{}",
        server.log()
    );
    indexed(&server, "task-abc123", "final-result");
    wait_until("agent output indexed", LONG, || {
        server
            .get("/api/tasks/task-abc123/logs/agent-output")
            .json()
            .as_array()
            .map(Vec::len)
            == Some(3)
    });
    let disk = |f: &str| std::fs::read_to_string(dir.join(f)).expect("read");
    // The six endpoints of the design, with their paths unchanged.
    for (endpoint, file) in [
        ("metadata", "metadata.json"),
        ("input", "01-input.json"),
        ("final-result", "04-final-result.json"),
    ] {
        let r = server.get(&format!("/api/tasks/task-abc123/logs/{endpoint}"));
        assert_eq!(r.status, 200, "{endpoint}");
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(
            r.text(),
            disk(file),
            "{endpoint} is the document exactly as on disk"
        );
        // The file's own name works too.
        assert_eq!(
            server
                .get(&format!("/api/tasks/task-abc123/logs/{file}"))
                .text(),
            disk(file)
        );
    }
    for (endpoint, file) in [
        ("webhook-flow", "02-webhook-flow.jsonl"),
        ("agent-output", "03-agent-output.jsonl"),
    ] {
        let lines: Vec<Value> = disk(file)
            .lines()
            .map(|l| serde_json::from_str(l).expect("line"))
            .collect();
        let r = server.get(&format!("/api/tasks/task-abc123/logs/{endpoint}"));
        assert_eq!(r.json(), Value::Array(lines), "{endpoint} as a JSON array");
        let nd = request(
            &server.addr,
            "GET",
            &format!("/api/tasks/task-abc123/logs/{endpoint}"),
            &[("Accept", "application/x-ndjson")],
            b"",
        );
        assert_eq!(nd.header("content-type"), Some("application/x-ndjson"));
        assert_eq!(
            nd.text(),
            disk(file),
            "{endpoint} as JSON Lines is the file's bytes"
        );
        assert_eq!(
            server
                .get(&format!("/api/tasks/task-abc123/logs/{file}"))
                .status,
            200
        );
    }
    let full = server.get("/api/tasks/task-abc123/logs/full").json();
    assert_eq!(full["task_id"], "task-abc123");
    assert_eq!(full["documents"]["01-input"]["issue"], 450);
    assert_eq!(full["documents"]["metadata"]["status"], "completed");
    assert_eq!(full["documents"]["04-final-result"]["summary"], "fixed");
    assert_eq!(
        full["streams"]["02-webhook-flow"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(full["streams"]["03-agent-output"][1]["event"], "tool.start");
    // Any other name works the same way.
    let other = env.ok(&[
        "append",
        "task-abc123",
        "notes",
        r#"{"event":"message","content":"n"}"#,
    ]);
    drop(other);
    indexed(&server, "task-abc123", "notes");
}

#[test]
fn streams_page_by_byte_offset() {
    let env = Env::new();
    let server = Server::start(&env, &[], &[]);
    for i in 0..25 {
        env.ok(&[
            "append",
            "pager",
            "events",
            &format!(r#"{{"event":"message","content":"m{i}"}}"#),
        ]);
    }
    let file = std::fs::read_to_string(env.stream("pager", "events")).expect("stream");
    wait_until("25 records", LONG, || {
        server
            .get("/api/tasks/pager/logs/events?limit=100")
            .json()
            .as_array()
            .map(Vec::len)
            == Some(25)
    });
    let mut after = 0u64;
    let mut got = Vec::new();
    let mut pages = 0;
    loop {
        let r = server.get(&format!(
            "/api/tasks/pager/logs/events?after={after}&limit=10"
        ));
        assert_eq!(r.status, 200);
        let next: u64 = r
            .header("x-next-offset")
            .and_then(|v| v.parse().ok())
            .expect("next offset header");
        let page = r.json();
        let page = page.as_array().expect("array");
        pages += 1;
        // The next page starts where a line of the file starts (or at its end).
        assert!(next as usize == file.len() || file.as_bytes()[next as usize - 1] == b'\n');
        got.extend(
            page.iter()
                .map(|v| v["content"].as_str().unwrap_or("").to_owned()),
        );
        if r.header("x-has-more") == Some("false") {
            assert_eq!(
                next as usize,
                file.len(),
                "the last page ends at the end of the file"
            );
            break;
        }
        after = next;
    }
    assert_eq!(pages, 3);
    assert_eq!(got, (0..25).map(|i| format!("m{i}")).collect::<Vec<_>>());
    // An offset inside a line starts at the next line.
    let second = file.find('\n').expect("newline") + 1;
    let r = server.get(&format!(
        "/api/tasks/pager/logs/events?after={}&limit=1",
        second - 3
    ));
    assert_eq!(r.json()[0]["content"], "m1");
    let nd = request(
        &server.addr,
        "GET",
        "/api/tasks/pager/logs/events?limit=2",
        &[("Accept", "application/x-ndjson")],
        b"",
    );
    assert_eq!(
        nd.text(),
        file.lines()
            .take(2)
            .map(|l| format!("{l}\n"))
            .collect::<String>()
    );
}

#[test]
fn the_cli_questions_answer_over_http() {
    let env = Env::new();
    write_rich_task(&env, "rich");
    env.ok(&[
        "put",
        "other",
        "task",
        r#"{"task_id":"other","status":"completed","title":"Something else"}"#,
    ]);
    let server = Server::start(&env, &[], &[]);
    wait_until("rich indexed", LONG, || {
        let r = server.get("/api/tasks/rich");
        r.status == 200
            && r.json()["quarantined"].as_array().map(Vec::len) == Some(1)
            && r.json()["summary"]["llm_calls"] == 3
    });
    assert_eq!(server.get("/healthz").json()["ok"], true);

    let list = server.get("/api/tasks").json();
    assert_eq!(list["tasks"].as_array().map(Vec::len), Some(2));
    let active = server.get("/api/tasks?status=running").json();
    assert_eq!(active["tasks"][0]["task_id"], "rich");
    assert_eq!(active["tasks"][0]["cost_usd"], 0.75);
    assert_eq!(active["tasks"][0]["unpriced_calls"], 1);
    assert_eq!(
        server.get("/api/tasks?text=WIDGET").json()["tasks"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    // "other" has no time of its own (a task.json without times, no
    // records): its start is unknown, so no time bound matches it.
    assert_eq!(
        server.get("/api/tasks?since=2000-01-01").json()["tasks"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let all = server.get("/api/tasks?sort=cost&order=asc").json();
    assert_eq!(all["total"], 2);
    assert_eq!(all["tasks"][1]["task_id"], "rich");
    assert_eq!(server.get("/api/tasks?sort=size").status, 400);
    assert_eq!(
        server.get("/api/tasks/ric").json()["summary"]["task_id"],
        "rich"
    );
    assert_eq!(
        server.get("/api/tasks?since=2999-01-01").json()["tasks"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );
    let page = server.get("/api/tasks?limit=1").json();
    assert_eq!(page["next_offset"], 1);
    let page2 = server.get("/api/tasks?limit=1&offset=1").json();
    assert_eq!(page2["next_offset"], Value::Null);
    assert_ne!(page["tasks"][0]["task_id"], page2["tasks"][0]["task_id"]);

    let d = server.get("/api/tasks/rich").json();
    assert_eq!(d["summary"]["title"], "Fix the widget");
    let failed: Vec<&Value> = d["tool_calls"]
        .as_array()
        .expect("tool calls")
        .iter()
        .filter(|t| t["status"] == "failure")
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["error"], "exit status 101");
    assert_eq!(
        d["decisions"][0]["decision_reason"],
        "the log shows a timeout, so rerun with tracing"
    );
    assert!(d["conversation"].as_array().map(Vec::len) >= Some(2));
    let timeline = d["timeline"].as_array().expect("timeline");
    assert!(timeline
        .iter()
        .any(|r| r["event"] == "tool.fail" && r["error"] == "exit status 101"));
    assert!(timeline.iter().any(|r| r["event"] == "quarantined"));
    assert!(timeline
        .iter()
        .any(|r| r["event"] == "document" && r["body"]["title"] == "Fix the widget"));

    let cost = server.get("/api/cost?by=model").json();
    assert_eq!(cost["total"]["cost_usd"], 0.75);
    assert_eq!(cost["total"]["unpriced_calls"], 1);
    assert_eq!(cost["unpriced_calls"][0]["model"], "no-such-model-xyz");
    assert_eq!(cost["rows"][0]["model"], "model-b");
    for by in ["day", "task", "provider", "day,model"] {
        let r = server.get(&format!("/api/cost?by={by}&since=7d"));
        assert_eq!(r.status, 200, "{by}: {}", r.text());
        assert_eq!(r.json()["total"]["cost_usd"], 0.75, "{by}");
    }
    assert_eq!(
        server.get("/api/cost?by=task&since=2000-01-01").json()["rows"][0]["task_id"],
        "rich"
    );

    let found = server.get("/api/search?q=budget").json();
    assert_eq!(found["results"][0]["task_id"], "rich");
    assert_eq!(
        server.get("/api/search?q=zebra").json()["results"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );

    let status = server.get("/api/status").json();
    assert_eq!(status["indexer"], "in-process");
    assert_eq!(status["quarantined"], 1);
    let q = &status["quarantined_lines"][0];
    assert_eq!(q["path"], "rich/events.jsonl");
    assert_eq!(q["line"], 11);
    assert!(q["reason"].as_str().is_some_and(|r| !r.is_empty()));

    let metrics = server.get("/metrics");
    assert!(metrics
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/plain")));
    let text = metrics.text();
    for name in [
        "tasklog_records ",
        "tasklog_lag_bytes 0",
        "tasklog_quarantined_lines 1",
        "tasklog_seconds_since_last_commit ",
        "tasklog_wal_bytes ",
    ] {
        assert!(text.contains(name), "{name} missing from:\n{text}");
    }
    assert!(text.contains("# TYPE tasklog_records gauge"));
}

#[test]
fn errors_are_json_with_their_codes_and_names_never_reach_the_filesystem() {
    let env = Env::new();
    write_design_layout(&env, "task-abc123");
    // A secret beside the root that a traversal would reach.
    std::fs::write(
        env.dir.path().join("secret.json"),
        "{\"secret\":\"hunter2\"}",
    )
    .expect("secret");
    let server = Server::start(&env, &[], &[]);
    indexed(&server, "task-abc123", "metadata");
    let long = "x".repeat(300);
    let bad_requests = [
        "/api/tasks/%2e%2e/logs/metadata".to_owned(),
        "/api/tasks/..%2F..%2Fsecret/logs/full".to_owned(),
        "/api/tasks/task-abc123/logs/..%2F..%2Fsecret".to_owned(),
        "/api/tasks/task-abc123/logs/%2e%2e".to_owned(),
        "/api/tasks/task-abc123/logs/a%00b".to_owned(),
        "/api/tasks/a%00b".to_owned(),
        "/api/tasks/.hidden".to_owned(),
        format!("/api/tasks/{long}"),
        format!("/api/tasks/task-abc123/logs/{long}"),
        "/api/tasks/task-abc123/logs/agent-output?limit=0".to_owned(),
        "/api/tasks/task-abc123/logs/agent-output?limit=abc".to_owned(),
        "/api/tasks/task-abc123/logs/agent-output?after=-5".to_owned(),
        "/api/tasks?since=last%20tuesday".to_owned(),
        "/api/cost?by=planet".to_owned(),
        "/api/search?q=".to_owned(),
        "/api/search?q=%22unclosed&raw=1".to_owned(),
        "/api/events?task=..".to_owned(),
    ];
    for path in &bad_requests {
        let r = server.get(path);
        assert_eq!(r.status, 400, "{path}: {}", r.text());
        assert!(r.json()["error"].is_string(), "{path}");
        assert!(!r.text().contains("hunter2"));
    }
    // Raw `..` segments, as a client that does not normalize sends them.
    for path in [
        "/api/tasks/../logs/metadata",
        "/api/tasks/task-abc123/logs/..",
        "/api/tasks/../../secret.json",
    ] {
        let r = server.get(path);
        assert!(matches!(r.status, 400 | 404), "{path}: {}", r.status);
        assert!(!r.text().contains("hunter2"), "{path}");
    }
    for path in [
        "/api/tasks/nope",
        "/api/tasks/nope/logs/metadata",
        "/api/tasks/task-abc123/logs/nothing",
        "/api/nothing",
        "/assets/nothing.js",
    ] {
        let r = server.get(path);
        assert_eq!(r.status, 404, "{path}: {}", r.text());
        assert!(r.json()["error"].is_string(), "{path}");
    }
    // A `.jsonl` suffix asks for a stream, `.json` for a document.
    assert_eq!(
        server
            .get("/api/tasks/task-abc123/logs/metadata.jsonl")
            .status,
        404
    );
    assert_eq!(
        server
            .get("/api/tasks/task-abc123/logs/agent-output.json")
            .status,
        404
    );
}

#[test]
fn the_token_rule() {
    let env = Env::new();
    let out = env.run(&["serve", "--addr", "0.0.0.0:0"]);
    assert_eq!(code(&out), 2, "non-loopback without a token");
    assert!(stderr(&out).contains("needs a token"), "{}", stderr(&out));

    write_design_layout(&env, "t1");
    let server = Server::start(&env, &[], &[("TASKLOG_TOKEN", "s3cret-token-0123456")]);
    assert_eq!(server.get("/healthz").status, 200, "healthz needs no token");
    for path in [
        "/api/tasks",
        "/api/tasks/t1/logs/metadata",
        "/metrics",
        "/",
        "/assets/app.js",
        "/api/events",
    ] {
        let r = server.get(path);
        assert_eq!(r.status, 401, "{path}");
        assert!(r.json()["error"].is_string());
        let wrong = request(
            &server.addr,
            "GET",
            path,
            &[("Authorization", "Bearer s3cret-token-012345X")],
            b"",
        );
        assert_eq!(wrong.status, 401, "{path} with a wrong token");
    }
    let ok = request(
        &server.addr,
        "GET",
        "/api/tasks",
        &[("Authorization", "Bearer s3cret-token-0123456")],
        b"",
    );
    assert_eq!(ok.status, 200);
    let post = request(
        &server.addr,
        "POST",
        "/api/query",
        &[("Content-Type", "application/json")],
        br#"{"sql": "SELECT 1"}"#,
    );
    assert_eq!(post.status, 401);
    // The dashboard takes the token once and keeps it in an HttpOnly cookie.
    let first = server.get("/?token=s3cret-token-0123456");
    assert_eq!(first.status, 303);
    assert_eq!(first.header("location"), Some("/"));
    let cookie = first.header("set-cookie").expect("cookie").to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().expect("pair").to_owned();
    for path in ["/", "/api/tasks", "/assets/app.js"] {
        let r = request(&server.addr, "GET", path, &[("Cookie", &pair)], b"");
        assert_eq!(r.status, 200, "{path} with the cookie");
    }
    assert_eq!(server.get("/?token=wrong").status, 401);
    assert_eq!(
        server.get("/api/tasks?token=s3cret-token-0123456").status,
        401,
        "the API takes no token in the address"
    );
}

#[test]
fn query_is_read_only_and_bounded() {
    let env = Env::new();
    write_design_layout(&env, "q1");
    let server = Server::start(
        &env,
        &["--query-timeout-ms", "300", "--query-rows", "5"],
        &[],
    );
    indexed(&server, "q1", "metadata");
    let post = |sql: &str| {
        request(
            &server.addr,
            "POST",
            "/api/query",
            &[("Content-Type", "application/json")],
            serde_json::json!({ "sql": sql }).to_string().as_bytes(),
        )
    };
    let r = post("SELECT task_id, count(*) AS n FROM records GROUP BY task_id");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["columns"], serde_json::json!(["task_id", "n"]));
    let as_json = request(
        &server.addr,
        "POST",
        "/api/query",
        &[("Content-Type", "application/json")],
        br#"{"sql":"SELECT 41 + 1 AS answer"}"#,
    );
    assert_eq!(as_json.json()["rows"][0][0], 42);
    let capped = post("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10) SELECT i FROM n");
    assert_eq!(capped.json()["rows"].as_array().map(Vec::len), Some(5));
    assert_eq!(capped.json()["truncated"], true);
    for sql in [
        "DELETE FROM records",
        "INSERT INTO tasks(task_id, first_seen_at) VALUES ('x', 'y')",
        "CREATE TABLE evil(x)",
        "DROP VIEW tool_calls",
        "PRAGMA journal_mode = DELETE",
        "ATTACH DATABASE '/tmp/evil.db' AS evil",
        "VACUUM",
    ] {
        let r = post(sql);
        assert_eq!(r.status, 400, "{sql}: {}", r.text());
        assert!(r.json()["error"].is_string());
    }
    assert_eq!(
        env.count("SELECT count(*) FROM records WHERE task_id = 'q1'"),
        5,
        "nothing was deleted"
    );
    let start = Instant::now();
    let runaway = post(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT max(x) FROM c",
    );
    assert_eq!(runaway.status, 400);
    assert!(
        runaway.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("time limit")),
        "{}",
        runaway.text()
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "stopped after {:?}",
        start.elapsed()
    );
    assert_eq!(
        server.get("/healthz").status,
        200,
        "the server still answers"
    );
}

#[test]
fn events_arrive_after_commit_and_resume_with_last_event_id() {
    let env = Env::new();
    append(&env, "ev", "before");
    let server = Server::start(&env, &[], &[]);
    indexed(&server, "ev", "events");
    let mut sse = Sse::open(&server.addr, "/api/events?task=ev", None, &[]);
    assert_eq!(sse.status, 200);
    let mut all = Sse::open(&server.addr, "/api/events", None, &[]);
    for i in 0..3 {
        append(&env, "ev", &format!("live-{i}"));
        append(&env, "elsewhere", &format!("other-{i}"));
    }
    let got = sse.take(3, LONG);
    assert_eq!(got.len(), 3, "{got:?}");
    for (i, e) in got.iter().enumerate() {
        assert_eq!(e.data["task_id"], "ev");
        assert_eq!(e.data["record"]["content"], format!("live-{i}"));
        assert_eq!(e.data["record_id"], e.id);
    }
    assert!(got.windows(2).all(|w| w[0].id < w[1].id));
    assert!(
        sse.take(1, Duration::from_millis(400)).is_empty(),
        "the filter keeps other tasks out"
    );
    assert_eq!(
        all.take(6, LONG).len(),
        6,
        "an unfiltered stream sees both tasks"
    );
    // Resume after the first event: the other two arrive, nothing twice.
    let mut resumed = Sse::open(&server.addr, "/api/events?task=ev", Some(got[0].id), &[]);
    let again = resumed.take(2, LONG);
    assert_eq!(
        again.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![got[1].id, got[2].id]
    );
    let mut from_start = Sse::open(&server.addr, "/api/events?task=ev&after=0", None, &[]);
    assert_eq!(
        from_start.take(4, LONG).len(),
        4,
        "after=0 replays the task"
    );
    let bad = Sse::open(
        &server.addr,
        "/api/events",
        None,
        &[("Last-Event-ID", "abc")],
    );
    assert_eq!(bad.status, 400);
}

#[test]
fn sigterm_closes_streams_and_exits_within_two_seconds() {
    let env = Env::new();
    append(&env, "stop", "x");
    let mut server = Server::start(&env, &[], &[]);
    indexed(&server, "stop", "events");
    let mut sse = Sse::open(&server.addr, "/api/events", None, &[]);
    assert_eq!(sse.status, 200);
    let (took, status) = server.terminate().expect("serve exits after SIGTERM");
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert_eq!(status, 0, "{}", server.log());
    assert!(
        sse.closed_within(Duration::from_secs(1)),
        "the event stream was closed"
    );
    // The in-process indexer committed what it had before the process ended.
    crate::support::verify_equal(&env);
}

#[test]
fn only_reads_when_another_indexer_holds_the_database() {
    let env = Env::new();
    append(&env, "ext", "first");
    let mut watch = env.spawn_watch();
    wait_until("watch running", LONG, || {
        env.count("SELECT count(*) FROM indexer_state WHERE key = 'watcher_pid'") > 0
    });
    let server = Server::start(&env, &[], &[]);
    assert!(
        server.log().contains("indexer: external"),
        "{}",
        server.log()
    );
    append(&env, "ext", "second");
    wait_until("watch indexed the record the server shows", LONG, || {
        server
            .get("/api/tasks/ext/logs/events")
            .json()
            .as_array()
            .map(Vec::len)
            == Some(2)
    });
    assert_eq!(server.get("/api/status").json()["indexer"], "external");
    let _ = watch.kill();
    let _ = watch.wait();
}

#[test]
fn without_an_index_the_api_answers_503_and_healthz_200() {
    let env = Env::new();
    let server = Server::start(&env, &["--no-index"], &[]);
    assert!(server.log().contains("indexer: none"), "{}", server.log());
    assert_eq!(server.get("/healthz").status, 200);
    for path in ["/api/tasks", "/api/tasks/x/logs/metadata", "/api/status"] {
        let r = server.get(path);
        assert_eq!(r.status, 503, "{path}: {}", r.text());
        assert!(r.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("tasklog index")));
    }
    assert!(!env.db.exists(), "serving never creates the database");
}
