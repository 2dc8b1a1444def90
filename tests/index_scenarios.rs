//! `tasklog index`, `verify`, `status` and `query` over real folders:
//! exactly once, rebuild equality, generations, and every kind of bad input.

use std::io::Write;

use crate::support::{append_raw, code, expected_rows, index, stderr, stdout, verify_equal, Env};

type Snapshot = Vec<(String, String, i64, String)>;

fn snapshot(env: &Env) -> Snapshot {
    let conn = env.reader();
    let mut stmt = conn
        .prepare(r#"SELECT task_id, stream, "offset", body FROM records ORDER BY task_id, stream, "offset""#)
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn every_line_is_indexed_once_and_a_rebuild_gives_the_same_rows() {
    let env = Env::new();
    for t in 0..5 {
        for i in 0..30 {
            env.ok(&[
                "append",
                &format!("task-{t}"),
                "events",
                &format!(r#"{{"event":"message","i":{i}}}"#),
            ]);
            if i % 10 == 0 {
                index(&env);
            }
        }
    }
    index(&env);
    index(&env); // idempotent
    for t in 0..5 {
        let task = format!("task-{t}");
        assert_eq!(
            env.rows(&task, "events"),
            expected_rows(&env.stream(&task, "events"))
        );
    }
    assert_eq!(env.count("SELECT count(*) FROM records"), 150);
    verify_equal(&env);
    let before = snapshot(&env);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", env.db.display()));
    }
    index(&env);
    assert_eq!(snapshot(&env), before);
}

#[test]
fn foreign_lines_are_records_and_garbage_is_quarantined_with_its_location() {
    let env = Env::new();
    let path = env.stream("agent", "out");
    let mut bytes = Vec::new();
    bytes.extend_from_slice(
        b"{\"type\":\"user\",\"timestamp\":\"2025-01-02T03:04:05Z\",\"text\":\"no envelope\"}\n",
    );
    let first_bad = bytes.len() as i64;
    bytes.extend_from_slice(b"not json at all\n");
    bytes.extend_from_slice(b"[1,2,3]\n");
    bytes.extend_from_slice(b"{\"bad\":\"\xff\xfe\"}\n");
    bytes.extend_from_slice(b"{\"nul\":\"\0\0\"}\n");
    bytes.extend_from_slice(
        format!("{{\"deep\":{}{}}}\n", "[".repeat(200), "]".repeat(200)).as_bytes(),
    );
    bytes.extend_from_slice(b"\n   \n"); // blank lines: skipped
    bytes.extend_from_slice(format!("{{\"big\":\"{}\"}}\n", "x".repeat(5000)).as_bytes());
    bytes.extend_from_slice(b"{\"last\":true}\n");
    bytes.extend_from_slice(b"{\"partial\":"); // waits, no error
    append_raw(&path, &bytes);
    let out = env
        .cmd()
        .env("TASKLOG_LINE_LIMIT", "4096")
        .arg("index")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let rows = env.rows("agent", "out");
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0].0, 0);
    assert!(rows[1].1.contains("last"));
    let conn = env.reader();
    let (ts, src, event): (String, String, String) = conn
        .query_row(
            "SELECT ts, ts_source, event FROM records WHERE \"offset\" = 0",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        (ts.as_str(), src.as_str(), event.as_str()),
        ("2025-01-02T03:04:05.000000Z", "fallback", "user")
    );
    let mut stmt = conn
        .prepare(r#"SELECT "offset", line, reason, path FROM ingest_errors ORDER BY "offset""#)
        .unwrap();
    let errors: Vec<(i64, i64, String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let reasons: Vec<&str> = errors.iter().map(|e| e.2.as_str()).collect();
    assert_eq!(errors.len(), 6, "{errors:?}");
    assert!(reasons[0].starts_with("invalid JSON"), "{reasons:?}");
    assert_eq!(reasons[1], "JSON value is not an object");
    assert!(reasons[2].starts_with("invalid UTF-8"));
    assert!(reasons[3].starts_with("NUL byte"));
    assert_eq!(reasons[4], "JSON nested deeper than 128 levels");
    assert!(
        reasons[5].contains("exceeds the limit of 4096 bytes"),
        "{reasons:?}"
    );
    assert_eq!(errors[0].0, first_bad);
    assert_eq!(errors[0].1, 2, "line number");
    assert!(errors.iter().all(|e| e.3 == "agent/out.jsonl"));
    // Completing the partial line later indexes it, once.
    append_raw(&path, b"\"done\"}\n");
    index(&env);
    assert_eq!(env.rows("agent", "out").len(), 3);
    index(&env);
    assert_eq!(env.rows("agent", "out").len(), 3);
    assert_eq!(env.count("SELECT count(*) FROM ingest_errors"), 6);
}

#[test]
fn a_huge_line_is_skipped_without_loading_it() {
    let env = Env::new();
    let path = env.stream("t", "s");
    append_raw(&path, b"{\"a\":1}\n");
    // A 40 MiB line with a 1 MiB limit: quarantined, and the next line indexed.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(b"{\"huge\":\"").unwrap();
    let chunk = vec![b'h'; 1 << 20];
    for _ in 0..40 {
        f.write_all(&chunk).unwrap();
    }
    f.write_all(b"\"}\n{\"b\":2}\n").unwrap();
    let out = env
        .cmd()
        .env("TASKLOG_LINE_LIMIT", "1048576")
        .arg("index")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let rows = env.rows("t", "s");
    assert_eq!(rows.len(), 2);
    assert!(rows[1].1.contains("\"b\":2"));
    assert_eq!(
        env.count("SELECT count(*) FROM ingest_errors WHERE reason LIKE '%exceeds the limit%' AND length > 41000000"),
        1
    );
}

#[test]
fn truncate_and_rewrite_while_stopped_starts_a_new_generation() {
    let env = Env::new();
    let path = env.stream("t", "s");
    append_raw(
        &path,
        b"{\"gen\":1,\"i\":1}\n{\"gen\":1,\"i\":2}\n{\"gen\":1,\"i\":3}\n",
    );
    index(&env);
    assert_eq!(env.rows("t", "s").len(), 3);
    std::fs::write(&path, b"{\"gen\":2}\n").unwrap(); // shorter: truncated
    index(&env);
    assert_eq!(env.rows("t", "s"), expected_rows(&path));
    assert_eq!(
        env.count("SELECT count(*) FROM superseded_records WHERE reason = 'truncated'"),
        3
    );
    // Same inode, longer, different bytes before the checkpoint: rewritten.
    std::fs::write(&path, b"{\"gen\":3}\n{\"gen\":3,\"more\":1}\n").unwrap();
    index(&env);
    assert_eq!(env.rows("t", "s"), expected_rows(&path));
    assert_eq!(
        env.count("SELECT count(*) FROM superseded_records WHERE reason = 'rewritten'"),
        1
    );
    assert_eq!(env.count("SELECT count(*) FROM file_events"), 2);
    verify_equal(&env);
}

#[test]
fn a_replaced_file_is_a_new_generation() {
    let env = Env::new();
    let path = env.stream("t", "s");
    append_raw(&path, b"{\"old\":1}\n{\"old\":2}\n");
    index(&env);
    // Same first line, a different file (new inode through rename).
    let tmp = env.task_dir("t").join(".swap");
    std::fs::write(&tmp, b"{\"old\":1}\n{\"new\":2}\n{\"new\":3}\n").unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    index(&env);
    assert_eq!(env.rows("t", "s"), expected_rows(&path));
    assert_eq!(
        env.count("SELECT count(*) FROM superseded_records WHERE reason = 'replaced'"),
        2
    );
    verify_equal(&env);
}

#[test]
fn two_files_with_identical_first_lines_are_both_indexed() {
    let env = Env::new();
    append_raw(&env.stream("a", "s"), b"{\"same\":1}\n{\"a\":1}\n");
    append_raw(&env.stream("b", "s"), b"{\"same\":1}\n{\"b\":1}\n");
    append_raw(&env.stream("a", "t"), b"{\"same\":1}\n");
    index(&env);
    assert_eq!(env.count("SELECT count(*) FROM records"), 5);
    verify_equal(&env);
}

#[test]
fn documents_keep_history_and_survive_a_bad_version() {
    let env = Env::new();
    env.ok(&["put", "t", "task", r#"{"status":"detected","title":"T"}"#]);
    index(&env);
    env.ok(&["put", "t", "task", r#"{"status":"active","title":"T"}"#]);
    index(&env);
    assert_eq!(
        env.count("SELECT version FROM documents WHERE name = 'task'"),
        2
    );
    assert_eq!(env.count("SELECT count(*) FROM document_history"), 1);
    // A writer that is not ours leaves broken JSON: quarantined, previous version kept.
    std::fs::write(env.root.join("t/task.json"), b"{\"status\":").unwrap();
    index(&env);
    let conn = env.reader();
    let status: String = conn
        .query_row("SELECT status FROM tasks WHERE task_id = 't'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(status, "active");
    let body: String = conn
        .query_row("SELECT body FROM documents WHERE name = 'task'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(body, r#"{"status":"active","title":"T"}"#);
    assert_eq!(
        env.count("SELECT count(*) FROM ingest_errors WHERE path = 't/task.json'"),
        1
    );
    // The same content again is not a new version.
    env.ok(&["put", "t", "task", r#"{"status":"active","title":"T"}"#]);
    index(&env);
    assert_eq!(
        env.count("SELECT version FROM documents WHERE name = 'task'"),
        2
    );
}

#[test]
fn stray_entries_symlinks_and_temp_files_are_ignored_or_reported() {
    let env = Env::new();
    let outside = env.dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("secret.jsonl"), b"{\"secret\":1}\n").unwrap();
    std::os::unix::fs::symlink(&outside, env.root.join("linked-task")).unwrap();
    std::fs::write(env.root.join("stray.txt"), b"hello").unwrap();
    std::fs::write(env.root.join("stray.jsonl"), b"{\"root-level\":1}\n").unwrap();
    std::fs::create_dir(env.root.join(".hidden")).unwrap();
    std::fs::write(env.root.join(".hidden/x.jsonl"), b"{\"hidden\":1}\n").unwrap();
    append_raw(&env.stream("t", "s"), b"{\"ok\":1}\n");
    std::fs::write(env.task_dir("t").join(".tmp-abc123"), b"{\"half\":").unwrap();
    std::fs::write(env.task_dir("t").join("notes.txt"), b"not a log").unwrap();
    std::os::unix::fs::symlink(
        outside.join("secret.jsonl"),
        env.task_dir("t").join("link.jsonl"),
    )
    .unwrap();
    std::fs::create_dir(env.task_dir("t").join("dir.jsonl")).unwrap();
    index(&env);
    assert_eq!(env.count("SELECT count(*) FROM records"), 1);
    assert_eq!(
        env.count("SELECT count(*) FROM records WHERE body LIKE '%secret%'"),
        0
    );
    assert_eq!(
        env.count("SELECT count(*) FROM ingest_errors WHERE path = 't/link.jsonl' AND reason LIKE 'symbolic link%'"),
        1
    );
    assert_eq!(
        env.count("SELECT count(*) FROM ingest_errors WHERE path = 't/dir.jsonl'"),
        1
    );
    // The symlinked task folder is reported by name too, as a file-level
    // diagnostic, and gets no tasks row.
    assert_eq!(
        env.count("SELECT count(*) FROM ingest_errors WHERE path = 'linked-task' AND task_id = 'linked-task' AND kind = 'file' AND reason LIKE 'symbolic link%'"),
        1
    );
    assert_eq!(
        env.count("SELECT count(*) FROM tasks WHERE task_id = 'linked-task'"),
        0
    );
    index(&env);
    assert_eq!(
        env.count("SELECT count(*) FROM ingest_errors"),
        3,
        "reported once"
    );
}

#[test]
fn a_deleted_task_folder_moves_its_rows_out() {
    let env = Env::new();
    append_raw(&env.stream("keep", "s"), b"{\"k\":1}\n");
    append_raw(&env.stream("drop", "s"), b"{\"d\":1}\n{\"d\":2}\n");
    index(&env);
    std::fs::remove_dir_all(env.task_dir("drop")).unwrap();
    index(&env);
    assert_eq!(env.count("SELECT count(*) FROM records"), 1);
    assert_eq!(
        env.count("SELECT count(*) FROM superseded_records WHERE reason = 'deleted'"),
        2
    );
    verify_equal(&env);
}

#[test]
fn verify_reports_lag_and_differences() {
    let env = Env::new();
    append_raw(&env.stream("t", "s"), b"{\"a\":1}\n");
    index(&env);
    append_raw(&env.stream("t", "s"), b"{\"a\":2}\n");
    append_raw(&env.stream("u", "s"), b"{\"u\":1}\n");
    let out = env.run(&["verify"]);
    assert_eq!(code(&out), 1);
    let text = stdout(&out);
    assert!(
        text.contains("t/s.jsonl: 1 complete line(s) after byte 8 not indexed yet"),
        "{text}"
    );
    assert!(
        text.contains("u/s.jsonl: on disk, not in the index"),
        "{text}"
    );
    let out = env.run(&["verify", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["equal"], false);
    index(&env);
    verify_equal(&env);
    // Tamper with the index: verify notices.
    let conn = rusqlite::Connection::open(&env.db).unwrap();
    conn.execute(
        "UPDATE records SET body = '{\"a\":9}' WHERE \"offset\" = 0 AND task_id = 't'",
        [],
    )
    .unwrap();
    drop(conn);
    let out = env.run(&["verify"]);
    assert_eq!(code(&out), 1);
    assert!(
        stdout(&out).contains("row body differs"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn status_reports_lag_and_counts() {
    let env = Env::new();
    append_raw(&env.stream("t", "s"), b"{\"a\":1}\n");
    index(&env);
    append_raw(&env.stream("t", "s"), b"{\"a\":2}\n");
    let out = env.ok(&["status", "--format", "json"]);
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["records"], 1);
    assert_eq!(s["lag_bytes"], 8);
    assert_eq!(s["lagging_tasks"][0]["task_id"], "t");
    assert_eq!(s["indexer_running"], false);
}

#[test]
fn query_is_read_only_and_uses_exit_codes() {
    let env = Env::new();
    let out = env.run(&["query", "SELECT 1"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("tasklog index"),
        "a missing database must say how to create it: {}",
        stderr(&out)
    );
    append_raw(&env.stream("t", "s"), b"{\"a\":1}\n");
    index(&env);
    let out = env.ok(&[
        "query",
        "--format",
        "json",
        "SELECT task_id, \"offset\", body FROM records",
    ]);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows[0]["body"], "{\"a\":1}");
    let out = env.ok(&[
        "query",
        "--format",
        "csv",
        "SELECT task_id, body FROM records",
    ]);
    assert_eq!(stdout(&out), "task_id,body\nt,\"{\"\"a\"\":1}\"\n");
    assert_eq!(
        code(&env.run(&["query", "SELECT * FROM records WHERE 0"])),
        1
    );
    for sql in [
        "DELETE FROM records",
        "INSERT INTO tasks(task_id, first_seen_at) VALUES ('x', 'y')",
        "DROP TABLE records",
        "PRAGMA query_only = 0",
        "PRAGMA journal_mode = DELETE",
        "ATTACH DATABASE '/tmp/other.db' AS other",
        "CREATE TABLE x(a)",
        "not sql",
    ] {
        let out = env.run(&["query", sql]);
        assert_eq!(code(&out), 2, "{sql} must be refused");
    }
    env.ok(&["query", "PRAGMA table_info(records)"]);
    assert_eq!(env.count("SELECT count(*) FROM records"), 1);
}

#[test]
fn a_second_indexer_on_the_same_database_is_refused() {
    let env = Env::new();
    append_raw(&env.stream("t", "s"), b"{\"a\":1}\n");
    let _lock = tasklog_index::WriterLock::acquire(&env.db).unwrap();
    // `index` waits for a running sidecar only when it can read the index
    // it keeps; here there is none to read: refused at once.
    for args in [&["index"][..], &["watch"][..]] {
        let out = env.run(args);
        assert_eq!(code(&out), 2, "{args:?}");
        assert!(
            stderr(&out).contains("another tasklog indexer is already running"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn a_database_from_a_newer_version_is_refused() {
    let env = Env::new();
    append_raw(&env.stream("t", "s"), b"{\"a\":1}\n");
    index(&env);
    let conn = rusqlite::Connection::open(&env.db).unwrap();
    conn.pragma_update(None, "user_version", 999).unwrap();
    drop(conn);
    let out = env.run(&["index"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("schema version 999 is newer"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn index_prints_a_json_summary() {
    let env = Env::new();
    append_raw(&env.stream("t", "s"), b"{\"a\":1}\n{\"a\":2}\n");
    let out = env.ok(&["index", "--format", "json"]);
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["records"], 2);
    assert_eq!(s["tasks"], 1);
}

#[test]
fn a_sealed_task_reports_a_line_that_never_completed() {
    let env = Env::new();
    append_raw(&env.stream("t", "s"), b"{\"a\":1}\n{\"never\":");
    index(&env);
    assert_eq!(
        env.count("SELECT count(*) FROM ingest_errors"),
        0,
        "a partial line waits"
    );
    env.ok(&["put", "t", "result", r#"{"status":"completed"}"#]);
    index(&env);
    assert_eq!(
        env.count("SELECT count(*) FROM ingest_errors WHERE reason LIKE 'incomplete last line%'"),
        1
    );
    assert_eq!(env.count("SELECT sealed FROM tasks WHERE task_id = 't'"), 1);
}

#[test]
fn a_file_deleted_and_recreated_is_indexed_from_scratch() {
    let env = Env::new();
    let path = env.stream("t", "s");
    append_raw(&path, b"{\"first\":1}\n{\"first\":2}\n");
    index(&env);
    std::fs::remove_file(&path).unwrap();
    // Often the same inode number, freed a moment ago.
    append_raw(&path, b"{\"second\":1}\n{\"second\":2}\n{\"second\":3}\n");
    index(&env);
    assert_eq!(env.rows("t", "s"), expected_rows(&path));
    verify_equal(&env);
}

/// Retention: only sealed tasks older than the age go; the index follows.
#[test]
fn prune_removes_old_sealed_tasks_and_the_index_follows() {
    let env = Env::new();
    env.ok(&["append", "done", "events", r#"{"event":"message"}"#]);
    env.ok(&["put", "done", "result", r#"{"status":"completed"}"#]);
    env.ok(&["append", "running", "events", r#"{"event":"message"}"#]);
    index(&env);
    // Nothing is old enough yet: success all the same (issue 10, exit
    // codes mean one thing: 1 is for questions that found nothing).
    let out = env.run(&["prune", "--older-than", "1h"]);
    assert_eq!(code(&out), 0);
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    // Dry run lists, removes nothing.
    let out = env.ok(&[
        "prune",
        "--older-than",
        "0s",
        "--dry-run",
        "--format",
        "json",
    ]);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1);
    assert_eq!(rows[0]["task_id"], "done");
    assert_eq!(rows[0]["action"], "would remove");
    assert!(env.task_dir("done").exists());
    env.ok(&["prune", "--older-than", "0s"]);
    assert!(!env.task_dir("done").exists());
    assert!(
        env.task_dir("running").exists(),
        "an unsealed task is never removed"
    );
    index(&env);
    assert_eq!(
        env.count("SELECT count(*) FROM records WHERE task_id = 'done'"),
        0
    );
    assert_eq!(
        env.count("SELECT count(*) FROM superseded_records WHERE task_id = 'done'"),
        1
    );
    verify_equal(&env);
    let out = env.run(&["prune", "--older-than", "soon"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("expected a duration"),
        "{}",
        stderr(&out)
    );
}
