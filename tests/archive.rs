//! `tasklog archive` / `unarchive` and `--archives`: the union of the main
//! database and the monthly archives equals the files, every task counted
//! once, at every instant a kill -9 can stop a move; an archive is a
//! standalone index; the sidecar does not index archived tasks back.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::retention_support::{expected, indexed, scalar, write_tasks, Reaped};
use crate::support::{self, code, index, stderr, stdout, verify_equal, Env};

fn archive_file(env: &Env, month: &str) -> std::path::PathBuf {
    env.dir.path().join(format!("archive/index-{month}.db"))
}

fn verify_archives_equal(env: &Env) {
    let out = env.run(&["verify", "--archives"]);
    assert_eq!(
        code(&out),
        0,
        "verify --archives: {}{}",
        stdout(&out),
        stderr(&out)
    );
}

/// The questions `--archives` must answer as the unarchived index did.
fn answers(env: &Env, archives: bool) -> Vec<String> {
    [
        "SELECT count(*) FROM records",
        "SELECT count(*), sum(tokens_input) FROM api_calls",
        "SELECT sum(calls), sum(tokens_input), sum(cost_usd) FROM cost_daily",
        "SELECT count(*) FROM tool_calls",
        "SELECT count(*) FROM documents",
        "SELECT count(*), sum(sealed) FROM tasks",
    ]
    .iter()
    .map(|q| scalar(env, archives, q))
    .collect()
}

