//! Alerts (docs/ALERTS.md): every condition fires exactly once with its
//! facts through a live `tasklog watch`, resolutions are sent once,
//! retries and the circuit breaker against a receiver that fails and hangs,
//! kill -9 between firing and the answer, a rebuilt index, two hosts on
//! one PostgreSQL, and bad rules.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::alert_support::{Answer, Receiver};
use crate::pg_support::Cluster;
use crate::support::{self, code, kill9, stderr, terminate, Env};

const LONG: Duration = Duration::from_secs(30);

/// Writes the config with `rules` (TOML) beside the root.
fn config(env: &Env, rules: &str) -> PathBuf {
    let path = env.dir.path().join("tasklog.toml");
    std::fs::write(&path, rules).unwrap();
    path
}

/// One `[[alert]]` to `url` with fast retries.
fn rule(name: &str, params: &str, url: &str) -> String {
    format!(
        "[[alert]]\nname = \"{name}\"\n{params}\nwebhook = \"{url}\"\nbackoff = \"20ms\"\nretries = 2\ntimeout = \"2s\"\n\n"
    )
}

/// A sidecar killed when dropped: a failing assertion must not leave it
/// running (it would hold the test's inherited file descriptors).
struct Sidecar(Child);

impl std::ops::Deref for Sidecar {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Sidecar {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        kill9(&mut self.0);
    }
}

