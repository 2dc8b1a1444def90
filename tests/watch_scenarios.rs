//! `tasklog watch` as it runs in production: a real process following real
//! files, killed and restarted, with outside readers.

use std::time::{Duration, Instant};

use crate::support::{append_raw, expected_rows, kill9, terminate, wait_for, Env};

const DEADLINE: Duration = Duration::from_secs(30);

fn wait_rows(env: &Env, task: &str, stream: &str) {
    let path = env.stream(task, stream);
    wait_for(&format!("{task}/{stream} indexed"), DEADLINE, || {
        env.rows(task, stream) == expected_rows(&path)
    });
}

fn wait_ready(env: &Env) {
    wait_for("watcher ready", DEADLINE, || {
        env.count("SELECT count(*) FROM indexer_state WHERE key = 'watch_mode'") == 1
    });
}

#[test]
fn follows_appends_partial_lines_and_new_folders() {
    let env = Env::new();
    let mut watch = env.spawn_watch();
    wait_ready(&env);
    env.ok(&["append", "live", "events", r#"{"event":"message","i":1}"#]);
    wait_rows(&env, "live", "events");
    // A half line waits, then completes after a pause.
    let path = env.stream("live", "events");
    append_raw(&path, b"{\"half\":");
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(env.rows("live", "events").len(), 1);
    append_raw(&path, b"\"done\"}\n");
    wait_rows(&env, "live", "events");
    assert_eq!(env.rows("live", "events").len(), 2);
    // A document replaced by rename.
    env.ok(&["put", "live", "task", r#"{"status":"active"}"#]);
    wait_for("task status", DEADLINE, || {
        env.count("SELECT count(*) FROM tasks WHERE status = 'active'") == 1
    });
    assert!(terminate(&mut watch).success());
}

#[test]
fn truncate_and_rewrite_while_running() {
    let env = Env::new();
    let mut watch = env.spawn_watch();
    wait_ready(&env);
    let path = env.stream("t", "s");
    append_raw(&path, b"{\"i\":1}\n{\"i\":2}\n{\"i\":3}\n");
    wait_rows(&env, "t", "s");
    std::fs::write(&path, b"{\"j\":1}\n").unwrap();
    wait_rows(&env, "t", "s");
    std::fs::write(&path, b"{\"k\":1}\n{\"k\":2}\n{\"k\":3}\n{\"k\":4}\n").unwrap();
    wait_rows(&env, "t", "s");
    assert!(terminate(&mut watch).success());
    env.ok(&["verify"]);
}

#[test]
fn a_document_replaced_a_thousand_times_ends_at_its_last_version() {
    let env = Env::new();
    let mut watch = env.spawn_watch();
    wait_ready(&env);
    for i in 0..1000 {
        env_put(&env, i);
    }
    wait_for("last version indexed", DEADLINE, || {
        env.count("SELECT json_extract(body, '$.i') FROM documents WHERE task_id = 'doc' AND name = 'state'") == 999
    });
    assert!(terminate(&mut watch).success());
    // Versions only move forward; no temp file was ever indexed.
    assert_eq!(env.count("SELECT count(*) FROM ingest_errors"), 0);
    let versions = env.count("SELECT version FROM documents WHERE task_id = 'doc'");
    assert!((1..=1000).contains(&versions), "{versions}");
    assert_eq!(
        env.count("SELECT count(*) FROM document_history"),
        versions - 1
    );
}

fn env_put(env: &Env, i: i32) {
    // The writer crate directly: 1000 process spawns would dominate the test.
    let writer = tasklog_writer::Writer::open(
        &env.root,
        tasklog_writer::WriterOptions {
            document_fsync: tasklog_writer::FsyncPolicy::Never,
            ..Default::default()
        },
    )
    .unwrap();
    writer
        .task("doc")
        .unwrap()
        .put("state", &serde_json::json!({ "i": i }))
        .unwrap();
}

#[test]
fn a_thousand_folders_created_at_once_are_all_indexed() {
    let env = Env::new();
    let mut watch = env.spawn_watch();
    wait_ready(&env);
    let writer =
        tasklog_writer::Writer::open(&env.root, tasklog_writer::WriterOptions::default()).unwrap();
    std::thread::scope(|s| {
        for part in 0..4 {
            let writer = writer.clone();
            s.spawn(move || {
                for i in (part..1000).step_by(4) {
                    let task = writer.task(&format!("burst-{i:04}")).unwrap();
                    task.append(
                        "events",
                        tasklog_writer::Record::event("message").with("i", i),
                    )
                    .unwrap();
                    task.append(
                        "events",
                        tasklog_writer::Record::event("message").with("j", i),
                    )
                    .unwrap();
                }
            });
        }
    });
    wait_for("2000 records", Duration::from_secs(60), || {
        env.count("SELECT count(*) FROM records") == 2000
    });
    assert_eq!(
        env.count("SELECT count(DISTINCT task_id) FROM records"),
        1000
    );
    assert!(terminate(&mut watch).success());
}

#[test]
fn an_outside_reader_holding_a_transaction_does_not_block_indexing() {
    let env = Env::new();
    let mut watch = env.spawn_watch();
    wait_ready(&env);
    env.ok(&["append", "t", "s", r#"{"i":1}"#]);
    wait_rows(&env, "t", "s");
    let reader = env.reader();
    reader.execute_batch("BEGIN").unwrap();
    let seen: i64 = reader
        .query_row("SELECT count(*) FROM records", [], |r| r.get(0))
        .unwrap();
    assert_eq!(seen, 1);
    for i in 2..=50 {
        env.ok(&["append", "t", "s", &format!(r#"{{"i":{i}}}"#)]);
    }
    wait_rows(&env, "t", "s");
    // The open transaction still sees its snapshot: never a half batch.
    let still: i64 = reader
        .query_row("SELECT count(*) FROM records", [], |r| r.get(0))
        .unwrap();
    assert_eq!(still, 1);
    reader.execute_batch("COMMIT").unwrap();
    assert!(terminate(&mut watch).success());
}

#[test]
fn a_folder_deleted_while_watched_moves_its_rows_out() {
    let env = Env::new();
    let mut watch = env.spawn_watch();
    wait_ready(&env);
    env.ok(&["append", "gone", "s", r#"{"i":1}"#]);
    env.ok(&["append", "stay", "s", r#"{"i":1}"#]);
    wait_rows(&env, "gone", "s");
    wait_rows(&env, "stay", "s");
    std::fs::remove_dir_all(env.task_dir("gone")).unwrap();
    wait_for("rows of the deleted folder superseded", DEADLINE, || {
        env.rows("gone", "s").is_empty()
    });
    assert_eq!(env.rows("stay", "s").len(), 1);
    assert!(terminate(&mut watch).success());
}

#[test]
fn a_second_watch_refuses_to_start() {
    let env = Env::new();
    let mut watch = env.spawn_watch();
    wait_ready(&env);
    let out = env.run(&["watch"]);
    assert_eq!(crate::support::code(&out), 2);
    assert!(
        crate::support::stderr(&out).contains("already running"),
        "{}",
        crate::support::stderr(&out)
    );
    let status = env.ok(&["status", "--format", "json"]);
    let s: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(s["indexer_running"], true);
    assert!(terminate(&mut watch).success());
}

#[test]
fn polling_fallback_when_no_folder_may_be_watched() {
    let env = Env::new();
    let mut watch = env
        .cmd()
        .arg("watch")
        .env("TASKLOG_MAX_WATCHES", "0")
        .env("TASKLOG_POLL_MS", "50")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_ready(&env);
    std::fs::create_dir_all(env.task_dir("polled")).unwrap();
    // The root is watched, so the new folder is noticed; its files are polled.
    env.ok(&["append", "polled", "s", r#"{"i":1}"#]);
    wait_rows(&env, "polled", "s");
    env.ok(&["append", "polled", "s", r#"{"i":2}"#]);
    wait_rows(&env, "polled", "s");
    wait_for("status says polling", DEADLINE, || {
        env.count("SELECT count(*) FROM indexer_state WHERE key = 'watch_mode' AND value = 'inotify+polling'") == 1
    });
    assert!(terminate(&mut watch).success());
}

/// The core promise: kill -9 the watcher at random instants while writers
/// append, restart it, and every line is in `records` exactly once.
#[test]
fn kill_9_at_random_instants_loses_and_duplicates_nothing() {
    let env = Env::new();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers = crate::support::write_load(&env, &stop, 3, 7, 50);
    let mut rng = fastrand::Rng::with_seed(0x07a5_c109);
    let started = Instant::now();
    for _ in 0..12 {
        let mut watch = env.spawn_watch();
        std::thread::sleep(Duration::from_millis(rng.u64(20..300)));
        kill9(&mut watch);
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let written: u64 = writers.into_iter().map(|w| w.join().unwrap()).sum();
    assert!(written > 0);
    // A final clean catch-up, then set equality per file.
    env.ok(&["index"]);
    let mut total = 0;
    for t in 0..7 {
        let task = format!("load-{t}");
        let expected = expected_rows(&env.stream(&task, "events"));
        total += expected.len() as u64;
        assert_eq!(env.rows(&task, "events"), expected, "{task}");
    }
    assert_eq!(total, written);
    assert_eq!(env.count("SELECT count(*) FROM records"), written as i64);
    assert_eq!(env.count("SELECT count(*) FROM ingest_errors"), 0);
    env.ok(&["verify"]);
    eprintln!(
        "{written} records through 12 kill -9 cycles in {:?}",
        started.elapsed()
    );
}

/// Another process holds the database's write lock for longer than the
/// busy timeout: the watcher holds its batch, retries, and catches up with
/// nothing skipped once the lock is released.
#[test]
fn a_locked_database_delays_but_loses_nothing() {
    let env = Env::new();
    let mut watch = env
        .cmd()
        .arg("watch")
        .env("TASKLOG_BUSY_TIMEOUT_MS", "100")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let log = crate::support::collect_stderr(&mut watch);
    wait_ready(&env);
    env.ok(&["append", "t", "s", r#"{"i":0}"#]);
    wait_rows(&env, "t", "s");
    let blocker = rusqlite::Connection::open(&env.db).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    for i in 1..=20 {
        env.ok(&["append", "t", "s", &format!(r#"{{"i":{i}}}"#)]);
    }
    // Past the busy timeout the commit fails; the watcher holds its batch
    // and retries. Wait until it says so, twice.
    wait_for("two retries", DEADLINE, || {
        log.lock().unwrap().matches("holding the batch").count() >= 2
    });
    blocker.execute_batch("COMMIT").unwrap();
    drop(blocker);
    wait_rows(&env, "t", "s");
    assert_eq!(env.rows("t", "s").len(), 21);
    assert!(terminate(&mut watch).success());
    env.ok(&["verify"]);
}