#[test]
fn archived_months_stay_queryable_and_come_back() {
    let env = Env::new();
    write_tasks(&env, "sep", 3, 6, Some("2025-09"));
    write_tasks(&env, "oct", 4, 5, Some("2025-10"));
    write_tasks(&env, "live", 2, 4, None);
    // Finished 2025-10-31 23:30 at UTC-5: November in UTC.
    write_tasks(&env, "edge", 1, 2, Some("2025-10"));
    std::fs::write(
        env.task_dir("edge-0").join("result.json"),
        r#"{"status":"completed","completed_at":"2025-10-31T23:30:00-05:00"}"#,
    )
    .unwrap();
    index(&env);
    let want = expected(&env);
    let before = answers(&env, false);
    let tasks_before = stdout(&env.ok(&["tasks", "--format", "csv"]))
        .lines()
        .count();

    let out = env.ok(&["archive", "--month", "2025-10", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["tasks"], 4, "{report}");
    env.ok(&["archive", "--month", "2025-09"]);
    env.ok(&["archive", "--month", "2025-11"]);
    assert!(archive_file(&env, "2025-10").exists());
    // The main database keeps the live tasks only...
    assert_eq!(scalar(&env, false, "SELECT count(*) FROM tasks"), "2");
    verify_equal(&env);
    // ... and the union is what it was.
    assert_eq!(answers(&env, true), before);
    assert_eq!(indexed(&env, true), want);
    let tasks = stdout(&env.ok(&["tasks", "--archives", "--format", "csv"]));
    assert_eq!(tasks.lines().count(), tasks_before, "{tasks}");
    let cost = stdout(&env.ok(&["cost", "--archives", "--format", "csv"]));
    assert!(cost.contains("gpt-4o"), "{cost}");
    verify_archives_equal(&env);

    // An archive made by an older build lacks what later migrations added
    // (here migration 9's task_activity and task_facts): the union reads
    // the rest of it instead of failing every question.
    // (`verify` of such an archive is another matter: the file is put back.)
    let path = archive_file(&env, "2025-09");
    let kept = std::fs::read(&path).unwrap();
    let old = rusqlite::Connection::open(&path).unwrap();
    old.execute_batch("DROP VIEW task_facts; DROP TABLE task_activity")
        .unwrap();
    drop(old);
    assert_eq!(answers(&env, true), before);
    let tasks = stdout(&env.ok(&["tasks", "--archives", "--format", "csv"]));
    assert_eq!(tasks.lines().count(), tasks_before - 3, "{tasks}");
    std::fs::write(&path, kept).unwrap();

    // An archive is a standalone index: the same views, opened alone.
    let alone = rusqlite::Connection::open(archive_file(&env, "2025-10")).unwrap();
    let n: i64 = alone
        .query_row("SELECT count(DISTINCT task_id) FROM api_calls", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(n, 4);
    drop(alone);
    let db = archive_file(&env, "2025-09");
    let out = env.ok(&[
        "--db",
        db.to_str().unwrap(),
        "query",
        "SELECT count(*) AS n FROM tool_calls",
    ]);
    assert!(stdout(&out).contains("18"), "{}", stdout(&out));

    // The sidecar does not index archived tasks back, even when they change.
    index(&env);
    let mut watch = Reaped(env.spawn_watch());
    support::append_raw(&env.stream("oct-0", "events"), b"{\"event\":\"late\"}\n");
    support::append_raw(&env.stream("live-0", "events"), b"{\"event\":\"live\"}\n");
    support::wait_for("the live line", Duration::from_secs(20), || {
        scalar(
            &env,
            false,
            "SELECT count(*) FROM records WHERE event = 'live'",
        ) == "1"
    });
    support::terminate(&mut watch.0);
    assert_eq!(
        scalar(
            &env,
            false,
            "SELECT count(*) FROM records WHERE task_id LIKE 'oct-%'"
        ),
        "0"
    );

    // Unarchive: the rows come back, and the late line is read from the
    // checkpoint that travelled with them.
    env.ok(&["unarchive", "--month", "2025-10"]);
    index(&env);
    assert_eq!(indexed(&env, true), expected(&env));
    verify_archives_equal(&env);
    env.ok(&["unarchive", "--month", "2025-09"]);
    env.ok(&["unarchive", "--month", "2025-11"]);
    verify_equal(&env);
    assert_eq!(indexed(&env, false), expected(&env));
    let alone = rusqlite::Connection::open(archive_file(&env, "2025-10")).unwrap();
    let n: i64 = alone
        .query_row("SELECT count(*) FROM records", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0, "the archive's copy is gone");
}

#[test]
fn bad_months_and_missing_archives_are_clear_errors() {
    let env = Env::new();
    write_tasks(&env, "t", 1, 2, Some("2025-10"));
    let out = env.run(&["archive", "--month", "2025-10"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("no index database"),
        "{}",
        stderr(&out)
    );
    assert!(!env.db.exists(), "archive never creates the index");
    index(&env);
    for bad in ["2025-13", "2025-1", "October", "2025-10-01", ""] {
        for cmd in ["archive", "unarchive"] {
            let out = env.run(&[cmd, "--month", bad]);
            assert_eq!(code(&out), 2, "{cmd} {bad}");
            assert!(stderr(&out).contains("YYYY-MM"), "{}", stderr(&out));
        }
    }
    let out = env.run(&[
        "--db",
        "postgres://localhost/x",
        "archive",
        "--month",
        "2025-10",
    ]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("needs a SQLite index"),
        "{}",
        stderr(&out)
    );
    // Unarchiving a month never archived: nothing to do.
    env.ok(&["unarchive", "--month", "2024-01"]);

    env.ok(&["archive", "--month", "2025-10"]);
    let file = archive_file(&env, "2025-10");
    std::fs::rename(&file, file.with_extension("moved")).unwrap();
    for args in [
        &["query", "--archives", "SELECT 1"][..],
        &["verify", "--archives"][..],
        &["unarchive", "--month", "2025-10"][..],
    ] {
        let out = env.run(args);
        assert_eq!(code(&out), 2, "{args:?}");
        assert!(
            stderr(&out).contains("index-2025-10.db"),
            "{}",
            stderr(&out)
        );
    }
    std::fs::rename(file.with_extension("moved"), &file).unwrap();
    verify_archives_equal(&env);

    // Past SQLite's attach limit: an error, never months silently left out.
    let conn = rusqlite::Connection::open(&env.db).unwrap();
    for i in 0..130 {
        conn.execute(
            "INSERT INTO archived_tasks VALUES (?1, ?2, 'archived', 'x')",
            [
                format!("fake-{i}"),
                format!("{:04}-{:02}", 1990 + i / 12, 1 + i % 12),
            ],
        )
        .unwrap();
    }
    drop(conn);
    let out = env.run(&["query", "--archives", "SELECT 1"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("at most 125"), "{}", stderr(&out));
}

/// Archive and unarchive killed at random instants: after every kill, the
/// union counts every line exactly once; running again finishes the job.
#[test]
fn archive_and_unarchive_survive_kill_9_at_random_instants() {
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut rng = fastrand::Rng::with_seed(seed);
    let env = Env::new();
    // Over 200 tasks: the move goes in several rounds of three transactions.
    write_tasks(&env, "oct", 450, 2, Some("2025-10"));
    write_tasks(&env, "nov", 30, 2, Some("2025-11"));
    write_tasks(&env, "live", 3, 2, None);
    index(&env);
    let want = expected(&env);
    let answers_before = answers(&env, false);
    let mut kills = 0;
    for round in 0..16 {
        let (cmd, month) = match rng.u8(..4) {
            0 => ("unarchive", "2025-10"),
            1 => ("archive", "2025-11"),
            _ => ("archive", "2025-10"),
        };
        let mut child = env
            .cmd()
            .args([cmd, "--month", month, "-q"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        if support::kill_within(&mut child, Duration::from_micros(rng.u64(..400_000))) {
            kills += 1;
        }
        // Whatever instant it died at: every line once, the answers the same.
        assert_eq!(indexed(&env, true), want, "round {round}, seed {seed}");
        assert_eq!(
            answers(&env, true),
            answers_before,
            "round {round}, seed {seed}"
        );
        if round % 4 == 3 {
            // The sidecar meanwhile neither indexes back nor loses anything.
            index(&env);
        }
    }
    eprintln!("archive kill -9 test: seed {seed}, {kills} kills");
    env.ok(&["archive", "--month", "2025-10"]);
    env.ok(&["archive", "--month", "2025-11"]);
    index(&env);
    assert_eq!(scalar(&env, false, "SELECT count(*) FROM tasks"), "3");
    assert_eq!(indexed(&env, true), want, "seed {seed}");
    verify_archives_equal(&env);
    env.ok(&["unarchive", "--month", "2025-10"]);
    env.ok(&["unarchive", "--month", "2025-11"]);
    index(&env);
    assert_eq!(indexed(&env, false), want, "seed {seed}");
    assert_eq!(answers(&env, false), answers_before, "seed {seed}");
    verify_equal(&env);
}

/// `[retention]` in `tasklog watch`: a pass at start compresses and
/// archives; the sidecar then runs over the rest.
#[test]
fn watch_applies_retention_at_start() {
    let env = Env::new();
    write_tasks(&env, "old", 3, 4, Some("2025-10"));
    write_tasks(&env, "live", 1, 4, None);
    let config = env.dir.path().join("tasklog.toml");
    std::fs::write(
        &config,
        "[retention]\ncompress_after = \"0s\"\narchive_after = \"30d\"\n",
    )
    .unwrap();
    index(&env);
    let mut watch = Reaped(
        env.cmd()
            .args(["--config", config.to_str().unwrap(), "watch"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let log = support::collect_stderr(&mut watch.0);
    support::wait_for("the month archived", Duration::from_secs(30), || {
        archive_file(&env, "2025-10").exists()
            && scalar(
                &env,
                false,
                "SELECT count(*) FROM archived_tasks WHERE state = 'archived'",
            ) == "3"
    });
    support::append_raw(&env.stream("live-0", "events"), b"{\"event\":\"after\"}\n");
    support::wait_for("the live line", Duration::from_secs(20), || {
        scalar(
            &env,
            false,
            "SELECT count(*) FROM records WHERE event = 'after'",
        ) == "1"
    });
    let status = support::terminate(&mut watch.0);
    assert!(status.success(), "{}", log.lock().unwrap());
    assert!(env
        .stream("old-0", "events")
        .with_extension("jsonl.gz")
        .exists());
    assert!(
        env.stream("live-0", "events").exists(),
        "an open task stays plain"
    );
    assert_eq!(indexed(&env, true), expected(&env));
    verify_archives_equal(&env);

    // A damaged archive is a difference, not a pass.
    let conn = rusqlite::Connection::open(archive_file(&env, "2025-10")).unwrap();
    conn.execute(
        "DELETE FROM records WHERE rowid = (SELECT max(rowid) FROM records)",
        [],
    )
    .unwrap();
    drop(conn);
    let out = env.run(&["verify", "--archives"]);
    assert_eq!(code(&out), 1, "{}", stdout(&out));

    // A bad age in [retention] stops watch before it starts.
    std::fs::write(&config, "[retention]\narchive_after = \"soon\"\n").unwrap();
    let out = env.run(&["--config", config.to_str().unwrap(), "watch"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("archive_after"), "{}", stderr(&out));
}

/// The daily pass (`every`, one second here) pauses the sidecar, archives
/// what became old, and the sidecar carries on; a signal during any of it
/// stops the whole run.
#[test]
fn watch_repeats_retention_and_keeps_indexing() {
    let env = Env::new();
    write_tasks(&env, "live", 1, 2, None);
    let config = env.dir.path().join("tasklog.toml");
    std::fs::write(
        &config,
        "[retention]\nevery = \"1s\"\narchive_after = \"30d\"\n",
    )
    .unwrap();
    let mut watch = Reaped(
        env.cmd()
            .args(["--config", config.to_str().unwrap(), "watch"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let log = support::collect_stderr(&mut watch.0);
    support::wait_for("the live task", Duration::from_secs(20), || {
        env.count("SELECT count(*) FROM tasks") == 1
    });
    // A task of an old month appears while watch runs: indexed first, then
    // archived by a later pass, never counted twice meanwhile.
    write_tasks(&env, "old", 2, 3, Some("2025-10"));
    support::wait_for(
        "a later pass to archive it",
        Duration::from_secs(30),
        || {
            // Lag is allowed; a row counted twice (`indexed` panics) or
            // one that is not in the files is not.
            assert!(indexed(&env, true).is_subset(&expected(&env)));
            scalar(
                &env,
                false,
                "SELECT count(*) FROM archived_tasks WHERE state = 'archived'",
            ) == "2"
        },
    );
    support::append_raw(&env.stream("live-0", "events"), b"{\"event\":\"after\"}\n");
    support::wait_for(
        "the sidecar after the pass",
        Duration::from_secs(20),
        || {
            scalar(
                &env,
                false,
                "SELECT count(*) FROM records WHERE event = 'after'",
            ) == "1"
        },
    );
    let status = support::terminate(&mut watch.0);
    assert!(status.success(), "{}", log.lock().unwrap());
    assert_eq!(indexed(&env, true), expected(&env));
    verify_archives_equal(&env);
}

/// `prune` of archived tasks takes them out of their archive first: the
/// union stays equal to the files; `status` does not call archived tasks
/// behind; `archive` beside a running sidecar is refused, not raced.
#[test]
fn prune_and_status_know_archived_tasks() {
    let env = Env::new();
    write_tasks(&env, "oct", 3, 3, Some("2025-10"));
    write_tasks(&env, "live", 1, 3, None);
    index(&env);
    env.ok(&["archive", "--month", "2025-10"]);
    let status = stdout(&env.ok(&["status", "--format", "json"]));
    assert!(
        !status.contains("oct-0"),
        "archived tasks are not lag: {status}"
    );

    let mut watch = Reaped(env.spawn_watch());
    support::wait_for("the sidecar's lock", Duration::from_secs(20), || {
        env.count("SELECT count(*) FROM indexer_state WHERE key = 'watcher_pid'") == 1
    });
    let out = env.run(&["unarchive", "--month", "2025-10"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("stop `tasklog watch`"),
        "says what to do: {}",
        stderr(&out)
    );
    support::terminate(&mut watch.0);

    let out = env.ok(&["prune", "--older-than", "0s", "--format", "jsonl"]);
    assert_eq!(stdout(&out).lines().count(), 3, "{}", stdout(&out));
    assert!(!env.task_dir("oct-0").exists());
    index(&env);
    assert_eq!(indexed(&env, true), expected(&env));
    assert_eq!(
        scalar(&env, false, "SELECT count(*) FROM archived_tasks"),
        "0"
    );
    verify_archives_equal(&env);
    let alone = rusqlite::Connection::open(archive_file(&env, "2025-10")).unwrap();
    let n: i64 = alone
        .query_row("SELECT count(*) FROM tasks", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0, "the archive forgot the pruned tasks");
}
