//! `tasklog watch` stops within 2 s of SIGTERM in every state it can be in
//! (issue 11): waiting for another process's write lock, following a stream
//! written without pause, in the middle of a backfill. Whatever batch it
//! held is either committed or rolled back with its checkpoints: after a
//! restart the index equals the files, nothing lost, nothing twice.

use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::{append_raw, collect_stderr, expected_rows, verify_equal, wait_for, Env};

const DEADLINE: Duration = Duration::from_secs(30);
const STOP_WITHIN: Duration = Duration::from_secs(2);

/// Sends SIGTERM and returns how long the process took to exit, asserting
/// that it exited successfully.
fn stop(child: &mut Child, log: &Mutex<String>) -> Duration {
    let sent = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(
                status.success(),
                "watch exited with {status}: {}",
                log.lock().unwrap()
            );
            eprintln!("watch stopped {:?} after SIGTERM", sent.elapsed());
            return sent.elapsed();
        }
        if sent.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("watch did not stop: {}", log.lock().unwrap());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// After a stop: a one-shot index catches up, and every stream's rows are
/// exactly its lines.
fn assert_exactly_once(env: &Env, streams: &[(String, String)]) {
    env.ok(&["index"]);
    for (task, stream) in streams {
        assert_eq!(
            env.rows(task, stream),
            expected_rows(&env.stream(task, stream)),
            "{task}/{stream}"
        );
    }
    verify_equal(env);
}

fn wait_ready(env: &Env) {
    wait_for("watcher ready", DEADLINE, || {
        env.count("SELECT count(*) FROM indexer_state WHERE key = 'watch_mode'") == 1
    });
}

#[test]
fn sigterm_while_another_process_holds_the_write_lock() {
    let env = Env::new();
    let mut watch = env.spawn_watch();
    let log = collect_stderr(&mut watch);
    wait_ready(&env);
    let blocker = rusqlite::Connection::open(&env.db).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let path = env.stream("t", "s");
    for i in 0..50 {
        append_raw(&path, format!("{{\"i\":{i}}}\n").as_bytes());
    }
    wait_for("the watcher to hold its batch", DEADLINE, || {
        log.lock().unwrap().contains("holding the batch")
    });
    let took = stop(&mut watch, &log);
    assert!(took < STOP_WITHIN, "stopped after {took:?}");
    blocker.execute_batch("COMMIT").unwrap();
    drop(blocker);
    assert_eq!(
        env.count("SELECT count(*) FROM records"),
        0,
        "the held batch was rolled back"
    );
    assert_exactly_once(&env, &[("t".into(), "s".into())]);
}

#[test]
fn sigterm_while_a_stream_is_written_without_pause() {
    let env = Env::new();
    let mut watch = env.spawn_watch();
    let log = collect_stderr(&mut watch);
    wait_ready(&env);
    let path = env.stream("busy", "events");
    let writing = Arc::new(AtomicBool::new(true));
    let writer = {
        let (path, writing) = (path.clone(), Arc::clone(&writing));
        std::thread::spawn(move || {
            let mut i = 0u64;
            while writing.load(Ordering::SeqCst) {
                append_raw(
                    &path,
                    format!(
                        "{{\"event\":\"message\",\"i\":{i},\"pad\":\"{}\"}}\n",
                        "x".repeat(200)
                    )
                    .as_bytes(),
                );
                i += 1;
            }
        })
    };
    wait_for("rows from the busy stream", DEADLINE, || {
        env.count("SELECT count(*) FROM records") > 1000
    });
    let took = stop(&mut watch, &log);
    writing.store(false, Ordering::SeqCst);
    writer.join().unwrap();
    assert!(took < STOP_WITHIN, "stopped after {took:?}");
    assert_exactly_once(&env, &[("busy".into(), "events".into())]);
}

#[test]
fn sigterm_in_the_middle_of_a_backfill() {
    let env = Env::new();
    let mut streams = Vec::new();
    let line = format!(
        "{{\"event\":\"message\",\"content\":\"{}\"}}\n",
        "y".repeat(300)
    );
    let chunk = line.repeat(400);
    for t in 0..400 {
        let task = format!("t{t:04}");
        append_raw(&env.stream(&task, "events"), chunk.as_bytes());
        streams.push((task, "events".to_owned()));
    }
    let mut watch = env
        .cmd()
        .arg("watch")
        .env("TASKLOG_BATCH_MS", "20")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let log = collect_stderr(&mut watch);
    // Some of the backfill committed, not all of it.
    wait_for("part of the backfill", DEADLINE, || {
        let count = std::panic::AssertUnwindSafe(|| env.count("SELECT count(*) FROM records"));
        env.db.exists() && std::panic::catch_unwind(count).unwrap_or(0) > 0
    });
    let took = stop(&mut watch, &log);
    assert!(took < STOP_WITHIN, "stopped after {took:?}");
    let done = env.count("SELECT count(*) FROM records");
    assert!(
        done < 160_000,
        "the backfill was still running when stopped ({done} rows)"
    );
    assert_exactly_once(&env, &streams);
}
