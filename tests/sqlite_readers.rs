//! SQLite works for every reader, not only the sidecar's user: read-only
//! commands for a user who may not write the database's folder, and a WAL
//! that a long reader pinned comes back to its normal size once it ends.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::{
    append_raw, code, stderr, stdout, terminate, unprivileged_prefix, wait_for, Env,
};

const DEADLINE: Duration = Duration::from_secs(30);

/// The size the indexer truncates an idle WAL back to (`db::WAL_SIZE_LIMIT`).
const WAL_LIMIT: u64 = 4 << 20;

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn beside(db: &Path, suffix: &str) -> PathBuf {
    PathBuf::from(format!("{}{suffix}", db.display()))
}

/// Every read-only command, and the exit codes that mean it worked.
const READ_COMMANDS: &[(&[&str], &[i32])] = &[
    (&["query", "SELECT 1"], &[0]),
    (&["query", "SELECT count(*) FROM records"], &[0]),
    (&["tasks"], &[0]),
    (&["show", "t"], &[0]),
    (&["cost"], &[0, 1]),
    (&["search", "hello"], &[0]),
    (&["status"], &[0]),
    (&["verify"], &[0]),
    (&["export", "t"], &[0]),
];

fn run_read_commands(env: &Env, prefix: &[String], when: &str) {
    for (args, ok) in READ_COMMANDS {
        let out = env.cmd_as(prefix).args(*args).output().unwrap();
        assert!(
            ok.contains(&code(&out)),
            "{when}: tasklog {args:?} as a user who cannot write the folder exited {}: {}",
            code(&out),
            stderr(&out)
        );
    }
}

#[test]
fn read_only_commands_work_for_a_user_who_cannot_write_the_folder() {
    let Some(prefix) = unprivileged_prefix() else {
        crate::support::skip(
            "read_only_commands_work_for_a_user_who_cannot_write_the_folder",
            "running as root and neither setpriv nor runuser can switch to nobody",
        );
        return;
    };
    let env = Env::new();
    append_raw(
        &env.stream("t", "events"),
        b"{\"event\":\"message\",\"role\":\"user\",\"content\":\"hello world\"}\n",
    );
    // The sidecar's user; then it stops. Other users may read only what
    // is created under `[files] mode = "umask"` (the default is private).
    let out = env
        .cmd()
        .env("TASKLOG_FILE_MODE", "umask")
        .arg("index")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // Readable by everyone, writable by nobody but its owner (and not
    // even by the owner, so the test also means something as non-root).
    for suffix in ["-wal", "-shm"] {
        assert!(
            beside(&env.db, suffix).exists(),
            "the indexer keeps {suffix}"
        );
    }
    set_mode(env.dir.path(), 0o555);
    run_read_commands(&env, &prefix, "after the indexer stopped");

    // Beside a running watcher: the reader sees its commits.
    set_mode(env.dir.path(), 0o755);
    let mut watch = env
        .cmd()
        .env("TASKLOG_FILE_MODE", "umask")
        .env("TASKLOG_RECONCILE_MS", "60000")
        .arg("watch")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("watcher ready", DEADLINE, || {
        env.count("SELECT count(*) FROM indexer_state WHERE key = 'watch_mode'") == 1
    });
    set_mode(env.dir.path(), 0o555);
    append_raw(
        &env.stream("t", "events"),
        b"{\"event\":\"message\",\"content\":\"two\"}\n",
    );
    wait_for("second line", DEADLINE, || {
        env.rows("t", "events").len() == 2
    });
    let out = env
        .cmd_as(&prefix)
        .args([
            "query",
            "--format",
            "csv",
            "SELECT count(*) AS n FROM records",
        ])
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "n\n2\n", "{}", stderr(&out));
    let out = env.cmd_as(&prefix).arg("status").output().unwrap();
    assert!(
        stdout(&out).contains("indexer running: yes"),
        "{}",
        stdout(&out)
    );
    set_mode(env.dir.path(), 0o755);
    assert!(terminate(&mut watch).success());
    set_mode(env.dir.path(), 0o555);
    run_read_commands(&env, &prefix, "after the watcher stopped");

    // Another tool closed the database last and removed -wal and -shm:
    // no writer runs (the lock is free), so an immutable read is safe.
    set_mode(env.dir.path(), 0o755);
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(beside(&env.db, suffix));
    }
    set_mode(env.dir.path(), 0o555);
    run_read_commands(&env, &prefix, "without -wal and -shm");

    // Without the lock file nothing keeps a writer out: refused, and the
    // error says which access is missing.
    set_mode(env.dir.path(), 0o755);
    std::fs::remove_file(beside(&env.db, ".lock")).unwrap();
    set_mode(env.dir.path(), 0o555);
    let out = env
        .cmd_as(&prefix)
        .args(["query", "SELECT 1"])
        .output()
        .unwrap();
    set_mode(env.dir.path(), 0o755);
    assert_eq!(code(&out), 2, "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("index.db-shm") && err.contains("not writable"),
        "the error names the missing access: {err}"
    );
}