fn watch(env: &Env, config: &Path, host: &str, sink: Option<&str>) -> Sidecar {
    let mut cmd = env.cmd();
    cmd.args(["--host-id", host, "watch"]);
    if let Some(url) = sink {
        cmd.args(["--sink", url]);
    }
    // The sidecar's log, for a failing test's reader.
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(env.dir.path().join("watch.log"))
        .unwrap();
    cmd.env("TASKLOG_CONFIG", config)
        .env("TASKLOG_ALERT_INTERVAL_MS", "100")
        .env("TASKLOG_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map(Sidecar)
        .expect("spawn watch")
}

/// The destinations' status the alerter wrote, as JSON.
fn destinations(env: &Env) -> Value {
    std::fs::read(env.root.join(".tasklog/alert_destinations.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null)
}

/// Waits until the alerter has finished `n` more passes (it rewrites its
/// status after each): "nothing more is sent" is checked after this.
fn passes(env: &Env, n: usize) {
    let mut seen = destinations(env)["updated_at"].clone();
    for _ in 0..n {
        support::wait_for("an alerter pass", LONG, || {
            let now = destinations(env)["updated_at"].clone();
            now != seen && {
                seen = now;
                true
            }
        });
    }
}

fn ts_ago(secs: i64) -> String {
    let t = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(secs);
    t.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Firing and resolved messages by rule: (state, subject, value, id).
fn by_rule(bodies: &[Value]) -> BTreeMap<String, Vec<(String, String, f64, String)>> {
    let mut out: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for b in bodies {
        out.entry(b["rule"].as_str().unwrap().to_owned())
            .or_default()
            .push((
                b["state"].as_str().unwrap().to_owned(),
                b["subject"].as_str().unwrap().to_owned(),
                b["value"].as_f64().unwrap(),
                b["id"].as_str().unwrap().to_owned(),
            ));
    }
    out
}

fn llm(model: &str, cost: Option<f64>) -> String {
    let cost = cost.map_or(String::new(), |c| format!(",\"cost\":{{\"amount\":{c}}}"));
    format!(
        r#"{{"event":"llm.call","gen_ai":{{"request":{{"model":"{model}"}},"usage":{{"input_tokens":10,"output_tokens":5{cost}}}}}}}"#
    )
}

#[test]
fn each_condition_fires_once_with_its_facts_and_resolves_once() {
    let env = Env::new();
    let rx = Receiver::start();
    let url = rx.url.clone();
    let mut rules = String::new();
    for (name, params) in [
        (
            "budget-day",
            "when = \"cost_over\"\nusd = 4.0\nper = \"day\"",
        ),
        (
            "budget-task",
            "when = \"cost_over\"\nusd = 4.0\nper = \"task\"",
        ),
        (
            "budget-model",
            "when = \"cost_over\"\nusd = 2.5\nper = \"model\"",
        ),
        (
            "budget-project",
            "when = \"cost_over\"\nusd = 4.0\nper = \"project\"",
        ),
        ("failed", "when = \"task_failed\""),
        (
            "tools",
            "when = \"tool_failures\"\ncount = 2\nwindow = \"7d\"",
        ),
        ("stall", "when = \"stalled\"\nafter = \"30m\""),
        ("quarantine", "when = \"quarantined\""),
        ("lag", "when = \"lag\"\nafter = \"1s\""),
        ("unpriced", "when = \"unpriced\""),
    ] {
        rules.push_str(&rule(name, params, &url));
    }
    let cfg = config(&env, &rules);
    env.ok(&[
        "put",
        "a",
        "task",
        r#"{"title":"a","status":"failed","project":"p1"}"#,
    ]);
    for line in [
        llm("m1", Some(3.0)),
        llm("m2", Some(2.0)),
        llm("mystery-model-x", None),
        r#"{"event":"tool.fail","name":"bash","span_id":"s1","error":"boom"}"#.into(),
        r#"{"event":"tool.fail","name":"bash","span_id":"s2","error":"boom"}"#.into(),
    ] {
        env.ok(&["append", "a", "events", &line]);
    }
    env.ok(&["put", "b", "task", r#"{"title":"b","status":"running"}"#]);
    let last_b = ts_ago(7200);
    env.ok(&[
        "append",
        "b",
        "events",
        &format!(r#"{{"ts":"{last_b}","event":"message"}}"#),
    ]);
    support::append_raw(&env.stream("c", "events"), b"this is not json\n");
    support::append_raw(&env.stream("d", "events"), br#"{"event":"message""#);

    let mut child = watch(&env, &cfg, "host-a", None);
    rx.wait("ten alerts", LONG, |r| r.len() >= 10);
    passes(&env, 5);
    let got = by_rule(&rx.delivered());
    let today = jiff::Timestamp::now().strftime("%Y-%m-%d").to_string();
    let expect: [(&str, &str, Option<f64>); 10] = [
        ("budget-day", &today, Some(5.0)),
        ("budget-task", "a", Some(5.0)),
        ("budget-model", "m1", Some(3.0)),
        ("budget-project", "p1", Some(5.0)),
        ("failed", "a", Some(1.0)),
        ("tools", "a", Some(2.0)),
        ("stall", "b", None),
        ("quarantine", "c", Some(1.0)),
        ("lag", "host-a", Some(18.0)),
        ("unpriced", "mystery-model-x", Some(1.0)),
    ];
    assert_eq!(rx.requests().len(), 10, "{got:#?}");
    for (name, subject, value) in expect {
        let msgs = &got[name];
        assert_eq!(msgs.len(), 1, "{name}: {msgs:?}");
        assert_eq!(
            (msgs[0].0.as_str(), msgs[0].1.as_str()),
            ("firing", subject),
            "{name}"
        );
        if let Some(v) = value {
            assert!(
                (msgs[0].2 - v).abs() < 1e-9,
                "{name}: value {} != {v}",
                msgs[0].2
            );
        }
    }
    let stall = rx
        .delivered()
        .into_iter()
        .find(|b| b["rule"] == "stall")
        .unwrap();
    assert!(stall["value"].as_f64().unwrap() >= 7200.0, "{stall}");
    assert_eq!(stall["window"], last_b.as_str());
    assert!(
        stall["text"].as_str().unwrap().contains("task b"),
        "{stall}"
    );
    let ids: std::collections::HashSet<_> =
        rx.delivered().iter().map(|b| b["id"].clone()).collect();
    assert_eq!(ids.len(), 10, "distinct ids");

    // The stalled task speaks again and the partial line ends: one
    // resolution each, with the firing message's id; nothing else.
    env.ok(&[
        "append",
        "b",
        "events",
        r#"{"event":"message","content":"back"}"#,
    ]);
    support::append_raw(&env.stream("d", "events"), b"}\n");
    rx.wait("two resolutions", LONG, |r| r.len() >= 12);
    passes(&env, 5);
    let all = by_rule(&rx.delivered());
    assert_eq!(rx.requests().len(), 12);
    for name in ["stall", "lag"] {
        let msgs = &all[name];
        assert_eq!(msgs.len(), 2, "{name}: {msgs:?}");
        assert_eq!(msgs[1].0, "resolved", "{name}");
        assert_eq!(
            msgs[1].3, msgs[0].3,
            "{name}: the resolution carries the firing id"
        );
    }
    terminate(&mut child);

    // The log lists all twelve, delivered.
    let out = env
        .cmd()
        .args(["alerts", "--format", "json"])
        .env("TASKLOG_CONFIG", &cfg)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let listed: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed.len(), 12);
    assert!(
        listed.iter().all(|e| e["delivery"] == "delivered"),
        "{listed:?}"
    );
}

#[test]
fn retries_then_the_breaker_opens_and_a_probe_closes_it() {
    let env = Env::new();
    let rx = Receiver::start();
    // First alert: 500, 500, then 200 within its retries.
    rx.script(&[Answer::Fail, Answer::Fail]);
    let cfg = config(
        &env,
        &format!(
            "[[alert]]\nname = \"failed\"\nwhen = \"task_failed\"\nwebhook = \"{}\"\nretries = 2\nbackoff = \"20ms\"\nbreaker_failures = 3\nbreaker_reset = \"3s\"\n",
            rx.url
        ),
    );
    env.ok(&["put", "t1", "task", r#"{"status":"failed"}"#]);
    let mut child = watch(&env, &cfg, "h", None);
    rx.wait("a delivery after two failures", LONG, |r| {
        r.iter().any(|q| q.answer == Answer::Ok)
    });
    let reqs = rx.requests();
    assert_eq!(
        reqs.iter().map(|r| r.answer).collect::<Vec<_>>(),
        [Answer::Fail, Answer::Fail, Answer::Ok]
    );
    assert!(
        reqs.iter().all(|r| r.body["id"] == reqs[0].body["id"]),
        "one id for every retry"
    );
    assert!(reqs.iter().all(|r| r.headers.iter().any(
        |(k, v)| k == "x-tasklog-alert-id" && Some(v.as_str()) == reqs[0].body["id"].as_str()
    )));

    // Second alert: the receiver fails every time. Three attempts open
    // the breaker; while open nothing is sent.
    rx.set_default(Answer::Fail);
    env.ok(&["put", "t2", "task", r#"{"status":"failed"}"#]);
    rx.wait("three failed attempts", LONG, |r| r.len() >= 6);
    passes(&env, 2);
    let d = &destinations(&env)["destinations"][0];
    assert_eq!(d["state"], "open", "{d}");
    assert_eq!(d["consecutive_failures"], 3, "{d}");
    assert_eq!(d["pending"], 1, "{d}");
    assert_eq!(
        rx.requests().len(),
        6,
        "nothing sent while the breaker is open"
    );
    let status = env
        .cmd()
        .args(["status", "--format", "json"])
        .env("TASKLOG_CONFIG", &cfg)
        .output()
        .unwrap();
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(
        status["alert_destinations"]["destinations"][0]["state"],
        "open"
    );

    // After the reset one probe goes; the receiver is well again, so it
    // is delivered and the breaker closes.
    rx.set_default(Answer::Ok);
    rx.wait("the probe", LONG, |r| r.len() >= 7);
    passes(&env, 2);
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 7, "one probe, no burst");
    assert_eq!(reqs[6].answer, Answer::Ok);
    assert_eq!(reqs[6].body["id"], reqs[3].body["id"]);
    let d = &destinations(&env)["destinations"][0];
    assert_eq!(
        (d["state"].as_str(), d["pending"].as_u64()),
        (Some("closed"), Some(0)),
        "{d}"
    );
    terminate(&mut child);
}

#[test]
fn kill_9_before_the_answer_resends_the_same_id_and_a_rebuild_sends_nothing() {
    let env = Env::new();
    let rx = Receiver::start();
    rx.script(&[Answer::Hang(Duration::from_secs(20))]);
    let cfg = config(
        &env,
        &rule(
            "failed",
            "when = \"task_failed\"\ntimeout = \"15s\"",
            &rx.url,
        )
        .replace("timeout = \"2s\"\n", ""),
    );
    env.ok(&["put", "t1", "task", r#"{"status":"failed"}"#]);
    let mut child = watch(&env, &cfg, "h", None);
    rx.wait("the first request", LONG, |r| !r.is_empty());
    kill9(&mut child);
    let first = rx.requests()[0].body["id"].clone();
    let journal = std::fs::read_to_string(env.root.join(".tasklog/alerts.jsonl")).unwrap();
    assert!(
        journal.contains("\"event\":\"pending\"") && !journal.contains("\"event\":\"delivered\""),
        "{journal}"
    );

    let mut child = watch(&env, &cfg, "h", None);
    rx.wait("the resend", LONG, |r| {
        r.iter().any(|q| q.answer == Answer::Ok)
    });
    passes(&env, 3);
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[1].body["id"], first, "the same id, not a new one");
    terminate(&mut child);

    // Delete the index: the file log keeps the alert sent.
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", env.db.display()));
    }
    let mut child = watch(&env, &cfg, "h", None);
    passes(&env, 5);
    assert_eq!(
        rx.requests().len(),
        2,
        "nothing sent again after the rebuild"
    );
    terminate(&mut child);
}

#[test]
fn two_hosts_on_one_postgresql_fire_once() {
    let Some(cluster) = Cluster::shared("two_hosts_on_one_postgresql_fire_once") else {
        return;
    };
    let url = cluster.database();
    let rx = Receiver::start();
    let (a, b) = (Env::new(), Env::new());
    let rules = rule(
        "fleet-budget",
        "when = \"cost_over\"\nusd = 4.0\nper = \"day\"",
        &rx.url,
    ) + &rule("failed", "when = \"task_failed\"", &rx.url);
    let (cfg_a, cfg_b) = (config(&a, &rules), config(&b, &rules));
    // Neither host is over the budget alone; together they are.
    a.ok(&["append", "ta", "events", &llm("m1", Some(3.0))]);
    b.ok(&["append", "tb", "events", &llm("m1", Some(3.0))]);
    a.ok(&["put", "fa", "task", r#"{"status":"failed"}"#]);
    b.ok(&["put", "fa", "task", r#"{"status":"failed"}"#]);
    // Host a first migrates the fresh database; then both evaluate the
    // same rules against each other.
    let mut ha = watch(&a, &cfg_a, "host-a", Some(&url));
    passes(&a, 1);
    let mut hb = watch(&b, &cfg_b, "host-b", Some(&url));
    let logs = || {
        [&a, &b]
            .map(|e| std::fs::read_to_string(e.dir.path().join("watch.log")).unwrap_or_default())
    };
    if std::panic::catch_unwind(|| rx.wait("the fleet's alerts", LONG, |r| r.len() >= 2)).is_err() {
        panic!("no fleet alerts; logs: {:#?}", logs());
    }
    passes(&a, 5);
    passes(&b, 5);
    let got = by_rule(&rx.delivered());
    assert_eq!(rx.requests().len(), 2, "{got:?}");
    assert_eq!(got["fleet-budget"].len(), 1);
    assert!((got["fleet-budget"][0].2 - 6.0).abs() < 1e-9);
    assert_eq!(got["failed"].len(), 1);
    terminate(&mut ha);
    terminate(&mut hb);
    let rows = crate::pg_support::count(
        &url,
        "SELECT count(*) FROM alerts WHERE delivery = 'delivered'",
    );
    assert_eq!(rows, 2);
}

#[test]
fn alerts_test_sends_now_and_the_list_is_empty() {
    let env = Env::new();
    let rx = Receiver::start();
    let cfg = config(&env, &rule("failed", "when = \"task_failed\"", &rx.url));
    let out = env
        .cmd()
        .args(["alerts", "test", "failed"])
        .env("TASKLOG_CONFIG", &cfg)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let sent = &rx.requests()[0].body;
    assert_eq!(
        (sent["test"].as_bool(), sent["rule"].as_str()),
        (Some(true), Some("failed"))
    );
    let out = env
        .cmd()
        .args(["alerts", "test", "nope"])
        .env("TASKLOG_CONFIG", &cfg)
        .output()
        .unwrap();
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("no [[alert]] named \"nope\""),
        "{}",
        stderr(&out)
    );
    rx.set_default(Answer::Fail);
    let out = env
        .cmd()
        .args(["alerts", "test", "failed"])
        .env("TASKLOG_CONFIG", &cfg)
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "a failed test send is an error");
    assert!(stderr(&out).contains("HTTP 500"), "{}", stderr(&out));
    let out = env
        .cmd()
        .args(["alerts"])
        .env("TASKLOG_CONFIG", &cfg)
        .output()
        .unwrap();
    assert_eq!(code(&out), 1, "no alert fired yet");
}

#[test]
fn bad_rules_are_refused_naming_the_rule_and_the_key() {
    let env = Env::new();
    let cases = [
        (
            "[[alert]]\nname = \"b\"\nwhen = \"cost_over\"\nper = \"day\"\ncommand = \"true\"\n",
            "[[alert]] \"b\": key `usd`",
        ),
        (
            "[[alert]]\nname = \"b\"\nwhen = \"stalled\"\nafter = \"later\"\ncommand = \"true\"\n",
            "[[alert]] \"b\": key `after`",
        ),
        (
            "[[alert]]\nname = \"b\"\nwhen = \"task_failed\"\n",
            "[[alert]] \"b\": key `webhook`",
        ),
        (
            "[[alert]]\nname = \"b\"\nwhen = \"task_failed\"\ncommand = \"true\"\nbudget = 3\n",
            "[[alert]] \"b\": key `budget`",
        ),
        (
            "[[alert]]\nwhen = \"task_failed\"\ncommand = \"true\"\n",
            "[[alert]] #1: key `name`",
        ),
        (
            "[[alert]]\nname = \"b\"\nwhen = \"sometimes\"\ncommand = \"true\"\n",
            "[[alert]] \"b\": key `when`",
        ),
    ];
    for (text, expected) in cases {
        let cfg = config(&env, text);
        for args in [&["status"][..], &["watch"][..]] {
            let out = env
                .cmd()
                .args(args)
                .env("TASKLOG_CONFIG", &cfg)
                .output()
                .unwrap();
            assert_eq!(code(&out), 2, "{text}");
            assert!(stderr(&out).contains(expected), "{text}\n{}", stderr(&out));
        }
    }
}

#[test]
fn serve_runs_the_alerter_and_shows_the_log_status_and_metrics() {
    let env = Env::new();
    let rx = Receiver::start();
    let cfg = config(&env, &rule("failed", "when = \"task_failed\"", &rx.url));
    env.ok(&["put", "t1", "task", r#"{"status":"failed"}"#]);
    let server = crate::serve_support::fixture::Server::start(
        &env,
        &[],
        &[
            ("TASKLOG_CONFIG", cfg.to_str().unwrap()),
            ("TASKLOG_ALERT_INTERVAL_MS", "100"),
        ],
    );
    rx.wait("the alert from serve", LONG, |r| !r.is_empty());
    support::wait_for("the alert delivered in /api/alerts", LONG, || {
        server.get("/api/alerts").json()["alerts"][0]["delivery"] == "delivered"
    });
    passes(&env, 1);
    let answer = server.get("/api/alerts").json();
    assert_eq!(answer["alerts"].as_array().unwrap().len(), 1, "{answer}");
    assert_eq!(answer["alerts"][0]["id"], rx.requests()[0].body["id"]);
    assert_eq!(answer["destinations"]["destinations"][0]["state"], "closed");
    let status = server.get("/api/status").json();
    assert_eq!(
        status["alert_destinations"]["destinations"][0]["delivered"], 1,
        "{status}"
    );
    let host = rx
        .url
        .trim_start_matches("http://")
        .trim_end_matches("/hook");
    let metrics = server.get("/metrics").text();
    for line in [
        format!("tasklog_alert_destination_delivered{{destination=\"webhook http://{host}\"}} 1"),
        format!("tasklog_alert_destination_open{{destination=\"webhook http://{host}\"}} 0"),
    ] {
        assert!(metrics.contains(&line), "{line} in {metrics}");
    }
}

#[test]
fn a_command_gets_the_alert_json_on_stdin_and_its_exit_status_counts() {
    let env = Env::new();
    let out = env.dir.path().join("received.jsonl");
    let flag = env.dir.path().join("fail-once");
    std::fs::write(&flag, "").unwrap();
    // Fails (exit 3) while the flag file exists, removing it: the retry
    // then succeeds.
    let command = format!(
        "if [ -e {flag} ]; then rm {flag}; exit 3; fi; (cat; echo \"env=$TASKLOG_ALERT_ID $TASKLOG_ALERT_STATE\") >> {out}",
        flag = flag.display(),
        out = out.display()
    );
    let cfg = config(
        &env,
        &format!(
            "[[alert]]\nname = \"stall\"\nwhen = \"stalled\"\nafter = \"10m\"\ncommand = '{command}'\nbackoff = \"20ms\"\n"
        ),
    );
    env.ok(&["put", "s1", "task", r#"{"status":"running"}"#]);
    let last = ts_ago(3600);
    env.ok(&[
        "append",
        "s1",
        "events",
        &format!(r#"{{"ts":"{last}","event":"message"}}"#),
    ]);
    let mut child = watch(&env, &cfg, "h", None);
    support::wait_for("the command's output", LONG, || {
        std::fs::read_to_string(&out).is_ok_and(|t| t.contains("env="))
    });
    passes(&env, 3);
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "one delivery: {text}");
    let alert: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(
        (alert["rule"].as_str(), alert["subject"].as_str()),
        (Some("stall"), Some("s1"))
    );
    assert_eq!(alert["window"], last.as_str());
    assert_eq!(
        lines[1],
        format!("env={} firing", alert["id"].as_str().unwrap())
    );
    let d = &destinations(&env)["destinations"][0];
    assert_eq!(
        (d["failed_attempts"].as_u64(), d["delivered"].as_u64()),
        (Some(1), Some(1)),
        "{d}"
    );
    assert!(
        d["last_error"].as_str().unwrap().contains("exit status: 3"),
        "{d}"
    );
    terminate(&mut child);
}

/// The dashboard shows the fired alert and its destination (issue 23,
/// "See them"), in headless Chromium.
#[test]
fn the_dashboard_shows_fired_alerts_and_their_destination() {
    let test = "the_dashboard_shows_fired_alerts_and_their_destination";
    let (browser, driver) = match crate::serve_support::webdriver::find() {
        Ok(found) => found,
        Err(why) => {
            support::skip(test, &why);
            return;
        }
    };
    let env = Env::new();
    let rx = Receiver::start();
    let cfg = config(
        &env,
        &rule("failed-task", "when = \"task_failed\"", &rx.url),
    );
    env.ok(&[
        "put",
        "t1",
        "task",
        r#"{"status":"failed","title":"broken build"}"#,
    ]);
    let server = crate::serve_support::fixture::Server::start(
        &env,
        &[],
        &[
            ("TASKLOG_CONFIG", cfg.to_str().unwrap()),
            ("TASKLOG_ALERT_INTERVAL_MS", "100"),
        ],
    );
    support::wait_for("the alert delivered", LONG, || {
        server.get("/api/alerts").json()["alerts"][0]["delivery"] == "delivered"
    });
    let b = crate::serve_support::webdriver::Browser::start(&browser, &driver);
    b.goto(&format!("http://{}/#/alerts", server.addr));
    b.wait_for(
        "the alerts page",
        "return document.body.dataset.ready === '/alerts';",
        LONG,
    );
    let rows =
        b.eval("return [...document.querySelectorAll('tr.alert-row')].map(r => r.innerText);");
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = rows[0].as_str().unwrap();
    assert!(
        row.contains("failed-task") && row.contains("t1") && row.contains("sent"),
        "{row}"
    );
    let page = b.eval("return document.getElementById('main').innerText;");
    assert!(
        page.as_str().unwrap().contains("closed"),
        "the breaker's state: {page}"
    );
}