fn wal_bytes(env: &Env) -> u64 {
    std::fs::metadata(beside(&env.db, "-wal")).map_or(0, |m| m.len())
}

fn status(env: &Env) -> serde_json::Value {
    let out = env.run(&["status", "--format", "json"]);
    assert_eq!(code(&out), 0, "status: {}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

#[test]
fn the_wal_comes_back_after_a_long_reader_ends_and_status_shows_it() {
    let env = Env::new();
    let mut watch = env.spawn_watch();
    wait_for("watcher ready", DEADLINE, || {
        env.count("SELECT count(*) FROM indexer_state WHERE key = 'watch_mode'") == 1
    });
    let path = env.stream("t", "s");
    append_raw(&path, b"{\"i\":0}\n");
    wait_for("first line", DEADLINE, || env.rows("t", "s").len() == 1);

    // A reader holds one read transaction over four bursts of 4,000 lines.
    let reader = env.reader();
    reader.execute_batch("BEGIN").unwrap();
    let _: i64 = reader
        .query_row("SELECT count(*) FROM records", [], |r| r.get(0))
        .unwrap();
    let filler = "x".repeat(200);
    let mut lines = 1;
    for burst in 0..4 {
        let mut bytes = Vec::new();
        for i in 0..4000 {
            bytes.extend_from_slice(
                format!("{{\"event\":\"message\",\"content\":\"{filler} {burst} {i}\"}}\n")
                    .as_bytes(),
            );
        }
        append_raw(&path, &bytes);
        lines += 4000;
        wait_for("burst indexed", DEADLINE, || {
            env.count("SELECT count(*) FROM records") == lines
        });
    }
    let pinned = wal_bytes(&env);
    assert!(
        pinned > WAL_LIMIT,
        "precondition: the pinned WAL grew ({pinned} bytes)"
    );
    wait_for("status shows the reader holding the WAL", DEADLINE, || {
        let s = status(&env);
        s["wal_reader_since"].is_string() && s["wal_bytes"].as_u64() == Some(wal_bytes(&env))
    });
    let text = stdout(&env.ok(&["status"]));
    assert!(text.contains("held by a reader since"), "{text}");

    reader.execute_batch("COMMIT").unwrap();
    drop(reader);
    let ended = Instant::now();
    wait_for(
        "the WAL back to its normal size",
        Duration::from_secs(5),
        || wal_bytes(&env) <= WAL_LIMIT,
    );
    wait_for(
        "status no longer shows a reader",
        Duration::from_secs(5),
        || status(&env)["wal_reader_since"].is_null(),
    );
    eprintln!(
        "WAL {pinned} -> {} bytes in {:?}",
        wal_bytes(&env),
        ended.elapsed()
    );
    assert!(terminate(&mut watch).success());
}
